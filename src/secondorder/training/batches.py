"""The data of one training step: which training samples the gradient (with the line search)
and the curvature use (the data plan, from the optimizer's data hyperparameters), and drawing
them (:func:`step_batches`).

- no data hyperparameter (SGD, L-SR1, Adam, L-BFGS): everything on the mini-batch;
- ``gradient_fraction: minibatch`` (GD, SHG): gradient, line search and curvature all on the
  mini-batch itself, no extra sample and no extra generator draw (the paper's Figure 1, "simply
  one batch");
- ``gradient_fraction: f`` with round(f N) < N: gradient and line search on a fresh random
  sample of round(f N) samples (one generator draw per step), curvature on the mini-batch;
- ``gradient_fraction`` with round(f N) = N (e.g. 1.0): gradient and line search on the whole
  training set in its stored order (no draw; the Objective chunks it), curvature on the
  mini-batch;
- ``curvature_batch_size: b`` (SQN): curvature on a separate random sample of min(b, N),
  drawn only when the optimizer will use it (its ``needs_curvature_batch()``, part of every
  optimizer's step contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from secondorder.curvature import Batch
from secondorder.data import sample_indices
from secondorder.optim.base import StepContract
from secondorder.optim.hparams import MINIBATCH

Index = torch.Tensor | slice
WHOLE_SET = slice(None)  # indexing with it gives a view of the training set, not a copy


@dataclass(frozen=True)
class DataPlan:
    """Sizes of the samples that one step draws from a training set of ``n_train``."""

    n_train: int
    gradient_size: int | None = None  # None: the mini-batch; n_train: the whole set
    curvature_size: int | None = None  # None: the mini-batch

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any], n_train: int) -> DataPlan:
        """The plan of resolved optimizer hyperparameters (see the module docstring)."""
        fraction = hparams.get("gradient_fraction")
        gradient_size = None
        if fraction is not None and fraction != MINIBATCH:
            gradient_size = min(n_train, max(1, round(fraction * n_train)))
        curvature_size = hparams.get("curvature_batch_size")
        if curvature_size is not None:
            curvature_size = min(curvature_size, n_train)
        return cls(n_train, gradient_size, curvature_size)

    def step_indices(
        self,
        minibatch: torch.Tensor,
        generator: torch.Generator,
        *,
        curvature_needed: bool = True,
    ) -> tuple[Index, Index]:
        """(gradient and line-search indices, curvature indices) of one step.

        ``minibatch`` holds the mini-batch's indices; samples are drawn with ``generator`` on its
        device. Curvature on the mini-batch returns ``minibatch`` itself (the same object, so the
        runner can tell that both quantities use one batch).
        """
        device = minibatch.device
        gradient: Index = minibatch
        curvature: Index = minibatch
        if self.gradient_size == self.n_train:
            gradient = WHOLE_SET
        elif self.gradient_size is not None:
            gradient = sample_indices(self.n_train, self.gradient_size, generator, device)
        if self.curvature_size is not None and curvature_needed:
            curvature = sample_indices(self.n_train, self.curvature_size, generator, device)
        return gradient, curvature


def step_batches(
    plan: DataPlan,
    x: torch.Tensor,
    y: torch.Tensor,
    minibatch: torch.Tensor,
    generator: torch.Generator,
    optimizer: StepContract,
) -> tuple[Batch, Batch]:
    """(gradient and line-search batch, curvature batch) of the step on the mini-batch with
    indices ``minibatch`` of the training set ``(x, y)``; one batch object when both are the
    same samples. ``optimizer`` (any registered one) says whether it needs a curvature batch."""
    gradient, curvature = plan.step_indices(
        minibatch, generator, curvature_needed=optimizer.needs_curvature_batch()
    )
    batch = (x[gradient], y[gradient])
    return batch, batch if curvature is gradient else (x[curvature], y[curvature])
