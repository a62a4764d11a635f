"""SHG (Hessian-free Newton-CG): convergence on a convex problem, fallbacks, state round-trip."""

from __future__ import annotations

import io
import itertools

import pytest
import torch
from torch import nn

from secondorder.curvature import Objective
from secondorder.optim.shg import SHG

from problems import (
    CLASSES,
    RegularisedLinear,
    logistic_optimum,
    quadratic_problem,
    regularised_ce,
)

DT = torch.float64


def logreg_problem(seed: int = 0):
    torch.manual_seed(seed)
    n, d, k = 200, 5, CLASSES
    x = torch.randn(n, d, dtype=DT)
    y = (x @ torch.randn(d, k, dtype=DT) + torch.randn(n, k, dtype=DT)).argmax(dim=1)
    model = RegularisedLinear(d, k).to(DT)
    return model, (x, y)


def test_converges_to_the_optimum_with_defaults() -> None:
    model, batch = logreg_problem()
    w_star = logistic_optimum(*batch)
    obj = Objective(model, regularised_ce)
    opt = SHG(model.parameters())
    for _ in range(15):
        opt.step(obj, batch)
    torch.testing.assert_close(obj.flat_params(), w_star, rtol=1e-8, atol=1e-8)
    assert obj.counters.non_descent_directions == 0
    assert obj.counters.cg_iterations > 0


def test_exact_newton_converges_quadratically() -> None:
    model, batch = logreg_problem(seed=1)
    w_star = logistic_optimum(*batch)
    obj = Objective(model, regularised_ce)
    opt = SHG(model.parameters(), cg_max_iter=obj.numel, cg_tol=0.0)
    errors = [float((obj.flat_params() - w_star).norm())]
    for _ in range(8):
        opt.step(obj, batch, batch)
        errors.append(float((obj.flat_params() - w_star).norm()))
        if errors[-1] < 1e-12:
            break
    assert errors[-1] < 1e-12
    assert len(errors) <= 8  # a handful of Newton steps
    # Quadratic convergence: e_{k+1} <= C e_k^2 once close.
    close = [(a, b) for a, b in itertools.pairwise(errors) if 1e-9 < a < 1e-2]
    assert close and all(b <= 10 * a**2 for a, b in close)


def test_stochastic_curvature_and_gradient_sample() -> None:
    """Gradient on the full batch, curvature on mini-batches of 20: still reaches the optimum."""
    model, batch = logreg_problem(seed=2)
    w_star = logistic_optimum(*batch)
    obj = Objective(model, regularised_ce)
    opt = SHG(model.parameters(), cg_max_iter=10)
    x, y = batch
    for i in range(40):
        idx = slice(20 * (i % 10), 20 * (i % 10) + 20)
        opt.step(obj, batch, (x[idx], y[idx]))
    torch.testing.assert_close(obj.flat_params(), w_star, rtol=1e-6, atol=1e-6)
    assert obj.counters.curvature_samples == 20 * obj.counters.curvature_products


def test_gauss_newton_damping_and_fixed_step() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(DT)
    batch = (torch.randn(64, 4, dtype=DT), torch.randint(0, 3, (64,)))
    obj = Objective(model)
    opt = SHG(model.parameters(), curvature="gauss-newton", damping=1.0, adapt_damping=True)
    losses = [float(opt.step(obj, batch)) for _ in range(10)]
    assert losses[-1] < 0.9 * losses[0]
    assert opt.state["damping"] != 1.0  # the Levenberg-Marquardt rule moved it
    fixed = SHG(model.parameters(), curvature="gauss-newton", line_search=False, lr=0.5)
    before = obj.counters.line_search_trials
    fixed.step(obj, batch)
    assert obj.counters.line_search_trials == before


def test_failed_line_search_keeps_parameters_and_drops_warm_start() -> None:
    model, batch = logreg_problem()
    obj = Objective(model, regularised_ce)
    opt = SHG(model.parameters(), lr=1e6, ls_max_trials=1)
    w0 = obj.flat_params()
    loss0 = opt.step(obj, batch)
    assert torch.equal(obj.flat_params(), w0)
    assert obj.counters.line_search_failures == 1
    assert "direction" not in opt.state and opt.state["steps"] == 1
    torch.testing.assert_close(loss0, obj.loss(batch))


class Concave(nn.Module):
    """f(w) = -||w||^2: Hessian -2 I, so CG meets negative curvature at once."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=DT))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(self.w**2).sum().expand(x.shape[0])


def test_negative_curvature_falls_back_to_steepest_descent() -> None:
    model = Concave()
    obj = Objective(model, lambda out, y: out.mean())
    batch = (torch.zeros(2, 1, dtype=DT), torch.zeros(2, dtype=torch.long))
    w0 = obj.flat_params()
    opt = SHG(model.parameters())
    loss0 = opt.step(obj, batch)
    assert obj.counters.non_descent_directions == 1
    assert obj.counters.cg_iterations == 1
    step = obj.flat_params() - w0
    # Moved along -g = 2 w0 (away from the maximum), with a step Armijo accepted at once.
    torch.testing.assert_close(step, 2.0 * w0)
    assert obj.loss(batch) < loss0
    assert "direction" not in opt.state  # no warm start from a steepest-descent step


def cg_stops(counters) -> tuple[int, int, int]:
    return (
        counters.cg_converged_stops,
        counters.cg_max_iter_stops,
        counters.cg_negative_curvature_stops,
    )


def test_cg_stop_counters_on_a_convex_quadratic() -> None:
    """SPD A: CG never meets negative curvature; it converges or runs out of iterations, and
    every step's solve is counted under exactly one reason."""
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=DT))
    a = q @ torch.diag(torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], dtype=DT)) @ q.T
    b = torch.randn(6, generator=g, dtype=DT)
    obj, batch = quadratic_problem(a, b)
    SHG(obj.params, cg_max_iter=2, warm_start_decay=0.0).step(obj, batch)
    assert cg_stops(obj.counters) == (0, 1, 0) and obj.counters.cg_iterations == 2

    obj, batch = quadratic_problem(a, b)
    SHG(obj.params, cg_max_iter=20).step(obj, batch)  # 6 distinct eigenvalues: exact in ~6
    assert cg_stops(obj.counters) == (1, 0, 0) and obj.counters.cg_iterations <= 7
    torch.testing.assert_close(obj.flat_params(), torch.linalg.solve(a, b))

    obj, batch = quadratic_problem(a, b)
    opt = SHG(obj.params, cg_max_iter=3)
    for _ in range(5):
        opt.step(obj, batch)
    assert obj.counters.cg_negative_curvature_stops == 0
    assert sum(cg_stops(obj.counters)) == obj.counters.optimizer_steps == 5


def first_negative_curvature_iteration(a: torch.Tensor, b: torch.Tensor) -> int:
    """The iteration at which textbook CG on A x = b (from 0) meets d^T A d <= 0."""
    r = b.clone()
    d = r.clone()
    for i in range(1, len(b) + 1):
        if d.dot(a @ d) <= 0:
            return i
        alpha = r.dot(r) / d.dot(a @ d)
        r_new = r - alpha * (a @ d)
        d = r_new + r_new.dot(r_new) / r.dot(r) * d
        r = r_new
    raise AssertionError("CG met no negative curvature")


@pytest.mark.parametrize(
    ("eigenvalues", "fallback"),
    [([1.0, 2.0, 3.0, -0.5], False), ([-1.0, -1.0, -2.0, -3.0], True)],
)
def test_cg_stop_counters_on_an_indefinite_quadratic(eigenvalues, fallback) -> None:
    """Indefinite A (w = 0, so g = -b): CG stops where exact arithmetic meets d^T A d <= 0; at
    the first iteration nothing was gained and the step falls back to -g."""
    a = torch.diag(torch.tensor(eigenvalues, dtype=DT))
    b = torch.ones(4, dtype=DT)
    expected = first_negative_curvature_iteration(a, b)
    assert expected == (1 if fallback else 2)
    obj, batch = quadratic_problem(a, b)
    SHG(obj.params, cg_max_iter=10).step(obj, batch)
    assert cg_stops(obj.counters) == (0, 0, 1) and obj.counters.optimizer_steps == 1
    assert obj.counters.cg_iterations == expected
    assert obj.counters.non_descent_directions == int(fallback)


def test_batchnorm_running_stats_update_once_per_step() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))
    obj = Objective(model)
    batch = (torch.randn(32, 4), torch.randint(0, 3, (32,)))
    opt = SHG(model.parameters(), cg_max_iter=5)
    for _ in range(3):
        opt.step(obj, batch, (batch[0][:8], batch[1][:8]))
    assert int(model[1].num_batches_tracked) == 3


def run(model: nn.Module, opt: SHG, obj: Objective, batches) -> None:
    for big, small in batches:
        opt.step(obj, big, small)


def test_state_dict_round_trip_resumes_exactly() -> None:
    torch.manual_seed(0)
    x = torch.randn(120, 4, dtype=DT)
    y = torch.randint(0, 3, (120,))
    batches = [
        ((x[i::2], y[i::2]), (x[10 * i : 10 * i + 10], y[10 * i : 10 * i + 10])) for i in range(2)
    ] * 3
    hparams = dict(cg_max_iter=8, damping=0.5, adapt_damping=True)

    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(DT)
    obj = Objective(model)
    opt = SHG(model.parameters(), **hparams)
    run(model, opt, obj, batches[:3])
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    run(model, opt, obj, batches[3:])

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(DT)
    resumed.load_state_dict(saved["model"])
    opt2 = SHG(resumed.parameters(), **hparams)
    opt2.load_state_dict(saved["opt"])
    assert "direction" in opt2.state and opt2.state["steps"] == 3
    run(resumed, opt2, Objective(resumed), batches[3:])
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt2.state["damping"] == opt.state["damping"]


def test_rejects_bad_hyperparameters_and_foreign_objective() -> None:
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="curvature"):
        SHG(model.parameters(), curvature="fisher")
    with pytest.raises(ValueError, match="adapt_damping"):
        SHG(model.parameters(), adapt_damping=True)
    opt = SHG(model.parameters())
    with pytest.raises(ValueError, match="parameters"):
        opt.step(Objective(nn.Linear(2, 2)), (torch.randn(3, 2), torch.zeros(3, dtype=torch.long)))


@pytest.mark.parametrize("name", ["lenet", pytest.param("resnet18", marks=pytest.mark.slow)])
def test_steps_on_real_models(name: str) -> None:
    """A few SHG steps on the study's models (float32, train mode) lower the loss."""
    models = pytest.importorskip("secondorder.models")
    torch.manual_seed(0)
    model = models.build_model(name, in_channels=1, image_size=28, num_classes=10)
    model.train()
    obj = Objective(model)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    opt = SHG(model.parameters(), cg_max_iter=5)
    losses = [float(opt.step(obj, (x, y), (x[:4], y[:4]))) for _ in range(2)]
    assert losses[-1] < losses[0]
    tracked = [int(b) for n, b in model.named_buffers() if n.endswith("num_batches_tracked")]
    assert all(t == 2 for t in tracked)  # one running-stat update per step
