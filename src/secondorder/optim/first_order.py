"""First-order baselines with the optimizers' step signature ``step(objective, batch, ...)``.

- :class:`SGD`: the paper's SGD (fixed learning rate, no momentum), and :class:`GD`: the
  paper's GD, the same update on a gradient of a random fraction of the training set.
- :class:`Adam` and :class:`LBFGS`: extra baselines (not in the paper) that wrap
  ``torch.optim.Adam`` and ``torch.optim.LBFGS``, so their state and ``state_dict`` are torch's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from secondorder.cost import StepWork
from secondorder.curvature import Batch, Objective
from secondorder.optim.base import FlatOptimizer, StepContract, check_lr
from secondorder.optim.linesearch import EXPECTED_TRIALS

MAX_EVALS_PER_ITER = 25  # torch.optim.LBFGS's strong-Wolfe default max_ls


def _set_grads(params: list[Tensor], flat_grad: Tensor) -> None:
    """Point each parameter's ``.grad`` at its slice of ``flat_grad`` (views, no copy)."""
    for p, g in zip(params, flat_grad.split([p.numel() for p in params]), strict=True):
        p.grad = g.view_as(p)


class SGD(FlatOptimizer):
    """Plain stochastic gradient descent: w <- w - lr * g(w; batch).

    ``lr=0.01`` is a neutral default; the paper tunes a fixed learning rate per setting.
    """

    def __init__(self, params: Iterable[Tensor], *, lr: float = 0.01) -> None:
        check_lr(lr)
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> Tensor:
        """One gradient step on ``batch``; returns the loss before it (``curvature_batch``
        is not used)."""
        self._check_objective(objective)
        objective.counters.optimizer_steps += 1
        loss, g = objective.loss_and_grad(batch)
        params = self._params
        lr = self.hparams["lr"]
        for p, gp in zip(params, g.split([p.numel() for p in params]), strict=True):
            p.add_(gp.view_as(p), alpha=-lr)
        return loss

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        """One gradient on the gradient sample."""
        return {"gradient": (1, gradient)}


class GD(SGD):
    """The paper's GD: :class:`SGD`'s update on the gradient of a random ``gradient_fraction``
    of the training set, which the runner draws every step and passes as ``batch`` (default
    0.2, as the paper's SHG gradient; 1.0 is full-batch gradient descent)."""

    data_defaults = MappingProxyType({"gradient_fraction": 0.2})


class Adam(torch.optim.Adam, StepContract):
    """``torch.optim.Adam`` (torch's defaults) driven by the Objective's gradient on ``batch``.

    Subclassing keeps torch's per-parameter state, so ``state_dict()`` round-trips as torch's.
    """

    host_syncs = MappingProxyType(
        {
            "torch.optim.optimizer:_get_value": "torch reads each parameter's step count, which "
            "it keeps on the host (a host tensor: no wait for the device)"
        }
    )

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps)
        if len(self.param_groups) != 1:
            raise ValueError("Adam supports one parameter group only")

    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> Tensor:
        """One Adam update from the gradient on ``batch``; returns the loss before it."""
        params = self.param_groups[0]["params"]
        objective.counters.optimizer_steps += 1
        loss, g = objective.loss_and_grad(batch)
        _set_grads(params, g)
        super().step()
        for p in params:
            p.grad = None
        return loss

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        """One gradient on the gradient sample (the mini-batch)."""
        return {"gradient": (1, gradient)}


class LBFGS(torch.optim.LBFGS, StepContract):
    """``torch.optim.LBFGS`` with a closure that evaluates the Objective on ``batch``.

    Defaults: ``lr=1.0`` and ``line_search_fn="strong_wolfe"`` (torch's recommended use),
    ``history_size=10``, and ``max_iter=1`` so that one step is one update, as for the other
    methods (torch's default of 20 inner iterations would make one step 20 updates on one
    batch). Each inner iteration may evaluate the closure up to 25 times (torch's strong-Wolfe
    default ``max_ls``): torch's default ``max_eval = max_iter * 5 // 4`` would give the line
    search of a single iteration no evaluations, and L-BFGS stalls. The first closure
    evaluation is the training forward (BatchNorm running statistics update once); further
    evaluations are line-search trials (counted as ``line_search_trials``) and leave them
    unchanged. The Objective counts all forwards and gradients.
    """

    host_syncs = MappingProxyType(
        {
            "torch.optim.lbfgs:*": "torch's L-BFGS (an extra baseline) decides on the host: the "
            "loss as a float, its convergence tests, the curvature test y^T s, and every "
            "decision of its strong-Wolfe line search"
        }
    )

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float = 1.0,
        history_size: int = 10,
        max_iter: int = 1,
        line_search_fn: str | None = "strong_wolfe",
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            max_iter=max_iter,
            max_eval=max_iter * MAX_EVALS_PER_ITER,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )

    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> Tensor:
        """One L-BFGS step (``max_iter`` inner iterations) on ``batch``; returns the loss at the
        start point."""
        params = self.param_groups[0]["params"]
        objective.counters.optimizer_steps += 1
        calls = 0

        def closure() -> Tensor:
            nonlocal calls
            calls += 1
            loss, g = objective.loss_and_grad(batch, update_batchnorm=calls == 1)
            _set_grads(params, g)
            return loss

        loss = super().step(closure)
        for p in params:
            p.grad = None
        if self.param_groups[0]["line_search_fn"] is not None:
            objective.counters.line_search_trials += calls - 1
        return loss

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        """The training gradient and the line search's evaluations (each a gradient, as many
        as an Armijo search's trials are expected to be) on the mini-batch."""
        calls = 1 + EXPECTED_TRIALS
        return {"gradient": (calls, calls * batch)}
