"""The ``lease`` step of the GPU check: two runs in two processes, each inside
:func:`~secondorder.training.devices.device_lease`, one after the other and then at once."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from secondorder.bench import lenet_sgd_spec
from secondorder.gpu_check.agreement import metrics_rows
from secondorder.spec import RunSpec


def lease_spec(small: bool) -> RunSpec:
    """A small LeNet SGD run, as a small job that could share a GPU."""
    return lenet_sgd_spec(train_subset=1000 if small else 20_000, test_subset=500, logs_per_epoch=2)


def check_lease(device: str, bundle: Path, tmp: Path, small: bool) -> dict[str, Any]:
    """Two small runs: one after the other in one process, then at once in two processes
    taking one slot each (they may share the GPU), then at once taking every slot (exclusive:
    the second waits for the first)."""
    from secondorder.study import packing
    from secondorder.training.devices import SLOTS_PER_GPU

    specs = [replace(lease_spec(small), seed=seed) for seed in (0, 1)]
    alone = _in_processes(device, [specs], bundle, tmp / "alone", slots=1)
    shared = _in_processes(device, [[s] for s in specs], bundle, tmp / "shared", slots=1)
    exclusive = _in_processes(
        device, [[s] for s in specs], bundle, tmp / "exclusive", slots=SLOTS_PER_GPU
    )
    overlap, pair_s = _overlap(shared), _span(shared)
    alone_s = _span(alone)
    same = all(
        a["rows"] == b["rows"] == c["rows"]
        for a, b, c in zip(alone, shared, exclusive, strict=True)
    )
    sharing = packing.measure_sharing(
        specs[0], bundle, tmp / "sharing", device=device, jobs=(1, 2) if small else (1, 2, 4)
    )
    devices = {r["device"] for r in alone + shared + exclusive}
    on_cpu = devices == {"cpu"}
    exclusive_overlap = _overlap(exclusive)
    return {
        "ok": same
        and sharing["records_equal"]
        and len(devices) == 1
        and (on_cpu or exclusive_overlap <= 0.0),
        "leased_device": shared[0]["device"],
        "leases": "none (the CPU takes no lease)"
        if on_cpu
        else ("shared" if overlap > 0 else "exclusive"),
        "overlap_s": max(0.0, overlap),
        "exclusive_overlap_s": max(0.0, exclusive_overlap),
        "pair_s": pair_s,
        "alone_s": alone_s,
        "throughput_gain": alone_s / pair_s if pair_s > 0 else None,
        "records_equal_alone": same,
        "sharing": sharing,
        "headline": f"two runs on {shared[0]['device']}: one slot each overlapped "
        f"{max(0.0, overlap):.1f} s, pair {pair_s:.1f} s against {alone_s:.1f} s alone "
        f"(gain {alone_s / pair_s if pair_s > 0 else float('nan'):.2f}); all slots overlapped "
        f"{max(0.0, exclusive_overlap):.1f} s; records equal: {same}; k jobs at once: "
        + ", ".join(f"{r['jobs']}: {r['gain']:.2f}x" for r in sharing["results"]),
    }


def _overlap(results: list[dict[str, Any]]) -> float:
    """Seconds during which both runs held their leases (negative: a gap between them)."""
    return min(r["released"] for r in results) - max(r["acquired"] for r in results)


def _span(results: list[dict[str, Any]]) -> float:
    """Seconds from the first lease asked for to the last released."""
    return max(r["released"] for r in results) - min(r["asked"] for r in results)


def _in_processes(
    device: str, groups: list[list[RunSpec]], bundle: Path, tmp: Path, *, slots: int
) -> list[dict[str, Any]]:
    """Each group in a process of its own, all at once, its specs one after the other, each
    run inside a lease of ``slots``; every run's lease times and rows, in the groups' order."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    jobs = [
        context.Process(
            target=_leased_runs,
            args=(i, device, slots, [s.to_dict() for s in group], str(bundle), str(tmp), queue),
        )
        for i, group in enumerate(groups)
    ]
    for job in jobs:
        job.start()
    reports = []
    while len(reports) < len(jobs):
        try:
            reports.append(queue.get(timeout=1.0))
        except queue_module.Empty:
            if not any(job.is_alive() for job in jobs) and queue.empty():
                raise RuntimeError("a leased run's process died without a report") from None
    reports.sort(key=lambda r: r["index"])
    for job in jobs:
        job.join()
    failed = [r["error"] for r in reports if r.get("error")]
    if failed:
        raise RuntimeError(f"a leased run failed: {failed[0]}")
    return [run for report in reports for run in report["runs"]]


def _leased_runs(
    index: int,
    device: str,
    slots: int,
    specs: list[dict[str, Any]],
    bundle: str,
    tmp: str,
    queue: Any,
) -> None:
    """One process: train each spec inside its own lease of ``slots`` of ``device``."""
    from secondorder.study.run_checks import check_spec
    from secondorder.training.devices import device_lease
    from secondorder.training.loop import train_run

    try:
        runs = []
        for values in specs:
            spec = check_spec(values)
            out = Path(tmp) / spec.run_id
            asked = time.time()
            with device_lease(device, slots=slots) as dev:
                acquired = time.time()
                train_run(spec, bundle, out, device=str(dev), progress=False)
                released = time.time()
            times = {"asked": asked, "acquired": acquired, "released": released}
            runs.append({"device": str(dev), **times, "rows": metrics_rows(out)})
        queue.put({"index": index, "runs": runs})
    except Exception as exc:
        queue.put({"index": index, "error": f"{type(exc).__name__}: {exc}"})
