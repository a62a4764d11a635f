"""Shared base of the optimizers: the step contract, one parameter group, flat-vector views,
and the step machinery of the line-search methods (SHG, SQN, L-SR1).

Host synchronisations: a step keeps its tensors on the device and brings a number to the host
only where the algorithm decides on it. Each method names those places in ``host_syncs``
(call site -> reason; tests/test_sync.py counts them per step and fails on any other)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import Tensor

from secondorder.cost import CostCounters, StepWork
from secondorder.curvature import Batch, Objective
from secondorder.optim.linesearch import EXPECTED_TRIALS, LineSearchResult, armijo

SyncSites = Mapping[str, str]
"""Call sites (``module:qualified function``) of a step's host synchronisations -> why."""
LINE_SEARCH_SYNCS: SyncSites = MappingProxyType(
    {
        "secondorder.optim.linesearch:armijo": "the Armijo acceptance test, one decision per "
        "trial; and g^T p when it comes as a tensor (SQN), for the descent test before any trial"
    }
)
DESCENT_SYNCS: SyncSites = MappingProxyType(
    {
        "secondorder.optim.base:FlatOptimizer._descent_or_steepest": "the descent test "
        "g^T p < 0 that keeps the method's direction or falls back to -g (and the fallback's "
        "slope -g^T g); the line search needs the slope as a number"
    }
)


def check_lr(lr: float) -> None:
    """Reject a non-positive learning rate (or initial line-search step)."""
    if lr <= 0.0:
        raise ValueError(f"lr must be positive, got {lr}")


def line_search_hparams(
    lr: float, line_search: bool, ls_c: float, ls_backtrack: float, ls_max_trials: int
) -> dict:
    """The step hyperparameters that SHG, SQN and L-SR1 share, as param-group entries.

    Only ``lr`` is checked here; :func:`armijo` checks ``ls_c``, ``ls_backtrack`` and
    ``ls_max_trials`` when it runs (and the registry checks all of them up front).
    """
    check_lr(lr)
    return dict(
        lr=lr,
        line_search=line_search,
        ls_c=ls_c,
        ls_backtrack=ls_backtrack,
        ls_max_trials=ls_max_trials,
    )


def expected_trials(hparams: Mapping[str, Any]) -> float:
    """Expected line-search trials per step of SHG, SQN or L-SR1 (none with a fixed step)."""
    return EXPECTED_TRIALS if hparams["line_search"] else 0.0


class StepContract:
    """What every registered optimizer provides, so that the runner, the registry and the cost
    plan treat all methods alike (a mixin beside its ``torch.optim.Optimizer`` base):

    - ``step(objective, batch, curvature_batch=None) -> loss``: one update, from the gradient
      (and line search) on ``batch`` and curvature on ``curvature_batch`` (``batch`` when None);
      returns the loss at the start point on ``batch``.
    - :meth:`needs_curvature_batch`: whether the next step uses ``curvature_batch``.
    - :attr:`data_defaults`: the method's data hyperparameters with their defaults
      (:data:`secondorder.optim.hparams.DATA_HPARAMS`): the runner reads them to choose each
      step's data; they are not constructor arguments.
    - :meth:`work_per_step`: the expected work of one step, for the cost plan.
    - :attr:`host_syncs`: every place where a step waits for the device to hand a number to
      the host (``.item()``, ``float(t)``, ``bool(t)``, ``.tolist()``, ``.cpu()``), with why
      the algorithm needs it there (none: the step is queued on the device without waiting).
    """

    data_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    host_syncs: ClassVar[SyncSites] = MappingProxyType({})

    def needs_curvature_batch(self) -> bool:
        """Whether the next step may use ``curvature_batch``: a runner draws a separate
        curvature sample only when it does (SQN forms a pair every few steps)."""
        return True

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        """Expected calls and samples of each operation (:data:`secondorder.cost.OPERATIONS`)
        in one step, given the resolved ``hparams`` and the sizes of the mini-batch, of the
        gradient sample and of the curvature sample (each the mini-batch unless the data
        hyperparameters say otherwise)."""
        raise NotImplementedError(f"{cls.__name__} declares no work per step")


class FlatOptimizer(torch.optim.Optimizer, StepContract):
    """An optimizer whose algorithm works on the flat vector of all its parameters.

    Subclasses implement :meth:`step`. All algorithm state lives in ``self.state`` (under string
    keys for state that is not per parameter), so ``state_dict()``/``load_state_dict()`` resume a
    run exactly.
    """

    def __init__(self, params: Iterable[torch.Tensor], defaults: dict) -> None:
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} supports one parameter group only")

    @property
    def hparams(self) -> dict:
        """The hyperparameters of the (single) parameter group."""
        return self.param_groups[0]

    @property
    def _params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    def _check_objective(self, objective: Objective) -> None:
        if len(objective.params) != len(self._params) or any(
            a is not b for a, b in zip(objective.params, self._params, strict=True)
        ):
            raise ValueError(
                f"{type(self).__name__}: the objective's parameters are not this optimizer's"
            )

    @staticmethod
    def _descent_or_steepest(
        counters: CostCounters, g: Tensor, direction: Tensor | None
    ) -> tuple[Tensor, float, bool]:
        """The direction to search and its slope g^T p, and whether it is ``direction``.

        ``direction`` is kept if g^T p < 0; otherwise (or if it is None: the method has no
        usable direction) the step falls back to steepest descent -g, counted in
        ``non_descent_directions``.
        """
        slope = float(g.dot(direction)) if direction is not None else 0.0
        if slope < 0.0:
            return direction, slope, True
        counters.non_descent_directions += 1
        return -g, float(-g.dot(g)), False

    def _line_search_move(
        self,
        objective: Objective,
        batch: Batch,
        w: Tensor,
        loss0: Tensor,
        slope: Tensor | float,
        direction: Tensor,
    ) -> tuple[float, Tensor, LineSearchResult | None]:
        """Step along ``direction`` from ``w`` and move the parameters there.

        The step is the Armijo line search's on ``batch`` with initial step ``lr`` (or the fixed
        step ``lr`` when ``line_search=False``). Returns the step (0.0: a failed search, not
        moved), the new point ``w + step * direction`` (``w`` if not moved) and the search
        result (None for a fixed step).
        """
        hp = self.hparams
        search = None
        if hp["line_search"]:
            search = armijo(
                objective,
                batch,
                w,
                loss0,
                slope,
                direction,
                initial_step=hp["lr"],
                c=hp["ls_c"],
                backtrack=hp["ls_backtrack"],
                max_trials=hp["ls_max_trials"],
            )
            step = search.step
        else:
            step = hp["lr"]
        point = w
        if step != 0.0:
            point = w + step * direction
            objective.set_flat_params(point)
        return step, point, search

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state; algorithm state under string keys is copied onto the parameters'
        device (``torch.optim`` moves only per-parameter state), so a checkpoint saved on one
        device resumes on another without sharing tensors with ``state_dict``."""
        super().load_state_dict(state_dict)
        device = self._params[0].device
        for key, value in list(self.state.items()):
            if isinstance(key, str):
                self.state[key] = _copy_to(value, device)

    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> torch.Tensor:
        """Make one update; return the loss at the start point on ``batch``."""
        raise NotImplementedError


def _copy_to(value: object, device: torch.device) -> object:
    if isinstance(value, torch.Tensor):
        return value.detach().to(device, copy=True)
    if isinstance(value, list | tuple):
        return type(value)(_copy_to(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _copy_to(v, device) for k, v in value.items()}
    return value
