"""A run's state between steps, and its checkpoint (``checkpoint.pt`` in its run directory).

:class:`TrainingState` is what a run carries from step to step: where it stands (completed
epochs, iterations, the training clock, the metrics rows logged so far) and what continues from
there (model, objective, optimizer, sampling generator, cost counters). A run saves it at the
end of every epoch (atomically: a kill leaves the previous checkpoint or the new one) and,
started again, resumes from the checkpoint of the same spec; one of another spec, or one that
cannot be read, is ignored with a warning (a corrupt checkpoint is not worth a failed run). The
checkpoint is removed once the record is written: a finished run keeps only ``model.pt`` (the
quasi-Newton memory would multiply what DVC stores).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from secondorder import atomic
from secondorder.cost import CostCounters
from secondorder.curvature import Objective
from secondorder.models import build_model
from secondorder.optim import build_optimizer
from secondorder.spec import RunSpec
from secondorder.training.clock import TrainingClock

if TYPE_CHECKING:
    from secondorder.data import InMemoryData

log = logging.getLogger("secondorder.training.checkpoint")

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainingState:
    """One run's state between steps (see the module docstring)."""

    model: torch.nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # draws the permutations and samples of the data plan
    clock: TrainingClock
    batch_size: int
    n_train: int
    epoch: int = 0  # completed epochs
    iteration: int = 0
    rows: list[dict[str, float]] = field(default_factory=list)  # record.METRIC_COLUMNS each
    resumed_from_epoch: int | None = None

    @classmethod
    def fresh(cls, spec: RunSpec, data: InMemoryData, device: torch.device) -> TrainingState:
        """The state of ``spec``'s run before its first step, on ``device``. The model's initial
        weights come from torch's global generator, which the caller seeds."""
        n_train = len(data.y_train)
        if spec.batch_size > n_train:
            raise ValueError(
                f"batch_size {spec.batch_size} exceeds the training set size {n_train}"
            )
        model = build_model(
            spec.model,
            in_channels=data.in_channels,
            image_size=data.image_size,
            num_classes=data.num_classes,
            activation=spec.activation,
            variant=spec.variant,
        ).to(device)
        objective = Objective(model, F.cross_entropy, chunk_size=spec.chunk_size)
        return cls(
            model=model,
            objective=objective,
            optimizer=build_optimizer(spec.method, objective.params, spec.hparams),
            generator=torch.Generator(device=device).manual_seed(spec.seed),
            clock=TrainingClock(device),
            batch_size=spec.batch_size,
            n_train=n_train,
        )

    @property
    def counters(self) -> CostCounters:
        return self.objective.counters

    def log_point(self, train_loss: float, evaluation: dict[str, float]) -> dict[str, float]:
        """Append and return the metrics row of the point reached: ``train_loss`` (the mean of
        the mini-batch losses since the last point) and the model's ``evaluation`` now."""
        self.rows.append(
            {
                "epoch": self.iteration * self.batch_size / self.n_train,  # the paper's epochs
                "iteration": self.iteration,
                "train_time_s": self.clock.seconds,
                "train_loss": train_loss,
                **evaluation,
                **self.counters.as_dict(),
            }
        )
        return self.rows[-1]

    def save(self, out_dir: Path, spec: RunSpec) -> None:
        """Write the checkpoint of ``spec``'s run into ``out_dir``."""
        state = {
            "spec": spec.to_dict(),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "train_time": self.clock.seconds,
            "rows": self.rows,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "counters": self.counters.as_dict(),
        }
        atomic.save_torch(state, out_dir / CHECKPOINT)

    def resume(self, out_dir: Path, spec: RunSpec) -> None:
        """Continue from the checkpoint in ``out_dir`` if it is one of ``spec``'s run; else
        leave the state as it is (the run starts afresh)."""
        path = out_dir / CHECKPOINT
        if not path.exists():
            return
        try:
            state: dict[str, Any] = torch.load(
                path, map_location=self.clock.device, weights_only=True
            )
        except Exception as error:  # a corrupt checkpoint is not worth a failed run
            log.warning("ignoring unreadable checkpoint %s (%s); starting afresh", path, error)
            return
        if state.get("spec") != spec.to_dict():
            log.warning("ignoring checkpoint %s of a different spec; starting afresh", path)
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.counters.load(state["counters"])
        self.epoch, self.iteration = state["epoch"], state["iteration"]
        self.clock.seconds, self.rows = state["train_time"], state["rows"]
        self.resumed_from_epoch = self.epoch
        log.info("%s resumed from the checkpoint after epoch %d", spec.run_id, self.epoch)


def remove(out_dir: Path) -> None:
    """Delete the checkpoint in ``out_dir``, if any: the run's record is written."""
    (out_dir / CHECKPOINT).unlink(missing_ok=True)
