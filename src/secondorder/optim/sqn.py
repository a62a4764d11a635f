"""SQN: the stochastic quasi-Newton method of Byrd, Hansen, Nocedal and Singer (2016).

SQN decouples the parameter updates from the curvature estimation. Every iteration takes a step
along -H g with g the mini-batch gradient and H the L-BFGS inverse-Hessian approximation of the
last ``memory`` curvature pairs. Every ``update_interval`` (L) iterations the average of the last
L iterates x̄_t gives one new pair: s = x̄_t - x̄_{t-1} and y = ∇²F_H(x̄_t) s, a sub-sampled
Hessian-vector product (or Gauss-Newton-vector product) on a separate, larger curvature sample
evaluated at x̄_t, as in Byrd et al. The paper replaces Byrd et al.'s step sizes β/k by a
backtracking Armijo line search on the gradient batch (section 3.4: β/k "does not work on most
of our experiments"); ``step_schedule="inverse"`` restores them, to test that claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from secondorder.cost import StepWork
from secondorder.curvature import CURVATURES, Batch, Objective
from secondorder.optim.base import (
    LINE_SEARCH_SYNCS,
    FlatOptimizer,
    expected_trials,
    line_search_hparams,
)

STEP_SCHEDULES = ("constant", "inverse")


def two_loop_direction(grad: Tensor, s_list: Sequence[Tensor], y_list: Sequence[Tensor]) -> Tensor:
    """H g by the L-BFGS two-loop recursion (Nocedal & Wright, Algorithm 7.4).

    H is the BFGS inverse-Hessian approximation obtained by applying the pairs (oldest first) to
    H0 = gamma I, gamma = s^T y / y^T y of the newest pair (H0 = I without pairs). Every pair
    must have s^T y > 0. Pure tensor arithmetic: no host synchronisation.
    """
    if len(s_list) != len(y_list):
        raise ValueError(f"{len(s_list)} s vectors but {len(y_list)} y vectors")
    if not s_list:
        return grad.clone()
    rhos = [1.0 / s.dot(y) for s, y in zip(s_list, y_list, strict=True)]
    q = grad.clone()
    alphas = []
    for s, y, rho in zip(reversed(s_list), reversed(y_list), reversed(rhos), strict=True):
        alpha = rho * s.dot(q)
        q -= alpha * y
        alphas.append(alpha)
    s_new, y_new = s_list[-1], y_list[-1]
    r = q * (s_new.dot(y_new) / y_new.dot(y_new))
    for s, y, rho, alpha in zip(s_list, y_list, rhos, reversed(alphas), strict=True):
        beta = rho * y.dot(r)
        r += (alpha - beta) * s
    return r


class SQN(FlatOptimizer):
    """Stochastic quasi-Newton (Byrd et al. 2016) with an Armijo line search.

    Hyperparameters (defaults and why):
    - ``lr=1.0``: initial step of the line search (the quasi-Newton step is scaled to unit
      length by H0), or the fixed step when ``line_search=False`` (then tune it).
    - ``memory=10`` (M) and ``update_interval=20`` (L): Byrd et al.'s typical values.
    - ``curvature="hessian"``: y from sub-sampled Hessian-vector products as in Byrd et al.;
      ``"gauss-newton"`` gives pairs with s^T y >= 0 on non-convex models.
    - ``min_curvature=1e-8``: a pair is stored only if s^T y > min_curvature * s^T s (skipped
      pairs are counted); otherwise H would not be positive definite.
    - ``line_search=True``, ``ls_c=0.1``, ``ls_backtrack=0.5``, ``ls_max_trials=20``: Armijo
      backtracking on the gradient batch as in the paper's eq. 2.
    - ``step_schedule="constant"``: the step is the line search's, or ``lr`` at every iteration
      without it; ``"inverse"`` (needs ``line_search=False``) is Byrd et al.'s α_k = β/k with
      β = ``lr`` and k the iteration, counted from 1 over the whole run.

    Data plan: ``batch`` is the mini-batch (gradient and line search); ``curvature_batch`` is a
    separate sample of ``curvature_batch_size`` (a data hyperparameter read by the runner;
    default 1000, 10 x the paper's batch size of 100, as Byrd et al. use b_H 10-20 times the
    gradient batch), used only at iterations that form a pair (``batch`` if it is None then):
    :meth:`needs_curvature_batch` says whether the next step uses it, so a runner can sample it
    only then. Until the first pair exists (the first 2L iterations) the steps are plain
    gradient steps. The product y = B s is evaluated at x̄_t as in Byrd et al. (the parameters
    are set to x̄_t for the product and restored), not at the current iterate.
    """

    data_defaults = MappingProxyType({"curvature_batch_size": 1000})
    host_syncs = MappingProxyType(
        {
            **LINE_SEARCH_SYNCS,  # none with step_schedule "inverse" (or a fixed step)
            "secondorder.optim.sqn:SQN._add_pair": "the curvature test s^T y > min_curvature "
            "s^T s that keeps or skips a pair (every update_interval steps)",
        }
    )

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float = 1.0,
        memory: int = 10,
        update_interval: int = 20,
        curvature: str = "hessian",
        min_curvature: float = 1e-8,
        line_search: bool = True,
        ls_c: float = 0.1,
        ls_backtrack: float = 0.5,
        ls_max_trials: int = 20,
        step_schedule: str = "constant",
    ) -> None:
        step_hparams = line_search_hparams(lr, line_search, ls_c, ls_backtrack, ls_max_trials)
        if step_schedule not in STEP_SCHEDULES:
            raise ValueError(
                f"step_schedule must be one of {', '.join(STEP_SCHEDULES)}, got {step_schedule!r}"
            )
        if step_schedule == "inverse" and line_search:
            raise ValueError("step_schedule 'inverse' is a step size: it needs line_search false")
        if memory < 1:
            raise ValueError(f"memory must be at least 1, got {memory}")
        if update_interval < 1:
            raise ValueError(f"update_interval must be at least 1, got {update_interval}")
        if curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {curvature!r}")
        if min_curvature < 0.0:
            raise ValueError(f"min_curvature must be non-negative, got {min_curvature}")
        defaults = dict(
            memory=memory,
            update_interval=update_interval,
            curvature=curvature,
            min_curvature=min_curvature,
            step_schedule=step_schedule,
            **step_hparams,
        )
        super().__init__(params, defaults)

    def needs_curvature_batch(self) -> bool:
        """Whether the next :meth:`step` forms a pair and so uses ``curvature_batch``."""
        iteration = int(self.state.get("iteration", 0)) + 1
        return iteration % self.hparams["update_interval"] == 0 and "x_bar_prev" in self.state

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        """The gradient and the line search's trials on the mini-batch, one curvature product
        on the curvature sample every ``update_interval`` steps (counted as Hessian-vector
        products whatever ``curvature`` is)."""
        pairs = 1 / hparams["update_interval"]
        trials = expected_trials(hparams)
        return {
            "gradient": (1, batch),
            "hvp": (pairs, pairs * curvature),
            "loss": (trials, trials * batch),
        }

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> Tensor:
        """One SQN iteration; returns the loss at the start point on ``batch``."""
        self._check_objective(objective)
        objective.counters.optimizer_steps += 1
        hp = self.hparams
        state = self.state
        iteration = int(state.get("iteration", 0)) + 1

        w = objective.flat_params()
        loss0, g = objective.loss_and_grad(batch)
        s_list, y_list = state.get("s", []), state.get("y", [])
        direction = -two_loop_direction(g, s_list, y_list) if s_list else -g
        if hp["step_schedule"] == "inverse":  # Byrd et al.'s alpha_k = beta / k
            objective.set_flat_params(w + (hp["lr"] / iteration) * direction)
        else:  # H is positive definite: no descent check (g^T p goes to armijo as a tensor)
            self._line_search_move(objective, batch, w, loss0, g.dot(direction), direction)

        # Average of the iterates x_k at which the gradients were taken (Byrd et al., Alg. 1).
        x_sum = state.get("x_sum")
        # a new tensor, never in place: load_state_dict shares non-parameter state with its input
        state["x_sum"] = w if x_sum is None else x_sum + w
        if iteration % hp["update_interval"] == 0:
            x_bar = state.pop("x_sum") / hp["update_interval"]
            if "x_bar_prev" in state:
                curvature_batch = batch if curvature_batch is None else curvature_batch
                self._add_pair(objective, curvature_batch, x_bar, x_bar - state["x_bar_prev"])
            state["x_bar_prev"] = x_bar
        state["iteration"] = iteration
        return loss0

    def _add_pair(self, objective: Objective, batch: Batch, x_bar: Tensor, s: Tensor) -> None:
        """Store (s, y = B(x̄_t) s) unless s^T y <= min_curvature * s^T s (then count a skip)."""
        hp = self.hparams
        current = objective.flat_params()
        objective.set_flat_params(x_bar)
        try:
            y = objective.curvature_product(hp["curvature"], batch, s)
        finally:
            objective.set_flat_params(current)
        if bool(s.dot(y) > hp["min_curvature"] * s.dot(s)):  # one sync per L iterations
            memory = hp["memory"]
            self.state["s"] = [*self.state.get("s", []), s][-memory:]
            self.state["y"] = [*self.state.get("y", []), y][-memory:]
        else:
            objective.counters.skipped_pairs += 1
