"""L-SR1: limited-memory symmetric rank-one quasi-Newton (Ramamurthy & Duffy 2016).

Each iteration takes a gradient g on the mini-batch, steps along p = -H g with H the L-SR1
inverse-Hessian approximation of the last ``memory`` pairs, and forms a new pair on the SAME
mini-batch: s = w_{k+1} - w_k, y = g(w_{k+1}) - g(w_k) (one extra gradient per iteration). As
in the paper, a backtracking Armijo line search replaces L-SR1's trust region.

Compact representations (Byrd, Nocedal & Schnabel 1994), with the pairs as the rows of S and Y
(k x n, oldest first), S Y^T = L + D + U (strictly lower, diagonal, strictly upper parts),
B0 = I / gamma and H0 = gamma I:

    B = B0 + (Y - B0 S)^T M_B^{-1} (Y - B0 S),   M_B = D + L + L^T - S B0 S^T
    H = H0 + (S - H0 Y)^T M_H^{-1} (S - H0 Y),   M_H = D + U + U^T - Y H0 Y^T

Both equal the recursive SR1 updates of B0 (H0) by the pairs in order whenever those are
defined, and H = B^{-1} (Woodbury: M_H = -(M_B + (Y - B0 S) H0 (Y - B0 S)^T)). The k x k
systems are solved in float64 through a symmetric eigendecomposition, after scaling row i by
1 / |a_i| (a_i the i-th row of Y - B0 S, resp. S - H0 Y): the scaled matrix is nearly singular
exactly when the rank-k correction is huge compared with unit directions, whatever the pairs'
lengths.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from secondorder.cost import StepWork
from secondorder.curvature import Batch, Objective
from secondorder.optim.base import (
    DESCENT_SYNCS,
    LINE_SEARCH_SYNCS,
    FlatOptimizer,
    expected_trials,
    line_search_hparams,
)

GAMMA_FACTOR = 0.5  # H0 = GAMMA_FACTOR * (s^T y / y^T y) I, see LSR1
RCOND_FACTOR = 10.0  # a k x k system is singular if |eig|_min <= RCOND_FACTOR * eps * |eig|_max


def _solve_symmetric(matrix: Tensor, rhs: Tensor, scale: Tensor) -> Tensor | None:
    """z with matrix z = rhs; None if not finite or numerically singular.

    The k x k system goes to the host in one transfer and is solved there in float64 (tiny, and
    the decision needs the host anyway). ``scale`` (positive, one per row) symmetrically scales
    the system before the singularity test.
    """
    k = rhs.shape[0]
    host = torch.cat([matrix.reshape(-1), rhs, scale]).to("cpu", torch.float64)
    d = host[k * k + k :]
    a = host[: k * k].view(k, k) * torch.outer(d, d)
    if not bool(torch.isfinite(host).all()):
        return None
    eigenvalues, vectors = torch.linalg.eigh(a)
    magnitude = eigenvalues.abs()
    if bool(magnitude.min() <= RCOND_FACTOR * torch.finfo(rhs.dtype).eps * magnitude.max()):
        return None
    z = vectors @ ((vectors.T @ (host[k * k : k * k + k] * d)) / eigenvalues)
    return (z * d).to(rhs.device, rhs.dtype)


def _row_scale(a: Tensor) -> Tensor:
    """1 / |a_i| for each row of the low-rank factor (1 for a zero row)."""
    norms = a.norm(dim=1)
    return torch.where(norms > 0, 1.0 / norms, torch.ones_like(norms))


def _middle_b(S: Tensor, Y: Tensor, gamma: float) -> Tensor:
    sy = S @ Y.T
    return torch.tril(sy) + torch.tril(sy, -1).T - (S @ S.T) / gamma


def _middle_h(S: Tensor, Y: Tensor, gamma: float) -> Tensor:
    sy = S @ Y.T
    return torch.triu(sy) + torch.triu(sy, 1).T - gamma * (Y @ Y.T)


def lsr1_product(v: Tensor, S: Tensor, Y: Tensor, gamma: float) -> Tensor | None:
    """B v for the L-SR1 approximation B of pairs (rows of S, Y; oldest first), B0 = I / gamma.

    None if the compact representation is singular (the recursive updates are undefined).
    """
    if S.shape[0] == 0:
        return v / gamma
    a = Y - S / gamma
    z = _solve_symmetric(_middle_b(S, Y, gamma), a @ v, _row_scale(a))
    return None if z is None else v / gamma + a.T @ z


def lsr1_inverse_product(v: Tensor, S: Tensor, Y: Tensor, gamma: float) -> Tensor | None:
    """H v for the L-SR1 inverse approximation H of pairs (rows of S, Y), H0 = gamma I.

    None if the compact representation is singular (then B is singular and H undefined).
    """
    if S.shape[0] == 0:
        return gamma * v
    a = S - gamma * Y
    z = _solve_symmetric(_middle_h(S, Y, gamma), a @ v, _row_scale(a))
    return None if z is None else gamma * v + a.T @ z


def lsr1_matrix(S: Tensor, Y: Tensor, gamma: float) -> Tensor:
    """The dense L-SR1 matrix B (n x n) of pairs (rows of S, Y), B0 = I / gamma (for tests)."""
    n = S.shape[1]
    eye = torch.eye(n, dtype=S.dtype, device=S.device)
    if S.shape[0] == 0:
        return eye / gamma
    a = Y - S / gamma
    return eye / gamma + a.T @ torch.linalg.solve(_middle_b(S, Y, gamma), a)


def sr1_pair_accepted(
    s: Tensor, y: Tensor, S: Tensor, Y: Tensor, gamma: float, threshold: float
) -> bool:
    """The SR1 skip rule: accept (s, y) iff |s^T (y - B s)| >= threshold |s| |y - B s| > 0.

    B is the approximation of the stored pairs (S, Y) with B0 = I / gamma. A pair is also
    rejected when y = B s exactly (nothing to update), when that B is undefined (singular
    compact representation), or when a value is not finite.
    """
    bs = lsr1_product(s, S, Y, gamma)
    if bs is None:
        return False
    r = y - bs
    lhs, rhs = torch.stack([s.dot(r).abs(), threshold * s.norm() * r.norm()]).tolist()
    return math.isfinite(lhs) and math.isfinite(rhs) and lhs >= rhs and lhs > 0.0


class LSR1(FlatOptimizer):
    """Limited-memory SR1 with an Armijo line search (the paper's replacement of the trust region).

    Hyperparameters (defaults and why):
    - ``lr=1.0``: initial step of the line search (the quasi-Newton step), or the fixed step
      when ``line_search=False`` (then tune it).
    - ``memory=10``: pairs kept (Ramamurthy & Duffy use 5-20).
    - ``skip_threshold=1e-8``: r of the standard SR1 skip rule (Nocedal & Wright, eq. 6.26).
    - ``line_search=True``, ``ls_c=0.1``, ``ls_backtrack=0.5``, ``ls_max_trials=20``: Armijo
      backtracking on the mini-batch as in the paper's eq. 2.

    Initial matrix: H0 = gamma I with gamma = 0.5 s^T y / y^T y of the newest accepted pair
    (unchanged when that pair has s^T y <= 0; 1 before any pair). The factor matters: with the
    L-BFGS choice gamma = s^T y / y^T y, a one-pair memory gives a singular B (the SR1 update's
    denominator (s - H0 y)^T y is exactly zero), so H would not exist; with 0.5 one pair with
    s^T y > 0 gives a positive definite H that is conservative in the directions the pairs have
    not explored. (On LeNet/MNIST, 60 iterations, one seed, 0.5 did better than 0.25, 0.9, 1.)

    Skip rule: a new pair is tested against the approximation of the stored pairs with the H0
    that the pair itself sets if accepted, so the rule guards exactly the denominator of the
    SR1 update that the stored memory represents; rejected pairs count as ``skipped_pairs``.

    SR1 may be indefinite, so p = -H g need not be a descent direction. If g^T p >= 0 the step
    uses -g instead (memory kept: H may still be useful for later gradients); if the compact
    representation is singular (H undefined) it uses -g and clears the memory. Both count in
    ``non_descent_directions``. A failed line search (no step, so no pair) also clears the
    memory: the same pairs would likely give an unusable direction again, and without a step no
    new pair could replace them.
    """

    host_syncs = MappingProxyType(
        {
            **DESCENT_SYNCS,
            **LINE_SEARCH_SYNCS,
            "secondorder.optim.lsr1:_solve_symmetric": "the k x k compact system of H g (and of "
            "B s for the skip rule) goes to the host in one transfer, to be solved in float64; "
            "its finiteness and singularity tests then read that host copy (no further wait)",
            "secondorder.optim.lsr1:LSR1._add_pair": "s^T y and y^T y in one transfer: the "
            "new pair's gamma, a host number the compact representation is scaled by",
            "secondorder.optim.lsr1:sr1_pair_accepted": "the SR1 skip rule |s^T r| >= "
            "threshold |s| |r| (both sides in one transfer)",
        }
    )

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float = 1.0,
        memory: int = 10,
        skip_threshold: float = 1e-8,
        line_search: bool = True,
        ls_c: float = 0.1,
        ls_backtrack: float = 0.5,
        ls_max_trials: int = 20,
    ) -> None:
        step_hparams = line_search_hparams(lr, line_search, ls_c, ls_backtrack, ls_max_trials)
        if memory < 1:
            raise ValueError(f"memory must be at least 1, got {memory}")
        if skip_threshold < 0.0:
            raise ValueError(f"skip_threshold must be non-negative, got {skip_threshold}")
        defaults = dict(memory=memory, skip_threshold=skip_threshold, **step_hparams)
        super().__init__(params, defaults)

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        """Two gradients (the step's and the pair's) and the line search's trials, all on the
        mini-batch."""
        trials = expected_trials(hparams)
        return {"gradient": (2, 2 * batch), "loss": (trials, trials * batch)}

    def _memory(self, like: Tensor) -> tuple[Tensor, Tensor, float]:
        """(S, Y, gamma) of the stored pairs (empty k = 0 matrices before any)."""
        empty = like.new_zeros((0, like.numel()))
        state = self.state
        return state.get("S", empty), state.get("Y", empty), float(state.get("gamma", 1.0))

    def _clear_memory(self) -> None:
        self.state.pop("S", None)
        self.state.pop("Y", None)

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> Tensor:
        """One L-SR1 iteration; returns the loss at the start point on ``batch``.

        ``curvature_batch`` is not used: the pairs come from gradients on ``batch``.
        """
        self._check_objective(objective)
        objective.counters.optimizer_steps += 1
        w = objective.flat_params()
        loss0, g = objective.loss_and_grad(batch)
        S, Y, gamma = self._memory(g)

        hg = lsr1_inverse_product(g, S, Y, gamma)
        if hg is None:  # H undefined: forget the memory
            self._clear_memory()
        # H undefined, or SR1 is indefinite and p ascends: steepest descent instead
        direction, slope, _ = self._descent_or_steepest(
            objective.counters, g, None if hg is None else -hg
        )
        step, w_new, search = self._line_search_move(objective, batch, w, loss0, slope, direction)
        if search is not None and not search.accepted:  # no acceptable step: forget the memory
            self._clear_memory()
        if step != 0.0:
            _, g_new = objective.loss_and_grad(batch, update_batchnorm=False)
            self._add_pair(objective, w_new - w, g_new - g)
        self.state["steps"] = int(self.state.get("steps", 0)) + 1
        return loss0

    def _add_pair(self, objective: Objective, s: Tensor, y: Tensor) -> None:
        """Store (s, y) if it passes the skip rule, dropping the oldest pair beyond ``memory``."""
        S, Y, gamma = self._memory(s)
        keep = self.hparams["memory"] - 1
        S, Y = (S[-keep:], Y[-keep:]) if keep else (S[:0], Y[:0])
        sy, yy = torch.stack([s.dot(y), y.dot(y)]).tolist()
        new_gamma = GAMMA_FACTOR * sy / yy if sy > 0.0 and math.isfinite(sy / yy) else gamma
        if not sr1_pair_accepted(s, y, S, Y, new_gamma, self.hparams["skip_threshold"]):
            objective.counters.skipped_pairs += 1
            return
        # New tensors, never in place: load_state_dict shares them with the loaded state dict.
        self.state["S"] = torch.cat([S, s[None]])
        self.state["Y"] = torch.cat([Y, y[None]])
        self.state["gamma"] = new_gamma
