"""The report's verdicts table, one row per claim of the paper (:data:`~secondorder.analysis.
claims.CLAIMS`) that reads at a glance (the paper's words, a verdict badge, one sentence with
the deciding numbers, the evidence), how a verdict is decided with every threshold and its
reason, and one section per claim below (its finding's rule, nested counts and numbers,
contradictions with the paper, links to the artifacts that show its runs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder.analysis import findings
from secondorder.analysis.claim_needs import TUNING
from secondorder.analysis.claims import CLAIMS, NO_RULE, Claim, claim_verdict
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
from secondorder.analysis.style import dataset_label

# The HTML page's badge (a CSS class of secondorder.analysis.html) of each verdict.
BADGES = {
    findings.HOLDS: "holds",
    findings.FAILS: "fails",
    findings.UNCLEAR: "unclear",
    findings.NOT_IN_STUDY: "absent",
    NO_RULE: "absent",
}


def table2_times(artifacts: Sequence[Mapping[str, Any]]) -> pd.DataFrame | None:
    """Per-run times to target of the study's Table 2 artifact (kind "time_to_target", with its
    own targets), if it has one; else None (finding 3 then uses the paper's targets)."""
    for art in artifacts:
        if art["kind"] == "time_to_target":
            table = read_aggregated(Path(art["aggregated"]))
            return findings.wall_time.target_times(table, art["targets"])
    return None


# A finding of the kind TUNING (it reads the tuning records) is shown by the report's Tuning
# section, under this heading, not by an artifact.
TUNING_HEADING = "Tuning"


def artifact_links(
    finding: Finding,
    artifacts: Sequence[Mapping[str, Any]],
    runs: Mapping[str, set],
    tuned: bool = False,
) -> str:
    """The artifacts of the finding's kinds that show its runs (each once), as in-page links;
    not the beyond-the-paper ones, which share runs with the paper's figures but are not its
    evidence; first the Tuning section where the finding reads the tuning records and the
    study tuned something (`tuned`). `runs`: artifact name -> its run ids."""
    used = [
        a
        for a in artifacts
        if {a["kind"], f"{a['kind']}:{a.get('x')}"} & set(finding.shown_by)
        and runs.get(a["name"], set()) & finding.run_ids
        and not a.get("beyond_paper", False)
    ]
    links = _link_list(used)
    if tuned and TUNING in finding.shown_by:
        section = f"[{TUNING_HEADING}](#{slug(TUNING_HEADING)})"
        return section if links == "none" else f"{section}, {links}"
    return links


def _link_list(artifacts: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"[{a['name']}](#{slug(artifact_heading(a))})" for a in artifacts) or "none"


def claim_heading(claim: Claim) -> str:
    return f"{claim.id}: {claim.title}"


def _entries(study: Study) -> list[tuple[Claim | None, Finding | None]]:
    """Every claim with its finding (None without a rule), then every finding that no claim
    cites (a rule added without its claim still shows)."""
    found = {f.key: f for f in study.findings}
    cited = {c.rule for c in CLAIMS}
    return [(c, found.get(c.rule) if c.rule else None) for c in CLAIMS] + [
        (None, f) for f in study.findings if f.key not in cited
    ]


def _evidence(study: Study, claim: Claim | None, finding: Finding | None) -> str:
    """Links to the artifacts that show the claim's runs: its finding's, else the artifacts
    the claim needs that the study has."""
    if finding is not None:
        runs = {n: set(t["run_id"]) if len(t) else set() for n, t in study.tables.items()}
        tuned = bool(study.tuning and study.tuning.get("table"))
        return artifact_links(finding, study.artifacts, runs, tuned)
    return _link_list([a for a in study.artifacts if a["name"] in claim.need.names])


def _outline(summary: str) -> str:
    """The summary without its parenthesised details ("SHG: holds; quasi-Newton: unclear")."""
    kept, depth = [], 0
    for char in summary:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            kept.append(char)
    text = " ".join("".join(kept).split())
    return text.replace(" ;", ";").replace(" ,", ",").strip(" ;,")


def _deciding_numbers(finding: Finding) -> str:
    """One row of the finding's table that bears its verdict (else the first with a verdict),
    as 'setting: claim, header value, ...' with its seed spreads."""
    rows = [r for r in finding.rows if set(r) & set(findings.VERDICTS)]
    if not rows:
        return ""
    row = next((r for r in rows if finding.verdict in r), rows[0])
    parts = [
        value if header == "Claim" else f"{_lower(header)} {value}"
        for header, value in zip(finding.columns[1:], row[1:], strict=False)
        if value not in ("", "n/a", *findings.VERDICTS) and header != "Verdict"
    ]
    return f"{row[0]}: {', '.join(parts)}"


def _lower(header: str) -> str:
    """'Loss (method)' -> 'loss (method)'; acronyms ('SHG, s') as they are."""
    return header[:1].lower() + header[1:] if header[1:2].islower() else header


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reason(claim: Claim) -> str:
    """Why no finding decides the claim."""
    return claim.reason or f"{NO_RULE}: its rule {claim.rule} is not among the findings"


def _sentence(claim: Claim | None, finding: Finding | None) -> str:
    """The verdict's reason in one plain sentence: the outcome over the finding's parts and
    the numbers of a setting that decides it."""
    if finding is None:
        return _capital(_reason(claim).removeprefix(f"{NO_RULE}: ")) + "."
    outline = _outline(finding.summary)
    if outline.startswith(findings.NOT_IN_STUDY):
        return _capital(outline.removeprefix(f"{findings.NOT_IN_STUDY}: ")) + "."
    numbers = _deciding_numbers(finding)
    return f"{_capital(outline)}." + (f" E.g. {numbers}." if numbers else "")


def _words(claim: Claim | None, finding: Finding | None) -> str:
    if claim is None:  # a finding no claim cites: its own statement
        return f"{finding.title} ({finding.paper}; no claim of the registry cites it)"
    return f'"{claim.words}" ({claim.where})'


def _heading(claim: Claim | None, finding: Finding | None) -> str:
    return claim_heading(claim) if claim is not None else finding_heading(finding)


def _verdict(claim: Claim | None, finding: Finding | None) -> str:
    if claim is None:
        return finding.verdict
    return claim_verdict(claim, {finding.key: finding} if finding is not None else {})


def _value_text(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{dataset_label(k)} {v:g}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float | int) else str(value)


def thresholds_lines() -> list[str]:
    """How the rules decide, and every threshold they use with its value and reason."""
    rows = [(f"`{name}`", _value_text(value), why) for name, value, why in findings.THRESHOLDS]
    return [
        f"How a verdict is decided: {findings.RULE_TEXT}",
        "",
        "The thresholds of the rules:",
        "",
        *md_table(("Threshold", "Value", "Why"), rows),
    ]


def verdicts_section(study: Study) -> list[str]:
    rows = [
        (
            f"[{c.id if c else f.key}](#{slug(_heading(c, f))})",
            _words(c, f),
            f"**{_verdict(c, f)}**",
            _sentence(c, f),
            _evidence(study, c, f),
        )
        for c, f in _entries(study)
    ]
    return [
        "One row per claim of the paper, checked by a rule that can come out either way (its "
        'section below has the rule and every number). "Not in this study": the study has no '
        'runs for it; "no rule yet": no rule decides it (the reason is given). Runs beyond the '
        "paper (other methods; SHG with Gauss-Newton curvature or Levenberg-Marquardt damping) "
        "are not counted: see *Beyond the paper*.",
        "",
        *md_table(("Claim", "The paper says", "Verdict", "Why, in numbers", "Evidence"), rows),
        "",
        *thresholds_lines(),
    ]


def _claim_section(study: Study, claim: Claim | None, finding: Finding | None) -> list[str]:
    lines = [f"### {_heading(claim, finding)}", ""]
    if claim is not None:
        lines += [f'The paper ({claim.where}): *"{claim.words}"*', ""]
    if finding is None:
        need = claim.need
        return [
            *lines,
            f"Verdict: **{NO_RULE}**: {_reason(claim)}. It needs {need.kind}: {need.what}.",
            "",
            f"Shown in: {_evidence(study, claim, None)}.",
        ]
    verdict = _verdict(claim, finding)
    summary = finding.summary
    if verdict == findings.NOT_IN_STUDY:
        summary = summary.removeprefix(f"{findings.NOT_IN_STUDY}: ")
    lines += [f"Verdict: **{verdict}**: {summary}.", ""]
    if finding.verdict == findings.FAILS:
        said = "in the words above" if claim is not None else f"which states: *{finding.title}*"
        lines += [f"**This contradicts the paper**, {said}.", ""]
    lines += [f"Rule: {finding.rule}", ""]
    if finding.rows:
        lines += [*md_table(finding.columns, finding.rows), ""]
    return [*lines, f"Shown in: {_evidence(study, claim, finding)}."]


def claims_section(study: Study) -> list[str]:
    return joined(_claim_section(study, c, f) for c, f in _entries(study))


def claim_verdicts(study: Study) -> list[str]:
    """The verdict of each row of the verdicts table, in its order (for the metrics)."""
    return [_verdict(c, f) for c, f in _entries(study)]
