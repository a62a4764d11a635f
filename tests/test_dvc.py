"""The DVC pipeline: the study config is chosen in one place (params.yaml's ``study.config``),
and `dvc plots show` draws the loss curves of every artifact and Table 2. Checked in a copy of
the repository (a fresh git repository) without training: dry runs, and stand-in CSVs for the
plots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DVC = [sys.executable, "-m", "dvc"]
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) in a git repository of their own."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tmp_path / name)
    (tmp_path / "data/prepared").mkdir(parents=True)  # the study stage's dependency
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def dvc(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [*DVC, *args], cwd=repo, env=ENV, capture_output=True, text=True, check=True
    )
    return done.stdout


def stage_commands(repo: Path) -> list[str]:
    """The commands `dvc repro` would run, in order (a dry run)."""
    lines = dvc(repo, "repro", "--dry").splitlines()
    return [line.removeprefix("> ") for line in lines if line.startswith("> ")]


def test_dvc_yaml_names_no_study_config_itself() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert "config/" not in str(stages)  # only ${study.config}, from params.yaml
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert params == {"study": {"config": "config/quick.yaml"}}


@pytest.mark.slow
def test_one_parameter_switches_every_stage_to_another_config(repo_copy: Path) -> None:
    assert stage_commands(repo_copy) == [
        "snakemake data --configfile config/quick.yaml",
        "snakemake --configfile config/quick.yaml",
    ]
    (repo_copy / "params.yaml").write_text("study:\n  config: config/test.yaml\n")
    assert stage_commands(repo_copy) == [
        "snakemake data --configfile config/test.yaml",
        "snakemake --configfile config/test.yaml",
    ]
    status = dvc(repo_copy, "status")
    assert "config/test.yaml" in status  # the new config's keys are parameters of the stages
    assert "config/quick.yaml" not in status


@pytest.mark.slow
def test_plots_show_draws_each_artifacts_loss_curves_and_table2(repo_copy: Path) -> None:
    aggregated = repo_copy / "results/aggregated"
    aggregated.mkdir(parents=True)
    rows = [
        f"{run},{epoch},{loss}"
        for run in (
            "mnist-lenet-tanh__sgd__bs50__s0__aaaaaa",
            "mnist-lenet-tanh__shg__bs50__s0__bbbbbb",
        )
        for epoch, loss in ((0.0, ""), (0.5, 2.1), (1.0, 1.7))
    ]
    for name in ("fig02_loss_epochs_mnist", "fig08_batch_size_sgd_vs_shg"):
        (aggregated / f"{name}.csv").write_text("\n".join(["run_id,epoch,train_loss", *rows]))
    tables = repo_copy / "results/tables"
    tables.mkdir(parents=True)
    (tables / "table2_time_to_target.csv").write_text(
        "dataset,optimizer,seconds_mean\nmnist,sgd,0.56\nmnist,shg,4.9\nmnist,sr1,\n"
    )

    dvc(repo_copy, "plots", "show", "-o", "plots")

    page = (repo_copy / "plots/index.html").read_text(encoding="utf-8")
    for name in ("fig02_loss_epochs_mnist", "fig08_batch_size_sgd_vs_shg"):
        assert f"results/aggregated/{name}.csv" in page
    assert "results/tables/table2_time_to_target.csv" in page
    assert "mnist-lenet-tanh__shg__bs50__s0__bbbbbb" in page  # one line per run
    assert '"seconds_mean": "4.9"' in page
