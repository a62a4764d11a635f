"""Snakemake's HTML report (`snakemake --report`): every artifact of the study, captioned and
sorted into categories. The marked files are stand-ins written by the test (no training): the
report reads only what the rules flag with ``report()``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secondorder.study import layout
from secondorder.study.config import load_config

REPO = Path(__file__).resolve().parents[1]
PNG = bytes.fromhex(  # a 1x1 PNG
    "89504e470d0a1a0a0000000d494844520000000100000001080600000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
# What the report shows of each artifact kind: (file, category, content label).
MARKED = {
    "loss_curves": [("results/figures/{}.png", "Loss curves", "figure")],
    "accuracy_table": [("results/tables/{}.csv", "Accuracy tables", "table")],
    "time_to_target": [("results/tables/{}.csv", "Time to target", "table")],
    "step_cost": [("results/tables/{}.csv", "Step cost", "table")],
    "cg_diagnostics": [
        ("results/figures/{}.png", "CG diagnostics", "figure"),
        ("results/figures/{}.csv", "CG diagnostics", "numbers"),
    ],
}


def embedded(html: str, name: str) -> dict:
    """A JSON object that the report page embeds as ``var <name> = {...}``."""
    start = html.index(f"var {name} = {{") + len(f"var {name} = ")
    value, _ = json.JSONDecoder().raw_decode(html[start:])
    return value


@pytest.mark.slow
def test_the_report_shows_every_artifact_with_its_caption(tmp_path: Path) -> None:
    for name in ("Snakefile", "workflow", "config"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    artifacts = load_config(REPO / "config/test.yaml")["artifacts"]
    # path -> (category, subcategory, artifact, content); the claims page has no subcategory
    expected = {"results/report.html": ("Claims", "Other", "claims report", "report")}
    for name, entry in artifacts.items():
        section = "Beyond the paper" if entry["beyond_paper"] else "The paper"
        for pattern, category, content in MARKED[entry["kind"]]:
            expected[pattern.format(name)] = (category, section, name, content)
    # the tuning stage (config/test.yaml tunes SGD): every point, and a figure per preset
    expected["results/tables/tuning.csv"] = ("Tuning", "Other", "tuning", "table")
    expected["results/figures/tuning_sgd.png"] = ("Tuning", "Other", "tuning_sgd", "figure")
    for path in expected:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(PNG if path.endswith(".png") else b"a,b\n1,2\n")

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "snakemake", "--configfile", "config/test.yaml"]
    page = tmp_path / layout.SNAKEMAKE_REPORT
    subprocess.run([*command, "--report", str(page)], cwd=tmp_path, env=env, check=True)

    html = page.read_text(encoding="utf-8")
    results = embedded(html, "results")
    assert set(results) == set(expected)
    categories = embedded(html, "categories")
    for path, (category, section, artifact, content) in expected.items():
        result = results[path]
        assert result["labels"] == {"artifact": artifact, "content": content}
        assert result["caption"].strip(), path
        assert result["data_uri"].startswith("data:")  # the file itself is inside the page
        assert path in categories[category][section]
    for name, entry in artifacts.items():  # the artifact's own title opens its caption
        shown = [r for r in results.values() if r["labels"]["artifact"] == name]
        assert all(entry["title"] in r["caption"] for r in shown)
