"""Test problems shared by the optimizer tests (imported as ``from problems import ...``).

- L2-regularised multinomial logistic regression: strictly convex, with its gradient, dense
  Hessian and optimum in closed form (float64).
- A tiny tanh network with mini-batches, for trajectory and resume tests.
- A quadratic 1/2 w^T A w - b^T w with a given (possibly indefinite) A, whose curvature
  products are exactly A v: CG behaviour inside the optimizers, in exact arithmetic terms.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from secondorder.curvature import Batch, Objective

LAMBDA = 1e-2  # L2 regularisation: makes the logistic regression strictly convex
CLASSES = 3


class RegularisedLinear(nn.Module):
    """nn.Linear whose output carries the L2 penalty of its parameters as an extra column.

    The Objective calls ``loss_fn(output, target)`` on functionally substituted parameters, so a
    penalty must be computed inside the forward to be evaluated (and differentiated) at the
    parameters that the line search and the curvature products use; :func:`regularised_ce`
    adds it to the cross-entropy.
    """

    def __init__(self, d: int, c: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        penalty = 0.5 * LAMBDA * sum((p * p).sum() for p in self.parameters())
        out = self.linear(x)
        return torch.cat([out, penalty.expand(out.shape[0], 1)], dim=1)


def regularised_ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out[:, :-1], y) + out[:, -1].mean()


def logistic_loss(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss of :class:`RegularisedLinear` at flat parameters ``theta`` (W row-major, b)."""
    c, d = CLASSES, x.shape[1]
    w, b = theta[: c * d].view(c, d), theta[c * d :]
    return F.cross_entropy(x @ w.T + b, y) + 0.5 * LAMBDA * theta.dot(theta)


def logistic_grad_hessian(
    theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient and dense Hessian of :func:`logistic_loss` in closed form."""
    (n, d), c = x.shape, CLASSES
    z = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1)  # [x, 1]: weights and bias by class
    order = [
        t // d * (d + 1) + t % d if t < c * d else (t - c * d) * (d + 1) + d
        for t in range(c * d + c)
    ]  # theta (W row-major, then b) -> (class, [x, 1]) index
    w, b = theta[: c * d].view(c, d), theta[c * d :]
    p = torch.softmax(x @ w.T + b, 1)
    grad = ((p - F.one_hot(y, c)).T @ z / n).reshape(-1)[order]
    curvature = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    hessian = torch.einsum("ikl,ia,ib->kalb", curvature, z, z).reshape(len(order), -1) / n
    eye = torch.eye(len(order), dtype=x.dtype)
    return grad + LAMBDA * theta, hessian[order][:, order] + LAMBDA * eye


def logistic_optimum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The minimiser of :func:`logistic_loss` on (x, y), by Newton's method with the dense
    Hessian from 0 (float64, gradient norm below 1e-13)."""
    theta = torch.zeros(CLASSES * (x.shape[1] + 1), dtype=torch.float64)
    for _ in range(50):
        grad, hessian = logistic_grad_hessian(theta, x, y)
        if grad.norm() < 1e-13:
            break
        theta = theta - torch.linalg.solve(hessian, grad)
    assert grad.norm() < 1e-13
    return theta


def logistic_problem(n: int = 200, d: int = 5) -> tuple[Objective, Batch, torch.Tensor]:
    """(objective, full batch, optimum) of L2-regularised multinomial logistic regression."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    logits = x @ torch.randn(CLASSES, d, generator=g, dtype=torch.float64).T
    y = torch.multinomial(logits.softmax(1), 1, generator=g).squeeze(1)
    theta = logistic_optimum(x, y)
    torch.manual_seed(1)
    model = RegularisedLinear(d, CLASSES).double()
    return Objective(model, regularised_ce), (x, y), theta


def tanh_network_problem(
    seed: int = 0, batch_norm: bool = False
) -> tuple[nn.Module, Objective, list[Batch], Batch]:
    """A tiny tanh network (float32), its Objective, 16 mini-batches of 16 samples (4 distinct
    ones, 4 times) and the full batch of 64."""
    torch.manual_seed(seed)
    layers = [nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 3)]
    if batch_norm:
        layers.insert(1, nn.BatchNorm1d(8))
    model = nn.Sequential(*layers)
    x, y = torch.randn(64, 10), torch.randint(0, 3, (64,))
    batches = [(x[i : i + 16], y[i : i + 16]) for i in (0, 16, 32, 48) * 4]
    return model, Objective(model), batches, (x, y)


def assert_resumes_exactly(
    make: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    opt: torch.optim.Optimizer,
    objective: Objective,
    rest: Sequence[Batch],
) -> None:
    """Checkpoint ``opt`` and the model now, then step on ``rest`` twice: with ``opt``, and with
    an optimizer from ``make`` resumed from the checkpoint (through ``torch.save`` and
    ``torch.load(weights_only=True)``) on a copy of the model. Both must end bit-identical."""
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    resumed_objective = Objective(copy.deepcopy(objective.model), objective.loss_fn)
    for batch in rest:
        opt.step(objective, batch)

    buffer.seek(0)
    resumed = make(resumed_objective.params)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for batch in rest:
        resumed.step(resumed_objective, batch)
    assert torch.equal(objective.flat_params(), resumed_objective.flat_params())


class Quadratic(nn.Module):
    """f(w) = 1/2 w^T A w - b^T w, w starting at 0; the output carries f for every sample, so
    with :func:`output_mean` as the loss the Objective's Hessian is exactly A."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("a", a)
        self.register_buffer("b", b)
        self.w = nn.Parameter(torch.zeros_like(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = 0.5 * self.w @ self.a @ self.w - self.b @ self.w
        return value.expand(x.shape[0])


def output_mean(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return out.mean()


def quadratic_problem(a: torch.Tensor, b: torch.Tensor) -> tuple[Objective, Batch]:
    """(objective, dummy batch of one sample) of :class:`Quadratic` (float64)."""
    model = Quadratic(a.double(), b.double())
    return Objective(model, output_mean), (torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1))
