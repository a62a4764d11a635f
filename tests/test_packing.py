"""Small runs share a GPU (secondorder.study.packing): a run's slots from a GPU calibration,
the packed cost, the train rule's resource, and a real Snakemake run of the test config in
which two training jobs run side by side on one device with the records of runs alone."""

from __future__ import annotations

import copy
import csv
import json
import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from secondorder import glue
from secondorder.study import calibrate, expand, load_config, packing, plan
from secondorder.training.devices import SLOTS_PER_GPU
from secondorder.training.loop import train_run

REPO = Path(__file__).resolve().parents[1]


def gpu_calibration(call_s: float = 1e-3, sample_scale: float = 0.002) -> dict:
    """The shipped CPU calibration made a GPU's: every call costs ``call_s`` of launch
    overhead, every sample ``sample_scale`` of the CPU's compute."""
    values = copy.deepcopy(calibrate.load_calibration(calibrate.DEFAULT_CALIBRATION))
    values.update(device="cuda", device_name="Fake GPU", memory_mb=80000.0, startup_s=8.0)
    for setting in values["settings"].values():
        for price in setting["ops"].values():
            price["call_s"] = call_s
            price["sample_s"] *= sample_scale
    return values


def paper_runs() -> dict:
    return expand(load_config(REPO / "config/config.yaml"))


def test_launch_bound_runs_take_one_slot_and_compute_bound_ones_the_whole_gpu():
    runs = paper_runs()
    lenet = next(s for s in runs.values() if s.model == "lenet" and s.method == "sgd")
    launch_bound = gpu_calibration(call_s=1e-3, sample_scale=1e-5)
    compute_bound = gpu_calibration(call_s=0.0, sample_scale=0.01)
    assert packing.busy_fraction(lenet, launch_bound) < 1 / SLOTS_PER_GPU
    assert packing.gpu_slots(lenet, launch_bound) == 1
    assert packing.busy_fraction(lenet, compute_bound) > 1 - 1 / SLOTS_PER_GPU
    assert packing.gpu_slots(lenet, compute_bound) == SLOTS_PER_GPU
    # on a CPU calibration, or without one, a run takes every slot
    cpu = calibrate.load_calibration(calibrate.DEFAULT_CALIBRATION)
    assert packing.gpu_slots(lenet, cpu) == packing.gpu_slots(lenet, None) == SLOTS_PER_GPU


def test_memory_share_sets_a_floor_of_slots():
    runs = paper_runs()
    lenet = next(s for s in runs.values() if s.model == "lenet" and s.method == "sgd")
    idle = gpu_calibration(call_s=1e-3, sample_scale=1e-5)
    need = packing.gpu_memory_mb(lenet, idle)
    assert packing.gpu_slots(lenet, {**idle, "memory_mb": need * 10}) == 1
    assert packing.gpu_slots(lenet, {**idle, "memory_mb": need * 1.5}) == 3  # 0.67 of 4 slots


def test_packed_cost_is_each_runs_time_by_its_share():
    runs = dict(list(paper_runs().items())[:40])
    calibration = gpu_calibration()
    expected = sum(
        plan.estimate_seconds(s, calibration) * packing.gpu_slots(s, calibration) / 4
        for s in runs.values()
    )
    assert packing.packed_seconds(runs, calibration) == pytest.approx(expected)
    unpacked = sum(plan.estimate_seconds(s, calibration) for s in runs.values())
    assert packing.packed_seconds(runs, calibration) <= unpacked


def test_train_jobs_take_no_slot_on_the_cpu_and_their_share_on_a_gpu(monkeypatch):
    runs = expand(load_config(REPO / "config/test.yaml"))
    run_id = next(iter(runs))
    wildcards = SimpleNamespace(run_id=run_id)
    assert glue.train_gpu_slots("cpu", runs)(wildcards) == 0
    monkeypatch.setattr(calibrate, "gpu_calibration", lambda: None)
    assert glue.train_gpu_slots("cuda", runs)(wildcards) == SLOTS_PER_GPU  # no GPU prices
    fake = gpu_calibration(call_s=1e-3, sample_scale=1e-5)
    monkeypatch.setattr(calibrate, "gpu_calibration", lambda: fake)
    assert glue.train_gpu_slots("cuda", runs)(wildcards) == 1


def test_a_gpu_calibration_is_the_chosen_one_or_a_shipped_one(tmp_path, monkeypatch):
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(gpu_calibration()))
    monkeypatch.setenv("SECONDORDER_CALIBRATION", str(path))
    assert calibrate.gpu_calibration()["device_name"] == "Fake GPU"
    monkeypatch.setenv("SECONDORDER_CALIBRATION", str(calibrate.DEFAULT_CALIBRATION))
    shipped_gpus = calibrate.shipped_calibrations()[1:]  # make gpu-check ships them
    assert (calibrate.gpu_calibration() is None) == (not shipped_gpus)


def _interval(log: Path) -> tuple[datetime, datetime]:
    """When a training job's run logged its first and its last line."""
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", log.read_text(), re.M)
    first, last = (datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in (stamps[0], stamps[-1]))
    return first, last


def _metrics_without_time(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return [{k: v for k, v in r.items() if k != "train_time_s"} for r in csv.DictReader(handle)]


@pytest.mark.slow
def test_two_small_jobs_share_one_device_in_a_real_snakemake_run(tmp_path, data_root):
    """Three training jobs of the test config, each taking one of two slots: two train side
    by side, the third after one ends, and their records equal those of the runs alone."""
    from test_workflow import copy_workflow, snakemake

    if not (data_root / "MNIST").exists():
        pytest.skip(f"no MNIST under {data_root}")
    workdir = copy_workflow(tmp_path / "repo")
    runs = expand(load_config(REPO / "config/test.yaml"))
    chosen = [run_id for run_id, spec in runs.items() if spec.search is None][:3]
    targets = [f"results/runs/{run_id}/summary.json" for run_id in chosen]
    result = snakemake(
        workdir,
        *targets,
        *("--configfile", "config/test.yaml", "--cores", "4", "--resources", "gpu_slots=2"),
        *("--set-resources", "train:gpu_slots=1"),  # on the CPU a job takes none by itself
        timeout=900,
        data=data_root,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert result.stdout.count("gpu_slots=1") + result.stderr.count("gpu_slots=1") >= 3
    spans = [_interval(workdir / f"results/logs/train/{run_id}.log") for run_id in chosen]
    overlapping = [
        (i, j) for i in range(3) for j in range(i + 1, 3)
        if spans[i][0] < spans[j][1] and spans[j][0] < spans[i][1]
    ]  # fmt: skip
    assert overlapping, spans  # two jobs on the device at once
    starts = sorted(s for s, _ in spans)
    assert not all(start < min(end for _, end in spans) for start in starts), spans  # never 3
    bundle = workdir / "data/prepared/mnist.pt"
    for run_id in chosen:
        alone = tmp_path / "alone" / run_id
        train_run(runs[run_id], bundle, alone, device="cpu", progress=False)
        shared = workdir / "results/runs" / run_id
        assert _metrics_without_time(shared / "metrics.csv") == _metrics_without_time(
            alone / "metrics.csv"
        )
        ours, theirs = (json.loads((d / "summary.json").read_text()) for d in (shared, alone))
        for key in ("status", "final", "counters", "iterations"):
            assert ours[key] == theirs[key], key


def test_cluster_groups_of_training_runs_are_off_unless_named_and_split_by_stage():
    """A grid's tuning runs, an edge extension's and the final runs go in groups of their own
    (one group for all would be a cycle through rule select), only when named."""
    study = load_config(REPO / "config/test.yaml")
    runs = expand(study)
    final = next(i for i, s in runs.items() if s.search is not None)
    trial = next(i for i in runs if "__val__" in i)
    named: dict[str, int] = {}
    group = glue.train_group(runs, runs, lambda: named)
    assert group(SimpleNamespace(run_id=final)) is None  # no --group-components: no groups
    named["gpu-final"] = 4
    assert group(SimpleNamespace(run_id=final)) == "gpu-final"
    assert group(SimpleNamespace(run_id=trial)) == "gpu-grid"
    added = glue.train_group(runs, {}, lambda: named)  # a trial outside the study's grid
    assert added(SimpleNamespace(run_id=trial)) == "gpu-extension"
