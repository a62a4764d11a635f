"""The data of a step: exact indices for the gradient and the curvature of each data plan, and
the batches drawn from them."""

from __future__ import annotations

import pytest
import torch

from secondorder.errors import ConfigError
from secondorder.optim import resolve_hparams
from secondorder.training.batches import WHOLE_SET, DataPlan, step_batches

N = 50
MINIBATCH = torch.tensor([7, 3, 41, 0, 19])


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same_state(a: torch.Generator, b: torch.Generator) -> bool:
    return torch.equal(a.get_state(), b.get_state())


@pytest.mark.parametrize(
    ("method", "hparams", "expected"),
    [
        ("sgd", {}, DataPlan(N)),
        ("lsr1", {}, DataPlan(N)),
        ("shg", {}, DataPlan(N, gradient_size=10)),  # the default: 20 %
        ("gd", {"gradient_fraction": 0.5}, DataPlan(N, gradient_size=25)),
        ("gd", {"gradient_fraction": 0.001}, DataPlan(N, gradient_size=1)),
        ("shg", {"gradient_fraction": 1}, DataPlan(N, gradient_size=N)),
        ("shg", {"gradient_fraction": "minibatch"}, DataPlan(N)),
        ("gd", {"gradient_fraction": "minibatch"}, DataPlan(N)),
        ("sqn", {"curvature_batch_size": 20}, DataPlan(N, curvature_size=20)),
        ("sqn", {}, DataPlan(N, curvature_size=N)),  # 1000 capped at the training-set size
    ],
)
def test_plan_from_resolved_hyperparameters(method, hparams, expected) -> None:
    assert DataPlan.from_hparams(resolve_hparams(method, hparams), N) == expected


def test_minibatch_plan_uses_the_minibatch_for_everything_and_draws_nothing() -> None:
    g, untouched = generator(), generator()
    gradient, curvature = DataPlan(N).step_indices(MINIBATCH, g)
    assert gradient is MINIBATCH and curvature is MINIBATCH
    assert same_state(g, untouched)


def test_whole_set_plan_takes_the_training_set_in_order_without_drawing() -> None:
    g, untouched = generator(), generator()
    gradient, curvature = DataPlan(N, gradient_size=N).step_indices(MINIBATCH, g)
    assert gradient == WHOLE_SET and curvature is MINIBATCH
    assert torch.equal(torch.arange(N)[gradient], torch.arange(N))
    assert same_state(g, untouched)


def test_fraction_plan_draws_a_fresh_sample_for_the_gradient_only() -> None:
    g, reference = generator(), generator()
    plan = DataPlan(N, gradient_size=10)
    first, curvature = plan.step_indices(MINIBATCH, g)
    second, _ = plan.step_indices(MINIBATCH, g)
    assert torch.equal(first, torch.randperm(N, generator=reference)[:10])
    assert torch.equal(second, torch.randperm(N, generator=reference)[:10])
    assert curvature is MINIBATCH


def test_separate_curvature_sample_is_drawn_only_when_needed() -> None:
    g, reference = generator(), generator()
    plan = DataPlan(N, curvature_size=20)
    gradient, curvature = plan.step_indices(MINIBATCH, g, curvature_needed=False)
    assert gradient is MINIBATCH and curvature is MINIBATCH and same_state(g, reference)
    gradient, curvature = plan.step_indices(MINIBATCH, g)
    assert gradient is MINIBATCH
    assert torch.equal(curvature, torch.randperm(N, generator=reference)[:20])


class CurvatureEvery:
    """An optimizer whose steps alternate between needing a curvature batch and not."""

    def __init__(self) -> None:
        self.asked = 0

    def needs_curvature_batch(self) -> bool:
        self.asked += 1
        return self.asked % 2 == 0


def test_step_batches_follow_the_plan_and_the_optimizer() -> None:
    x, y = torch.arange(N * 2.0).reshape(N, 2), torch.arange(N)
    g, reference = generator(), generator()
    optimizer = CurvatureEvery()
    plan = DataPlan(N, curvature_size=20)
    batch, curvature_batch = step_batches(plan, x, y, MINIBATCH, g, optimizer)
    assert curvature_batch is batch and torch.equal(batch[1], MINIBATCH)  # not needed: no draw
    assert same_state(g, reference)
    batch, curvature_batch = step_batches(plan, x, y, MINIBATCH, g, optimizer)
    assert torch.equal(batch[1], MINIBATCH) and torch.equal(batch[0], x[MINIBATCH])
    drawn = torch.randperm(N, generator=reference)[:20]
    assert torch.equal(curvature_batch[1], drawn) and torch.equal(curvature_batch[0], x[drawn])


@pytest.mark.parametrize("value", ["batch", "Minibatch", True, None, [0.2]])
def test_gradient_fraction_words_other_than_minibatch_are_rejected(value) -> None:
    with pytest.raises(ConfigError, match=r"gradient_fraction=.*'minibatch'"):
        resolve_hparams("shg", {"gradient_fraction": value})


def test_minibatch_is_a_data_hyperparameter_of_gd_and_shg_only() -> None:
    assert resolve_hparams("shg", {"gradient_fraction": "minibatch"})["gradient_fraction"] == (
        "minibatch"
    )
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        resolve_hparams("sgd", {"gradient_fraction": "minibatch"})
