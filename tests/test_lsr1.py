"""L-SR1 (Ramamurthy & Duffy 2016): compact form, skip rule, non-descent fallback, convergence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from secondorder.curvature import Objective
from secondorder.optim.lsr1 import (
    LSR1,
    lsr1_inverse_product,
    lsr1_matrix,
    lsr1_product,
    sr1_pair_accepted,
)

from problems import (
    assert_resumes_exactly,
    logistic_loss,
    logistic_problem,
    tanh_network_problem,
)

DTYPE = torch.float64


def random_pairs(n: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, n, generator=g, dtype=DTYPE), torch.randn(k, n, generator=g, dtype=DTYPE)


def recursive_sr1(S: torch.Tensor, Y: torch.Tensor, gamma: float) -> torch.Tensor:
    """B0 = I / gamma updated by the pairs in order: B += r r^T / r^T s, r = y - B s."""
    b = torch.eye(S.shape[1], dtype=S.dtype) / gamma
    for s, y in zip(S, Y, strict=True):
        r = y - b @ s
        b = b + torch.outer(r, r) / (r @ s)
    return b


def test_compact_form_equals_recursive_sr1_and_inverts() -> None:
    S, Y = random_pairs(9, 4)
    b = lsr1_matrix(S, Y, 0.7)
    torch.testing.assert_close(b, recursive_sr1(S, Y, 0.7), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(b, b.T)
    v = torch.randn(9, dtype=DTYPE)
    torch.testing.assert_close(lsr1_product(v, S, Y, 0.7), b @ v, rtol=1e-10, atol=1e-10)
    hv = lsr1_inverse_product(v, S, Y, 0.7)
    torch.testing.assert_close(hv, torch.linalg.solve(b, v), rtol=1e-9, atol=1e-10)
    # the newest pair satisfies the secant equation for any pairs
    torch.testing.assert_close(b @ S[-1], Y[-1], rtol=1e-10, atol=1e-10)
    empty = S[:0]
    torch.testing.assert_close(lsr1_inverse_product(v, empty, empty, 0.7), 0.7 * v)


def test_secant_equation_holds_for_all_pairs_of_a_quadratic() -> None:
    S, _ = random_pairs(8, 5)
    q = torch.randn(8, 8, dtype=DTYPE, generator=torch.Generator().manual_seed(1))
    q = q + q.T  # symmetric and indefinite
    Y = S @ q  # y_i = Q s_i
    b = lsr1_matrix(S, Y, 0.3)
    torch.testing.assert_close(S @ b, Y, rtol=1e-9, atol=1e-9)  # B s_i = y_i for every i
    for s, y in zip(S, Y, strict=True):
        torch.testing.assert_close(lsr1_inverse_product(y, S, Y, 0.3), s, rtol=1e-8, atol=1e-8)
    assert torch.linalg.eigvalsh(b).min() < 0  # SR1 keeps the indefiniteness


def test_skip_rule_rejects_a_pair_orthogonal_to_its_residual() -> None:
    S, Y = random_pairs(10, 3)
    gamma = 0.5
    b = lsr1_matrix(S, Y, gamma)
    g = torch.Generator().manual_seed(2)
    s = torch.randn(10, generator=g, dtype=DTYPE)
    e = torch.randn(10, generator=g, dtype=DTYPE)
    e = e - (e @ s) / (s @ s) * s  # e orthogonal to s
    y_bad = b @ s + e  # s^T (y - B s) = 0 while |y - B s| = |e| > 0
    assert not sr1_pair_accepted(s, y_bad, S, Y, gamma, 1e-8)
    y_nearly = b @ s + e + 1e-12 * s  # relative size 1e-12 / |e| < r = 1e-8
    assert not sr1_pair_accepted(s, y_nearly, S, Y, gamma, 1e-8)
    y_normal = torch.randn(10, generator=g, dtype=DTYPE)
    assert sr1_pair_accepted(s, y_normal, S, Y, gamma, 1e-8)
    assert sr1_pair_accepted(s, y_normal, S[:0], Y[:0], gamma, 1e-8)


# ----------------------------------------------------------------------------- optimizer
def test_lsr1_reaches_the_optimum_of_a_strictly_convex_problem() -> None:
    objective, batch, optimum = logistic_problem()
    opt = LSR1(objective.params, memory=5)
    loss0 = objective.loss(batch)
    for _ in range(60):
        opt.step(objective, batch)
        if (objective.flat_params() - optimum).norm() < 1e-6:
            break
    # Armijo compares loss values: |w - w*| below ~sqrt(eps f / lambda) ~ 1e-7 is out of reach
    assert (objective.flat_params() - optimum).norm() < 1e-6
    best = float(logistic_loss(optimum, *batch))
    assert float(objective.loss(batch)) == pytest.approx(best, abs=1e-11)
    assert float(objective.loss(batch)) < float(loss0)
    assert opt.state["S"].shape[0] == 5
    # one extra gradient per iteration on the same batch, counted through the Objective
    steps = opt.state["steps"]
    assert objective.counters.gradient_samples == 2 * steps * len(batch[1])


def test_non_descent_direction_is_detected_counted_and_replaced_by_steepest_descent() -> None:
    objective, batch, _ = logistic_problem()
    _, g = Objective(objective.model, objective.loss_fn).loss_and_grad(batch)
    s = g / g.norm()
    opt = LSR1(objective.params)
    # one pair with y = -s: H = I - 2 s s^T, so g^T H g = -|g|^2 < 0 (p = -H g ascends)
    opt.state.update(S=s[None], Y=-s[None], gamma=1.0)
    hg = lsr1_inverse_product(g, opt.state["S"], opt.state["Y"], 1.0)
    assert g @ hg < 0
    loss0 = objective.loss(batch)
    w = objective.flat_params()
    returned = opt.step(objective, batch)
    assert objective.counters.non_descent_directions == 1
    assert float(objective.loss(batch)) < float(loss0)
    torch.testing.assert_close(returned, loss0)
    step = objective.flat_params() - w
    torch.testing.assert_close(step / step.norm(), -s)  # moved along -g
    assert opt.state["S"].shape[0] == 2  # memory kept, the new pair added


def test_singular_memory_is_cleared() -> None:
    objective, batch, _ = logistic_problem()
    S, Y = random_pairs(objective.numel, 1)
    opt = LSR1(objective.params)
    opt.state.update(S=S.repeat(2, 1), Y=Y.repeat(2, 1), gamma=1.0)  # duplicated pair: singular
    loss0 = objective.loss(batch)
    opt.step(objective, batch)
    assert objective.counters.non_descent_directions == 1
    assert float(objective.loss(batch)) < float(loss0)
    assert opt.state["S"].shape[0] == 1  # only the new pair


def test_failed_line_search_clears_the_memory_and_does_not_move() -> None:
    objective, batch, _ = logistic_problem()
    opt = LSR1(objective.params, lr=1e8, ls_max_trials=2)
    S, _ = random_pairs(objective.numel, 1)
    opt.state.update(S=S, Y=S, gamma=1.0)  # H = I, so p = -g
    w = objective.flat_params()
    opt.step(objective, batch)
    assert objective.counters.line_search_failures == 1
    assert torch.equal(objective.flat_params(), w)
    assert "S" not in opt.state


def test_every_pair_is_skipped_with_threshold_one() -> None:
    objective, batch, _ = logistic_problem()
    opt = LSR1(objective.params, skip_threshold=1.0)  # needs s parallel to y - B s
    loss0 = objective.loss(batch)
    for _ in range(5):
        opt.step(objective, batch)
    assert objective.counters.skipped_pairs == 5
    assert "S" not in opt.state
    assert float(objective.loss(batch)) < float(loss0)


def test_fixed_step_without_line_search() -> None:
    objective, batch, _ = logistic_problem()
    opt = LSR1(objective.params, lr=0.5, line_search=False)
    loss0 = objective.loss(batch)
    for _ in range(10):
        opt.step(objective, batch)
    assert objective.counters.line_search_trials == 0
    assert float(objective.loss(batch)) < float(loss0)


def test_resume_from_state_dict_gives_the_same_trajectory() -> None:
    _, objective, batches, _ = tanh_network_problem()

    def make(params):
        return LSR1(params, memory=3)

    opt = make(objective.params)
    for batch in batches[:6]:
        opt.step(objective, batch)
    assert opt.state["S"].shape[0] >= 2
    assert_resumes_exactly(make, opt, objective, batches[6:])


def test_rejects_bad_hyperparameters() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="memory"):
        LSR1(params, memory=0)
    with pytest.raises(ValueError, match="skip_threshold"):
        LSR1(params, skip_threshold=-1.0)
