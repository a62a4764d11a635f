"""The artifact-kind registry (secondorder.study.artifacts) and the layout of every path
(secondorder.study.layout): what the workflow and the analysis make of them, and (slow) a toy
kind added through exactly the places the registry's docstring names, built and reported by
the real workflow."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_analysis import write_run
from test_workflow import DATA, WORKFLOW_FILES, snakemake_env

from secondorder import analysis
from secondorder.analysis import metrics
from secondorder.analysis.report import artifacts as report_artifacts
from secondorder.study import artifacts, config, layout

REPO = Path(__file__).resolve().parents[1]


def test_every_kind_has_its_script_and_caption_and_one_rule():
    rules = [kind.rule for kind in artifacts.KINDS.values()]
    assert len(set(rules)) == len(rules)
    for kind in artifacts.KINDS.values():
        assert (REPO / "workflow" / "scripts" / kind.script).is_file(), kind.name
        assert (REPO / "workflow" / "report" / kind.caption).is_file(), kind.name
        assert set(kind.shown) <= set(kind.suffixes) and kind.folder in ("figures", "tables")
        assert set(kind.options) <= {"title", "x", "lines", "panels", "targets", "beyond_paper"}
    assert tuple(artifacts.KINDS) == config.ARTIFACT_KINDS


def test_an_artifact_is_its_kinds_files_and_its_functions_options():
    entry = {"kind": "cg_diagnostics", "title": "CG", "beyond_paper": True}
    kind = artifacts.KINDS["cg_diagnostics"]
    assert kind.files("cg") == {
        "png": "results/figures/cg.png",
        "pdf": "results/figures/cg.pdf",
        "csv": "results/figures/cg.csv",
    }
    assert kind.function_options(entry, {"shg": "shg"}) == {
        "title": "CG",
        "presets": {"shg": "shg"},
    }
    table = {"kind": "accuracy_table", "title": "Table 1"}
    assert artifacts.artifact_files({"t1": table, "cg": entry}) == [
        "results/tables/t1.md",
        "results/tables/t1.tex",
        "results/tables/t1.csv",
        *kind.files("cg").values(),
    ]


def test_paths_are_written_once_and_take_wildcards():
    assert layout.run_file("{run_id}", layout.SUMMARY) == "results/runs/{run_id}/summary.json"
    assert layout.run_records(["a"]) == [
        "results/runs/a/metrics.csv",
        "results/runs/a/summary.json",
    ]
    assert layout.selection("g") == "results/tuning/g.json"
    assert layout.bundle("mnist") == "data/prepared/mnist.pt"
    assert layout.tuning_figures(["sgd"]) == [
        "results/figures/tuning_sgd.png",
        "results/figures/tuning_sgd.pdf",
    ]
    assert layout.log("train", "x") == "results/logs/train/x.log"


def test_the_analysis_treats_only_registered_kinds_apart():
    assert set(metrics.KIND_METRICS) <= set(artifacts.KINDS)
    assert set(report_artifacts.KIND_BODIES) <= set(artifacts.KINDS)
    with pytest.raises(ValueError, match="unknown artifact kind 'nope' for x"):
        analysis.headline_metrics([{"name": "x", "kind": "nope", "aggregated": "a.csv"}])


def test_an_artifact_of_a_kind_the_analysis_does_not_know_is_counted_and_shown(
    tmp_path, monkeypatch
):
    """A registered kind with no function of its own in the analysis: its headline numbers are
    the shared counts per setting, the report shows its figures and links its files."""
    kind = artifacts.ArtifactKind(
        name="run_count",
        rule="run_count",
        script="run_count.py",
        folder="figures",
        suffixes=("png", "md"),
        shown={"png": "figure"},
        section="Run counts",
        headline=(),
    )
    monkeypatch.setitem(artifacts.KINDS, kind.name, kind)
    runs = [
        write_run(tmp_path / "r", losses=[2.3, 0.5]),
        write_run(tmp_path / "r", seed=1, losses=[2.3, 9.0], status="diverged"),
        write_run(tmp_path / "r", batch_size=50, losses=[2.3, 0.4]),
    ]
    csv = tmp_path / "results" / "aggregated" / "counts.csv"
    analysis.aggregate(runs, csv)
    outputs = [tmp_path / "results" / "figures" / f"counts.{suffix}" for suffix in kind.suffixes]
    outputs[0].parent.mkdir(parents=True)
    for path in outputs:
        path.write_text("")
    art = {"name": "counts", "kind": kind.name, "title": "Counts", "aggregated": csv}
    report = tmp_path / "results" / "report.md"
    analysis.write_report(
        [{**art, "outputs": outputs}], report, metrics_json=tmp_path / "results" / "m.json"
    )
    counts = dict(zip(artifacts.HEADLINE_COUNTS, (2, 1, 0, 0), strict=True))
    assert json.loads((tmp_path / "results" / "m.json").read_text())["counts"] == {
        "mnist-lenet-tanh-standard-sgd-bs100": counts,
        "mnist-lenet-tanh-standard-sgd-bs50": {**counts, "runs": 1, "diverged_runs": 0},
    }
    section = report.read_text().split("## Artifacts")[1].split("## Settings")[0]
    assert section.strip().splitlines() == [
        "### counts: Counts",
        "",
        "![Counts](figures/counts.png)",
        "",
        "Files: [counts.png](figures/counts.png), [counts.md](figures/counts.md); "
        "data: [counts.csv](aggregated/counts.csv)",
    ]


# -- a toy kind: one registry entry, its analysis module, its glue script ---------------------

TOY_ENTRY = """\
        ArtifactKind(
            name="run_count",
            rule="run_count",
            script="run_count.py",
            folder="tables",
            suffixes=("md",),
            shown={"md": "table"},
            section="Run counts",
            headline=(),
        ),
"""
TOY_MODULE = '''\
"""How many runs and rows an artifact has: the toy artifact kind of tests/test_artifacts.py."""

from pathlib import Path

import pandas as pd


def run_count_table(csv: Path, md: Path, *, title: str) -> int:
    table = pd.read_csv(csv)
    runs = table["run_id"].nunique()
    md.write_text(f"# {title}\\n\\n{runs} runs, {len(table)} rows\\n")
    return runs
'''
TOY_SCRIPT = '''\
"""Glue of rule run_count: aggregated CSV -> the number of runs (Markdown)."""

import logging
from pathlib import Path

from secondorder.analysis.run_count import run_count_table
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("run_count", smk.log[0]):
    runs = run_count_table(Path(smk.input.csv), Path(smk.output.md), **smk.params.options)
    logging.info("%d runs -> %s", runs, smk.output.md)
'''


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "MNIST").exists(), reason=f"no MNIST under {DATA}")
def test_a_toy_artifact_kind_is_one_entry_one_module_and_one_script(tmp_path):
    for name in (*WORKFLOW_FILES, "src"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, tmp_path / name)
    registry = tmp_path / "src/secondorder/study/artifacts.py"
    text = registry.read_text()
    end = "    )\n}\n"  # the end of the tuple of kinds in KINDS
    assert text.count(end) == 1
    registry.write_text(text.replace(end, TOY_ENTRY + end))
    (tmp_path / "src/secondorder/analysis/run_count.py").write_text(TOY_MODULE)
    (tmp_path / "workflow/scripts/run_count.py").write_text(TOY_SCRIPT)

    study = yaml.safe_load((REPO / "config/test.yaml").read_text())
    study["optimizers"] = {"sgd": {"method": "sgd", "lr": 0.05}}
    study["artifacts"] = {
        "counts": {
            "kind": "run_count",
            "title": "Runs of the toy kind",
            "datasets": ["mnist"],
            "models": ["lenet"],
            "optimizers": ["sgd"],
        }
    }
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(study))
    env = snakemake_env()
    env["PYTHONPATH"] = str(tmp_path / "src")  # the copy with the toy kind, not this checkout

    def snakemake(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "snakemake", "--configfile", "toy.yaml", *args]
        return subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )

    plan = snakemake("-n")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert re.search(
        r"^(local)?rule run_count:\n(    .*\n)*    output: results/tables/counts\.md",
        plan.stdout,
        re.M,
    )

    made = snakemake("--cores", "1", layout.REPORT)
    assert made.returncode == 0, made.stderr[-3000:]
    assert (tmp_path / "results/tables/counts.md").read_text().splitlines()[2].startswith("1 runs")
    assert "1 runs ->" in (tmp_path / "results/logs/tables/counts.log").read_text()
    # The report and the headline numbers take it as they are: its files, the shared counts.
    report = (tmp_path / layout.REPORT).read_text()
    assert "### counts: Runs of the toy kind" in report
    files = "Files: [counts.md](tables/counts.md); data: [counts.csv](aggregated/counts.csv)"
    assert files in report
    (numbers,) = json.loads((tmp_path / layout.METRICS_JSON).read_text())["counts"].values()
    assert numbers == {"runs": 1, "diverged_runs": 0, "untuned_runs": 0, "failed_runs": 0}
