"""The report's verdicts table and one section per finding (rule, numbers, contradictions
with the paper, links to the artifacts that show its runs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder.analysis import findings
from secondorder.analysis.findings import Finding
from secondorder.analysis.html import slug
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.report.document import (
    Study,
    artifact_heading,
    finding_heading,
    joined,
    md_table,
)


def table2_times(artifacts: Sequence[Mapping[str, Any]]) -> pd.DataFrame | None:
    """Per-run times to target of the study's Table 2 artifact (kind "time_to_target", with its
    own targets), if it has one; else None (finding 3 then uses the paper's targets)."""
    for art in artifacts:
        if art["kind"] == "time_to_target":
            table = read_aggregated(Path(art["aggregated"]))
            return findings.wall_time.target_times(table, art["targets"])
    return None


def artifact_links(
    finding: Finding, artifacts: Sequence[Mapping[str, Any]], runs: Mapping[str, set]
) -> str:
    """The artifacts of the finding's kinds that show its runs (each once), as in-page links;
    not the beyond-the-paper ones, which share runs with the paper's figures but are not its
    evidence. `runs`: artifact name -> its run ids."""
    used = [
        a
        for a in artifacts
        if {a["kind"], f"{a['kind']}:{a.get('x')}"} & set(finding.shown_by)
        and runs.get(a["name"], set()) & finding.run_ids
        and not a.get("beyond_paper", False)
    ]
    return ", ".join(f"[{a['name']}](#{slug(artifact_heading(a))})" for a in used) or "none"


def _links(study: Study) -> dict[str, str]:
    """Finding key -> its artifact links."""
    runs = {n: set(t["run_id"]) if len(t) else set() for n, t in study.tables.items()}
    return {f.key: artifact_links(f, study.artifacts, runs) for f in study.findings}


def verdicts_section(study: Study) -> list[str]:
    links = _links(study)
    rows = [
        (
            f"[{f.key}](#{slug(finding_heading(f))}): {f.title}",
            f"**{f.verdict}**",
            f.summary,
            links[f.key],
        )
        for f in study.findings
    ]
    return [
        "Each finding of the paper, checked by a rule that can come out either way (see its "
        'section). Inconclusive "not in this study": the study has no runs for it. Runs '
        "beyond the paper (other methods; SHG with Gauss-Newton curvature or Levenberg-"
        "Marquardt damping) are not counted: see *Beyond the paper*.",
        "",
        *md_table(("Finding", "Verdict", "Why", "Shown in"), rows),
    ]


def _finding(finding: Finding, links: str) -> list[str]:
    lines = [
        f"### {finding_heading(finding)}",
        "",
        f"Paper: {finding.paper}. Verdict: **{finding.verdict}**: {finding.summary}.",
        "",
    ]
    if finding.verdict == findings.FAILS:
        lines += [f"**This contradicts the paper**, which states: *{finding.title}*.", ""]
    lines += [f"Rule: {finding.rule}", ""]
    if finding.rows:
        lines += [*md_table(finding.columns, finding.rows), ""]
    return [*lines, f"Shown in: {links}."]


def findings_section(study: Study) -> list[str]:
    links = _links(study)
    return joined(_finding(f, links[f.key]) for f in study.findings)
