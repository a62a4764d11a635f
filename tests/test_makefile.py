"""The Makefile's cleaning targets: derived outputs go, finished runs stay unless confirmed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
RUN_FILES = ("results/runs/r1/summary.json", "results/runs/r1/model.pt", "results/runs/r2/x")
DERIVED = (
    "results/aggregated/t.csv",
    "results/figures/f.png",
    "results/tables/t.md",
    "results/report.md",
    "results/metrics.json",
    "results/logs/train/r1.log",
)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _results(root: Path) -> None:
    for name in (*RUN_FILES, *DERIVED, ".snakemake/metadata/m"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)


def _make(root: Path, target: str, answer: str | None) -> subprocess.CompletedProcess:
    stdin = {"stdin": subprocess.DEVNULL} if answer is None else {"input": answer}
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(MAKEFILE), target],
        cwd=root,
        **stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_clean_results_keeps_every_run(tmp_path):
    _results(tmp_path)
    assert _make(tmp_path, "clean-results", None).returncode == 0
    assert all((tmp_path / name).read_text() == name for name in RUN_FILES)
    assert not any((tmp_path / name).exists() for name in DERIVED)
    assert (tmp_path / ".snakemake/metadata/m").exists()  # what Snakemake knows of the runs


@pytest.mark.parametrize("answer", [None, "", "n\n", "no\n", "anything\n"])
def test_clean_runs_deletes_nothing_unless_confirmed(tmp_path, answer):
    _results(tmp_path)
    result = _make(tmp_path, "clean-runs", answer)
    assert result.returncode != 0 and "nothing deleted" in result.stdout
    assert "with its 2 run folders" in result.stdout
    assert all((tmp_path / name).exists() for name in (*RUN_FILES, *DERIVED))


def test_clean_runs_deletes_results_when_confirmed(tmp_path):
    _results(tmp_path)
    assert _make(tmp_path, "clean-runs", "y\n").returncode == 0
    assert not (tmp_path / "results").exists() and not (tmp_path / ".snakemake").exists()
