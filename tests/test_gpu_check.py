"""`make gpu-check`: its CPU rehearsal writes the documented JSON, and one failing step never
stops the others."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from secondorder import gpu_check

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SECONDORDER_DATA", REPO.parent / "shared" / "data"))
# The documented shape (README, "GPU check"), written here so that the test checks the code.
REPORT_KEYS = {
    "device",
    "device_name",
    "small",
    "ok",
    "seconds",
    "tolerances",
    "environment",
    "steps",
}
STEP_KEYS = {"ok", "seconds", "error", "headline"}
STEP_NUMBERS = {
    "study": {"returncode", "snakemake_s", "artifact_files", "missing", "runs", "run_devices"},
    "agreement": {
        "steps_per_run",
        "train_examples",
        "max_loss_rdiff",
        "max_accuracy_diff",
        "max_product_rdiff",
        "runs",
        "products",
        "device_syncs_per_step",
    },
    "calibration": {"path", "networks", "startup_s", "gradient_ms_per_sample"},
    "bench": {"path", "measurements", "ratios", "sgd_epoch"},
    "lease": {
        "leased_device",
        "leases",
        "overlap_s",
        "exclusive_overlap_s",
        "pair_s",
        "alone_s",
        "throughput_gain",
        "records_equal_alone",
        "sharing",
    },
}


def check_shape(report: dict) -> None:
    assert set(report) == REPORT_KEYS
    assert tuple(report["steps"]) == gpu_check.STEPS == tuple(STEP_NUMBERS)
    for name, step in report["steps"].items():
        assert STEP_KEYS | STEP_NUMBERS[name] <= set(step), (name, sorted(step))


def test_the_readme_documents_every_key() -> None:
    section = (REPO / "README.md").read_text().split("## GPU check", 1)[1].split("\n## ", 1)[0]
    for key in REPORT_KEYS | STEP_KEYS | set().union(*STEP_NUMBERS.values()) | set(STEP_NUMBERS):
        assert f"`{key}`" in section, f"README's GPU check section does not explain `{key}`"


def test_a_failing_step_is_recorded_and_the_others_run(tmp_path, monkeypatch) -> None:
    def fails(*args, **kwargs):
        raise RuntimeError("no snakemake here")

    monkeypatch.setattr(gpu_check, "check_study", fails)
    monkeypatch.setattr(gpu_check.data, "prepare", lambda *args, **kwargs: {})
    for name, module in (
        ("check_calibration", gpu_check),
        ("check_bench", gpu_check),
        ("check_agreement", gpu_check.agreement),
        ("check_lease", gpu_check.lease),
    ):
        monkeypatch.setattr(module, name, lambda *args, _n=name, **kwargs: {"headline": _n})
    report = gpu_check.run_gpu_check("cpu", tmp_path, small=True)
    study = report["steps"]["study"]
    assert not report["ok"] and not study["ok"]
    assert study["error"].startswith("RuntimeError: no snakemake here")
    assert all(report["steps"][name]["ok"] for name in gpu_check.STEPS[1:])
    assert json.loads((tmp_path / "gpu-check-cpu.json").read_text()) == json.loads(
        json.dumps(report)
    )
    summary = (tmp_path / "gpu-check-cpu.txt").read_text().splitlines()
    assert "FAILED" in summary[0] and len(summary) == 1 + len(gpu_check.STEPS)
    assert re.search(r"study\s+FAILED.*RuntimeError: no snakemake here", summary[1])


def test_device_names_make_file_names() -> None:
    assert gpu_check.slug("NVIDIA H200") == "nvidia-h200"
    assert gpu_check.slug("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_gpu_check_on_the_cpu_passes_every_step(tmp_path) -> None:
    if not (DATA / "MNIST").is_dir():
        pytest.skip(f"no MNIST under {DATA}")
    env = {**os.environ, "SECONDORDER_DATA": str(DATA)}
    result = subprocess.run(
        ["make", "--no-print-directory", "gpu-check", "DEVICE=cpu", f"GPU_CHECK_OUT={tmp_path}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report = json.loads((tmp_path / "gpu-check-cpu.json").read_text())
    check_shape(report)
    failed = {n: s["error"] or s["headline"] for n, s in report["steps"].items() if not s["ok"]}
    assert result.returncode == 0 and not failed, (failed, result.stderr[-3000:])
    steps = report["steps"]
    assert steps["study"]["run_devices"] == ["cpu"] and not steps["study"]["missing"]
    assert steps["agreement"]["max_loss_rdiff"] == 0.0  # the CPU against itself: exact
    assert steps["agreement"]["max_product_rdiff"] == 0.0
    assert Path(steps["calibration"]["path"]).parent == tmp_path  # never the shipped file
    assert steps["lease"]["records_equal_alone"]
    assert (tmp_path / "bench-cpu.json").is_file() and (tmp_path / "calibration-cpu.json").is_file()
