"""Conjugate gradient: exact solves, Martens' stopping rule, negative curvature, warm starts."""

from __future__ import annotations

import pytest
import torch

from secondorder.optim.cg import conjugate_gradient

DT = torch.float64


def spd(n: int, cond: float, seed: int = 0) -> torch.Tensor:
    """A random symmetric positive definite matrix with condition number ``cond``."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=DT))
    eig = torch.logspace(0, torch.log10(torch.tensor(cond)).item(), n, dtype=DT)
    return q @ torch.diag(eig) @ q.T


def phi(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> float:
    return float(0.5 * x @ a @ x - b @ x)


def test_solves_spd_system_exactly_in_n_iterations() -> None:
    n = 12
    a = spd(n, 50.0)
    b = torch.randn(n, dtype=DT)
    res = conjugate_gradient(lambda v: a @ v, b, max_iter=n, tol=0.0, residual_tol=1e-10)
    torch.testing.assert_close(res.x, torch.linalg.solve(a, b), rtol=1e-9, atol=1e-9)
    assert res.iterations <= n
    assert not res.negative_curvature and res.made_progress
    assert res.model_value == pytest.approx(phi(a, b, res.x), rel=1e-9)
    assert res.products == res.iterations


def test_few_distinct_eigenvalues_converge_early() -> None:
    """CG terminates in as many iterations as A has distinct eigenvalues."""
    n = 20
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=DT))
    a = q @ torch.diag(torch.tensor([1.0, 4.0, 9.0] * 6 + [1.0, 4.0], dtype=DT)) @ q.T
    b = torch.randn(n, dtype=DT)
    res = conjugate_gradient(lambda v: a @ v, b, max_iter=n, residual_tol=1e-10)
    assert res.iterations == 3
    torch.testing.assert_close(res.x, torch.linalg.solve(a, b))


def test_martens_rule_stops_early_near_the_optimum() -> None:
    n = 300
    a = spd(n, 1e4)
    b = torch.randn(n, dtype=DT)
    res = conjugate_gradient(lambda v: a @ v, b, max_iter=1000, tol=5e-4, residual_tol=0.0)
    best = phi(a, b, torch.linalg.solve(a, b))
    assert 10 < res.iterations < n  # stopped by relative progress, not by the bound
    assert res.stop == "converged"
    assert res.model_value <= 0.98 * best  # but close to the minimum of the model (< 0)
    loose = conjugate_gradient(lambda v: a @ v, b, max_iter=1000, tol=1e-2, residual_tol=0.0)
    assert loose.iterations < res.iterations


def test_max_iter_bound() -> None:
    a = spd(50, 1e3)
    b = torch.randn(50, dtype=DT)
    res = conjugate_gradient(lambda v: a @ v, b, max_iter=5)
    assert res.iterations == 5 and res.made_progress and res.stop == "max_iter"
    assert res.model_value == pytest.approx(phi(a, b, res.x), rel=1e-9)


def reference_cg_iterates(a: torch.Tensor, b: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """Textbook CG iterates x_0 = 0, x_1, ..., x_steps."""
    x = torch.zeros_like(b)
    r = b.clone()
    d = r.clone()
    xs = [x]
    for _ in range(steps):
        alpha = r.dot(r) / d.dot(a @ d)
        x = x + alpha * d
        r_new = r - alpha * (a @ d)
        d = r_new + r_new.dot(r_new) / r.dot(r) * d
        r = r_new
        xs.append(x)
    return xs


def test_stops_at_negative_curvature_with_last_good_iterate() -> None:
    a = torch.diag(torch.tensor([1.0, 2.0, 3.0, -0.5], dtype=DT))
    b = torch.ones(4, dtype=DT)
    # Find where textbook CG first meets d^T A d <= 0.
    x = torch.zeros(4, dtype=DT)
    r = b.clone()
    d = r.clone()
    bad = None
    for i in range(1, 5):
        if d.dot(a @ d) <= 0:
            bad = i
            break
        alpha = r.dot(r) / d.dot(a @ d)
        x = x + alpha * d
        r_new = r - alpha * (a @ d)
        d = r_new + r_new.dot(r_new) / r.dot(r) * d
        r = r_new
    assert bad is not None and bad > 1  # the test system must reach negative curvature late
    res = conjugate_gradient(lambda v: a @ v, b, max_iter=10)
    assert res.negative_curvature and res.made_progress and res.stop == "negative_curvature"
    assert res.iterations == bad  # work done, including the product that found d^T A d <= 0
    torch.testing.assert_close(res.x, reference_cg_iterates(a, b, bad - 1)[-1])
    assert res.model_value == pytest.approx(phi(a, b, res.x), rel=1e-9)
    assert b.dot(res.x) > 0  # still a descent direction for g = -b


def test_negative_curvature_at_once_returns_zero() -> None:
    a = -torch.eye(5, dtype=DT)
    b = torch.randn(5, dtype=DT)
    res = conjugate_gradient(lambda v: a @ v, b, max_iter=10)
    assert res.negative_curvature and not res.made_progress
    assert res.iterations == 1
    assert torch.equal(res.x, torch.zeros(5, dtype=DT))
    assert res.model_value == 0.0


def test_zero_right_hand_side() -> None:
    a = spd(4, 10.0)
    res = conjugate_gradient(lambda v: a @ v, torch.zeros(4, dtype=DT), max_iter=10)
    assert res.iterations == 0 and not res.made_progress and res.stop == "converged"
    assert torch.equal(res.x, torch.zeros(4, dtype=DT))


def test_warm_start_reduces_iterations() -> None:
    n = 60
    a = spd(n, 1e3)
    b = torch.randn(n, dtype=DT)
    exact = torch.linalg.solve(a, b)
    b2 = b + 1e-3 * torch.randn(n, dtype=DT)  # the next, slightly different, system

    def solve(x0):
        return conjugate_gradient(
            lambda v: a @ v, b2, x0, max_iter=500, tol=0.0, residual_tol=1e-10
        )

    cold, warm = solve(None), solve(0.95 * exact)
    torch.testing.assert_close(warm.x, torch.linalg.solve(a, b2), rtol=1e-6, atol=1e-6)
    assert warm.iterations < cold.iterations
    assert warm.products == warm.iterations + 1  # one product for the warm start


def test_bad_warm_start_restarts_from_zero() -> None:
    a = spd(8, 10.0)
    b = torch.randn(8, dtype=DT)
    bad = -3.0 * torch.linalg.solve(a, b)  # phi(bad) > 0: worse than x = 0
    assert phi(a, b, bad) > 0
    cold = conjugate_gradient(lambda v: a @ v, b, max_iter=3)
    warm = conjugate_gradient(lambda v: a @ v, b, bad, max_iter=3)
    torch.testing.assert_close(warm.x, cold.x)
    assert warm.products == cold.products + 1


def test_exact_warm_start_needs_no_iterations() -> None:
    a = spd(8, 10.0)
    b = torch.randn(8, dtype=DT)
    res = conjugate_gradient(lambda v: a @ v, b, torch.linalg.solve(a, b), max_iter=3)
    assert res.iterations == 0 and res.products == 1 and res.made_progress
