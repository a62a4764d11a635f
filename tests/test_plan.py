"""Cost estimates (secondorder.study.plan): the work model of each optimizer, prices from a
calibration, scheduler requests, the printed plan, the calibration files, and the estimate of
the quick study against its measured job times."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secondorder.cli import main
from secondorder.spec import DATASETS, RunSpec
from secondorder.study import artifact_runs, expand, load_config, plan

REPO = Path(__file__).resolve().parents[1]
OPS = {op: {"call_s": 0.01, "sample_s": 0.001} for op in plan.OPS}
CALIBRATION = {
    "host": "test",
    "device": "cpu",
    "device_name": "cpu",
    "threads": 1,
    "path": "synthetic",
    "startup_s": 5.0,
    "base_mb": 600.0,
    "data_load_s": {"mnist": 0.5, "cifar10": 1.0},
    "settings": {
        plan.setting_key(*setting): {"ops": OPS, "activation_mb_per_sample": 1.0}
        for setting in plan.all_settings()
    },
}


def spec(method: str = "sgd", **changes) -> RunSpec:
    values = {
        "dataset": "mnist",
        "model": "lenet",
        "activation": "tanh",
        "variant": "standard",
        "optimizer": method,
        "method": method,
        "hparams": {},
        "batch_size": 50,
        "epochs": 2,
        "seed": 0,
        "train_subset": 300,
        "test_subset": 200,
        "logs_per_epoch": 2,
    }
    return RunSpec(**{**values, **changes})


def test_sgd_takes_one_minibatch_gradient_per_step_and_evaluates_at_each_logging_point():
    work = plan.expected_work(spec())
    assert work.steps == 2 * 300 // 50
    assert work.calls["gradient"] == work.steps
    assert work.samples["gradient"] == work.steps * 50
    evaluations = 1 + 2 * 2  # the start, then logs_per_epoch per epoch
    assert work.calls["loss"] == evaluations
    assert work.samples["loss"] == evaluations * 200
    assert work.largest_call == 50


def test_eval_every_and_the_training_loss_add_evaluations():
    work = plan.expected_work(spec(eval_every=4, eval_train_loss=True))
    evaluations = 1 + 2 * 2 + 12 // 4
    assert work.samples["loss"] == evaluations * (200 + 300)


def test_shg_reads_its_gradient_sample_and_runs_cg_on_the_minibatch():
    hessian = plan.expected_work(spec("shg", hparams={"gradient_fraction": 0.2, "cg_max_iter": 5}))
    steps = hessian.steps
    assert hessian.samples["gradient"] == steps * 60
    assert hessian.calls["hvp"] == steps * plan.HESSIAN_CG_ITERATIONS  # stops at negative curvature
    assert hessian.samples["hvp"] == steps * plan.HESSIAN_CG_ITERATIONS * 50
    trials = steps * plan.LINE_SEARCH_TRIALS
    assert hessian.samples["loss"] == trials * 60 + (1 + 2 * 2) * 200  # trials on the sample
    gauss_newton = plan.expected_work(
        spec("shg", hparams={"cg_max_iter": 5, "curvature": "gauss-newton", "line_search": False})
    )
    assert gauss_newton.calls["ggnvp"] == steps * 5  # positive definite: CG runs to its limit
    assert "hvp" not in gauss_newton.calls
    assert gauss_newton.samples["loss"] == (1 + 2 * 2) * 200  # no line search: evaluations only


def test_a_whole_set_gradient_is_read_in_chunks():
    work = plan.expected_work(
        spec("gd", train_subset=None, epochs=1, hparams={"gradient_fraction": 1.0}, chunk_size=4096)
    )
    assert work.calls["gradient"] == work.steps * math.ceil(60_000 / 4096)
    assert work.largest_call == 4096


def test_sqn_makes_one_curvature_product_per_pair_and_lsr1_two_gradients_per_step():
    sqn = plan.expected_work(
        spec("sqn", hparams={"update_interval": 3, "curvature_batch_size": 250})
    )
    assert sqn.calls["hvp"] == pytest.approx(sqn.steps / 3)
    assert sqn.samples["hvp"] == pytest.approx(sqn.steps / 3 * 250)
    assert sqn.calls["gradient"] == sqn.steps
    lsr1 = plan.expected_work(spec("lsr1"))
    assert lsr1.samples["gradient"] == 2 * lsr1.steps * 50


def test_the_estimate_prices_the_work_with_the_calibration():
    run = spec("shg", hparams={"cg_max_iter": 5})
    work = plan.expected_work(run)
    compute = sum(0.01 * work.calls[op] + 0.001 * work.samples[op] for op in work.calls)
    assert plan.estimate_seconds(run, CALIBRATION) == pytest.approx(5.0 + 0.5 + compute)
    cifar = plan.estimate_seconds(spec(dataset="cifar10"), CALIBRATION)
    assert cifar == pytest.approx(plan.estimate_seconds(spec(), CALIBRATION) + 0.5)


def test_memory_counts_the_process_the_data_and_the_largest_call():
    mem = plan.estimate_mem_mb(spec(), CALIBRATION)
    bundle = 70_000 * 784 / 2**20
    floats = 4 * 500 * 784 / 2**20  # the subsets as float32 on the CPU
    assert mem == pytest.approx(600 + bundle + floats + 50 * 1.0)
    on_gpu = plan.estimate_mem_mb(spec(), {**CALIBRATION, "device": "cuda"})
    assert on_gpu == pytest.approx(600 + bundle)  # floats and activations live on the GPU


def test_requests_have_a_safety_factor_a_floor_and_a_cap():
    small = plan.resources(spec(), CALIBRATION)
    assert small == {"runtime": plan.RUNTIME_FLOOR_MIN, "mem_mb": plan.MEM_FLOOR_MB}
    slow = {**CALIBRATION, "startup_s": 3600.0}
    assert plan.resources(spec(), slow)["runtime"] == math.ceil(
        plan.SAFETY_FACTOR * plan.estimate_seconds(spec(), slow) / 60
    )
    retry = plan.resources(spec(), slow, attempt=2)["runtime"]
    assert retry == pytest.approx(2 * plan.resources(spec(), slow)["runtime"], abs=1)
    huge = {**CALIBRATION, "startup_s": 1e7, "base_mb": 1e6}
    assert plan.resources(spec(), huge) == {
        "runtime": plan.RUNTIME_CAP_MIN,
        "mem_mb": plan.MEM_CAP_MB,
    }


def test_the_study_plan_sums_each_artifacts_runs_and_counts_shared_runs_once():
    study = load_config(REPO / "config/test.yaml")
    runs = expand(study)
    estimate = plan.study_plan(runs, artifact_runs(study), CALIBRATION)
    assert set(estimate["runs"]) == set(runs)
    for name, ids in artifact_runs(study).items():
        seconds = sum(estimate["runs"][i]["seconds"] for i in ids)
        assert estimate["artifacts"][name] == {"runs": len(ids), "seconds": pytest.approx(seconds)}
    total = sum(row["seconds"] for row in estimate["runs"].values())
    assert estimate["total_seconds"] == pytest.approx(total)
    text = plan.format_plan(estimate, CALIBRATION, measured={next(iter(runs)): 10.0})
    assert all(run_id in text for run_id in runs)
    assert all(name in text for name in study["artifacts"])
    assert f"total: {len(runs)} runs" in text
    assert "measured: 1 runs" in text
    assert "warning" not in text
    slow = {**CALIBRATION, "startup_s": 1e6}
    text = plan.format_plan(plan.study_plan(runs, {}, slow), slow)
    assert f"warning: {len(runs)} runs would need more than" in text


def test_measured_seconds_come_from_snakemakes_benchmark_files(tmp_path):
    (tmp_path / "a.tsv").write_text("s\th:m:s\tmax_rss\n19.51\t0:00:19\t1133.56\n")
    assert plan.measured_seconds(tmp_path, ["a", "missing"]) == {"a": 19.51}


def test_the_calibration_is_the_given_one_then_the_environments_then_this_hosts(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECONDORDER_CALIBRATION", raising=False)
    assert plan.load_calibration()["path"] == str(plan.DEFAULT_CALIBRATION)
    host = plan.default_calibration_path()
    host.parent.mkdir()
    host.write_text(json.dumps({"host": "here"}))
    assert plan.load_calibration()["host"] == "here"
    (tmp_path / "env.json").write_text(json.dumps({"host": "env"}))
    monkeypatch.setenv("SECONDORDER_CALIBRATION", "env.json")
    assert plan.load_calibration()["host"] == "env"
    (tmp_path / "given.json").write_text(json.dumps({"host": "given"}))
    assert plan.load_calibration("given.json") == {"host": "given", "path": "given.json"}


def test_the_default_calibration_prices_every_network():
    default = json.loads(plan.DEFAULT_CALIBRATION.read_text())
    for setting in plan.all_settings():
        ops = default["settings"][plan.setting_key(*setting)]["ops"]
        assert set(ops) == set(plan.OPS)
    assert set(default["data_load_s"]) == set(DATASETS)


def test_a_missing_network_names_the_calibration_and_the_fix():
    with pytest.raises(KeyError, match="secondorder plan --calibrate"):
        plan.estimate_seconds(spec(), {**CALIBRATION, "settings": {}})


def test_the_quick_study_estimate_is_within_a_factor_of_two_of_its_measured_time():
    """Job times of the quick study measured on the machine of the default calibration."""
    record = json.loads((REPO / "tests/data/quick-study-times.json").read_text())
    default = plan.load_calibration(plan.DEFAULT_CALIBRATION)
    runs = [RunSpec.from_dict(run["spec"]) for run in record["runs"]]
    estimated = sum(plan.estimate_seconds(run, default) for run in runs)
    measured = sum(run["job_seconds"] for run in record["runs"])
    assert 0.5 < estimated / measured < 2.0
    for run, entry in zip(runs, record["runs"], strict=True):  # and every job fits its request
        requested = plan.resources(run, default)
        assert entry["job_seconds"] < 60 * requested["runtime"]
        assert entry["max_rss_mb"] < requested["mem_mb"]


def test_plan_prints_the_estimate_of_a_config(capsys, monkeypatch):
    monkeypatch.delenv("SECONDORDER_CALIBRATION", raising=False)
    assert main(["plan", "--config", str(REPO / "config/test.yaml")]) == 0
    out = capsys.readouterr().out
    assert "table2_time_to_target" in out and "compute hours" in out


@pytest.mark.slow
def test_calibrate_measures_the_networks_of_a_config(tmp_path):
    config = tmp_path / "lenet.yaml"
    config.write_text(
        "optimizers: {sgd: {method: sgd}}\n"
        "artifacts: {t: {kind: accuracy_table, title: t, datasets: [mnist], models: [lenet],"
        " optimizers: [sgd]}}\n"
    )
    out = tmp_path / "calibration.json"
    args = ["plan", "--calibrate", "--config", str(config), "--calibration", str(out)]
    assert main([*args, "--device", "cpu"]) == 0
    measured = json.loads(out.read_text())
    assert list(measured["settings"]) == ["mnist/lenet/standard"]
    ops = measured["settings"]["mnist/lenet/standard"]["ops"]
    assert all(ops[op]["sample_s"] > 0 for op in ("gradient", "hvp"))
    assert measured["startup_s"] > 0 and measured["base_mb"] > 100


@pytest.mark.slow
def test_slurm_jobs_ask_for_their_own_estimate(tmp_path):
    for name in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "Snakefile", tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "SECONDORDER_CALIBRATION": str(plan.DEFAULT_CALIBRATION),
    }
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "-n"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    default = plan.load_calibration(plan.DEFAULT_CALIBRATION)
    runs = expand(load_config(REPO / "config/quick.yaml"))
    jobs = result.stdout.split("rule train:")[1:]
    assert len(jobs) == len(runs)
    for job in jobs:
        run_id = job.split("run_id=")[1].split()[0]
        wanted = plan.resources(runs[run_id], default)
        assert f"runtime={wanted['runtime']}" in job
        assert f"mem_mb={wanted['mem_mb']}" in job
