"""A device's calibration: what each operation costs there, the prices of the cost plan.

:func:`calibrate` measures a device (``secondorder plan --calibrate``): job start-up, bundle
loading, and each operation's seconds per call and per sample for every network it is given.
:func:`load_calibration` finds the calibration to plan with: a given file, else
``$SECONDORDER_CALIBRATION``, else this machine's (:func:`default_calibration_path`), else the
one shipped with the package (:data:`DEFAULT_CALIBRATION`).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from secondorder.cost import OPERATIONS
from secondorder.errors import ConfigError
from secondorder.spec import DATASETS
from secondorder.study import layout

DEFAULT_CALIBRATION = Path(__file__).with_name("calibration-default.json")
ENV_ORIGIN = "$SECONDORDER_CALIBRATION"
log = logging.getLogger(__name__)


def setting_key(dataset: str, model: str, variant: str) -> str:
    """The calibration's key of a network on a dataset (activations cost the same)."""
    return f"{dataset}/{model}/{variant}"


def default_calibration_path() -> Path:
    """Where ``secondorder plan --calibrate`` writes this machine's calibration by default."""
    return Path(layout.calibration(socket.gethostname()))


def load_calibration(path: str | Path | None = None) -> dict[str, Any]:
    """The calibration at ``path``; else at ``$SECONDORDER_CALIBRATION``; else this machine's
    (:func:`default_calibration_path`) if measured; else the one shipped with the package (a
    2-core CPU, one thread per job), with ``"path"`` saying which.

    Networks (and datasets) the file lacks are priced with the shipped calibration, said in one
    logged line. A file that cannot be read is a :class:`ConfigError` naming it and the fix.
    """
    chosen, origin = path or None, ""
    if chosen is None and os.environ.get("SECONDORDER_CALIBRATION"):
        chosen, origin = os.environ["SECONDORDER_CALIBRATION"], ENV_ORIGIN
    if chosen is None:
        chosen = default_calibration_path()
        if not chosen.is_file():
            chosen = DEFAULT_CALIBRATION
    values = read_calibration(chosen, origin)
    if Path(chosen) != DEFAULT_CALIBRATION:
        values = _with_shipped(values, chosen)
    return {**values, "path": str(chosen)}


def shipped_calibrations() -> list[Path]:
    """The calibrations shipped with the package: the CPU one first, then those of GPUs
    (``calibration-<gpu name>.json`` beside it, written by ``make gpu-check``)."""
    others = sorted(
        set(DEFAULT_CALIBRATION.parent.glob("calibration-*.json")) - {DEFAULT_CALIBRATION}
    )
    return [DEFAULT_CALIBRATION, *others]


def gpu_calibration() -> dict[str, Any] | None:
    """A GPU's calibration to price GPU shares with: :func:`load_calibration`'s when it is of a
    GPU, else the first shipped one of a GPU, else None. One that cannot be read counts as
    none (said in a logged line): planning never stops a study."""
    try:
        chosen = load_calibration()
        if chosen["device"] == "cuda":
            return chosen
        for path in shipped_calibrations()[1:]:
            values = load_calibration(path)
            if values["device"] == "cuda":
                return values
    except ConfigError as error:
        log.warning("%s; every GPU job takes a whole GPU", error)
    return None


def read_calibration(path: str | Path, origin: str = "") -> dict[str, Any]:
    """The calibration file at ``path`` as written, checked; a :class:`ConfigError` naming it
    (and ``origin``, where it was named) and what to do when it cannot be read."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        problem = f"cannot be read ({error.strerror})"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except json.JSONDecodeError as error:
        problem = f"is not valid JSON (line {error.lineno}: {error.msg})"
    else:
        problem = _shape_problem(values)
        if problem is None:
            return values
        problem = f"is not a calibration: {problem}"
    fix = "use one that `secondorder plan --calibrate` wrote (it measures this machine)"
    if origin == ENV_ORIGIN:
        fix += ", or unset SECONDORDER_CALIBRATION"
    named = f" (named by {origin})" if origin else ""
    raise ConfigError(f"calibration {path}{named} {problem}; {fix}")


def merge_calibrations(existing: dict[str, Any] | None, measured: dict[str, Any]) -> dict[str, Any]:
    """``measured`` with the networks of ``existing`` that it did not measure, when both are of
    the same device (type, name and threads); else ``measured`` alone (said in a logged line).
    Data loading times ``measured`` has not (0: no bundle here) are kept too."""
    if existing is None:
        return measured
    device = ("device", "device_name", "threads")
    if any(existing[key] != measured[key] for key in device):
        log.warning(
            "replacing a calibration of another device (%s, %s threads) by one of %s",
            existing["device_name"],
            existing["threads"],
            measured["device_name"],
        )
        return measured
    loads = {name: s for name, s in measured["data_load_s"].items() if s > 0}
    settings = {**existing["settings"], **measured["settings"]}
    return {
        **measured,
        "data_load_s": {**existing["data_load_s"], **loads},
        "settings": dict(sorted(settings.items())),
    }


def _with_shipped(values: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``values`` completed with the shipped calibration's networks and datasets it lacks."""
    shipped = read_calibration(DEFAULT_CALIBRATION)
    missing = sorted(set(shipped["settings"]) - set(values["settings"]))
    if missing:
        log.warning(
            "calibration %s has no timings of %s: their runs are priced with the shipped "
            "calibration (measure them with `secondorder plan --calibrate --config <config>`)",
            path,
            ", ".join(missing),
        )
    return {
        **values,
        "data_load_s": {**shipped["data_load_s"], **values["data_load_s"]},
        "settings": {**shipped["settings"], **values["settings"]},
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shape_problem(values: Any) -> str | None:
    """What makes ``values`` not a calibration (a missing or mistyped entry), or None."""
    if not isinstance(values, dict):
        return "not a JSON object"
    for key in ("host", "device", "device_name"):
        if not isinstance(values.get(key), str):
            return f"{key!r} is missing or not a string"
    for key in ("threads", "startup_s", "base_mb"):
        if not _is_number(values.get(key)):
            return f"{key!r} is missing or not a number"
    for key in ("data_load_s", "settings"):
        if not isinstance(values.get(key), dict):
            return f"{key!r} is missing or not an object"
    for name, seconds in values["data_load_s"].items():
        if not _is_number(seconds):
            return f"data_load_s[{name!r}] is not a number"
    for name, setting in values["settings"].items():
        where = f"settings[{name!r}]"
        if not isinstance(setting, dict) or not _is_number(setting.get("activation_mb_per_sample")):
            return f"{where}.activation_mb_per_sample is missing or not a number"
        ops = setting.get("ops") if isinstance(setting.get("ops"), dict) else {}
        for op in OPERATIONS:
            price = ops.get(op)
            if not isinstance(price, dict) or not all(
                _is_number(price.get(part)) for part in ("call_s", "sample_s")
            ):
                return f"{where}.ops.{op} is missing or has no call_s and sample_s numbers"
    return None


def all_settings() -> list[tuple[str, str, str]]:
    """Every (dataset, model, variant) that a study can name."""
    from secondorder.models import MODELS, model_variants

    return [(d, m, v) for d in DATASETS for m in MODELS for v in model_variants(m)]


def calibrate(
    settings: Iterable[tuple[str, str, str]],
    *,
    device: str = "auto",
    threads: int = 1,
    repeats: int = 3,
) -> dict[str, Any]:
    """Measure the calibration of ``settings`` ((dataset, model, variant) triples) on
    ``device`` with ``threads`` CPU threads: job start-up, bundle loading, and each operation's
    seconds per call and per sample (a line through two batch sizes)."""
    import torch

    from secondorder.training.devices import device_lease
    from secondorder.training.record import environment

    torch.set_num_threads(threads)
    startup_s, base_mb = _startup()
    with device_lease(device) as dev:
        sizes = (8, 32) if dev.type == "cpu" else (64, 512)
        measured = {
            setting_key(*setting): _setting_costs(*setting, dev, sizes, repeats)
            for setting in sorted(set(settings))
        }
        env = environment(dev, 0, {})
        memory = (  # what packing.gpu_slots divides a run's GPU memory by
            {"memory_mb": torch.cuda.get_device_properties(dev).total_memory / 2**20}
            if dev.type == "cuda"
            else {}
        )
    return {
        **memory,
        "host": socket.gethostname(),
        "device": dev.type,
        "device_name": env["device_name"],
        "threads": threads,
        "torch": env["torch"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "startup_s": startup_s,
        "base_mb": base_mb,
        "data_load_s": {name: _load_seconds(Path(layout.bundle(name))) for name in DATASETS},
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
    times: dict[str, list[float]] = {op: [] for op in OPERATIONS}
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
