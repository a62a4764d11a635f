"""The training runner: one :class:`~secondorder.spec.RunSpec` -> one run record.

A run holds its dataset on the training device, draws mini-batches by on-device permutation,
and calls ``optimizer.step(objective, batch, curvature_batch)`` once per iteration. The data
that each quantity uses follows the optimizer's data plan (:mod:`secondorder.training.batches`):
GD and SHG compute their gradient on a fresh random ``gradient_fraction`` of the training set (or on
all of it, or on the mini-batch itself), SHG its curvature on the mini-batch, SQN its curvature
on a separate ``curvature_batch_size`` sample. One epoch is one pass of the update
loop over the training set (iterations x batch size / N), as in the paper, whatever the extra
work; the cost counters record that work.

The clock runs only while training: at each logging point (``logs_per_epoch`` per epoch, plus one
every ``eval_every`` iterations when set) the device is synchronised, the clock stops, the test
set (and optionally the whole training set) is evaluated, and the clock restarts.
A training loss that is not finite, or that exceeds ``divergence_factor`` times the initial
loss (a saturating tanh network "explodes" to huge but finite losses), stops the run with status
``diverged`` and keeps the record. A run
checkpoints at the end of every epoch and resumes from there when restarted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import secondorder
from secondorder import atomic
from secondorder import data as datasets
from secondorder.cost import CostCounters
from secondorder.curvature import Objective
from secondorder.errors import ConfigError
from secondorder.models import build_model
from secondorder.optim import DATA_HPARAMS, build_optimizer
from secondorder.spec import RunSpec
from secondorder.training import record
from secondorder.training.batches import DataPlan
from secondorder.training.devices import device_lease, synchronize
from secondorder.training.selection import resolve_selection

log = logging.getLogger("secondorder.training.loop")
_UNTUNED = "tuning selected nothing (every point of the search was excluded): not trained"

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
CHECKPOINT = "checkpoint.pt"
DEFAULT_THREADS = 1
"""CPU threads of a run unless the caller says otherwise: the same for the CLI, Snakemake jobs
(``threads: 1``, several jobs side by side) and library calls, so that one run id gives one
result (float sums in another thread count differ in the last bits)."""
EVAL_CHUNK = 2000


def train_run(
    spec: RunSpec,
    data_bundle: str | Path,
    out_dir: str | Path,
    *,
    device: str = "auto",
    progress: bool | None = None,
    threads: int = DEFAULT_THREADS,
    selection: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one run and write ``metrics.csv`` and ``summary.json`` into ``out_dir``.

    A run with a search (:mod:`secondorder.study.tuning`) needs its group's ``selection``: it trains
    with the winner, or, when tuning selected nothing (every point diverged), records the
    initial evaluation only, with status ``untuned``. The summary names the selection.

    A finished (or diverged) record of the same spec, data and training code already in
    ``out_dir`` is kept and returned without training (:mod:`secondorder.training.record`); any
    other record there is removed first. Resumes from ``out_dir/checkpoint.pt`` when one of the same
    spec exists. A diverged run returns normally (status ``diverged``); any other failure writes
    ``failed.json`` (which is not an output, so nothing looks done) and re-raises.

    ``threads`` (torch's intra-op CPU threads, restored afterwards) is recorded in the run's
    environment as ``torch_threads``. It is not part of the spec and the run id, like the
    device: it changes how fast a run goes and the last bits of its floats, not the experiment,
    and a GPU run does not depend on it.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    tuned = None
    if spec.search is not None:
        if selection is None:
            raise ConfigError(
                f"run {spec.run_id} searches {list(spec.search['space'])}: "
                "pass the selection of its tuning runs"
            )
        spec = resolve_selection(spec, selection)
        tuned = {key: selection[key] for key in ("group", "status", "winner", "score", "rule")}
    summary = record.reusable_summary(out_dir, spec, datasets.bundle_digest(data_bundle))
    if summary is not None:  # before any GPU is taken: keeping a record needs none
        log.info("%s: kept its finished record (same spec, data and code)", spec.run_id)
        return summary
    # an unusable device is refused before anything is written; a GPU is locked for this run
    with device_lease(device) as leased, _torch_threads(threads):
        return _recorded_run(spec, Path(data_bundle), Path(out_dir), leased, progress, tuned)


def _recorded_run(
    spec: RunSpec,
    bundle: Path,
    out_dir: Path,
    device: torch.device,
    progress: bool | None,
    tuned: dict[str, Any] | None,
) -> dict[str, Any]:
    """Run ``spec`` in ``out_dir``; on failure write ``failed.json`` and re-raise."""
    out_dir.mkdir(parents=True, exist_ok=True)
    record.remove_stale(out_dir)
    for debris in atomic.remove_stale_temporaries(out_dir):  # of an earlier, killed attempt
        log.info("removed %s, left by a writer that was killed", debris)
    try:
        return _Run(spec, bundle, out_dir, device, progress, tuned).run()
    except Exception as error:
        failure = {
            "run_id": spec.run_id,
            "spec": spec.to_dict(),
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
        }
        atomic.write_json(out_dir / "failed.json", failure)
        raise


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``threads`` inside the block, restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Run:
    """State of one training run between logging points (kept small and checkpointable)."""

    def __init__(
        self,
        spec: RunSpec,
        bundle: Path,
        out_dir: Path,
        device: torch.device,
        progress: bool | None,
        tuned: dict[str, Any] | None = None,
    ) -> None:
        self.spec, self.out_dir, self.device, self.tuned = spec, out_dir, device, tuned
        self.show_progress = sys.stderr.isatty() if progress is None else progress
        torch.manual_seed(spec.seed)
        self.data = datasets.load(
            bundle,
            device,
            train_subset=spec.train_subset,
            test_subset=spec.test_subset,
            seed=0,  # the same subset for every run, whatever its seed
            holdout=spec.holdout,
            evaluate_on=spec.evaluate_on,
        )
        self.model = build_model(
            spec.model,
            in_channels=self.data.in_channels,
            image_size=self.data.image_size,
            num_classes=self.data.num_classes,
            activation=spec.activation,
            variant=spec.variant,
        ).to(device)
        self.objective = Objective(self.model, F.cross_entropy, chunk_size=spec.chunk_size)
        self.counters = self.objective.counters
        optimizer_hparams = {k: v for k, v in spec.hparams.items() if k not in DATA_HPARAMS}
        self.optimizer = build_optimizer(spec.method, self.objective.params, optimizer_hparams)
        self.generator = torch.Generator(device=device).manual_seed(spec.seed)

        self.n_train = len(self.data.y_train)
        if spec.batch_size > self.n_train:
            raise ValueError(
                f"batch_size {spec.batch_size} exceeds the training set size {self.n_train}"
            )
        self.iterations_per_epoch = self.n_train // spec.batch_size
        self.log_interval = max(1, math.ceil(self.iterations_per_epoch / spec.logs_per_epoch))
        self.data_plan = DataPlan.from_hparams(spec.hparams, self.n_train)

        self.epoch = 0  # completed epochs
        self.iteration = 0
        self.train_time = 0.0
        self.rows: list[dict[str, float]] = []
        self.status = "untuned" if tuned is not None and tuned["winner"] is None else "running"
        self.diverged_at: dict[str, float] | None = None
        self.resumed_from_epoch: int | None = None

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self._resume()
        if not self.rows:
            self._log_point(train_loss=float("nan"))
        with self._progress() as bar:
            while self.epoch < self.spec.epochs and self.status == "running":
                self._train_epoch(bar)
                if self.status == "running":
                    self.epoch += 1
                    self._save_checkpoint()
        if self.status == "running":
            self.status = "finished"
        return self._finish()

    def _train_epoch(self, bar: Any) -> None:
        permutation = datasets.epoch_permutation(self.n_train, self.generator, self.device)
        loss_sum = torch.zeros((), device=self.device)
        losses_since_log = 0
        self.model.train()
        synchronize(self.device)
        started = time.perf_counter()
        for i in range(self.iterations_per_epoch):
            index = permutation[i * self.spec.batch_size : (i + 1) * self.spec.batch_size]
            batch, curvature_batch = self._batches(index)
            loss = self.optimizer.step(self.objective, batch, curvature_batch)
            loss_sum += loss.detach().to(loss_sum.dtype)
            losses_since_log += 1
            self.iteration += 1
            if self._log_due(i):
                synchronize(self.device)
                self.train_time += time.perf_counter() - started
                train_loss = (loss_sum / losses_since_log).item()  # the one sync per point
                self._log_point(train_loss=train_loss)
                bar.update(losses_since_log)
                if not math.isfinite(train_loss) or train_loss > self._loss_limit():
                    self.status = "diverged"
                    self.diverged_at = {
                        "epoch": self.rows[-1]["epoch"],
                        "iteration": self.iteration,
                    }
                    log.warning("%s diverged at iteration %d", self.spec.run_id, self.iteration)
                    return
                loss_sum.zero_()
                losses_since_log = 0
                synchronize(self.device)
                started = time.perf_counter()

    def _log_due(self, i: int) -> bool:
        """Whether a logging point follows iteration ``i`` of this epoch: ``logs_per_epoch``
        points per epoch (the last at its end), plus one every ``eval_every`` iterations of the
        run (counted over the whole run, so a resumed run logs at the same iterations)."""
        eval_every = self.spec.eval_every
        return (
            (i + 1) % self.log_interval == 0
            or i + 1 == self.iterations_per_epoch
            or (eval_every is not None and self.iteration % eval_every == 0)
        )

    def _loss_limit(self) -> float:
        """Training losses above this count as diverged: a multiple of the initial test loss."""
        return self.spec.divergence_factor * self.rows[0]["test_loss"]

    def _batches(self, minibatch: torch.Tensor) -> tuple[Any, Any]:
        """(gradient/line-search batch, curvature batch) of the mini-batch with indices
        ``minibatch``, following the optimizer's data plan (:mod:`secondorder.training.batches`)."""
        x, y = self.data.x_train, self.data.y_train
        gradient, curvature = self.data_plan.step_indices(
            minibatch, self.generator, curvature_needed=self.optimizer.needs_curvature_batch()
        )
        batch = (x[gradient], y[gradient])
        return batch, batch if curvature is gradient else (x[curvature], y[curvature])

    # -- logging and evaluation (off the clock) ------------------------------------------------

    def _log_point(self, *, train_loss: float) -> None:
        test_loss, test_accuracy = self._evaluate(self.data.x_test, self.data.y_test)
        full_train_loss = float("nan")
        if self.spec.eval_train_loss:
            full_train_loss, _ = self._evaluate(self.data.x_train, self.data.y_train)
        row = {
            "epoch": self.iteration * self.spec.batch_size / self.n_train,
            "iteration": self.iteration,
            "train_time_s": self.train_time,
            "train_loss": train_loss,
            "full_train_loss": full_train_loss,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            **self.counters.as_dict(),
        }
        self.rows.append(row)
        if not self.show_progress:
            log.info(
                "%s epoch %.2f it %d time %.1fs train_loss %.4g test_loss %.4g test_acc %.4f",
                self.spec.run_id,
                row["epoch"],
                self.iteration,
                self.train_time,
                train_loss,
                test_loss,
                test_accuracy,
            )

    @torch.no_grad()
    def _evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Mean loss and accuracy in eval mode (BatchNorm running statistics)."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        for start in range(0, len(y), EVAL_CHUNK):
            logits = self.model(x[start : start + EVAL_CHUNK])
            target = y[start : start + EVAL_CHUNK]
            loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
            correct += (logits.argmax(dim=1) == target).sum()
        self.model.train()
        return (loss_sum / len(y)).item(), (correct.double() / len(y)).item()

    # -- checkpoint, resume, outputs ------------------------------------------------------------

    def _checkpoint_state(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "train_time": self.train_time,
            "rows": self.rows,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "counters": self.counters.as_dict(),
        }

    def _save_checkpoint(self) -> None:
        atomic.save_torch(self._checkpoint_state(), self.out_dir / CHECKPOINT)

    def _resume(self) -> None:
        path = self.out_dir / CHECKPOINT
        if not path.exists():
            return
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:  # a corrupt checkpoint is not worth a failed run
            log.warning("ignoring unreadable checkpoint %s (%s); starting afresh", path, error)
            return
        if state.get("spec") != self.spec.to_dict():
            log.warning("ignoring checkpoint %s of a different spec; starting afresh", path)
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.counters.load(state["counters"])
        self.epoch, self.iteration = state["epoch"], state["iteration"]
        self.train_time, self.rows = state["train_time"], state["rows"]
        self.resumed_from_epoch = self.epoch
        log.info("%s resumed from the checkpoint after epoch %d", self.spec.run_id, self.epoch)

    def _finish(self) -> dict[str, Any]:
        final = self.rows[-1]
        finite_accuracies = [
            r["test_accuracy"] for r in self.rows if math.isfinite(r["test_accuracy"])
        ]
        evaluated = self.spec.evaluate_on  # metrics.csv's test_* columns hold this set
        summary = {
            "run_id": self.spec.run_id,
            "spec": self.spec.to_dict(),
            "status": self.status,
            "evaluated_on": evaluated,
            "epochs_completed": self.epoch,
            "iterations": self.iteration,
            "train_time_s": self.train_time,
            "final": {
                "train_loss": final["train_loss"],
                f"{evaluated}_loss": final["test_loss"],
                f"{evaluated}_accuracy": final["test_accuracy"],
            },
            f"best_{evaluated}_accuracy": max(finite_accuracies, default=float("nan")),
            "counters": self.counters.as_dict(),
            "diverged_at": self.diverged_at,
            "resumed_from_epoch": self.resumed_from_epoch,
            "error": _UNTUNED if self.status == "untuned" else None,
            "tuning": self.tuned,
            "environment": environment(self.device, self.spec.seed, self.data.meta),
        }
        atomic.write_text(self.out_dir / "metrics.csv", metrics_csv(self.rows))
        atomic.save_torch(self.model.state_dict(), self.out_dir / "model.pt")
        summary = atomic.json_ready(summary)  # what the caller gets is what the file holds
        atomic.write_json(self.out_dir / "summary.json", summary)
        (self.out_dir / CHECKPOINT).unlink(missing_ok=True)
        (self.out_dir / "failed.json").unlink(missing_ok=True)
        return summary

    @contextlib.contextmanager
    def _progress(self) -> Iterator[Any]:
        total = self.spec.epochs * self.iterations_per_epoch
        if not self.show_progress:
            yield _NoProgress()
            return
        from tqdm import tqdm

        with tqdm(total=total, initial=self.iteration, desc=self.spec.run_id, unit="it") as bar:
            yield bar


class _NoProgress:
    def update(self, n: int) -> None:
        pass


def metrics_csv(rows: list[dict[str, float]]) -> str:
    """The metrics rows as CSV text, columns in :data:`METRIC_COLUMNS` order."""
    lines = [",".join(METRIC_COLUMNS)]
    lines += [",".join(repr(row[c]) for c in METRIC_COLUMNS) for row in rows]  # exact floats
    return "\n".join(lines) + "\n"


def environment(device: torch.device, seed: int, data_meta: dict[str, Any]) -> dict[str, Any]:
    """Versions, device, git commit and data provenance for the run record."""
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
        "training_code_sha256": record.training_code_digest(),
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
