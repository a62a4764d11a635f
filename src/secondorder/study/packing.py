"""Small runs share a GPU: how many of a GPU's slots a run needs, what a study costs when small
runs are packed onto one GPU, and a measurement of the gain.

A GPU offers :data:`~secondorder.training.devices.SLOTS_PER_GPU` slots (Snakemake's resource
``gpu_slots``; the lease of :mod:`secondorder.training.devices` hands out the same GPU to runs
whose slots fit). A LeNet or AlexNet run at batch 100 keeps a modern GPU busy for a small part
of its wall time (its kernels are launch-bound; start-up, evaluation bookkeeping and the line
search's host decisions leave it idle), so several such runs side by side finish in about the
time of one. A run's slots (:func:`gpu_slots`) are its share of the GPU's time and of its
memory, rounded up: the *busy* fraction is the per-sample compute of its operations over its
whole estimated time (the per-call part of a GPU calibration is launch overhead, spent on the
host), the memory share its activations and data over the GPU's memory. Priced on a CPU
calibration every run needs the whole device (a CPU job's time is all compute).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from secondorder.errors import ConfigError
from secondorder.spec import DATASETS, RunSpec
from secondorder.study.plan import estimate_seconds, expected_work, setting_prices
from secondorder.training.devices import SLOTS_PER_GPU

DEFAULT_GPU_MEMORY_MB = 16000  # a calibration without "memory_mb": the smallest GPU we expect
CUDA_CONTEXT_MB = 500  # the CUDA context, torch's kernels and the model, per process
# One process of :func:`measure_sharing`: a job's start-up (the interpreter, torch) and its run.
TRAIN_ONE = """
import json, sys
from secondorder.spec import RunSpec
from secondorder.training.loop import train_run
spec, data, run_dir, device = sys.argv[1:]
spec = RunSpec.from_dict(json.loads(spec))
train_run(spec, data, run_dir, device=device, progress=False, slots=1)
"""


def busy_fraction(spec: RunSpec, calibration: Mapping[str, Any]) -> float:
    """Share of the run's estimated wall time during which the device computes (1 on a CPU)."""
    if calibration["device"] == "cpu":
        return 1.0
    setting = setting_prices(calibration, spec)
    work = expected_work(spec)
    busy = sum(work.samples[op] * setting["ops"][op]["sample_s"] for op in work.samples)
    return min(1.0, busy / estimate_seconds(spec, calibration))


def gpu_memory_mb(spec: RunSpec, calibration: Mapping[str, Any]) -> float:
    """Predicted peak GPU memory of the run: context and model, the training and test images
    as floats, and the activations of its largest call."""
    setting = setting_prices(calibration, spec)
    facts = DATASETS[spec.dataset]
    n_used = (spec.train_subset or facts.train_size) + (spec.test_subset or facts.test_size)
    images_mb = 4 * n_used * facts.channels * facts.image_size**2 / 2**20
    activations_mb = setting["activation_mb_per_sample"] * expected_work(spec).largest_call
    return CUDA_CONTEXT_MB + images_mb + activations_mb


def gpu_slots(spec: RunSpec, calibration: Mapping[str, Any] | None) -> int:
    """Slots of one GPU the run's job takes (1 to :data:`SLOTS_PER_GPU`): its busy fraction
    and its memory share, rounded up; every slot without a calibration, or where the
    calibration cannot price the run."""
    if calibration is None:
        return SLOTS_PER_GPU
    try:
        busy = busy_fraction(spec, calibration)
        memory = gpu_memory_mb(spec, calibration) / calibration.get(
            "memory_mb", DEFAULT_GPU_MEMORY_MB
        )
    except (ConfigError, KeyError, NotImplementedError):  # plan.resources says why, once
        return SLOTS_PER_GPU
    return max(1, min(SLOTS_PER_GPU, math.ceil(SLOTS_PER_GPU * max(busy, memory) - 1e-9)))


def packed_seconds(runs: Mapping[str, RunSpec], calibration: Mapping[str, Any]) -> float:
    """Device seconds of the runs when each holds only its slots: a run of k slots occupies k /
    :data:`SLOTS_PER_GPU` of a GPU for its estimated time."""
    return sum(
        estimate_seconds(spec, calibration) * gpu_slots(spec, calibration) / SLOTS_PER_GPU
        for spec in runs.values()
    )


def measure_sharing(
    spec: RunSpec,
    data: str | Path,
    out_dir: str | Path,
    *,
    device: str = "auto",
    jobs: Sequence[int] = (1, 2),
) -> dict[str, Any]:
    """Runs per hour of ``spec`` trained by k processes at once on one ``device``, for each k of
    ``jobs``, beside one process alone: the gain that packing small runs buys. Each process is
    a fresh interpreter (a job's start-up included) holding one slot of the GPU and training
    into its own folder of ``out_dir``; the records of all must equal (wall times aside),
    which the result says. ``make gpu-check`` calls it on a GPU."""
    results = []
    records: list[list[dict[str, Any]]] = []
    for k in jobs:
        dirs = [Path(out_dir) / f"k{k}-{i}" for i in range(k)]
        for folder in dirs:  # a finished record there would be kept, not trained
            shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    TRAIN_ONE,
                    json.dumps(spec.to_dict()),
                    str(data),
                    str(d),
                    device,
                ]
            )
            for d in dirs
        ]
        codes = [process.wait() for process in processes]
        wall = time.perf_counter() - started
        if any(codes):
            raise RuntimeError(f"a training process of the k={k} measurement failed")
        records += [_comparable(d) for d in dirs]
        results.append({"jobs": k, "wall_s": wall, "runs_per_hour": 3600 * k / wall})
    alone = results[0]["runs_per_hour"]
    for row in results:
        row["gain"] = row["runs_per_hour"] / alone
    return {
        "run": spec.run_id,
        "device": device,
        "slots_per_gpu": SLOTS_PER_GPU,
        "results": results,
        "records_equal": all(r == records[0] for r in records),
    }


def _comparable(run_dir: Path) -> list[dict[str, Any]]:
    """A run's metrics rows without its wall times (which differ between runs)."""
    import csv

    with (run_dir / "metrics.csv").open(encoding="utf-8") as handle:
        return [
            {k: v for k, v in row.items() if k != "train_time_s"} for row in csv.DictReader(handle)
        ]
