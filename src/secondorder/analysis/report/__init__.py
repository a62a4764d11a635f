"""The claims report (Markdown, and the same as one HTML page with the figures inline) and its
headline numbers as JSON (DVC metrics), built one function per section (:data:`SECTIONS`).

Sections, in order: scale of the study; verdicts (one row per claim of the paper, the rules'
thresholds); one section per claim (rule, numbers, links, contradictions with the paper);
artifacts; settings we chose; tuning; model completions; data copies; device and software; the
paper's inconsistencies; results beyond the paper. Each is a function of the
:class:`~secondorder.analysis.report.document.Study` that returns its Markdown lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from secondorder import atomic
from secondorder.analysis import findings, paper
from secondorder.analysis.findings import Finding
from secondorder.analysis.html import write_html
from secondorder.analysis.metrics import headline_metrics
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.report.artifacts import artifacts_section, beyond_the_paper_section
from secondorder.analysis.report.document import Study, all_rows, read_selections, read_summaries
from secondorder.analysis.report.protocol import scale_section, settings_section, tuning_section
from secondorder.analysis.report.provenance import (
    data_copies_section,
    device_and_software_section,
    model_completions_section,
)
from secondorder.analysis.report.verdicts import (
    BADGES,
    TUNING_HEADING,
    claim_verdicts,
    claims_section,
    table2_times,
    verdicts_section,
)

__all__ = ["SECTIONS", "TITLE", "write_report"]

TITLE = "Reproduction report"
INTRO = (
    "Re-run of *A comparison of second-order methods for deep convolutional neural "
    "networks* (anonymous, ICLR 2018 submission)."
)


def inconsistencies_section(study: Study) -> list[str]:
    return [f"- {item}" for item in paper.inconsistencies()]


# Heading -> the function that writes the section, in the report's order.
SECTIONS: tuple[tuple[str, Callable[[Study], list[str]]], ...] = (
    ("Scale of the study", scale_section),
    ("Verdicts", verdicts_section),
    ("Claims", claims_section),
    ("Artifacts", artifacts_section),
    ("Settings we chose", settings_section),
    (TUNING_HEADING, tuning_section),
    ("Model completions", model_completions_section),
    ("Data copies", data_copies_section),
    ("Device and software", device_and_software_section),
    ("Paper inconsistencies", inconsistencies_section),
    ("Beyond the paper", beyond_the_paper_section),
)


def markdown(study: Study) -> str:
    """The report: title, introduction, then every section under its heading."""
    document = [f"# {TITLE}", "", INTRO, ""]
    for heading, section in SECTIONS:
        lines = section(study)
        document += [f"## {heading}", "", *lines, *([""] if lines else [])]
    return "\n".join(document).rstrip() + "\n"


def write_report(
    artifacts: Sequence[Mapping[str, Any]],
    out_md: Path,
    *,
    metrics_json: Path | None = None,
    out_html: Path | None = None,
    settings: Mapping[str, Any] | None = None,
    summaries: Sequence[Path] = (),
    tuning: Mapping[str, Any] | None = None,
    selections: Sequence[Path] = (),
) -> list[Finding]:
    """The claims report (and, optionally, its HTML page and the DVC metrics JSON).

    Each artifact is a mapping with keys: name, kind (one of secondorder.study.artifacts.KINDS),
    title, aggregated (CSV path), outputs (paths of its files), and its kind's options (x,
    lines, panels; targets).
    `settings`: the study config (seeds, device, run, model_defaults, optimizers, tuning);
    `summaries`: the runs' summary.json files (data checksums, device and software).
    `tuning`: the tuning stage as :func:`secondorder.study.tuning.report_section` gives it
    (its table, sensitivity figures, search settings, rules and budget check), if anything
    was tuned; `selections`: its selection files (every grid point's outcome), which the
    claims about tuning read.
    Returns the findings (the claims' verdicts are in the report and the metrics).
    """
    out_md = Path(out_md)
    base = out_md.parent
    if out_html is not None and Path(out_html).parent.resolve() != base.resolve():
        raise ValueError(f"the HTML report must sit next to {out_md} (its links are relative)")
    tables = {a["name"]: read_aggregated(Path(a["aggregated"])) for a in artifacts}
    rows = all_rows(tables)
    study = Study(
        artifacts=artifacts,
        tables=tables,
        rows=rows,
        findings=findings.check_all(
            rows, times=table2_times(artifacts), selections=read_selections(selections)
        ),
        base=base,
        settings=settings or {},
        summaries=read_summaries(summaries),
        tuning=tuning,
    )
    text = markdown(study)
    atomic.write_text(out_md, text)
    if out_html is not None:
        write_html(text, Path(out_html), title=TITLE, badges=BADGES)
    if metrics_json is not None:
        metrics: dict[str, Any] = headline_metrics(artifacts)
        verdicts = [f.verdict for f in study.findings]
        metrics["findings"] = {v.replace(" ", "_"): verdicts.count(v) for v in findings.VERDICTS}
        claims = claim_verdicts(study)
        metrics["claims"] = {v.replace(" ", "_"): claims.count(v) for v in BADGES}
        atomic.write_text(Path(metrics_json), json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return study.findings
