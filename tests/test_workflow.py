"""Tests of the Snakemake workflow: dry runs of every config and profile, clean errors for
malformed configs, and (slow) the whole DAG on config/test.yaml with real MNIST data.

Each test runs Snakemake in a subprocess, in a temporary copy of the workflow files, so results
already in the repository do not change what the DAG contains.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from secondorder import study

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "config", "profiles")
DATA = Path(os.environ.get("SECONDORDER_DATA", REPO.parent / "shared" / "data"))
# What each artifact kind makes (written here, not read from secondorder.study.artifacts, so the
# test checks the registry).
TABLE_FILES = ("tables/{name}.md", "tables/{name}.tex", "tables/{name}.csv")
ARTIFACT_FILES = {
    "accuracy_table": TABLE_FILES,
    "time_to_target": TABLE_FILES,
    "step_cost": TABLE_FILES,
    "loss_curves": ("figures/{name}.png", "figures/{name}.pdf"),
    "cg_diagnostics": ("figures/{name}.png", "figures/{name}.pdf", "figures/{name}.csv"),
}
MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF-"}


def copy_workflow(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


def snakemake_env(data: Path = DATA) -> dict[str, str]:
    """The environment of a Snakemake subprocess: this checkout's package and the data."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["SECONDORDER_DATA"] = str(data)
    return env


def snakemake(
    workdir: Path, *args: str, timeout: int = 300, data: Path = DATA
) -> subprocess.CompletedProcess:
    """Run the venv's Snakemake (the one next to this Python) in `workdir`."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=snakemake_env(data),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> number of jobs."""
    table = output.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def expected_runs(config: str) -> int:
    return len(study.expand(study.load_config(REPO / config)))


@pytest.mark.parametrize(
    ("args", "config"),
    [
        ((), "config/quick.yaml"),  # the default config of the Snakefile
        (("--configfile", "config/config.yaml"), "config/config.yaml"),
        (("--configfile", "config/test.yaml"), "config/test.yaml"),
    ],
)
def test_dry_run_has_one_train_job_per_run(workdir, args, config):
    result = snakemake(workdir, "-n", "--quiet", "rules", *args)
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    entry = yaml.safe_load((REPO / config).read_text())
    datasets = {d for a in entry["artifacts"].values() for d in a["datasets"]}
    kinds = [a["kind"] for a in entry["artifacts"].values()]
    rule_of_kind = {
        "accuracy_table": "table",
        "loss_curves": "figure",
        "time_to_target": "time_to_target",
        "cg_diagnostics": "cg_diagnostics",
        "step_cost": "step_cost",
    }
    assert counts["train"] == expected_runs(config)
    assert counts["prepare_data"] == len(datasets)
    # A --configfile replaces the default study rather than merging into it.
    assert counts["aggregate"] == len(entry["artifacts"])
    for kind, rule in rule_of_kind.items():
        assert counts.get(rule, 0) == kinds.count(kind), rule
    assert counts["report"] == 1


def test_slurm_profile_dry_run(workdir):
    result = snakemake(workdir, "--profile", "profiles/slurm", "-n")
    assert result.returncode == 0, result.stderr + result.stdout
    assert job_counts(result.stdout)["train"] == expected_runs("config/quick.yaml")
    train_jobs = result.stdout.split("rule train:")[1:]
    # each job's runtime comes from its own estimate (tests/test_plan.py checks the values)
    assert train_jobs and all(
        "gres=gpu:1" in job and "gpu_slots=" in job and "runtime=" in job for job in train_jobs
    )


BASE = {
    "optimizers": {"sgd": {"method": "sgd", "lr": 0.1}},
    "artifacts": {
        "table1": {
            "kind": "accuracy_table",
            "datasets": ["mnist"],
            "models": ["lenet"],
            "optimizers": ["sgd"],
        }
    },
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"optimizers": {"sgd": {"method": "newton"}}},
            "optimizers.sgd.method: 'newton' is not allowed; choose one of",
        ),
        ({"run": {"batch_size": -5}}, "run.batch_size: expected an integer from 1 to"),
        ({"runs": {"epochs": 1}}, "runs: unknown key; allowed keys: data_root"),
        (  # study.load_config: unknown hyperparameter of a method
            {"optimizers": {"sgd": {"method": "sgd", "momentum": 0.9}}},
            "optimizers.sgd.momentum: unknown hyperparameter of method 'sgd'; allowed: lr",
        ),
    ],
)
def test_malformed_config_gives_one_clean_line(tmp_path, workdir, change, expected):
    config = {**BASE, **change}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", str(path))
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert expected in output
    assert result.stderr.splitlines()[-1].startswith(f"{path}: ")
    assert "Traceback" not in output and 'File "' not in output


def check_artifacts(workdir: Path, config: str) -> None:
    """Every file that the artifacts of `config` (a path in the repository, or an absolute one)
    are made of, the report, and every run's record, log and benchmark exist under
    `workdir`/results."""
    results = workdir / "results"
    entry = study.load_config(REPO / config)
    for name, artifact in entry["artifacts"].items():
        for path in ARTIFACT_FILES[artifact["kind"]]:
            output = results / path.format(name=name)
            assert output.stat().st_size > 0, output
            if output.suffix in MAGIC:
                assert output.read_bytes().startswith(MAGIC[output.suffix]), output
    for name in ("report.md", "report.html", "metrics.json"):
        assert (results / name).stat().st_size > 0, name
    for run_id in study.expand(entry):
        assert (results / "runs" / run_id / "summary.json").exists()
        assert (results / "logs" / "train" / f"{run_id}.log").exists()
        assert (results / "benchmarks" / "train" / f"{run_id}.tsv").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "MNIST").exists(), reason=f"no MNIST under {DATA}")
def test_full_dag_on_the_test_config(finished_test_study):
    workdir = finished_test_study  # the DAG ran to the end (returncode 0) in the fixture
    results = workdir / "results"
    config = study.load_config(REPO / "config/test.yaml")
    assert {a["kind"] for a in config["artifacts"].values()} == set(study.config.ARTIFACT_KINDS)
    check_artifacts(workdir, "config/test.yaml")
    report = (results / "report.md").read_text()
    assert "![Figure 2 (test scale)](figures/fig02_loss_epochs_mnist.png)" in report
    assert "## Verdicts" in report
    assert "data:image/png;base64," in (results / "report.html").read_text()
    assert "| SGD |" in (results / "tables/table2_time_to_target.md").read_text()
    metrics = json.loads((results / "metrics.json").read_text())
    assert set(config["artifacts"]) <= set(metrics)

    again = snakemake(workdir, "-n", "--configfile", "config/test.yaml")
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.skipif(not (DATA / "MNIST").exists(), reason=f"no MNIST under {DATA}")
def test_data_error_in_a_rule_is_one_line_in_its_log(tmp_path):
    """A corrupt raw file under Snakemake: one line in the rule's log and on stderr, no bundle."""
    workdir = copy_workflow(tmp_path / "repo")
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for source in (DATA / "MNIST" / "raw").glob("*.gz"):
        (raw / source.name).symlink_to(source)
    damaged = raw / "t10k-labels-idx1-ubyte.gz"
    blob = damaged.read_bytes()
    damaged.unlink()
    damaged.write_bytes(blob[: len(blob) // 2])
    result = snakemake(workdir, "--cores", "1", "data/prepared/mnist.pt", data=tmp_path / "data")
    assert result.returncode != 0
    line = f"prepare_data: error: {damaged} is corrupt or truncated (gzip: "
    assert line in result.stderr and "Traceback" not in result.stderr
    log = (workdir / "results/logs/data/mnist.log").read_text().splitlines()
    assert log[0].endswith(f"preparing mnist from {tmp_path / 'data'}")
    assert len(log) == 2 and line in log[1]
    assert not (workdir / "data/prepared/mnist.pt").exists()
    assert not list((workdir / "data/prepared").glob(".*.tmp"))


def test_a_config_against_the_schema_is_one_line_naming_the_key():
    from secondorder import glue

    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    raw = yaml.safe_load((REPO / "config/test.yaml").read_text())
    assert glue.schema_problem(raw, schema) is None
    raw["run"]["epochs"] = "many"
    assert glue.schema_problem(raw, schema).startswith("run.epochs: 'many' is not of type")
