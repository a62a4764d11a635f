"""Backtracking Armijo line search on a least-squares quadratic."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from secondorder.curvature import Objective
from secondorder.optim.linesearch import armijo

DT = torch.float64


@pytest.fixture
def problem() -> tuple[Objective, tuple[torch.Tensor, torch.Tensor]]:
    """f(w) = mean((X w - y)^2): a strictly convex quadratic in the weights."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False).to(DT)
    x = torch.randn(20, 3, dtype=DT)
    y = torch.randn(20, 1, dtype=DT)
    return Objective(model, F.mse_loss), (x, y)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_accepted_step_satisfies_armijo(problem, scale: float) -> None:
    obj, batch = problem
    w = obj.flat_params()
    loss0, g = obj.loss_and_grad(batch)
    p = -scale * g
    c = 0.1
    res = armijo(obj, batch, w, loss0, g.dot(p), p, c=c)
    assert res.accepted and res.step > 0.0
    assert res.step == 0.5 ** (res.trials - 1)
    f = obj.loss(batch, w + res.step * p)
    torch.testing.assert_close(res.loss, f)
    assert f - loss0 <= c * res.step * g.dot(p)
    if res.trials > 1:  # the previous, twice as long, trial was rejected
        f_prev = obj.loss(batch, w + 2 * res.step * p)
        assert f_prev - loss0 > c * 2 * res.step * g.dot(p)
    assert torch.equal(obj.flat_params(), w)  # armijo never moves the parameters
    assert obj.counters.line_search_trials == res.trials
    assert obj.counters.line_search_failures == 0


def test_initial_step_and_backtrack_factor(problem) -> None:
    obj, batch = problem
    w = obj.flat_params()
    loss0, g = obj.loss_and_grad(batch)
    res = armijo(obj, batch, w, loss0, float(-g.dot(g)), -g, initial_step=10.0, backtrack=0.8)
    assert res.accepted
    assert res.trials > 1
    assert res.step == pytest.approx(10.0 * 0.8 ** (res.trials - 1))


@pytest.mark.parametrize("sign", [1.0, 0.0])
def test_non_descent_direction_is_refused(problem, sign: float) -> None:
    obj, batch = problem
    w = obj.flat_params()
    loss0, g = obj.loss_and_grad(batch)
    p = sign * g
    res = armijo(obj, batch, w, loss0, g.dot(p), p)
    assert (res.step, res.trials, res.accepted) == (0.0, 0, False)
    assert res.loss is loss0
    assert obj.counters.line_search_trials == 0
    assert obj.counters.line_search_failures == 0


def test_no_acceptable_step(problem) -> None:
    obj, batch = problem
    w = obj.flat_params()
    loss0, g = obj.loss_and_grad(batch)
    res = armijo(obj, batch, w, loss0, -g.dot(g), -g, initial_step=1e6, max_trials=1)
    assert (res.step, res.trials, res.accepted) == (0.0, 1, False)
    assert torch.equal(res.loss, loss0)
    assert obj.counters.line_search_trials == 1
    assert obj.counters.line_search_failures == 1
    assert torch.equal(obj.flat_params(), w)


def test_non_finite_trial_losses_are_rejected(problem) -> None:
    obj, batch = problem
    w = obj.flat_params()
    loss0, g = obj.loss_and_grad(batch)
    # A step of 1e300 overflows the loss to inf; backtracking must still find a step.
    res = armijo(obj, batch, w, loss0, -g.dot(g), -g, initial_step=1e300, max_trials=2000)
    assert res.accepted and torch.isfinite(res.loss)


def test_invalid_arguments(problem) -> None:
    obj, batch = problem
    w = obj.flat_params()
    loss0, g = obj.loss_and_grad(batch)
    for kwargs in ({"c": 1.0}, {"backtrack": 1.0}, {"max_trials": 0}):
        with pytest.raises(ValueError):
            armijo(obj, batch, w, loss0, -1.0, -g, **kwargs)
