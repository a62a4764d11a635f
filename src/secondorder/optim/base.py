"""Shared base of the optimizers: one parameter group, flat-vector views, the step contract."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from secondorder.curvature import Batch, Objective


class FlatOptimizer(torch.optim.Optimizer):
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

    def _flat_params(self) -> torch.Tensor:
        return parameters_to_vector(self._params).detach()

    def _set_flat_params(self, flat: torch.Tensor) -> None:
        with torch.no_grad():
            vector_to_parameters(flat, self._params)

    def _check_objective(self, objective: Objective) -> None:
        if len(objective.params) != len(self._params) or any(
            a is not b for a, b in zip(objective.params, self._params, strict=True)
        ):
            raise ValueError(
                f"{type(self).__name__}: the objective's parameters are not this optimizer's"
            )

    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> torch.Tensor:
        """Make one update; return the loss at the start point on ``batch``."""
        raise NotImplementedError
