"""The tuning stage in the real DAG of config/test.yaml: tuning runs, selection, final runs
trained with the winner; and a changed search space replans exactly what it changes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_workflow import check_artifacts, snakemake

from secondorder import study

pytestmark = pytest.mark.slow
CONFIG = "config/test.yaml"


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_final_runs_train_with_the_winner_of_their_tuning_runs(finished_test_study):
    results = finished_test_study / "results"
    selections = sorted((results / "tuning").glob("*.json"))
    assert selections, "the test config tunes SGD's learning rate"
    checked = study.load_config(finished_test_study / CONFIG)
    finals = [spec for spec in study.expand(checked).values() if spec.search is not None]
    assert {spec.tuning_group for spec in finals} == {path.stem for path in selections}
    for spec in finals:
        selection = read(results / "tuning" / f"{spec.tuning_group}.json")
        # the winner, recomputed from the tuning runs' own records: lowest validation loss
        losses = {}
        for trial in selection["trials"]:
            (run_id,) = trial["run_ids"]
            summary = read(results / "runs" / run_id / "summary.json")
            assert summary["evaluated_on"] == "validation"
            assert summary["spec"]["holdout"] == spec.search["validation"]
            losses[json.dumps(trial["values"])] = summary["final"]["validation_loss"]
        best = json.loads(min(losses, key=losses.get))
        assert selection["status"] == "selected" and selection["winner"] == best
        final = read(results / "runs" / spec.run_id / "summary.json")
        assert final["status"] == "finished" and final["evaluated_on"] == "test"
        assert {k: final["spec"]["hparams"][k] for k in best} == best
        assert final["tuning"]["winner"] == best and final["tuning"]["group"] == selection["group"]
    tables = (results / "tables" / "tuning.md").read_text()
    assert len(re.findall(r"\| winner \|$", tables, flags=re.M)) == len(selections)
    assert (results / "figures" / "tuning_sgd.png").stat().st_size > 10_000
    assert "## Tuning" in (results / "report.md").read_text()


def test_changing_one_search_space_replans_only_its_tuning_and_final_runs(
    finished_test_study, tmp_path
):
    workdir = tmp_path / "repo"
    shutil.copytree(finished_test_study, workdir, symlinks=True)
    config_path = workdir / CONFIG
    raw = yaml.safe_load(config_path.read_text())
    old = set(study.expand(study.load_config(raw)))
    raw["optimizers"]["sgd"]["lr"]["search"] = [0.05, 0.1]  # 0.2 -> 0.1
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    new = study.expand(study.load_config(raw))

    result = snakemake(workdir, "-n", "--configfile", CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    planned = set(re.findall(r"output: results/runs/([^/]+)/metrics\.csv", output))
    assert planned == set(new) - old
    # the new point of each SGD group (lr 0.1) and the SGD final runs; lr 0.05 and SHG kept
    assert len(planned) == 4
    assert all("__sgd__" in run_id for run_id in planned)
    assert sum("__val__" in run_id for run_id in planned) == 2
    assert all(new[run_id].hparams.get("lr") != 0.05 for run_id in planned)
    assert len(re.findall(r"^rule select:", output, flags=re.M)) == 2


def test_a_failed_tuning_run_is_excluded_and_its_group_goes_on(finished_test_study, tmp_path):
    """A point whose tuning run fails for real is recorded as failed in its group's selection
    and excluded; the selection, the final runs and every artifact are still made. The point:
    SGD with a learning rate of 1e300, which the config accepts (a finite positive number) but
    float32 weights cannot take: torch raises inside the optimizer's first step."""
    workdir = tmp_path / "repo"
    shutil.copytree(finished_test_study, workdir, symlinks=True)
    config_path = workdir / CONFIG
    raw = yaml.safe_load(config_path.read_text())
    raw["optimizers"]["sgd"]["lr"]["search"] = [0.05, 0.2, 1e300]
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))

    result = snakemake(workdir, "--configfile", CONFIG, "--cores", "2", timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    results = workdir / "results"
    runs = study.expand(study.load_config(config_path))
    failing = [s for s in runs.values() if s.hparams.get("lr") == 1e300]
    assert len(failing) == 2  # one tuning run in each SGD group (batch sizes 50 and 100)
    for spec in failing:
        summary = read(results / "runs" / spec.run_id / "summary.json")
        assert summary["status"] == "failed" and "overflow" in summary["error"]
    finals = [spec for spec in runs.values() if spec.search is not None]
    assert finals
    for spec in finals:
        selection = read(results / "tuning" / f"{spec.tuning_group}.json")
        (failed,) = [t for t in selection["trials"] if t["values"] == {"lr": 1e300}]
        assert failed["statuses"] == ["failed"] and failed["score"] is None
        assert selection["status"] == "selected" and selection["winner"]["lr"] in (0.05, 0.2)
        final = read(results / "runs" / spec.run_id / "summary.json")
        assert final["status"] == "finished" and final["tuning"]["winner"] == selection["winner"]
    check_artifacts(workdir, config_path)


def test_without_extend_edges_no_point_is_added(finished_test_study):
    """config/test.yaml leaves search.extend_edges off: no grid selection, no added point."""
    results = finished_test_study / "results"
    assert not (results / "tuning" / "grid").exists()
    for path in (results / "tuning").glob("*.json"):
        selection = read(path)
        assert selection["extensions"] == [] and selection["points"] == len(selection["trials"])
        assert not any(trial.get("extended") for trial in selection["trials"])


def test_an_edge_winner_trains_the_point_beyond_and_the_final_runs_read_it(
    finished_test_study, tmp_path
):
    """With search.extend_edges and an SGD grid of small rates (0.005-0.02: after one epoch
    the largest wins, on the upper edge), checkpoint select_grid names lr=0.04, which trains
    (two groups, one tuning seed), and rule select redoes the selection over the four points;
    the final runs train with its winner, and a second dry run plans nothing."""
    workdir = tmp_path / "repo"
    shutil.copytree(finished_test_study, workdir, symlinks=True)
    config_path = workdir / CONFIG
    raw = yaml.safe_load(config_path.read_text())
    raw["optimizers"]["sgd"]["lr"]["search"] = [0.005, 0.01, 0.02]
    raw["search"]["extend_edges"] = True
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))

    result = snakemake(workdir, "--configfile", CONFIG, "--cores", "2", timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    results = workdir / "results"
    checked = study.load_config(config_path)
    finals = [spec for spec in study.expand(checked).values() if spec.search is not None]
    assert {spec.tuning_group for spec in finals} and all(s.search["extend_edges"] for s in finals)
    for spec in finals:
        first = read(results / "tuning" / "grid" / f"{spec.tuning_group}.json")
        selection = read(results / "tuning" / f"{spec.tuning_group}.json")
        assert first["winner"] == {"lr": 0.02} and first["extensions"] == [{"lr": 0.04}]
        assert selection["points"] == 3 and selection["extensions"] == [{"lr": 0.04}]
        assert [t.get("extended", False) for t in selection["trials"]] == [False] * 3 + [True]
        losses = {}
        for trial in selection["trials"]:
            (run_id,) = trial["run_ids"]
            summary = read(results / "runs" / run_id / "summary.json")  # it trained
            assert summary["status"] == "finished" and summary["evaluated_on"] == "validation"
            losses[trial["values"]["lr"]] = summary["final"]["validation_loss"]
        assert selection["winner"] == {"lr": min(losses, key=losses.get)}
        final = read(results / "runs" / spec.run_id / "summary.json")
        assert final["status"] == "finished" and final["tuning"]["winner"] == selection["winner"]
        assert final["spec"]["hparams"]["lr"] == selection["winner"]["lr"]
    assert "lr=0.04 (beyond the grid)" in (results / "tables" / "tuning.md").read_text()
    again = snakemake(workdir, "-n", "--configfile", CONFIG)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    check_artifacts(workdir, config_path)
