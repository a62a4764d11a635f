"""Cost estimates (secondorder.study.plan): the work model of each optimizer, prices from a
calibration, scheduler requests, the printed plan; the calibration files
(secondorder.study.calibrate); and the estimate of the quick study against its measured job
times."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from secondorder.cli import main
from secondorder.cost import OPERATIONS
from secondorder.errors import ConfigError
from secondorder.optim.linesearch import EXPECTED_TRIALS
from secondorder.optim.shg import EXPECTED_HESSIAN_CG_ITERATIONS
from secondorder.spec import DATASETS, RunSpec
from secondorder.study import artifact_runs, calibrate, expand, load_config, plan

REPO = Path(__file__).resolve().parents[1]
OPS = {op: {"call_s": 0.01, "sample_s": 0.001} for op in OPERATIONS}
OPS_SETTING = {"ops": OPS, "activation_mb_per_sample": 1.0}
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
        calibrate.setting_key(*setting): {"ops": OPS, "activation_mb_per_sample": 1.0}
        for setting in calibrate.all_settings()
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


def test_evaluations_are_priced_in_the_runners_chunks():
    """The plan counts one loss call per chunk that the runner evaluates, each set on its own
    (the plan once assumed chunks of 1000 where the runner used 2000)."""
    from secondorder.training.evaluate import EVAL_CHUNK

    big = spec(train_subset=6000, test_subset=5000, eval_train_loss=True, batch_size=3000)
    evaluations = 1 + 2 * 2
    per_point = math.ceil(5000 / EVAL_CHUNK) + math.ceil(6000 / EVAL_CHUNK)
    assert plan.expected_work(big).calls["loss"] == evaluations * per_point


def test_shg_reads_its_gradient_sample_and_runs_cg_on_the_minibatch():
    hessian = plan.expected_work(spec("shg", hparams={"gradient_fraction": 0.2, "cg_max_iter": 5}))
    steps = hessian.steps
    assert hessian.samples["gradient"] == steps * 60
    assert (
        hessian.calls["hvp"] == steps * EXPECTED_HESSIAN_CG_ITERATIONS
    )  # stops at negative curvature
    assert hessian.samples["hvp"] == steps * EXPECTED_HESSIAN_CG_ITERATIONS * 50
    trials = steps * EXPECTED_TRIALS
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


def shipped_with(tmp_path: Path, name: str, host: str, config: str | None = None) -> Path:
    """A copy of the shipped calibration under ``host``, with the networks of ``config`` only
    (as `secondorder plan --calibrate --config <config>` writes it) or all of them."""
    values = json.loads(calibrate.DEFAULT_CALIBRATION.read_text())
    if config is not None:
        runs = expand(load_config(REPO / config)).values()
        keys = {calibrate.setting_key(r.dataset, r.model, r.variant) for r in runs}
        values["settings"] = {k: v for k, v in values["settings"].items() if k in keys}
    path = tmp_path / name
    path.write_text(json.dumps({**values, "host": host}))
    return path


def test_the_calibration_is_the_given_one_then_the_environments_then_this_hosts(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECONDORDER_CALIBRATION", raising=False)
    assert calibrate.load_calibration()["path"] == str(calibrate.DEFAULT_CALIBRATION)
    host = calibrate.default_calibration_path()
    host.parent.mkdir()
    shipped_with(tmp_path, str(host), "here")
    assert calibrate.load_calibration()["host"] == "here"
    shipped_with(tmp_path, "env.json", "env")
    monkeypatch.setenv("SECONDORDER_CALIBRATION", "env.json")
    assert calibrate.load_calibration()["host"] == "env"
    shipped_with(tmp_path, "given.json", "given")
    given = calibrate.load_calibration("given.json")
    assert given["host"] == "given" and given["path"] == "given.json"


def test_a_network_the_file_lacks_is_priced_with_the_shipped_calibration_said_once(
    tmp_path, caplog
):
    partial = shipped_with(tmp_path, "partial.json", "partial", config="config/test.yaml")
    with caplog.at_level(logging.INFO):
        loaded = calibrate.load_calibration(partial)
        runs = expand(load_config(REPO / "config/quick.yaml"))
        estimate = plan.study_plan(runs, {}, loaded)
    shipped = calibrate.load_calibration(calibrate.DEFAULT_CALIBRATION)
    assert estimate["runs"] == plan.study_plan(runs, {}, shipped)["runs"]
    said = [r.getMessage() for r in caplog.records if "shipped calibration" in r.getMessage()]
    assert len(said) == 1 and str(partial) in said[0] and "mnist/resnet18/narrow" in said[0]
    assert "mnist/lenet/standard" not in said[0]  # measured in the file


BROKEN = {
    "missing": None,
    "not JSON": "{not json",
    "wrong shape": json.dumps({"host": "h", "settings": []}),
}


@pytest.mark.parametrize("how", ["--calibration", "SECONDORDER_CALIBRATION"])
@pytest.mark.parametrize("broken", list(BROKEN))
def test_an_unreadable_calibration_is_one_line_naming_it(
    tmp_path, monkeypatch, capsys, broken, how
):
    path = tmp_path / "calibration.json"
    if BROKEN[broken] is not None:
        path.write_text(BROKEN[broken])
    args = ["plan", "--config", str(REPO / "config/test.yaml")]
    if how == "--calibration":
        monkeypatch.delenv("SECONDORDER_CALIBRATION", raising=False)
        args += ["--calibration", str(path)]
    else:
        monkeypatch.setenv("SECONDORDER_CALIBRATION", str(path))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and "secondorder plan --calibrate" in err
    if how == "SECONDORDER_CALIBRATION":
        assert "SECONDORDER_CALIBRATION" in err


def test_calibrate_merges_into_an_existing_file(tmp_path, monkeypatch, capsys):
    out = shipped_with(tmp_path, "mine.json", socket.gethostname(), config="config/quick.yaml")
    before = json.loads(out.read_text())
    fake = {**before, "startup_s": 1.0, "settings": {"mnist/lenet/standard": OPS_SETTING}}
    monkeypatch.setattr(calibrate, "calibrate", lambda settings, **_: json.loads(json.dumps(fake)))
    args = ["plan", "--calibrate", "--config", str(REPO / "config/test.yaml")]
    assert main([*args, "--calibration", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert set(merged["settings"]) == set(before["settings"])  # the other networks are kept
    assert merged["settings"]["mnist/lenet/standard"] == OPS_SETTING  # the measured one is new
    assert merged["startup_s"] == 1.0
    out.write_text("{garbage")  # an unreadable file is refused before measuring
    monkeypatch.setattr(calibrate, "calibrate", lambda *_, **__: pytest.fail("measured"))
    assert main([*args, "--calibration", str(out)]) == 2
    assert str(out) in capsys.readouterr().err


def test_a_planning_problem_falls_back_to_the_default_request(monkeypatch, caplog):
    assert plan.resources(spec(), None) == plan.DEFAULT_REQUEST
    lacking = {**CALIBRATION, "path": "lacking.json", "settings": {}}
    with caplog.at_level(logging.WARNING):
        assert plan.resources(spec(), lacking) == plan.DEFAULT_REQUEST
        retry = plan.resources(spec(), lacking, attempt=2)
    assert len(caplog.records) == 1  # said once, not per run
    assert retry == {**plan.DEFAULT_REQUEST, "runtime": 2 * plan.DEFAULT_REQUEST["runtime"]}
    assert "lacking.json" in caplog.text and "mnist/lenet/standard" in caplog.text
    assert f"{plan.DEFAULT_REQUEST['runtime']} min" in caplog.text
    monkeypatch.setenv("SECONDORDER_CALIBRATION", "/nonexistent")
    with caplog.at_level(logging.WARNING):
        assert plan.calibration_for_requests() is None
    assert "/nonexistent" in caplog.text


def test_plan_says_that_a_measured_folder_is_missing(tmp_path, capsys):
    missing = tmp_path / "benchmarks"
    args = ["plan", "--config", str(REPO / "config/test.yaml"), "--measured", str(missing)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "no such folder" in err


@pytest.mark.slow
@pytest.mark.parametrize("calibration", ["partial", "/nonexistent"])
def test_a_dry_run_survives_a_partial_or_missing_calibration(tmp_path, calibration):
    if calibration == "partial":
        calibration = str(shipped_with(tmp_path, "partial.json", "p", config="config/test.yaml"))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "SECONDORDER_CALIBRATION": calibration,
    }
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/quick.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if calibration in line]
    assert len(said) == 1, result.stderr  # said once, naming the file


def test_the_default_calibration_prices_every_network():
    default = json.loads(calibrate.DEFAULT_CALIBRATION.read_text())
    for setting in calibrate.all_settings():
        ops = default["settings"][calibrate.setting_key(*setting)]["ops"]
        assert set(ops) == set(OPERATIONS)
    assert set(default["data_load_s"]) == set(DATASETS)


def test_a_missing_network_names_the_calibration_and_the_fix():
    with pytest.raises(ConfigError, match="secondorder plan --calibrate"):
        plan.estimate_seconds(spec(), {**CALIBRATION, "settings": {}})


def test_the_quick_study_estimate_is_within_a_factor_of_two_of_its_measured_time():
    """Job times of the quick study measured on the machine of the default calibration."""
    record = json.loads((REPO / "tests/data/quick-study-times.json").read_text())
    default = calibrate.load_calibration(calibrate.DEFAULT_CALIBRATION)
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
def test_calibrate_measures_the_networks_of_a_config_and_merges_them(tmp_path):
    out = tmp_path / "calibration.json"
    config = str(REPO / "config/test.yaml")
    args = ["plan", "--calibrate", "--config", config, "--calibration", str(out), "--device", "cpu"]
    assert main(args) == 0
    measured = json.loads(out.read_text())
    assert list(measured["settings"]) == ["mnist/lenet/standard"]
    ops = measured["settings"]["mnist/lenet/standard"]["ops"]
    assert all(ops[op]["sample_s"] > 0 for op in ("gradient", "hvp"))
    assert measured["startup_s"] > 0 and measured["base_mb"] > 100
    measured["settings"]["cifar10/alexnet/standard"] = OPS_SETTING  # another config's network
    out.write_text(json.dumps(measured))
    assert main(args) == 0
    again = json.loads(out.read_text())["settings"]
    assert set(again) == {"mnist/lenet/standard", "cifar10/alexnet/standard"}
    assert again["cifar10/alexnet/standard"] == OPS_SETTING


@pytest.mark.slow
def test_slurm_jobs_ask_for_their_own_estimate(tmp_path):
    for name in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "Snakefile", tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "SECONDORDER_CALIBRATION": str(calibrate.DEFAULT_CALIBRATION),
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
    default = calibrate.load_calibration(calibrate.DEFAULT_CALIBRATION)
    runs = expand(load_config(REPO / "config/quick.yaml"))
    jobs = result.stdout.split("rule train:")[1:]
    assert len(jobs) == len(runs)
    for job in jobs:
        run_id = job.split("run_id=")[1].split()[0]
        wanted = plan.resources(runs[run_id], default)
        assert f"runtime={wanted['runtime']}" in job
        assert f"mem_mb={wanted['mem_mb']}" in job


def test_the_paper_tier_is_the_paper_config_and_beyond_adds_the_rest():
    """config/beyond.yaml adds to config/config.yaml: the paper tier of both is the paper
    config alone (the same run ids), and the paper + beyond tier every run of both."""
    from secondorder.study import load_config_files, tiers

    paper = expand(load_config(REPO / "config/config.yaml"))
    _, both = load_config_files([REPO / "config/config.yaml", REPO / "config/beyond.yaml"])
    runs = tiers.tier_runs(both)
    assert list(runs) == [tiers.PAPER, tiers.BEYOND]
    assert set(runs[tiers.PAPER]) == set(paper) and set(paper) < set(runs[tiers.BEYOND])
    assert set(runs[tiers.BEYOND]) == set(expand(both))
    methods = {spec.optimizer for spec in paper.values()}
    assert not methods & {"adam", "shg-gn", "shg-lm", "shg-cg10"}
    assert {"adam", "shg-gn", "shg-lm", "shg-cg10"} <= {s.optimizer for s in expand(both).values()}
    assert list(tiers.tier_runs(load_config(REPO / "config/config.yaml"))) == [tiers.PAPER]


def test_beyond_alone_says_it_adds_to_the_paper_config(capsys):
    with pytest.raises(ConfigError) as error:
        from secondorder.study import load_config_files

        load_config_files([REPO / "config/beyond.yaml"])
    message = str(error.value)
    assert "'sgd'" in message and "not defined in optimizers" in message and "\n" not in message
    assert message.endswith("--configfile config/config.yaml config/beyond.yaml")
    assert main(["plan", "--config", str(REPO / "config/beyond.yaml")]) == 2
    assert "--configfile config/config.yaml config/beyond.yaml" in capsys.readouterr().err


@pytest.mark.slow
def test_plan_prints_each_tier_on_each_calibration_packed_beside_unpacked(
    tmp_path, monkeypatch, capsys
):
    """With a GPU calibration the tiers are priced on it (packed too) and on the shipped CPU
    one; runs over a job's cap get what to do."""
    from secondorder.study import tiers

    gpu = {**calibrate.load_calibration(calibrate.DEFAULT_CALIBRATION), "host": "node"}
    gpu.update(device="cuda", device_name="Fake GPU", memory_mb=80000.0)
    for setting in gpu["settings"].values():
        for price in setting["ops"].values():
            price.update(call_s=1e-3, sample_s=price["sample_s"] / 1000)
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(gpu))
    monkeypatch.setenv("SECONDORDER_CALIBRATION", str(path))
    config = [str(REPO / "config/config.yaml"), str(REPO / "config/beyond.yaml")]
    assert main(["plan", "--config", *config]) == 0
    out = capsys.readouterr().out.split("\ntiers: ", 1)[1]
    rows = {(m[1], m[3]): m for m in re.finditer(
        r"^(paper(?: \+ beyond)?)\s+(\d+)  (Fake GPU|cpu \(vm.*?\))\s+([\d.]+)\s+(\S+)$", out, re.M
    )}  # fmt: skip
    assert len(rows) == 4, out
    assert rows["paper", "Fake GPU"][5] != "-" and rows["paper", next(
        k[1] for k in rows if k[1].startswith("cpu"))][5] == "-"  # fmt: skip
    packed, unpacked = float(rows["paper", "Fake GPU"][5]), float(rows["paper", "Fake GPU"][4])
    assert 0 < packed <= unpacked
    assert "run(s) need more than the 2880 minutes" in out and "fewer epochs" in out
    assert "more processes per run once data-parallel runs land" in out
    assert tiers.label(gpu) == "Fake GPU"
