"""Conjugate gradient for the Newton system A x = b of Hessian-free optimisation (Martens 2010).

CG minimises the quadratic model phi(x) = 1/2 x^T A x - b^T x; with b = -g its minimiser is the
Newton direction. A is only available through products (a stochastic Hessian or Gauss-Newton
matrix), may be indefinite, and is expensive, so CG stops early: by Martens' relative-progress
rule, at a small residual, at the iteration bound, or at the first direction of non-positive
curvature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import torch
from torch import Tensor

MARTENS_EPS = 5e-4  # Martens (2010), Sec. 4.4: epsilon of the relative-progress rule
CGStop = Literal["negative_curvature", "max_iter", "converged"]
CG_SYNCS = MappingProxyType(
    {
        "secondorder.optim.cg:conjugate_gradient": "CG's stopping tests: b^T b (or the warm "
        "start's phi, b^T b and r^T r in one transfer) before the loop, then d^T A d, phi and "
        "r^T r in one transfer per iteration (negative curvature, Martens' rule, the residual)"
    }
)


@dataclass
class CGResult:
    """Outcome of :func:`conjugate_gradient`.

    ``x`` is the last iterate reached through directions of positive curvature; ``model_value``
    is phi(x) there. ``made_progress`` is False when phi(x) >= 0 (e.g. non-positive curvature
    was met before any step, so ``x`` is zero): the solution is then no better than x = 0 and the
    caller should use another direction (SHG: steepest descent).

    ``stop`` says why CG stopped, exactly one reason per solve: ``"negative_curvature"`` (a
    direction d with d^T A d <= 0, or a non-finite product), ``"max_iter"`` (the iteration bound)
    or ``"converged"`` (Martens' relative-progress rule, the residual tolerance, b = 0, or a warm
    start that already solves the system).
    """

    x: Tensor
    iterations: int  # products A d inside the loop (the work; includes a rejected final one)
    stop: CGStop
    model_value: float  # phi(x) = 1/2 x^T A x - b^T x
    made_progress: bool  # phi(x) < 0
    products: int  # all products with A, including the one for a warm start

    @property
    def negative_curvature(self) -> bool:
        """Stopped at a direction d with d^T A d <= 0 (or not finite)."""
        return self.stop == "negative_curvature"


def conjugate_gradient(
    matvec: Callable[[Tensor], Tensor],
    b: Tensor,
    x0: Tensor | None = None,
    *,
    max_iter: int,
    tol: float = MARTENS_EPS,
    residual_tol: float = 1e-10,
) -> CGResult:
    """Approximately solve A x = b by CG with Martens' stopping rules.

    Stops after iteration i when
    - i > k, phi(x_i) < 0 and (phi(x_i) - phi(x_{i-k})) / phi(x_i) < k * tol, with
      k = max(10, floor(0.1 i)) (Martens 2010; ``tol`` = epsilon, default 5e-4), or
    - ||r_i|| <= residual_tol * ||b|| (converged), or
    - i = max_iter, or
    - d_i^T A d_i <= 0: the step along d_i is not taken and the last good iterate is returned.

    Warm start: ``x0`` (costs one product). If phi(x0) >= 0 the warm start is worse than zero
    and CG restarts from x = 0. phi is tracked without extra products as
    phi(x) = -1/2 x^T (b + r) with r = b - A x. One host synchronisation per iteration.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    products = 0
    zero = torch.zeros_like(b)
    x, r = zero, b.clone()
    phi = 0.0
    if x0 is not None:
        ax0 = matvec(x0)
        products += 1
        r0 = b - ax0
        phi0, bb, rr0 = torch.stack([-0.5 * x0.dot(b + r0), b.dot(b), r0.dot(r0)]).tolist()
        rr_h = bb
        if phi0 < 0.0:  # keep the warm start only if it beats x = 0
            x, r, phi, rr_h = x0.clone(), r0, phi0, rr0
    else:
        bb = b.dot(b).item()
        rr_h = bb
    if bb == 0.0:  # b = 0: x = 0 solves the system (and is no descent direction)
        return CGResult(zero, 0, "converged", 0.0, False, products)
    stop_rr = (residual_tol**2) * bb
    if rr_h <= stop_rr:  # the warm start already solves the system
        return CGResult(x, 0, "converged", phi, phi < 0.0, products)
    rr = r.dot(r)
    d = r.clone()
    phis = [phi]  # phis[i] = phi(x_i)
    stop: CGStop = "max_iter"
    iterations = 0
    for i in range(1, max_iter + 1):
        ad = matvec(d)
        products += 1
        iterations = i
        dad = d.dot(ad)
        alpha = rr / dad
        x_new = x + alpha * d
        r_new = r - alpha * ad
        rr_new = r_new.dot(r_new)
        phi_new = -0.5 * x_new.dot(b + r_new)
        dad_h, phi_h, rr_h = torch.stack([dad, phi_new, rr_new]).tolist()
        if not (dad_h > 0.0 and math.isfinite(dad_h) and math.isfinite(phi_h)):
            stop = "negative_curvature"
            break
        x, r, phi = x_new, r_new, phi_h
        phis.append(phi)
        k = max(10, int(0.1 * i))
        if rr_h <= stop_rr or (i > k and phi < 0.0 and (phi - phis[i - k]) / phi < k * tol):
            stop = "converged"
            break
        d = r + (rr_new / rr) * d
        rr = rr_new
    return CGResult(x, iterations, stop, phi, phi < 0.0, products)
