"""A finished record is kept, never retrained, when spec, data and training code are the same;
a record made by other data or code is removed before training (secondorder.training.record)."""

from __future__ import annotations

import json
import shutil

import pytest
from test_train import make_spec

from secondorder import data
from secondorder.training import loop as train_module
from secondorder.training import record
from secondorder.training.loop import train_run


@pytest.fixture
def finished_run(mnist_bundle, tmp_path):
    """A bundle (with its digest beside it) and a run directory holding a finished record."""
    bundle = tmp_path / "mnist.pt"
    shutil.copy(mnist_bundle, bundle)
    shutil.copy(data.digest_path(mnist_bundle), data.digest_path(bundle))
    spec = make_spec("sgd", epochs=1)
    out = tmp_path / "run"
    train_run(spec, bundle, out, device="cpu", progress=False)
    return spec, bundle, out


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trained although a finished record of the same run exists")

    monkeypatch.setattr(train_module, "_train", fail)


def test_a_finished_record_of_the_same_run_is_kept(finished_run, monkeypatch):
    spec, bundle, out = finished_run
    before = {name: (out / name).read_bytes() for name in record.OUTPUTS}
    forbid_training(monkeypatch)
    summary = train_run(spec, bundle, out, device="cpu", progress=False)
    assert summary == json.loads(before["summary.json"])
    assert {name: (out / name).read_bytes() for name in record.OUTPUTS} == before


def test_a_checkpoint_left_beside_a_kept_record_is_removed(finished_run, monkeypatch):
    """A kill between the record's write and the checkpoint's removal leaves checkpoint.pt
    beside a finished record: keeping the record removes it, and only it."""
    spec, bundle, out = finished_run
    (out / "checkpoint.pt").write_bytes(b"the checkpoint of the last epoch")
    before = {name: (out / name).read_bytes() for name in record.OUTPUTS}
    forbid_training(monkeypatch)
    train_run(spec, bundle, out, device="cpu", progress=False)
    assert not (out / "checkpoint.pt").exists()
    assert {name: (out / name).read_bytes() for name in record.OUTPUTS} == before


def test_a_diverged_record_is_kept_too(finished_run, monkeypatch):
    spec, bundle, out = finished_run
    summary = json.loads((out / "summary.json").read_text())
    summary["status"] = "diverged"
    (out / "summary.json").write_text(json.dumps(summary))
    forbid_training(monkeypatch)
    assert train_run(spec, bundle, out, device="cpu", progress=False)["status"] == "diverged"


@pytest.mark.parametrize("change", ["code", "data", "spec", "missing weights", "no digest"])
def test_a_record_of_other_code_data_or_spec_is_retrained(finished_run, monkeypatch, change):
    spec, bundle, out = finished_run
    if change == "code":
        monkeypatch.setattr(record, "training_code_digest", lambda: "0" * 64)
    elif change == "data":
        data.digest_path(bundle).write_text("f" * 64 + "\n")
    elif change == "spec":  # a hand-made record in the wrong folder
        summary = json.loads((out / "summary.json").read_text())
        summary["spec"]["epochs"] = 7
        (out / "summary.json").write_text(json.dumps(summary))
    elif change == "missing weights":
        (out / "model.pt").unlink()
    else:
        data.digest_path(bundle).unlink()
    assert record.reusable_summary(out, spec, data.bundle_digest(bundle)) is None

    calls = []
    original = record.remove_stale

    def watch(out_dir):
        calls.append(sorted(p.name for p in out_dir.iterdir()))
        original(out_dir)
        calls.append(sorted(p.name for p in out_dir.iterdir()))

    monkeypatch.setattr(record, "remove_stale", watch)
    summary = train_run(spec, bundle, out, device="cpu", progress=False)
    assert summary["status"] == "finished"
    assert calls and not set(record.OUTPUTS) & set(calls[1])  # stale outputs gone first
    assert (out / "summary.json").exists() and (out / "model.pt").exists()


def test_the_code_digest_follows_training_code_only(tmp_path):
    """The library and the one-run layer decide a run's result; the study, the analysis and
    the entry points do not, so editing them (adding an artifact kind) keeps every record."""
    training = ["optim/sgd.py", "training/loop.py", "data/load.py", "spec.py", "models.py"]
    other = ["analysis/figures.py", "study/artifacts.py", "study/plan.py", "cli.py", "glue.py"]
    for name in training + other:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    digest = record.code_digest(tmp_path)
    for name in other:
        (tmp_path / name).write_text("x = 2\n")
    assert record.code_digest(tmp_path) == digest
    for name in training:
        (tmp_path / name).write_text("x = 1  # a comment\n")
        assert record.code_digest(tmp_path) != digest, name
        (tmp_path / name).write_text("x = 1\n")
    assert len(record.training_code_digest()) == 64
