"""What a study will cost before it runs: per training run, per artifact and in total.

A run's cost is predicted from its spec: the work of its optimizer (samples through loss
evaluations, gradients and curvature products per step, from the data plan and the
hyperparameters), its evaluations, and a per-job start-up, priced with a *calibration*: seconds
per call and per sample of each operation, per model and dataset, measured on one device
(:func:`calibrate`, ``secondorder plan --calibrate``). Scheduler requests (:func:`resources`)
are that estimate times a safety factor, between a floor and a cap.

Two quantities are not known before a run; their expectations are the means of the quick
study's counters (70 runs on a CPU), rounded up: Armijo trials per step (mean 2.3, at most 7;
:data:`LINE_SEARCH_TRIALS` = 2.5) and CG iterations per SHG step with the indefinite Hessian,
which stops at negative curvature (mean 2.9, 1.8 to 4.3; :data:`HESSIAN_CG_ITERATIONS` = 3);
Gauss-Newton CG runs to ``cg_max_iter``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secondorder.spec import DATASETS, RunSpec

OPS = ("loss", "gradient", "hvp", "ggnvp")
LINE_SEARCH_TRIALS = 2.5
HESSIAN_CG_ITERATIONS = 3.0
SAFETY_FACTOR = 2.0
RUNTIME_FLOOR_MIN, RUNTIME_CAP_MIN = 10, 2880  # a scheduler's minutes (2 days at most)
MEM_FLOOR_MB, MEM_CAP_MB = 2000, 64000
EVAL_CHUNK = 1000  # samples per evaluation forward pass (secondorder.training.loop)
DEFAULT_CALIBRATION = Path(__file__).with_name("calibration-default.json")


@dataclass(frozen=True)
class Work:
    """Expected work of one run: calls and samples of each operation, evaluations included."""

    steps: int
    calls: dict[str, float]
    samples: dict[str, float]
    largest_call: float  # samples in the largest training call (what activations scale with)


def setting_key(dataset: str, model: str, variant: str) -> str:
    """The calibration's key of a network on a dataset (activations cost the same)."""
    return f"{dataset}/{model}/{variant}"


def expected_work(spec: RunSpec) -> Work:
    """Calls and samples per operation over the whole run, evaluations included."""
    from secondorder.data import holdout_size
    from secondorder.optim import resolve_hparams
    from secondorder.training.batches import DataPlan

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
    gradient = plan.gradient_size or batch
    trials = LINE_SEARCH_TRIALS if hp.get("line_search") else 0.0
    per_step: dict[str, tuple[float, float]] = {}  # op -> (calls, samples) per step
    if spec.method in ("sgd", "adam", "gd"):
        per_step["gradient"] = (1, gradient)
    elif spec.method == "lbfgs":
        per_step["gradient"] = (1 + LINE_SEARCH_TRIALS, (1 + LINE_SEARCH_TRIALS) * batch)
    elif spec.method == "shg":
        iterations = hp["cg_max_iter"]
        if hp["curvature"] == "hessian":
            iterations = min(iterations, HESSIAN_CG_ITERATIONS)
        op = "hvp" if hp["curvature"] == "hessian" else "ggnvp"
        per_step = {
            "gradient": (1, gradient),
            op: (iterations, iterations * batch),
            "loss": (trials, trials * gradient),
        }
    elif spec.method == "sqn":
        pairs = 1 / hp["update_interval"]
        curvature = plan.curvature_size or batch
        per_step = {
            "gradient": (1, batch),
            "hvp": (pairs, pairs * curvature),
            "loss": (trials, trials * batch),
        }
    elif spec.method == "lsr1":
        per_step = {"gradient": (2, 2 * batch), "loss": (trials, trials * batch)}
    else:
        raise ValueError(f"no cost model for method {spec.method!r}")
    per_step = {op: (c, s) for op, (c, s) in per_step.items() if c > 0}
    chunk = spec.chunk_size or math.inf
    calls = {op: steps * c * max(1, math.ceil(s / c / chunk)) for op, (c, s) in per_step.items()}
    samples = {op: steps * s for op, (_, s) in per_step.items()}
    largest = max(min(s / c, chunk) for c, s in per_step.values())
    # logging points: logs_per_epoch per epoch, one every eval_every iterations, the start
    evaluations = 1 + spec.epochs * min(spec.logs_per_epoch, per_epoch)
    if spec.eval_every:
        evaluations += steps // spec.eval_every
    evaluated = n_test + (n_train if spec.eval_train_loss else 0)
    calls["loss"] = calls.get("loss", 0) + evaluations * math.ceil(evaluated / EVAL_CHUNK)
    samples["loss"] = samples.get("loss", 0) + evaluations * evaluated
    return Work(steps, calls, samples, largest)


def estimate_seconds(spec: RunSpec, calibration: Mapping[str, Any]) -> float:
    """Predicted wall time of the run's job on the calibrated device, start-up included."""
    setting = _setting(calibration, spec)
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
    setting = _setting(calibration, spec)
    facts = DATASETS[spec.dataset]
    pixels = facts.channels * facts.image_size**2
    bundle_mb = (facts.train_size + facts.test_size) * pixels / 2**20
    on_cpu = calibration["device"] == "cpu"
    n_used = (spec.train_subset or facts.train_size) + (spec.test_subset or facts.test_size)
    float_mb = 4 * n_used * pixels / 2**20 if on_cpu else 0.0
    activations_mb = setting["activation_mb_per_sample"] * expected_work(spec).largest_call
    return calibration["base_mb"] + bundle_mb + float_mb + (activations_mb if on_cpu else 0.0)


def resources(spec: RunSpec, calibration: Mapping[str, Any], attempt: int = 1) -> dict[str, int]:
    """Scheduler requests of the run's job: ``runtime`` (minutes) and ``mem_mb``, the estimate
    times :data:`SAFETY_FACTOR` (and times the attempt, so a retry after a timeout asks for
    more), between the floors and the caps."""
    factor = SAFETY_FACTOR * attempt
    minutes = factor * estimate_seconds(spec, calibration) / 60
    mem = SAFETY_FACTOR * estimate_mem_mb(spec, calibration)
    return {
        "runtime": int(min(RUNTIME_CAP_MIN, max(RUNTIME_FLOOR_MIN, math.ceil(minutes)))),
        "mem_mb": int(min(MEM_CAP_MB, max(MEM_FLOOR_MB, math.ceil(mem)))),
    }


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
    """Wall seconds of finished training jobs from Snakemake's benchmark files (``s`` column)."""
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
            "may ask for: use a faster device (and calibrate it)"
        )
    if measured:
        shared = [run_id for run_id in plan["runs"] if run_id in measured]
        estimated = sum(plan["runs"][run_id]["seconds"] for run_id in shared)
        actual = sum(measured[run_id] for run_id in shared)
        lines.append(
            f"measured: {len(shared)} runs, {actual / 3600:.2f} hours; "
            f"estimate / measured = {estimated / actual:.2f}"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# -- calibration files


def default_calibration_path() -> Path:
    """Where ``secondorder plan --calibrate`` writes this machine's calibration by default."""
    return Path("results") / f"calibration-{socket.gethostname()}.json"


def load_calibration(path: str | Path | None = None) -> dict[str, Any]:
    """The calibration at ``path``; else at ``$SECONDORDER_CALIBRATION``; else this machine's
    (:func:`default_calibration_path`) if measured; else the one shipped with the package (a
    2-core CPU, one thread per job), with ``"path"`` saying which."""
    chosen = path or os.environ.get("SECONDORDER_CALIBRATION")
    if chosen is None:
        chosen = default_calibration_path()
        if not chosen.is_file():
            chosen = DEFAULT_CALIBRATION
    values = json.loads(Path(chosen).read_text(encoding="utf-8"))
    return {**values, "path": str(chosen)}


def _setting(calibration: Mapping[str, Any], spec: RunSpec) -> dict[str, Any]:
    key = setting_key(spec.dataset, spec.model, spec.variant)
    try:
        return calibration["settings"][key]
    except KeyError:
        raise KeyError(
            f"calibration {calibration.get('path', '')} has no timings of {key}; measure them "
            "with `secondorder plan --calibrate --config <this config>`"
        ) from None


# -- measuring a calibration


def all_settings() -> list[tuple[str, str, str]]:
    """Every (dataset, model, variant) that a study can name."""
    from secondorder.models import MODELS, model_variants

    return [(d, m, v) for d in DATASETS for m in MODELS for v in model_variants(m)]


def calibrate(
    settings: Iterable[tuple[str, str, str]],
    *,
    device: str = "auto",
    threads: int = 1,
    data_dir: Path = Path("data/prepared"),
    repeats: int = 3,
) -> dict[str, Any]:
    """Measure the calibration of ``settings`` ((dataset, model, variant) triples) on
    ``device`` with ``threads`` CPU threads: job start-up, bundle loading, and each operation's
    seconds per call and per sample (a line through two batch sizes)."""
    import torch

    from secondorder.training.devices import device_lease
    from secondorder.training.loop import environment

    torch.set_num_threads(threads)
    startup_s, base_mb = _startup()
    with device_lease(device) as dev:
        sizes = (8, 32) if dev.type == "cpu" else (64, 512)
        measured = {
            setting_key(*setting): _setting_costs(*setting, dev, sizes, repeats)
            for setting in sorted(set(settings))
        }
        env = environment(dev, 0, {})
    return {
        "host": socket.gethostname(),
        "device": dev.type,
        "device_name": env["device_name"],
        "threads": threads,
        "torch": env["torch"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "startup_s": startup_s,
        "base_mb": base_mb,
        "data_load_s": {name: _load_seconds(data_dir / f"{name}.pt") for name in DATASETS},
        "settings": measured,
    }


def _startup() -> tuple[float, float]:
    """Seconds and peak MB of a fresh interpreter importing the training code (a job's start)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import secondorder.training.loop"], check=True)
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _load_seconds(bundle: Path) -> float:
    """Seconds to load a dataset bundle; 0 when it is not prepared here."""
    if not bundle.is_file():
        return 0.0
    import torch

    started = time.perf_counter()
    torch.load(bundle, weights_only=True)
    return time.perf_counter() - started


def _setting_costs(
    dataset: str, model_name: str, variant: str, dev: Any, sizes: tuple[int, int], repeats: int
) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from secondorder.curvature import Objective
    from secondorder.models import build_model

    channels, size = DATASETS[dataset].channels, DATASETS[dataset].image_size
    torch.manual_seed(0)
    model = build_model(
        model_name, in_channels=channels, image_size=size, num_classes=10, variant=variant
    ).to(dev)
    objective = Objective(model, F.cross_entropy)
    v = torch.randn(objective.numel, device=dev)
    times: dict[str, list[float]] = {op: [] for op in OPS}
    for n in sizes:
        batch = (
            torch.randn(n, channels, size, size, device=dev),
            torch.randint(0, 10, (n,), device=dev),
        )
        calls: dict[str, Callable[[], Any]] = {
            "loss": lambda b=batch: objective.loss(b),
            "gradient": lambda b=batch: objective.loss_and_grad(b, update_batchnorm=False),
            "hvp": lambda b=batch: objective.hvp(b, v),
            "ggnvp": lambda b=batch: objective.ggnvp(b, v),
        }
        for op, call in calls.items():
            times[op].append(_median_seconds(call, dev, repeats))
    (small, large) = sizes
    ops = {}
    for op, (t_small, t_large) in times.items():
        if t_large <= t_small:  # a disturbed measurement: proportional to the batch instead
            ops[op] = {"call_s": 0.0, "sample_s": t_large / large}
            continue
        sample_s = (t_large - t_small) / (large - small)
        ops[op] = {"call_s": max(0.0, t_small - sample_s * small), "sample_s": sample_s}
    return {"ops": ops, "activation_mb_per_sample": _activation_mb(model, channels, size, dev)}


def _median_seconds(
    call: Callable[[], Any], dev: Any, repeats: int, budget_s: float = 2.0
) -> float:
    """Median seconds of ``repeats`` calls after a warm-up call; a warm-up longer than
    ``budget_s`` is the measurement itself (large networks on a CPU)."""
    from secondorder.training.devices import synchronize

    samples: list[float] = []
    for _ in range(repeats + 1):
        synchronize(dev)
        started = time.perf_counter()
        call()
        synchronize(dev)
        samples.append(time.perf_counter() - started)
        if samples[0] > budget_s:
            break
    return statistics.median(samples[1:] or samples)


def _activation_mb(model: Any, channels: int, size: int, dev: Any) -> float:
    """MB per sample that a curvature product keeps alive: every module's output, about four
    times over (forward, backward, and the tangents of forward-over-reverse)."""
    import torch

    elements = 0

    def count(_module: Any, _inputs: Any, output: Any) -> None:
        nonlocal elements
        if isinstance(output, torch.Tensor):
            elements += output.numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    model.eval()  # BatchNorm takes a batch of one sample in eval mode
    try:
        with torch.no_grad():
            model(torch.zeros(1, channels, size, size, device=dev))
    finally:
        model.train()
        for hook in hooks:
            hook.remove()
    return 4 * 4 * elements / 2**20
