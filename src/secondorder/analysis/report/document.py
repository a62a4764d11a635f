"""What every section of the report reads (:class:`Study`: the artifacts, their rows, the
findings, the config, the runs' summaries) and how it writes Markdown (tables, headings that
in-page links point at, paths relative to the report)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder.analysis.findings import Finding


@dataclass
class Study:
    """The report's inputs, read once; every section is a function of it."""

    artifacts: Sequence[Mapping[str, Any]]
    tables: Mapping[str, pd.DataFrame]  # artifact name -> its aggregated rows
    rows: pd.DataFrame  # the rows of every artifact, each run once
    findings: list[Finding]
    base: Path  # the report's folder: links are relative to it
    settings: Mapping[str, Any]  # the study config
    summaries: list[dict[str, Any]]  # the runs' summary.json
    tuning: Mapping[str, Any] | None  # the tuning stage (see write_report)

    def rel(self, path: Path | str) -> str:
        """`path` relative to the report's folder."""
        return Path(os.path.relpath(Path(path).resolve(), self.base.resolve())).as_posix()


def all_rows(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The rows of every artifact, each run once (artifacts share runs)."""
    frames = [t for t in tables.values() if len(t)]
    if not frames:
        return pd.DataFrame(columns=["run_id", "iteration"])
    rows = pd.concat(frames, ignore_index=True)
    return rows.drop_duplicates(subset=["run_id", "iteration", "epoch"]).reset_index(drop=True)


def read_summaries(paths: Sequence[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text()) for p in paths]


def read_selections(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The tuning stage's selection files (results/tuning/<group>.json), in the order given."""
    return [json.loads(Path(p).read_text()) for p in paths]


def md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    clean = [[str(c).replace("|", "/") for c in row] for row in rows]
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
        *("| " + " | ".join(row) + " |" for row in clean),
    ]


def joined(blocks: Iterable[list[str]]) -> list[str]:
    """Blocks of lines with one blank line between each two."""
    lines: list[str] = []
    for block in blocks:
        lines += [*([""] if lines else []), *block]
    return lines


def artifact_heading(artifact: Mapping[str, Any]) -> str:
    return f"{artifact['name']}: {artifact.get('title', artifact['name'])}"


def finding_heading(finding: Finding) -> str:
    return f"{finding.key}: {finding.title}"
