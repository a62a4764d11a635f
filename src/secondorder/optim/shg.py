"""SHG: Hessian-free Newton-CG with a stochastic Hessian and a large-sample gradient.

Martens (2010) / Martens & Sutskever (2011) as used by the paper: the gradient g is computed on a
large sample (the runner passes a random 20 % of the training set as ``batch``), the curvature B
(stochastic Hessian by default, or the Gauss-Newton matrix) on the mini-batch
(``curvature_batch``); CG solves (B + damping I) p = -g, warm-started from 0.95 times the
previous solution, and a backtracking Armijo line search on ``batch`` picks the step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from secondorder.cost import StepWork
from secondorder.curvature import CURVATURES, Batch, Objective
from secondorder.optim.base import (
    DESCENT_SYNCS,
    LINE_SEARCH_SYNCS,
    FlatOptimizer,
    expected_trials,
    line_search_hparams,
)
from secondorder.optim.cg import CG_SYNCS, MARTENS_EPS, conjugate_gradient

DAMPING_BOOST = 1.5  # Levenberg-Marquardt rule (Martens 2010): damping *= 3/2 if rho < 1/4
DAMPING_DROP = 2.0 / 3.0  # ... and *= 2/3 if rho > 3/4
# Expected CG iterations per step with the indefinite Hessian, which stops at negative
# curvature, for cost estimates: the mean of the quick study's counters (70 runs on a CPU: mean
# 2.9, 1.8 to 4.3), rounded up. Gauss-Newton CG runs to cg_max_iter.
EXPECTED_HESSIAN_CG_ITERATIONS = 3.0


class SHG(FlatOptimizer):
    """Hessian-free Newton-CG with Armijo line search.

    Hyperparameters (defaults and why):
    - ``lr=1.0``: initial step of the line search (the Newton step), or the fixed step when
      ``line_search=False``.
    - ``cg_max_iter=20``: a mini-batch Hessian is noisy, so solving its system accurately buys
      little; Martens used up to 250 iterations with curvature batches of thousands of samples.
      Martens' relative-progress rule can stop CG earlier only after 10 iterations.
    - ``cg_tol=5e-4``: epsilon of Martens' relative-progress rule (Martens 2010).
    - ``warm_start_decay=0.95``: CG starts from 0.95 x the previous solution (Martens &
      Sutskever 2012, Sec. 10).
    - ``curvature="hessian"``: the paper's stochastic Hessian; ``"gauss-newton"`` is PSD.
    - ``damping=0.0``, ``adapt_damping=False``: the paper uses neither; with damping > 0 CG
      solves (B + damping I) p = -g, and ``adapt_damping`` applies the Levenberg-Marquardt rule
      on rho = (f(w + a p) - f(w)) / (q(a p) - q(0)) after each step (q the damped quadratic
      model; computed from CG quantities without extra products). A failed line search or a
      steepest-descent fallback (the model was useless) counts as rho < 1/4.
    - ``line_search=True``, ``ls_c=0.1``, ``ls_backtrack=0.5``, ``ls_max_trials=20``: Armijo
      backtracking as in the paper's eq. 2.

    When CG meets non-positive curvature before making progress, or its solution is not a
    descent direction (g^T p >= 0), the step uses -g instead (counted in
    ``non_descent_directions``). The next CG starts from zero after such a step or after a
    failed line search (parameters unchanged), else from ``warm_start_decay`` x the last CG
    solution.

    Data plan: ``batch`` is a random ``gradient_fraction`` of the training set (default 0.2, the
    paper's; a data hyperparameter read by the runner), ``curvature_batch`` the mini-batch.
    """

    data_defaults = MappingProxyType({"gradient_fraction": 0.2})
    host_syncs = MappingProxyType(
        {
            **CG_SYNCS,
            **DESCENT_SYNCS,
            **LINE_SEARCH_SYNCS,
            "secondorder.optim.shg:SHG._adapted_damping": "adapt_damping only: the reduction "
            "ratio rho, whose thresholds set the next damping",
        }
    )

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float = 1.0,
        cg_max_iter: int = 20,
        cg_tol: float = MARTENS_EPS,
        warm_start_decay: float = 0.95,
        curvature: str = "hessian",
        damping: float = 0.0,
        adapt_damping: bool = False,
        line_search: bool = True,
        ls_c: float = 0.1,
        ls_backtrack: float = 0.5,
        ls_max_trials: int = 20,
    ) -> None:
        if curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {curvature!r}")
        step_hparams = line_search_hparams(lr, line_search, ls_c, ls_backtrack, ls_max_trials)
        if cg_max_iter < 1:
            raise ValueError(f"cg_max_iter must be at least 1, got {cg_max_iter}")
        if cg_tol < 0.0:
            raise ValueError(f"cg_tol must be non-negative, got {cg_tol}")
        if not 0.0 <= warm_start_decay <= 1.0:
            raise ValueError(f"warm_start_decay must be in [0, 1], got {warm_start_decay}")
        if damping < 0.0:
            raise ValueError(f"damping must be non-negative, got {damping}")
        if adapt_damping and damping <= 0.0:
            raise ValueError("adapt_damping needs an initial damping > 0")
        defaults = dict(
            cg_max_iter=cg_max_iter,
            cg_tol=cg_tol,
            warm_start_decay=warm_start_decay,
            curvature=curvature,
            damping=damping,
            adapt_damping=adapt_damping,
            **step_hparams,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> Tensor:
        """One Newton-CG update; returns the loss at the start point on ``batch``."""
        self._check_objective(objective)
        objective.counters.optimizer_steps += 1
        hp = self.hparams
        state = self.state
        counters = objective.counters
        curvature_batch = batch if curvature_batch is None else curvature_batch
        damping = float(state.get("damping", hp["damping"]))

        w = objective.flat_params()
        loss0, g = objective.loss_and_grad(batch)

        def matvec(v: Tensor) -> Tensor:
            product = objective.curvature_product(hp["curvature"], curvature_batch, v)
            return product + damping * v if damping > 0.0 else product

        previous = state.get("direction")
        x0 = None
        if previous is not None and hp["warm_start_decay"] > 0.0:
            x0 = hp["warm_start_decay"] * previous.to(device=g.device, dtype=g.dtype)
        cg = conjugate_gradient(matvec, -g, x0, max_iter=hp["cg_max_iter"], tol=hp["cg_tol"])
        counters.cg_iterations += cg.iterations
        stop_counter = f"cg_{cg.stop}_stops"
        setattr(counters, stop_counter, getattr(counters, stop_counter) + 1)

        # no usable Newton direction (CG made no progress or p ascends): steepest descent
        direction, slope, newton = self._descent_or_steepest(
            counters, g, cg.x if cg.made_progress else None
        )
        step, _, search = self._line_search_move(objective, batch, w, loss0, slope, direction)
        new_loss = None if search is None else search.loss

        if hp["adapt_damping"]:
            damping = self._adapted_damping(
                objective, batch, damping, newton, step, slope, cg.model_value, loss0, new_loss
            )
        state["damping"] = damping
        if newton and step != 0.0:
            state["direction"] = direction
        else:  # a steepest-descent or rejected step: the next CG starts from zero
            state.pop("direction", None)
        state["steps"] = int(state.get("steps", 0)) + 1
        return loss0

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        """The gradient and the line search's trials on the gradient sample, CG's products on
        the curvature sample."""
        iterations = hparams["cg_max_iter"]
        product = "hvp" if hparams["curvature"] == "hessian" else "ggnvp"
        if product == "hvp":
            iterations = min(iterations, EXPECTED_HESSIAN_CG_ITERATIONS)
        trials = expected_trials(hparams)
        return {
            "gradient": (1, gradient),
            product: (iterations, iterations * curvature),
            "loss": (trials, trials * gradient),
        }

    @staticmethod
    def _adapted_damping(
        objective: Objective,
        batch: Batch,
        damping: float,
        newton: bool,
        step: float,
        slope: float,
        model_value: float,
        loss0: Tensor,
        new_loss: Tensor | None,
    ) -> float:
        """Levenberg-Marquardt update of the damping from the reduction ratio rho.

        For the CG solution p, phi(p) = g^T p + 1/2 p^T (B + damping I) p, so the model decrease
        of the step a p is q(a p) - q(0) = a g^T p + a^2 (phi(p) - g^T p): no extra product.
        """
        if not newton or step == 0.0:
            return damping * DAMPING_BOOST
        if new_loss is None:  # fixed step: one extra forward for f(w + a p)
            new_loss = objective.loss(batch)
        predicted = step * slope + step * step * (model_value - slope)
        rho = float((new_loss - loss0) / predicted) if predicted < 0.0 else float("nan")
        if not rho >= 0.25:  # also a non-finite rho
            return damping * DAMPING_BOOST
        if rho > 0.75:
            return damping * DAMPING_DROP
        return damping
