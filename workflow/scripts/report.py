"""Glue of rule report: every artifact -> results/report.md, report.html and metrics.json."""

import logging
from pathlib import Path

from secondorder.analysis import write_report
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("report", smk.log[0]):
    findings = write_report(
        smk.params.artifacts,
        Path(smk.output.report),
        metrics_json=Path(smk.output.metrics),
        out_html=Path(smk.output.html),
        settings=smk.params.settings,
        summaries=[Path(p) for p in smk.input.summaries],
        tuning=smk.params.tuning,
        selections=[Path(p) for p in smk.input.selections],
    )
    for finding in findings:
        logging.info("%s: %s (%s)", finding.key, finding.verdict, finding.summary)
