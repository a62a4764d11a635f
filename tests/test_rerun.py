"""Finished runs are never retrained by harmless events (issue: at the paper's scale a spurious
rerun throws away GPU-days), while a changed hyperparameter reruns exactly the runs it changes.

The DAG of config/test.yaml is run once for real (the session's ``finished_test_study``, shared
with test_workflow); then each event is applied to a copy of that finished study and a dry run
must plan no training job.
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
from test_workflow import DATA, REPO, snakemake

from secondorder import study

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "MNIST").exists(), reason=f"no MNIST under {DATA}"),
]
CONFIG = "config/test.yaml"


def planned_train_jobs(workdir: Path, *args: str) -> list[str]:
    """Run ids of the training jobs a dry run of the test study plans."""
    result = snakemake(workdir, "-n", "--configfile", CONFIG, *args)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    output = result.stdout + result.stderr
    return re.findall(r"output: results/runs/([^/]+)/metrics\.csv", output)


@pytest.fixture(scope="module")
def finished(finished_test_study: Path) -> Path:
    """A copy of the workflow whose test study has run to the end (read-only here)."""
    assert planned_train_jobs(finished_test_study) == []
    return finished_test_study


@pytest.fixture
def study_copy(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished study (the test may change it)."""
    target = tmp_path / "repo"
    shutil.copytree(finished, target, symlinks=True)
    return target


def summaries(workdir: Path) -> dict[str, str]:
    return {
        path.parent.name: path.read_text()
        for path in sorted((workdir / "results" / "runs").glob("*/summary.json"))
    }


def test_touching_or_commenting_glue_scripts_retrains_nothing(study_copy):
    scripts = sorted((study_copy / "workflow" / "scripts").glob("*.py"))
    assert scripts
    for script in scripts:
        script.touch()
    assert planned_train_jobs(study_copy) == []
    for script in scripts:
        with script.open("a") as handle:
            handle.write("# a comment added by a checkout\n")
    assert planned_train_jobs(study_copy) == []


def test_touching_or_repreparing_the_data_retrains_nothing(study_copy):
    bundle = study_copy / "data" / "prepared" / "mnist.pt"
    bundle.touch()
    bundle.with_suffix(".sha256").touch()  # dvc checkout rewrites both
    assert planned_train_jobs(study_copy) == []

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), SECONDORDER_DATA=str(DATA))
    command = ["prepare-data", "--dataset", "mnist", "--root", str(DATA), "--out", str(bundle)]
    prepared = subprocess.run(
        [sys.executable, "-m", "secondorder", *command],
        cwd=study_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert prepared.returncode == 0, prepared.stderr
    assert planned_train_jobs(study_copy) == []


def test_a_kill_between_the_record_and_snakemakes_bookkeeping_retrains_nothing(study_copy):
    """Snakemake marks a job's outputs incomplete when it starts and unmarks them when it has
    recorded the finished job; a kill in between leaves the markers. Made here with Snakemake's
    own persistence class, on every finished record."""
    from snakemake.persistence.file import FilePersistence

    persistence = FilePersistence(path=study_copy / ".snakemake")
    outputs = sorted((study_copy / "results" / "runs").glob("*/*.csv")) + sorted(
        (study_copy / "results" / "runs").glob("*/summary.json")
    )
    for output in outputs:
        persistence._mark_incomplete(str(output.relative_to(study_copy)), None)

    # The markers are real: without the project's profile, Snakemake refuses to go on.
    bare = snakemake(study_copy, "-n", "--configfile", CONFIG, "--workflow-profile", "none")
    assert bare.returncode != 0 and "incomplete" in (bare.stdout + bare.stderr).lower()
    assert planned_train_jobs(study_copy) == []


def test_a_forced_rerun_keeps_the_finished_record(study_copy):
    before = summaries(study_copy)
    run_id = sorted(before)[0]
    target = f"results/runs/{run_id}/summary.json"
    result = snakemake(study_copy, "--configfile", CONFIG, "--cores", "1", "--forcerun", target)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summaries(study_copy) == before
    log = (study_copy / "results" / "logs" / "train" / f"{run_id}.log").read_text()
    assert "kept its finished record" in log


def test_changing_one_hyperparameter_plans_exactly_the_runs_it_changes(study_copy):
    config = yaml.safe_load((study_copy / CONFIG).read_text())
    config["optimizers"]["shg"]["cg_max_iter"] += 1
    (study_copy / CONFIG).write_text(yaml.safe_dump(config))

    old = set(study.expand(study.load_config(REPO / CONFIG)))
    new = set(study.expand(study.load_config(config)))
    changed = sorted(new - old)
    assert len(changed) == 1 and "__shg__" in changed[0]
    assert planned_train_jobs(study_copy) == changed


def test_records_name_the_data_and_code_they_were_made_with(finished):
    for text in summaries(finished).values():
        environment = json.loads(text)["environment"]
        assert re.fullmatch(r"[0-9a-f]{64}", environment["data"]["bundle_sha256"])
        assert re.fullmatch(r"[0-9a-f]{64}", environment["training_code_sha256"])
