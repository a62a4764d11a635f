"""``make gpu-check``: everything the GPU path needs, tried once on one device by one script.

Five steps (:data:`STEPS`), each recorded with ``ok``, its seconds, its numbers and, when it
raised, its ``error``; a failing step never stops the others:

- ``study``: the test config's whole DAG (config/test.yaml) by Snakemake on the device, in a
  temporary folder; every artifact and every run record made, each run trained on the device.
- ``agreement``: the same specs trained on the CPU and on the device (LeNet and the narrow,
  BatchNorm ResNet-18; SGD, SHG with the Hessian and with Gauss-Newton products through
  torch.func, SQN, L-SR1), full-batch so that both draw the same samples: every logged loss
  within :data:`~.agreement.LOSS_RTOL`, accuracy within :data:`~.agreement.ACCURACY_ATOL`; and
  the gradient, Hessian- and Gauss-Newton-vector products within
  :data:`~.agreement.PRODUCT_RTOL`.
- ``calibration``: ``secondorder plan --calibrate`` of the paper's networks on the device,
  written beside the shipped CPU calibration as ``calibration-<device name>.json``.
- ``bench``: ``secondorder bench`` on the device (``bench-<device name>.json``).
- ``lease``: two runs alone, then the same two at once in two processes, each inside
  :func:`~secondorder.training.devices.device_lease`: whether the leases overlapped, the
  throughput of the pair against the runs alone, and whether the records are the same.

``small`` (the CPU rehearsal, ``make gpu-check DEVICE=cpu``) runs the same code on fewer
networks and steps and writes the calibration to the output folder, never over the shipped
file. On the CPU the agreement step compares the CPU with itself (same code path: exact).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secondorder import atomic, data
from secondorder.gpu_check import agreement, lease

STEPS = ("study", "agreement", "calibration", "bench", "lease")


def run_gpu_check(
    device: str, out_dir: Path, *, small: bool, workflow: Path = Path(".")
) -> dict[str, Any]:
    """Run every step on ``device`` and write ``gpu-check-<device>.json`` and ``.txt`` into
    ``out_dir``; return the report. ``workflow``: the checkout holding the Snakefile."""
    from secondorder.data import resolve_data_root
    from secondorder.training.devices import device_lease
    from secondorder.training.record import environment

    started = time.perf_counter()
    with device_lease(device) as dev:  # refuses an unusable device in one line; then released
        env = environment(dev, 0, {})
    name = "cpu" if dev.type == "cpu" else slug(env["device_name"])
    out_dir.mkdir(parents=True, exist_ok=True)
    steps: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        bundle = Path(tmp) / "mnist.pt"

        def prepare() -> dict[str, Any]:
            data.prepare("mnist", resolve_data_root(None), bundle, download=False)
            return {"bundle": str(bundle)}

        calls: dict[str, Callable[[], dict[str, Any]]] = {
            "study": lambda: check_study(device, Path(tmp) / "study", workflow),
            "agreement": lambda: agreement.check_agreement(device, bundle, Path(tmp), small),
            "calibration": lambda: check_calibration(device, out_dir, name, small),
            "bench": lambda: check_bench(device, bundle, out_dir / f"bench-{name}.json", small),
            "lease": lambda: lease.check_lease(device, bundle, Path(tmp) / "lease", small),
        }
        prepared = _step(prepare)  # every step but the study trains on this MNIST bundle
        for step, call in calls.items():
            steps[step] = _step(call) if prepared["ok"] or step == "study" else prepared
    report = {
        "device": str(dev),
        "device_name": env["device_name"],
        "small": small,
        "ok": all(step["ok"] for step in steps.values()),
        "seconds": time.perf_counter() - started,
        "tolerances": agreement.TOLERANCES,
        "environment": env,
        "steps": steps,
    }
    atomic.write_text(out_dir / f"gpu-check-{name}.json", json.dumps(report, indent=2))
    atomic.write_text(out_dir / f"gpu-check-{name}.txt", summary_text(report))
    return report


def slug(device_name: str) -> str:
    """A file-name part of a device name: ``NVIDIA H200`` -> ``nvidia-h200``."""
    return re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "device"


def _step(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``call``'s numbers with ``ok`` (its own, else True), ``seconds`` and ``error`` (None, or
    the exception and the last lines of its traceback)."""
    started = time.perf_counter()
    try:
        numbers = call()
        error = None
    except Exception as exc:  # one failing step never stops the others
        numbers = {"ok": False, "headline": f"{type(exc).__name__}: {exc}".split("\n")[0]}
        error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=-4))
    return {
        "ok": bool(numbers.pop("ok", True)) and error is None,
        "seconds": time.perf_counter() - started,
        "error": error,
        **numbers,
    }


def summary_text(report: dict[str, Any]) -> str:
    """A few lines: the device, then per step ok/FAILED, its seconds and its headline."""
    lines = [
        f"gpu-check on {report['device']} ({report['device_name']}), small={report['small']}: "
        f"{'ok' if report['ok'] else 'FAILED'} in {report['seconds']:.0f} s"
    ]
    for name, step in report["steps"].items():
        state = "ok" if step["ok"] else "FAILED"
        headline = step["headline"]
        lines.append(f"  {name:<12} {state:<7} {step['seconds']:7.1f} s  {headline}")
    return "\n".join(lines) + "\n"


def check_study(device: str, workdir: Path, workflow: Path) -> dict[str, Any]:
    """The test config's DAG by Snakemake on ``device``: every artifact and run record made."""
    from secondorder.study import artifacts, layout, load_config
    from secondorder.training.devices import SLOTS_PER_GPU

    workflow = workflow.resolve()
    config = workflow / "config" / "test.yaml"
    workdir.mkdir(parents=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(workflow / "src"), env.get("PYTHONPATH")])
    )
    command = [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(workflow / "Snakefile")),
        *("--directory", str(workdir), "--configfile", str(config), "--config"),
        *(f"device={device}", "--cores", str(min(4, os.cpu_count() or 1))),
        *("--resources", f"gpu_slots={SLOTS_PER_GPU}", "--keep-going"),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    study = load_config(config)
    expected = [
        *artifacts.artifact_files(study["artifacts"]),
        layout.REPORT,
        layout.REPORT_HTML,
        layout.METRICS_JSON,
    ]
    missing = [path for path in expected if not (workdir / path).is_file()]
    records = [
        json.loads(p.read_text()) for p in workdir.glob(f"{layout.RESULTS}/runs/*/summary.json")
    ]
    devices = sorted({r["environment"]["device"] for r in records if r.get("environment")})
    wanted = "cpu" if device == "cpu" else "cuda"
    on_device = all(d.startswith(wanted) for d in devices) and bool(devices)
    ok = result.returncode == 0 and not missing and on_device
    return {
        "ok": ok,
        "returncode": result.returncode,
        "snakemake_s": seconds,
        "artifact_files": len(expected),
        "missing": missing,
        "runs": len(records),
        "statuses": sorted({r["status"] for r in records}),
        "run_devices": devices,
        "stderr_tail": None if ok else result.stderr[-3000:],
        "headline": f"{len(records)} runs on {', '.join(devices) or 'no device'}, "
        f"{len(expected) - len(missing)}/{len(expected)} artifact files in {seconds:.0f} s",
    }


def check_calibration(device: str, out_dir: Path, name: str, small: bool) -> dict[str, Any]:
    """``plan --calibrate`` of the paper's networks (small: LeNet only) on ``device``."""
    from secondorder.study import calibrate

    settings = [("mnist", "lenet", "standard")] if small else calibrate.all_settings()
    measured = calibrate.calibrate(settings, device=device, threads=1, repeats=1 if small else 3)
    shipped = calibrate.DEFAULT_CALIBRATION.parent
    folder = out_dir if small or measured["device"] == "cpu" else shipped
    path = folder / f"calibration-{name}.json"
    atomic.write_text(path, json.dumps(measured, indent=2))
    calibrate.read_calibration(path)  # the file reads back as a calibration
    gradient = {key: s["ops"]["gradient"]["sample_s"] for key, s in measured["settings"].items()}
    return {
        "path": str(path),
        "networks": len(measured["settings"]),
        "startup_s": measured["startup_s"],
        "gradient_ms_per_sample": {key: 1e3 * s for key, s in gradient.items()},
        "headline": f"{len(measured['settings'])} networks -> {path}",
    }


def check_bench(device: str, bundle: Path, out: Path, small: bool) -> dict[str, Any]:
    """``secondorder bench`` on ``device`` (small: LeNet only, few repeats)."""
    from secondorder.bench import run_benchmark

    report = run_benchmark(bundle, out, device=device, quick=small)
    epoch = report["sgd_epoch"]
    ratio = epoch.get("runner_over_hand_loop")
    return {
        "path": str(out),
        "measurements": len(report["results"]),
        "ratios": report["ratios"],
        "sgd_epoch": epoch,
        "headline": f"{len(report['results'])} timings; SGD epoch "
        f"{epoch.get('epoch_train_time_s', 0):.2f} s"
        + (f", runner / hand loop {ratio:.2f}" if ratio else ""),
    }
