"""What a study will cost before it runs: per training run, per artifact and in total.

A run's cost is predicted from its spec: the work of its optimizer per step (its
``work_per_step``: calls and samples of loss evaluations, gradients and curvature products, from
the data plan and the hyperparameters), its evaluations, and a per-job start-up, priced with a
*calibration*: seconds per call and per sample of each operation, per model and dataset,
measured on one device (:mod:`secondorder.study.calibrate`, ``secondorder plan --calibrate``).
Scheduler requests (:func:`resources`) are that estimate times a safety factor, between a floor
and a cap. Planning never stops a dry run or a study: a job that cannot be priced asks for
:data:`DEFAULT_REQUEST`, said once.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secondorder.errors import ConfigError
from secondorder.spec import DATASETS, RunSpec, holdout_size
from secondorder.study.calibrate import load_calibration, setting_key

SAFETY_FACTOR = 2.0
RUNTIME_FLOOR_MIN, RUNTIME_CAP_MIN = 10, 2880  # a scheduler's minutes (2 days at most)
MEM_FLOOR_MB, MEM_CAP_MB = 2000, 64000
# What a job asks for when it cannot be priced (no readable calibration): half a day and 8 GB,
# enough for every run of the paper's study on a GPU; the runtime grows with the attempt.
DEFAULT_REQUEST = {"runtime": 720, "mem_mb": 8000}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    """Expected work of one run: calls and samples of each operation, evaluations included."""

    steps: int
    calls: dict[str, float]
    samples: dict[str, float]
    largest_call: float  # samples in the largest training call (what activations scale with)


def expected_work(spec: RunSpec) -> Work:
    """Calls and samples per operation over the whole run, evaluations included."""
    from secondorder.optim import METHODS, resolve_hparams
    from secondorder.training.batches import DataPlan
    from secondorder.training.evaluate import EVAL_CHUNK

    searched = {key: values[0] for key, values in (spec.search or {}).get("space", {}).items()}
    hp = resolve_hparams(spec.method, {**spec.hparams, **searched})  # a searched value: its first
    n_train = spec.train_subset or DATASETS[spec.dataset].train_size
    n_test = spec.test_subset or DATASETS[spec.dataset].test_size
    if spec.holdout is not None:  # a validation split: trained on the rest
        held = holdout_size(spec.holdout, n_train)
        n_train -= held
        if spec.evaluate_on == "validation":
            n_test = held
    per_epoch = n_train // spec.batch_size
    steps = spec.epochs * per_epoch
    plan = DataPlan.from_hparams(hp, n_train)
    batch = spec.batch_size
    per_step = METHODS[spec.method].work_per_step(
        hp,
        batch=batch,
        gradient=plan.gradient_size or batch,
        curvature=plan.curvature_size or batch,
    )
    per_step = {op: (c, s) for op, (c, s) in per_step.items() if c > 0}
    chunk = spec.chunk_size or math.inf
    calls = {op: steps * c * max(1, math.ceil(s / c / chunk)) for op, (c, s) in per_step.items()}
    samples = {op: steps * s for op, (_, s) in per_step.items()}
    largest = max(min(s / c, chunk) for c, s in per_step.values())
    # logging points: logs_per_epoch per epoch, one every eval_every iterations, the start
    evaluations = 1 + spec.epochs * min(spec.logs_per_epoch, per_epoch)
    if spec.eval_every:
        evaluations += steps // spec.eval_every
    evaluated = [n_test, n_train] if spec.eval_train_loss else [n_test]  # each set in chunks
    chunks = sum(math.ceil(n / EVAL_CHUNK) for n in evaluated)
    calls["loss"] = calls.get("loss", 0) + evaluations * chunks
    samples["loss"] = samples.get("loss", 0) + evaluations * sum(evaluated)
    return Work(steps, calls, samples, largest)


def estimate_seconds(spec: RunSpec, calibration: Mapping[str, Any]) -> float:
    """Predicted wall time of the run's job on the calibrated device, start-up included."""
    setting = setting_prices(calibration, spec)
    work = expected_work(spec)
    compute = sum(
        work.calls[op] * setting["ops"][op]["call_s"]
        + work.samples[op] * setting["ops"][op]["sample_s"]
        for op in work.calls
    )
    return calibration["startup_s"] + calibration["data_load_s"][spec.dataset] + compute


def estimate_mem_mb(spec: RunSpec, calibration: Mapping[str, Any]) -> float:
    """Predicted peak host memory of the run's job: the process with torch, the dataset bundle,
    its float copy when training on the CPU, and the activations of the largest call."""
    setting = setting_prices(calibration, spec)
    facts = DATASETS[spec.dataset]
    pixels = facts.channels * facts.image_size**2
    bundle_mb = (facts.train_size + facts.test_size) * pixels / 2**20
    on_cpu = calibration["device"] == "cpu"
    n_used = (spec.train_subset or facts.train_size) + (spec.test_subset or facts.test_size)
    float_mb = 4 * n_used * pixels / 2**20 if on_cpu else 0.0
    activations_mb = setting["activation_mb_per_sample"] * expected_work(spec).largest_call
    return calibration["base_mb"] + bundle_mb + float_mb + (activations_mb if on_cpu else 0.0)


def resources(
    spec: RunSpec, calibration: Mapping[str, Any] | None, attempt: int = 1
) -> dict[str, int]:
    """Scheduler requests of the run's job: ``runtime`` (minutes) and ``mem_mb``, the estimate
    times :data:`SAFETY_FACTOR` (and times the attempt, so a retry after a timeout asks for
    more), between the floors and the caps. Without a calibration (None), or for a run that
    ``calibration`` cannot price (said once per reason), :data:`DEFAULT_REQUEST`."""
    if calibration is None:
        return _default_request(attempt)
    try:
        seconds = estimate_seconds(spec, calibration)
        mem = SAFETY_FACTOR * estimate_mem_mb(spec, calibration)
    except (ConfigError, KeyError, NotImplementedError) as error:  # what cannot be priced
        reason = error.args[0] if isinstance(error, KeyError) and error.args else error
        _say_once(f"{reason}; jobs it cannot price ask for {_request_text()}")
        return _default_request(attempt)
    minutes = SAFETY_FACTOR * attempt * seconds / 60
    return {
        "runtime": int(min(RUNTIME_CAP_MIN, max(RUNTIME_FLOOR_MIN, math.ceil(minutes)))),
        "mem_mb": int(min(MEM_CAP_MB, max(MEM_FLOOR_MB, math.ceil(mem)))),
    }


def calibration_for_requests() -> dict[str, Any] | None:
    """The calibration that scheduler requests are priced with (:func:`load_calibration`'s), or
    None when it cannot be read, said in one logged line: every job then asks for
    :data:`DEFAULT_REQUEST` (what the Snakefile's resource functions use)."""
    try:
        return load_calibration()
    except ConfigError as error:
        log.warning("%s; training jobs ask for %s", error, _request_text())
        return None


def _default_request(attempt: int) -> dict[str, int]:
    runtime = min(RUNTIME_CAP_MIN, DEFAULT_REQUEST["runtime"] * attempt)
    return {**DEFAULT_REQUEST, "runtime": runtime}


def _request_text() -> str:
    return f"the default request ({DEFAULT_REQUEST['runtime']} min, {DEFAULT_REQUEST['mem_mb']} MB)"


@functools.cache  # once per process: the resource functions run once per job and attempt
def _say_once(message: str) -> None:
    log.warning(message)


def study_plan(
    runs: Mapping[str, RunSpec],
    artifact_runs: Mapping[str, list[str]],
    calibration: Mapping[str, Any],
) -> dict[str, Any]:
    """Estimates per run (seconds, requests), per artifact (its runs, shared ones included)
    and for the whole study (every run once)."""
    per_run = {
        run_id: {"seconds": estimate_seconds(spec, calibration), **resources(spec, calibration)}
        for run_id, spec in runs.items()
    }
    per_artifact = {
        name: {"runs": len(ids), "seconds": sum(per_run[i]["seconds"] for i in ids)}
        for name, ids in artifact_runs.items()
    }
    total = sum(row["seconds"] for row in per_run.values())
    return {"runs": per_run, "artifacts": per_artifact, "total_seconds": total}


def measured_seconds(benchmark_dir: Path, run_ids: Iterable[str]) -> dict[str, float]:
    """Wall seconds of finished training jobs from Snakemake's benchmark files (``s`` column);
    a :class:`ConfigError` when ``benchmark_dir`` is not a folder."""
    if not Path(benchmark_dir).is_dir():
        raise ConfigError(
            f"{benchmark_dir}: no such folder; --measured takes Snakemake's benchmark folder of "
            "training jobs (results/benchmarks/train), which finished jobs fill"
        )
    measured = {}
    for run_id in run_ids:
        path = Path(benchmark_dir) / f"{run_id}.tsv"
        if path.is_file():
            with path.open(encoding="utf-8") as handle:
                measured[run_id] = float(next(csv.DictReader(handle, delimiter="\t"))["s"])
    return measured


def format_plan(
    plan: Mapping[str, Any],
    calibration: Mapping[str, Any],
    measured: Mapping[str, float] | None = None,
) -> str:
    """The plan as text: one line per run, per artifact, the total; with ``measured`` job
    seconds, the measured time beside each estimate and the ratio of the totals."""
    lines = [
        f"device: {calibration['device_name']} on {calibration['host']} "
        f"({calibration['threads']} thread(s) per job; calibration {calibration['path']})",
        "",
        f"{'run':<64} {'estimate':>9} {'runtime':>8} {'mem_mb':>7}"
        + (f" {'measured':>9}" if measured is not None else ""),
    ]
    for run_id, row in plan["runs"].items():
        line = (
            f"{run_id:<64} {_duration(row['seconds']):>9} {row['runtime']:>6} m {row['mem_mb']:>7}"
        )
        if measured is not None:
            line += f" {_duration(measured[run_id]) if run_id in measured else '-':>9}"
        lines.append(line)
    lines += ["", f"{'artifact':<64} {'runs':>5} {'compute':>9}"]
    for name, row in plan["artifacts"].items():
        lines.append(f"{name:<64} {row['runs']:>5} {_duration(row['seconds']):>9}")
    total = plan["total_seconds"]
    lines += [
        "",
        f"total: {len(plan['runs'])} runs, {total / 3600:.2f} compute hours on this device "
        f"(requests: {sum(r['runtime'] for r in plan['runs'].values()) / 60:.1f} hours)",
    ]
    capped = sum(
        SAFETY_FACTOR * row["seconds"] / 60 > RUNTIME_CAP_MIN for row in plan["runs"].values()
    )
    if capped:
        lines.append(
            f"warning: {capped} runs would need more than the {RUNTIME_CAP_MIN} minutes a job "
            "may ask for: see the tiers below for what to do"
        )
    if measured:
        shared = [run_id for run_id in plan["runs"] if run_id in measured]
        estimated = sum(plan["runs"][run_id]["seconds"] for run_id in shared)
        actual = sum(measured[run_id] for run_id in shared)
        lines.append(
            f"measured: {len(shared)} runs, {actual / 3600:.2f} hours; "
            f"estimate / measured = {estimated / actual:.2f}"
        )
    elif measured is not None:
        lines.append("measured: no run of this plan has a benchmark file yet")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def setting_prices(calibration: Mapping[str, Any], spec: RunSpec) -> dict[str, Any]:
    """The calibration's prices of the run's network; a :class:`ConfigError` naming the fix
    when it has none."""
    key = setting_key(spec.dataset, spec.model, spec.variant)
    try:
        return calibration["settings"][key]
    except KeyError:
        raise ConfigError(
            f"calibration {calibration.get('path', '')} has no timings of {key}; measure them "
            "with `secondorder plan --calibrate --config <this config>`"
        ) from None
