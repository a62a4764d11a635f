"""SQN (Byrd et al. 2016): two-loop recursion, pair formation, convergence, resume."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from secondorder.curvature import Objective
from secondorder.optim.sqn import SQN, two_loop_direction

from problems import (
    assert_resumes_exactly,
    logistic_grad_hessian,
    logistic_loss,
    logistic_problem,
    tanh_network_problem,
)


def test_two_loop_equals_explicit_bfgs_inverse_update() -> None:
    g = torch.Generator().manual_seed(0)
    n, m = 12, 5
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = a @ a.T + 0.5 * torch.eye(n, dtype=torch.float64)  # SPD: every pair has s^T y > 0
    s_list = [torch.randn(n, generator=g, dtype=torch.float64) for _ in range(m)]
    y_list = [a @ s for s in s_list]
    grad = torch.randn(n, generator=g, dtype=torch.float64)

    eye = torch.eye(n, dtype=torch.float64)
    h = (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1]) * eye
    for s, y in zip(s_list, y_list, strict=True):
        rho = 1.0 / (s @ y)
        h = (eye - rho * torch.outer(s, y)) @ h @ (eye - rho * torch.outer(y, s))
        h = h + rho * torch.outer(s, s)

    torch.testing.assert_close(
        two_loop_direction(grad, s_list, y_list), h @ grad, rtol=1e-12, atol=1e-12
    )
    # secant equation of the newest pair, and no pairs -> identity
    torch.testing.assert_close(
        two_loop_direction(y_list[-1], s_list, y_list), s_list[-1], rtol=1e-12, atol=1e-12
    )
    assert torch.equal(two_loop_direction(grad, [], []), grad)


def test_sqn_reaches_the_optimum_of_a_strictly_convex_problem() -> None:
    objective, batch, optimum = logistic_problem()
    opt = SQN(objective.params, update_interval=3, memory=5)
    loss0 = objective.loss(batch)
    for _ in range(100):
        opt.step(objective, batch, batch)
        if (objective.flat_params() - optimum).norm() < 1e-7:
            break
    assert (objective.flat_params() - optimum).norm() < 1e-6
    best = float(logistic_loss(optimum, *batch))
    assert float(objective.loss(batch)) == pytest.approx(best, abs=1e-10)
    assert float(objective.loss(batch)) < float(loss0)
    assert len(opt.state["s"]) == 5
    assert objective.counters.line_search_trials > 0


def test_gauss_newton_pairs_have_nonnegative_curvature() -> None:
    objective, batch, _ = logistic_problem()
    opt = SQN(objective.params, update_interval=3, curvature="gauss-newton")
    loss0 = objective.loss(batch)
    for _ in range(15):
        opt.step(objective, batch)
    assert len(opt.state["s"]) == 4
    assert all(s.dot(y) > 0 for s, y in zip(opt.state["s"], opt.state["y"], strict=True))
    assert float(objective.loss(batch)) < float(loss0)


def test_pairs_come_from_averaged_iterates_and_the_hessian_at_the_average() -> None:
    objective, batch, _ = logistic_problem()
    interval = 4
    curvature_batch = (batch[0][:50], batch[1][:50])
    opt = SQN(objective.params, update_interval=interval, memory=3)
    iterates, needs = [], []
    for _ in range(3 * interval):
        needs.append(opt.needs_curvature_batch())
        iterates.append(objective.flat_params())
        opt.step(objective, batch, curvature_batch)

    # the curvature batch is used exactly at iterations 2L and 3L (1-based)
    assert needs == [k in (2 * interval, 3 * interval) for k in range(1, 3 * interval + 1)]
    assert objective.counters.curvature_products == 2
    assert objective.counters.curvature_samples == 2 * 50
    x_bar = [torch.stack(iterates[i : i + interval]).mean(0) for i in range(0, 12, interval)]
    s = x_bar[1] - x_bar[0]
    y = logistic_grad_hessian(x_bar[1], *curvature_batch)[1] @ s
    torch.testing.assert_close(opt.state["s"][0], s, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(opt.state["y"][0], y, rtol=1e-8, atol=1e-10)
    assert len(opt.state["s"]) == 2
    torch.testing.assert_close(opt.state["x_bar_prev"], x_bar[2], rtol=1e-10, atol=1e-12)


def test_gradient_steps_until_the_first_pair_and_skipped_pairs_are_counted() -> None:
    objective, batch, _ = logistic_problem()
    # no pair can pass min_curvature = 1e6: every formed pair is skipped, steps stay -g steps
    opt = SQN(objective.params, update_interval=2, min_curvature=1e6, line_search=False, lr=0.5)
    for _ in range(8):
        w = objective.flat_params()
        _, g = Objective(objective.model, objective.loss_fn).loss_and_grad(batch)
        opt.step(objective, batch)
        torch.testing.assert_close(objective.flat_params(), w - 0.5 * g)
    assert objective.counters.skipped_pairs == 3  # pairs at iterations 4, 6, 8
    assert "s" not in opt.state
    assert objective.counters.line_search_trials == 0


def test_fixed_step_without_line_search_decreases_the_loss() -> None:
    objective, batch, _ = logistic_problem()
    opt = SQN(objective.params, lr=0.5, update_interval=3, line_search=False)
    loss0 = objective.loss(batch)
    for _ in range(30):
        opt.step(objective, batch)
    assert float(objective.loss(batch)) < float(loss0)
    assert objective.counters.line_search_trials == 0
    assert len(opt.state["s"]) > 0


def test_resume_from_state_dict_gives_the_same_trajectory() -> None:
    _, objective, batches, _ = tanh_network_problem()

    def make(params):
        return SQN(params, update_interval=3, memory=2)

    opt = make(objective.params)
    for batch in batches[:8]:  # pairs exist, the average is mid-way (8 % 3 == 2)
        opt.step(objective, batch)
    assert len(opt.state["s"]) == 1
    assert_resumes_exactly(make, opt, objective, batches[8:])
    assert len(opt.state["s"]) == 2


def test_rejects_bad_hyperparameters() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="curvature"):
        SQN(params, curvature="fisher")
    with pytest.raises(ValueError, match="update_interval"):
        SQN(params, update_interval=0)


def test_loaded_state_is_a_copy_of_the_state_dict() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    objective = Objective(model)
    opt = SQN(objective.params, update_interval=2, memory=2)
    for _ in range(6):
        opt.step(objective, (x, y))
    saved = opt.state_dict()
    other = SQN(Objective(copy.deepcopy(model)).params, update_interval=2, memory=2)
    other.load_state_dict(saved)
    before = [s.clone() for s in other.state["s"]]
    for s in saved["state"]["s"]:
        s.zero_()  # mutating the saved dict must not reach the loaded optimizer
    assert all(torch.equal(a, b) for a, b in zip(other.state["s"], before, strict=True))


def test_inverse_schedule_steps_beta_over_k_along_the_direction() -> None:
    """Byrd et al.'s alpha_k = beta / k: the k-th step is beta / k times the SQN direction, -g
    before the first pair and -H g after it (closed form: two_loop_direction)."""
    objective, batch, _ = logistic_problem()
    beta = 0.8
    opt = SQN(
        objective.params, lr=beta, update_interval=2, line_search=False, step_schedule="inverse"
    )
    for k in range(1, 11):
        w = objective.flat_params()
        _, g = Objective(objective.model, objective.loss_fn).loss_and_grad(batch)
        s_list, y_list = opt.state.get("s", []), opt.state.get("y", [])
        direction = -two_loop_direction(g, s_list, y_list) if s_list else -g
        opt.step(objective, batch)
        torch.testing.assert_close(objective.flat_params() - w, beta / k * direction)
    assert len(opt.state["s"]) > 0  # the later steps used pairs
    assert objective.counters.line_search_trials == 0


def test_inverse_schedule_needs_a_fixed_step_and_stays_out_of_run_ids() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="needs line_search false"):
        SQN(params, step_schedule="inverse")
    with pytest.raises(ValueError, match="step_schedule must be one of constant, inverse"):
        SQN(params, step_schedule="cosine", line_search=False)
    from secondorder.optim import method_defaults, resolve_hparams
    from secondorder.spec import LATER_HPARAMS, RunSpec

    for method, later in LATER_HPARAMS.items():  # the defaults written twice agree
        assert {key: method_defaults(method)[key] for key in later} == later
    hparams = resolve_hparams("sqn", {})
    spec = RunSpec("mnist", "lenet", "tanh", "standard", "sqn", "sqn", hparams, 100, 1, 0)
    assert "step_schedule" not in spec.to_dict()["hparams"]  # earlier SQN runs keep their ids
    inverse = resolve_hparams("sqn", {"step_schedule": "inverse", "line_search": False})
    other = RunSpec("mnist", "lenet", "tanh", "standard", "sqn", "sqn", inverse, 100, 1, 0)
    assert other.to_dict()["hparams"]["step_schedule"] == "inverse"
