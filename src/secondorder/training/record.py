"""A run's record: what a run writes, in one place, and when an existing record stands for it.

A run's record is ``summary.json`` (:class:`RunRecord`, with the run's provenance from
:func:`environment`), ``metrics.csv`` (one row per logging point, :data:`METRIC_COLUMNS`) and
``model.pt``; a run that fails writes ``failed.json`` instead (:func:`write_failure`).

The record is a pure function of three things: the run spec (its hash is part of the run id),
the data bundle's content, and the training code. When a job is started again for a run whose
directory already holds a finished, diverged or untuned record of the same three, the record is
kept as it is and nothing is trained: at the paper's scale a spurious rerun throws away
GPU-days. A record of another spec, other data or other training code is stale: it is removed
before training starts, so that a kill during the new training leaves no old record that could
pass for the new one.

The training code is the library and the one-run layer (:data:`TRAINING_CODE`): what can change
a run's result. The study, the analysis and the entry points cannot (a run is its spec), so
editing them keeps every record. ``snakemake --forcerun train`` after an edit of the training
code therefore retrains; to retrain unchanged code (e.g. to time it again), delete the run
directory.

Torch-free at import (the analysis reads records): torch is imported inside the functions that
need it.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import logging
import math
import platform
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import secondorder
from secondorder import atomic
from secondorder.cost import CostCounters
from secondorder.spec import RunSpec

if TYPE_CHECKING:
    import torch

log = logging.getLogger("secondorder.training.record")


class Status(enum.StrEnum):
    """A run's outcome, as ``summary.json`` (or ``failed.json``) records it. Torch-free: the
    analysis reads it. A str, so records and comparisons hold the plain word."""

    FINISHED = "finished"  # trained for all its epochs
    DIVERGED = "diverged"  # stopped at a non-finite or exploding training loss; record kept
    UNTUNED = "untuned"  # a final run whose search excluded every point: recorded, not trained
    FAILED = "failed"  # raised: failed.json only, which is not an output, so nothing looks done


# The files of a run directory: the record (its training job's outputs, the summary written
# last), and what a failure leaves instead (not an output, so nothing looks done).
METRICS = "metrics.csv"
SUMMARY = "summary.json"
WEIGHTS = "model.pt"
FAILED = "failed.json"
OUTPUTS = (METRICS, SUMMARY, WEIGHTS)
REUSABLE_STATUSES = (Status.FINISHED, Status.DIVERGED, Status.UNTUNED)
METRIC_COLUMNS = (
    "epoch",
    "iteration",
    "train_time_s",
    "train_loss",
    "full_train_loss",
    "test_loss",
    "test_accuracy",
    *CostCounters().as_dict(),
)
"""The columns of ``metrics.csv``: one row per logging point. ``test_*`` hold the evaluated set
(the test set, or the validation split of a tuning run: ``summary.json``'s ``evaluated_on``)."""
UNTUNED_ERROR = "tuning selected nothing (every point of the search was excluded): not trained"


@dataclass(frozen=True)
class RunRecord:
    """A run's ``summary.json``: its fields are the file's keys, in the file's order, except
    ``best_accuracy``, written as ``best_<evaluated_on>_accuracy``."""

    run_id: str
    spec: dict[str, Any]
    status: Status
    evaluated_on: str  # the set behind metrics.csv's test_* columns: "test" or "validation"
    epochs_completed: int
    iterations: int
    train_time_s: float
    # train_loss (running mean), <evaluated_on>_loss and _accuracy at the last point, and the
    # final model's full_train_loss and train_accuracy on the training set
    final: dict[str, float]
    best_accuracy: float  # the best finite accuracy of any logging point (NaN: none)
    counters: dict[str, int]
    diverged_at: dict[str, float] | None  # epoch and iteration of the point that diverged
    resumed_from_epoch: int | None  # the epoch of the checkpoint that the run resumed from
    error: str | None  # why an untuned run was not trained
    tuning: dict[str, Any] | None  # group, status, winner, score and rule of its selection
    environment: dict[str, Any]  # provenance: see environment()

    @classmethod
    def of_run(
        cls,
        spec: RunSpec,
        rows: list[dict[str, float]],
        *,
        status: Status,
        epochs_completed: int,
        diverged_at: dict[str, float] | None,
        resumed_from_epoch: int | None,
        tuning: dict[str, Any] | None,
        environment: dict[str, Any],
        on_training_set: dict[str, float] | None = None,
    ) -> RunRecord:
        """The record of a run whose logging points were ``rows`` (at least the initial one):
        iterations, time and counters are those of its last point, after which it stopped;
        ``on_training_set``: the final model's full_train_loss and train_accuracy (the loop's
        evaluate.on_training_set), joining ``final``."""
        final, evaluated = rows[-1], spec.evaluate_on
        accuracies = [row["test_accuracy"] for row in rows if math.isfinite(row["test_accuracy"])]
        return cls(
            run_id=spec.run_id,
            spec=spec.to_dict(),
            status=status,
            evaluated_on=evaluated,
            epochs_completed=epochs_completed,
            iterations=final["iteration"],
            train_time_s=final["train_time_s"],
            final={
                "train_loss": final["train_loss"],
                f"{evaluated}_loss": final["test_loss"],
                f"{evaluated}_accuracy": final["test_accuracy"],
                **(on_training_set or {}),
            },
            best_accuracy=max(accuracies, default=float("nan")),
            counters={name: final[name] for name in CostCounters().as_dict()},
            diverged_at=diverged_at,
            resumed_from_epoch=resumed_from_epoch,
            error=UNTUNED_ERROR if status == Status.UNTUNED else None,
            tuning=tuning,
            environment=environment,
        )

    def to_json(self) -> dict[str, Any]:
        """The content of ``summary.json``: plain values, non-finite floats as None."""
        summary = {}
        for field in fields(self):
            key, value = field.name, getattr(self, field.name)
            if key == "best_accuracy":
                key = f"best_{self.evaluated_on}_accuracy"
            summary[key] = value.value if isinstance(value, Status) else value
        return atomic.json_ready(summary)

    def write(self, out_dir: Path, rows: list[dict[str, float]], weights: Any) -> dict[str, Any]:
        """Write the run's outputs, ``summary.json`` last (its presence marks the record
        complete): ``rows`` as ``metrics.csv``, ``weights`` (a state dict) as ``model.pt``.
        Returns the summary as the file holds it."""
        atomic.write_text(out_dir / METRICS, metrics_csv(rows))
        atomic.save_torch(weights, out_dir / WEIGHTS)
        summary = self.to_json()
        atomic.write_json(out_dir / SUMMARY, summary)
        (out_dir / FAILED).unlink(missing_ok=True)
        return summary


def metrics_csv(rows: list[dict[str, float]]) -> str:
    """The metrics rows as CSV text, columns in :data:`METRIC_COLUMNS` order."""
    lines = [",".join(METRIC_COLUMNS)]
    lines += [",".join(repr(row[c]) for c in METRIC_COLUMNS) for row in rows]  # exact floats
    return "\n".join(lines) + "\n"


def write_failure(out_dir: Path, spec: RunSpec, error: BaseException) -> None:
    """``failed.json`` of a run that raised ``error``: not an output, so nothing looks done."""
    failure = {
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "status": Status.FAILED.value,
        "error": f"{type(error).__name__}: {error}",
    }
    atomic.write_json(out_dir / FAILED, failure)


def environment(device: torch.device, seed: int, data_meta: dict[str, Any]) -> dict[str, Any]:
    """Versions, device, git commit, training code and data provenance for the run record."""
    import torch
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "secondorder": secondorder.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "git_commit": git_commit(),
        "training_code_sha256": training_code_digest(),
        "seed": seed,
        "torch_threads": torch.get_num_threads(),
        "data": data_meta,
    }


def git_commit() -> str | None:
    """The commit of the source tree this package runs from, if it is a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


# The modules and packages whose code a run's result depends on: the library, the one-run layer
# and the leaves they share (paths relative to the package).
TRAINING_CODE = (
    "__init__.py",
    "atomic.py",
    "errors.py",
    "curvature.py",
    "cost.py",
    "models.py",
    "optim/",
    "spec.py",
    "data/",
    "training/",
)


@functools.cache
def training_code_digest() -> str:
    """sha256 over this package's training code (see :func:`code_digest`)."""
    return code_digest(Path(secondorder.__file__).resolve().parent)


def code_digest(package: Path) -> str:
    """sha256 over the names and bytes of a package's training-code modules
    (:data:`TRAINING_CODE`)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if not any(relative == part or relative.startswith(part) for part in TRAINING_CODE):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_summary(out_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``summary.json`` as a dict, or None when absent or unreadable."""
    try:
        summary = json.loads((Path(out_dir) / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def reusable_summary(
    out_dir: str | Path, spec: RunSpec, data_digest: str | None
) -> dict[str, Any] | None:
    """The summary of a complete record in ``out_dir`` made by this spec, data and code, else
    None. ``data_digest`` is the bundle's content digest (None: unknown, never reusable)."""
    out_dir = Path(out_dir)
    summary = read_summary(out_dir)
    if summary is None or data_digest is None:
        return None
    environment = summary.get("environment") or {}
    data = environment.get("data") or {}
    if (
        summary.get("status") in REUSABLE_STATUSES
        and summary.get("spec") == spec.to_dict()
        and data.get("bundle_sha256") == data_digest
        and environment.get("training_code_sha256") == training_code_digest()
        and all((out_dir / name).is_file() for name in OUTPUTS)
    ):
        return summary
    return None


def remove_stale(out_dir: str | Path) -> None:
    """Delete the outputs of a record that does not stand for the run about to train."""
    out_dir = Path(out_dir)
    stale = [name for name in OUTPUTS if (out_dir / name).exists()]
    if stale:
        log.warning("%s: removing a stale record (%s) before training", out_dir, ", ".join(stale))
    for name in stale:
        (out_dir / name).unlink(missing_ok=True)


def clear_for_training(out_dir: Path) -> None:
    """Ready ``out_dir`` for a run about to train: created, a stale record's outputs removed,
    and the temporaries of a writer that was killed (an earlier attempt's)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir)
    for debris in atomic.remove_stale_temporaries(out_dir):
        log.info("removed %s, left by a writer that was killed", debris)
