"""First-order baselines: SGD (and GD), Adam and L-BFGS wrappers with the Objective step API."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from secondorder.curvature import Objective
from secondorder.optim.first_order import LBFGS, SGD, Adam

from problems import assert_resumes_exactly, tanh_network_problem


def test_sgd_step_is_w_minus_lr_times_the_gradient() -> None:
    model, objective, batches, _ = tanh_network_problem()
    opt = SGD(objective.params, lr=0.1)
    w = objective.flat_params()
    loss, g = Objective(model).loss_and_grad(batches[0])
    returned = opt.step(objective, batches[0])
    torch.testing.assert_close(objective.flat_params(), w - 0.1 * g)
    torch.testing.assert_close(returned, loss)
    assert objective.counters.gradient_samples == 16


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=0.5),
        lambda p: Adam(p, lr=0.05),
        lambda p: LBFGS(p),
    ],
    ids=["sgd", "adam", "lbfgs"],
)
def test_full_batch_training_decreases_the_loss(make: Callable) -> None:
    _, objective, _, data = tanh_network_problem()
    opt = make(objective.params)
    loss0 = objective.loss(data)
    for _ in range(20):
        opt.step(objective, data)
    assert float(objective.loss(data)) < 0.9 * float(loss0)


def test_adam_matches_torch_adam() -> None:
    model, objective, batches, _ = tanh_network_problem()
    reference_model = copy.deepcopy(model)
    opt = Adam(objective.params, lr=0.01, betas=[0.8, 0.99])  # a list, as from YAML
    reference = torch.optim.Adam(reference_model.parameters(), lr=0.01, betas=(0.8, 0.99))
    for x, y in batches:
        opt.step(objective, (x, y))
        reference.zero_grad()
        F.cross_entropy(reference_model(x), y).backward()
        reference.step()
    for p, q in zip(model.parameters(), reference_model.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert all(p.grad is None for p in model.parameters())


def test_lbfgs_counts_line_search_trials_and_updates_batchnorm_once_per_step() -> None:
    model, objective, batches, _ = tanh_network_problem(batch_norm=True)
    bn = model[1]
    opt = LBFGS(objective.params)
    calls = 0
    real = objective.loss_and_grad

    def counting(*args, **kwargs):
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    objective.loss_and_grad = counting  # type: ignore[method-assign]
    for batch in batches[:5]:
        opt.step(objective, batch)
    assert int(bn.num_batches_tracked) == 5
    assert calls > 5
    assert objective.counters.line_search_trials == calls - 5
    assert objective.counters.gradient_samples == 16 * calls


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=0.1),
        lambda p: Adam(p, lr=0.01),
        lambda p: LBFGS(p, history_size=3),
    ],
    ids=["sgd", "adam", "lbfgs"],
)
def test_resume_from_state_dict_gives_the_same_trajectory(make: Callable) -> None:
    _, objective, batches, _ = tanh_network_problem()
    opt = make(objective.params)
    for batch in batches[:7]:
        opt.step(objective, batch)
    assert_resumes_exactly(make, opt, objective, batches[7:])


def test_sgd_rejects_a_non_positive_learning_rate() -> None:
    with pytest.raises(ValueError, match="lr"):
        SGD([nn.Parameter(torch.zeros(2))], lr=0.0)
