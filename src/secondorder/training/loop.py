"""The training loop: one :class:`~secondorder.spec.RunSpec` -> one run record.

A run holds its data on the device and calls ``optimizer.step(objective, batch, curvature_batch)``
once an iteration, on the batches of :mod:`.batches`. One epoch is one pass of the update loop over
the training set, as in the paper, whatever the extra work (the cost counters record it). The
clock (:mod:`.clock`) stops while the model is evaluated (:mod:`.evaluate`): at each logging
point, and on the training set at the end. A non-finite loss, or one above ``divergence_factor``
x the initial, stops the run as diverged (:mod:`.record`). Each epoch ends in a checkpoint.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from secondorder import data as datasets
from secondorder.errors import ConfigError
from secondorder.spec import RunSpec
from secondorder.training import checkpoint, evaluate, record
from secondorder.training.batches import DataPlan, step_batches
from secondorder.training.checkpoint import TrainingState
from secondorder.training.devices import (
    DEFAULT_THREADS,
    SLOTS_PER_GPU,
    device_lease,
    torch_threads,
)
from secondorder.training.progress import progress_report
from secondorder.training.record import RunRecord, Status
from secondorder.training.selection import run_to_train

log = logging.getLogger("secondorder.training.loop")


def train_run(
    spec: RunSpec,
    data_bundle: str | Path,
    out_dir: str | Path,
    *,
    device: str = "auto",
    progress: bool | None = None,
    threads: int = DEFAULT_THREADS,
    selection: Mapping[str, Any] | None = None,
    slots: int = SLOTS_PER_GPU,
) -> dict[str, Any]:
    """Train one run into ``out_dir`` (``metrics.csv``, ``model.pt``, ``summary.json``); return
    its summary. ``progress``: a progress bar (None: when stderr is a terminal).

    A run with a search needs its group's ``selection`` (:mod:`.selection`): it trains with the
    winner or, when nothing was selected, records its initial evaluation only, as untuned. A
    finished (or diverged) record of the same spec, data and training code in ``out_dir`` is
    kept and returned (:mod:`.record`); any other record there is removed first. A diverged run
    returns normally; any other failure writes ``failed.json`` and re-raises. ``threads`` (torch's
    CPU threads, restored afterwards) is recorded as ``torch_threads``, not in the run id: like
    the device, it changes the speed and the last bits of the floats, not the experiment.
    On a GPU the run holds ``slots`` of its slots (:func:`~.devices.device_lease`).
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    spec, tuned = run_to_train(spec, selection)
    out_dir = Path(out_dir)
    summary = record.reusable_summary(out_dir, spec, datasets.bundle_digest(data_bundle))
    if summary is not None:  # before any GPU is taken: keeping a record needs none
        checkpoint.remove(out_dir)  # left by a kill between the record's write and its removal
        log.info("%s: kept its finished record (same spec, data and code)", spec.run_id)
        return summary
    # an unusable device is refused before anything is written; a GPU is locked for this run
    with device_lease(device, slots) as leased, torch_threads(threads):
        record.clear_for_training(out_dir)
        try:
            return _train(spec, Path(data_bundle), out_dir, leased, progress, tuned)
        except Exception as error:
            record.write_failure(out_dir, spec, error)
            raise


def _train(
    spec: RunSpec,
    bundle: Path,
    out_dir: Path,
    device: torch.device,
    progress: bool | None,
    tuned: dict[str, Any] | None,
) -> dict[str, Any]:
    """Train ``spec`` in ``out_dir`` (from its checkpoint, if any); write and return its record."""
    torch.manual_seed(spec.seed)
    data = datasets.load(
        bundle,
        device,
        train_subset=spec.train_subset,
        test_subset=spec.test_subset,
        seed=0,  # the same subset for every run, whatever its seed
        holdout=spec.holdout,
        evaluate_on=spec.evaluate_on,
    )
    state = TrainingState.fresh(spec, data, device)
    model, optimizer, generator, clock = state.model, state.optimizer, state.generator, state.clock
    n_train, batch_size = state.n_train, spec.batch_size
    steps_per_epoch = n_train // batch_size
    plan = DataPlan.from_hparams(spec.hparams, n_train)
    state.resume(out_dir, spec)
    status = Status.UNTUNED if tuned is not None and tuned["winner"] is None else None
    diverged_at = None

    with progress_report(spec, spec.epochs * steps_per_epoch, state.iteration, progress) as show:
        if not state.rows:  # the initial point, before the first step
            show(state.log_point(math.nan, evaluate.evaluation(model, data, spec)), 0)
        while status is None and state.epoch < spec.epochs:
            permutation = datasets.epoch_permutation(n_train, generator, device)
            loss_sum, losses = torch.zeros((), device=device), 0  # since the last point
            model.train()
            clock.start()
            for step in range(1, steps_per_epoch + 1):
                minibatch = permutation[(step - 1) * batch_size : step * batch_size]
                batch, curvature_batch = step_batches(
                    plan, data.x_train, data.y_train, minibatch, generator, optimizer
                )
                loss = optimizer.step(state.objective, batch, curvature_batch)
                loss_sum += loss.detach().to(loss_sum.dtype)
                losses += 1
                state.iteration += 1
                if not evaluate.logging_due(spec, step, state.iteration, steps_per_epoch):
                    continue
                with clock.paused():
                    train_loss = (loss_sum / losses).item()  # the one device sync per point
                    row = state.log_point(train_loss, evaluate.evaluation(model, data, spec))
                    show(row, losses)
                    loss_sum.zero_()
                    losses = 0
                    limit = spec.divergence_factor * state.rows[0]["test_loss"]
                    if not math.isfinite(train_loss) or train_loss > limit:
                        status = Status.DIVERGED
                        diverged_at = {"epoch": row["epoch"], "iteration": state.iteration}
                        log.warning("%s diverged at iteration %d", spec.run_id, state.iteration)
                        break
            if status is None:
                state.epoch += 1
                state.save(out_dir, spec)

    summary = RunRecord.of_run(
        spec,
        state.rows,
        status=status or Status.FINISHED,
        epochs_completed=state.epoch,
        diverged_at=diverged_at,
        resumed_from_epoch=state.resumed_from_epoch,
        tuning=tuned,
        environment=record.environment(device, spec.seed, data.meta),
        on_training_set=evaluate.on_training_set(model, data),
    ).write(out_dir, state.rows, model.state_dict())
    checkpoint.remove(out_dir)
    return summary
