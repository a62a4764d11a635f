"""The training runner on a real MNIST subset: records, resume, divergence, failures, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from secondorder.errors import ConfigError
from secondorder.optim import resolve_hparams
from secondorder.spec import RunSpec
from secondorder.training import clock as training_clock
from secondorder.training import evaluate
from secondorder.training.checkpoint import TrainingState
from secondorder.training.devices import DEFAULT_THREADS
from secondorder.training.loop import train_run
from secondorder.training.record import METRIC_COLUMNS

METHOD_HPARAMS = {
    "sgd": {"lr": 0.2},
    "gd": {"lr": 0.2},
    "shg": {"cg_max_iter": 5},
    "sqn": {"update_interval": 3, "curvature_batch_size": 100},
    "lsr1": {},
    "adam": {"lr": 1e-3},
    "lbfgs": {},
}


def make_spec(method="sgd", *, epochs=2, optimizer=None, train_subset=300, **hparams) -> RunSpec:
    return RunSpec(
        dataset="mnist",
        model="lenet",
        activation="tanh",
        variant="standard",
        optimizer=optimizer or method,
        method=method,
        hparams=resolve_hparams(method, {**METHOD_HPARAMS[method], **hparams}),
        batch_size=50,
        epochs=epochs,
        seed=0,
        train_subset=train_subset,
        test_subset=200,
        logs_per_epoch=2,
        eval_train_loss=True,
        chunk_size=4096,
    )


def read_record(run_dir):
    return pd.read_csv(run_dir / "metrics.csv"), json.loads((run_dir / "summary.json").read_text())


def test_record_follows_the_contract(mnist_bundle, tmp_path):
    spec = make_spec("sgd")
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    debris = tmp_path / f".checkpoint.pt.{killed.pid}.0a1b2c3d.tmp"
    debris.write_bytes(b"half a checkpoint of a killed attempt")  # collected at the start
    threads_before = torch.get_num_threads()
    summary = train_run(spec, mnist_bundle, tmp_path, device="cpu", progress=False)
    metrics, saved = read_record(tmp_path)
    assert saved == json.loads(json.dumps(summary))
    assert tuple(metrics.columns) == METRIC_COLUMNS
    # row 0 before training, then 2 logging points per epoch (6 iterations per epoch)
    assert len(metrics) == 1 + 2 * 2
    assert metrics["iteration"].tolist() == [0, 3, 6, 9, 12]
    assert metrics["epoch"].tolist() == [0, 0.5, 1.0, 1.5, 2.0]
    assert math.isnan(metrics["train_loss"][0]) and metrics["train_loss"][1:].notna().all()
    assert metrics["train_time_s"].is_monotonic_increasing
    assert metrics["forward_samples"].iloc[-1] == 12 * 50
    assert metrics["optimizer_steps"].tolist() == metrics["iteration"].tolist()
    assert metrics["test_accuracy"].between(0, 1).all()
    assert saved["status"] == "finished" and saved["run_id"] == spec.run_id
    assert saved["environment"]["data"]["name"] == "mnist"
    assert len(saved["environment"]["data"]["bundle_sha256"]) == 64  # the data's identity
    assert saved["environment"]["torch_threads"] == DEFAULT_THREADS == 1
    assert torch.get_num_threads() == threads_before  # the caller's setting is restored
    assert saved["spec"] == spec.to_dict()
    assert not (tmp_path / "checkpoint.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "model.pt", "summary.json"]


def test_the_final_train_accuracy_is_the_final_model_on_the_training_set(mnist_bundle, tmp_path):
    """summary.json's final train_accuracy and full_train_loss: the saved model evaluated by
    hand on the run's training subset (the reviewers' train vs test accuracy)."""
    from secondorder import data as datasets

    spec = make_spec("sgd", epochs=1)
    summary = train_run(spec, mnist_bundle, tmp_path, device="cpu", progress=False)
    metrics, _ = read_record(tmp_path)
    data = datasets.load(
        mnist_bundle, "cpu", train_subset=spec.train_subset, test_subset=spec.test_subset, seed=0
    )
    model = TrainingState.fresh(spec, data, torch.device("cpu")).model
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    logits = model.eval()(data.x_train)
    accuracy = (logits.argmax(dim=1) == data.y_train).double().mean().item()
    loss = torch.nn.functional.cross_entropy(logits, data.y_train).item()
    assert len(data.y_train) == 300
    assert summary["final"]["train_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert summary["final"]["full_train_loss"] == pytest.approx(loss, rel=1e-5)
    # the same model as the last logging point: its full training loss, off the clock
    assert summary["final"]["full_train_loss"] == pytest.approx(metrics["full_train_loss"].iloc[-1])
    assert summary["train_time_s"] == metrics["train_time_s"].iloc[-1]


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHOD_HPARAMS))
def test_every_method_lowers_the_training_loss(mnist_bundle, tmp_path, method):
    summary = train_run(make_spec(method), mnist_bundle, tmp_path, device="cpu", progress=False)
    metrics, _ = read_record(tmp_path)
    assert summary["status"] == "finished"
    start, end = metrics["full_train_loss"].iloc[0], metrics["full_train_loss"].iloc[-1]
    assert end < 0.8 * start, (method, start, end)
    counters = summary["counters"]
    if method in ("shg", "sqn"):
        assert counters["curvature_products"] > 0
    if method == "shg":  # one CG solve per step, each stopped for exactly one reason
        stops = ("cg_negative_curvature_stops", "cg_max_iter_stops", "cg_converged_stops")
        assert sum(counters[key] for key in stops) == counters["optimizer_steps"] == 12
    if method in ("shg", "sqn", "lsr1"):
        assert counters["line_search_trials"] > 0


def test_eval_every_adds_points_off_the_clock(mnist_bundle, tmp_path, monkeypatch):
    """6 iterations per epoch, 2 logs per epoch (after 3 and 6) and eval_every=4: extra rows
    after iterations 4 and 8, each a full row (running mean loss since the last row, test
    accuracy, counters); evaluation time is not training time."""
    spec = RunSpec.from_dict({**make_spec("sgd").to_dict(), "eval_every": 4})
    assert spec.to_dict()["eval_every"] == 4 and spec.run_id != make_spec("sgd").run_id
    loss_and_accuracy = evaluate.loss_and_accuracy
    clock = [0.0]  # a clock that moves only while evaluating

    def slow_evaluate(model, x, y):
        clock[0] += 100.0
        return loss_and_accuracy(model, x, y)

    monkeypatch.setattr(training_clock.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(evaluate, "loss_and_accuracy", slow_evaluate)
    train_run(spec, mnist_bundle, tmp_path, device="cpu", progress=False)
    metrics, _ = read_record(tmp_path)
    assert metrics["iteration"].tolist() == [0, 3, 4, 6, 8, 9, 12]
    assert metrics["epoch"].tolist() == [0, 0.5, 4 / 6, 1.0, 8 / 6, 1.5, 2.0]
    assert metrics["train_loss"][1:].notna().all() and metrics["test_accuracy"].notna().all()
    assert metrics["optimizer_steps"].tolist() == metrics["iteration"].tolist()
    # test and full training set at each point, and the training set once more at the end
    assert clock[0] == (7 * 2 + 1) * 100.0
    assert (metrics["train_time_s"] == 0.0).all()  # none of it on the training clock


@pytest.mark.parametrize(("fraction", "gradient_size"), [("minibatch", 50), (1.0, 300), (0.2, 60)])
def test_shg_gradient_follows_the_data_plan(mnist_bundle, tmp_path, fraction, gradient_size):
    """6 steps of batch 50 on 300 samples: the gradient on the mini-batch, on all 300 samples,
    or on a 60-sample draw; the curvature always on the mini-batch."""
    spec = make_spec("shg", epochs=1, gradient_fraction=fraction)
    counters = train_run(spec, mnist_bundle, tmp_path, device="cpu", progress=False)["counters"]
    assert counters["optimizer_steps"] == 6
    assert counters["gradient_samples"] == 6 * gradient_size
    assert counters["curvature_samples"] == 50 * counters["curvature_products"] > 0


@pytest.mark.parametrize(
    ("method", "hparams"),
    [("sgd", {"lr": 1e6}), ("shg", {"line_search": False, "lr": 1e6})],
)
def test_huge_fixed_step_is_recorded_as_diverged(mnist_bundle, tmp_path, method, hparams):
    summary = train_run(
        make_spec(method, epochs=3, **hparams), mnist_bundle, tmp_path, device="cpu", progress=False
    )
    metrics, saved = read_record(tmp_path)
    assert saved["status"] == summary["status"] == "diverged"
    assert saved["diverged_at"]["iteration"] == metrics["iteration"].iloc[-1]
    assert metrics["train_loss"].iloc[-1] > 1000 * metrics["test_loss"].iloc[0]
    assert metrics["epoch"].iloc[-1] < 3


def test_nan_loss_is_recorded_as_diverged(mnist_bundle, tmp_path, monkeypatch):
    from secondorder.curvature import Objective

    original = Objective.loss_and_grad
    calls = []

    def nan_after_four_steps(self, batch, **kwargs):
        loss, grad = original(self, batch, **kwargs)
        calls.append(1)
        return (loss * float("nan") if len(calls) > 4 else loss), grad

    monkeypatch.setattr(Objective, "loss_and_grad", nan_after_four_steps)
    summary = train_run(make_spec("sgd"), mnist_bundle, tmp_path, device="cpu", progress=False)
    metrics, _ = read_record(tmp_path)
    assert summary["status"] == "diverged"
    assert summary["diverged_at"] == {"epoch": 1.0, "iteration": 6}
    assert math.isnan(metrics["train_loss"].iloc[-1]) and len(metrics) == 3
    # summary.json is strict JSON: the NaN loss is null, and no parser meets NaN or Infinity
    text = (tmp_path / "summary.json").read_text()

    def reject(constant):
        raise AssertionError(f"summary.json holds {constant}")

    saved = json.loads(text, parse_constant=reject)
    assert saved["final"]["train_loss"] is None and saved == summary


def _interrupt_after_first_checkpoint(monkeypatch):
    original = TrainingState.save

    def save_then_die(self, out_dir, spec):
        original(self, out_dir, spec)
        raise KeyboardInterrupt("killed after the first checkpoint")

    monkeypatch.setattr(TrainingState, "save", save_then_die)


@pytest.mark.parametrize(
    ("method", "settings"),
    [(method, {}) for method in ("sgd", "shg", "sqn", "lsr1", "adam", "lbfgs")]
    + [("shg", {"eval_every": 3})],  # points at 3 and 6 across the checkpoint after 4
)
def test_interrupted_run_resumes_to_the_same_record(
    mnist_bundle, tmp_path, monkeypatch, method, settings
):
    spec = make_spec(method, epochs=2, train_subset=200)
    spec = RunSpec.from_dict({**spec.to_dict(), **settings})
    train_run(spec, mnist_bundle, tmp_path / "straight", device="cpu", progress=False)

    with monkeypatch.context() as patch:
        _interrupt_after_first_checkpoint(patch)
        with pytest.raises(KeyboardInterrupt):
            train_run(spec, mnist_bundle, tmp_path / "resumed", device="cpu", progress=False)
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    assert not (tmp_path / "resumed" / "summary.json").exists()
    summary = train_run(spec, mnist_bundle, tmp_path / "resumed", device="cpu", progress=False)

    assert summary["resumed_from_epoch"] == 1
    straight, _ = read_record(tmp_path / "straight")
    resumed, _ = read_record(tmp_path / "resumed")
    if settings:
        assert resumed["iteration"].tolist() == [0, 2, 3, 4, 6, 8]
    pd.testing.assert_frame_equal(
        straight.drop(columns="train_time_s"), resumed.drop(columns="train_time_s")
    )
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_killed_process_resumes_from_its_checkpoint(mnist_bundle, tmp_path):
    spec = make_spec("sgd", epochs=6, train_subset=3000)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec.to_dict()))
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "secondorder", "train", "--spec", str(spec_file),
        "--data", str(mnist_bundle), "--out", str(run_dir), "--device", "cpu",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "summary.json").exists()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    _, summary = read_record(run_dir)
    assert summary["status"] == "finished" and summary["resumed_from_epoch"] >= 1

    reference = tmp_path / "reference"
    train_run(spec, mnist_bundle, reference, device="cpu", progress=False)
    expected, _ = read_record(reference)
    got, _ = read_record(run_dir)
    pd.testing.assert_frame_equal(
        expected.drop(columns="train_time_s"), got.drop(columns="train_time_s")
    )


def test_checkpoint_of_another_spec_is_ignored(mnist_bundle, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        _interrupt_after_first_checkpoint(patch)
        with pytest.raises(KeyboardInterrupt):
            train_run(
                make_spec("sgd", lr=0.01), mnist_bundle, tmp_path, device="cpu", progress=False
            )
    summary = train_run(make_spec("sgd"), mnist_bundle, tmp_path, device="cpu", progress=False)
    assert summary["resumed_from_epoch"] is None and summary["status"] == "finished"


def test_failed_run_leaves_no_outputs_that_look_done(mnist_bundle, tmp_path):
    spec = make_spec("sgd", train_subset=None)
    spec = RunSpec.from_dict({**spec.to_dict(), "batch_size": 10**6})
    with pytest.raises(ValueError, match="batch_size"):
        train_run(spec, mnist_bundle, tmp_path, device="cpu", progress=False)
    assert not (tmp_path / "summary.json").exists() and not (tmp_path / "metrics.csv").exists()
    failure = json.loads((tmp_path / "failed.json").read_text())
    assert failure["status"] == "failed" and "batch_size" in failure["error"]


def test_cli_reports_config_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "optimizers: {sgd: {method: sgd, lr: 0.1}}\n"
        "artifacts: {t: {kind: accuracy_table, datasets: [mnist], models: [lenet],"
        " optimizers: [sgd]}}\nrun: {batch_size: -5}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "secondorder", "expand", "--config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "run.batch_size" in result.stderr and "Traceback" not in result.stderr


def test_cli_trains_a_run_of_a_config(mnist_bundle, tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(
        "run: {batch_size: 50, epochs: 1, train_subset: 200, test_subset: 100}\n"
        "optimizers: {sgd: {method: sgd, lr: 0.05}}\n"
        "artifacts: {t: {kind: accuracy_table, datasets: [mnist], models: [lenet],"
        " optimizers: [sgd]}}\n"
    )
    listing = subprocess.run(
        [sys.executable, "-m", "secondorder", "expand", "--config", str(config)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (run_id,) = listing.stdout.split()
    subprocess.run(
        [sys.executable, "-m", "secondorder", "train", "--config", str(config), "--run-id", run_id,
         "--data", str(mnist_bundle), "--out", str(tmp_path / "run"), "--device", "cpu",
         "--threads", "2"],
        check=True, capture_output=True,
    )  # fmt: skip
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["run_id"] == run_id and summary["environment"]["torch_threads"] == 2


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count_is_refused_before_anything_is_written(mnist_bundle, tmp_path, threads):
    with pytest.raises(ConfigError, match=r"^threads must be a positive integer, got"):
        train_run(make_spec(), mnist_bundle, tmp_path / "run", device="cpu", threads=threads)
    assert not (tmp_path / "run").exists()
