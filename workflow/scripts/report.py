"""Glue of rule report: every artifact -> results/report.md and results/metrics.json."""

import logging
from pathlib import Path

from secondorder.analysis import write_report

smk = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO)
claims = write_report(
    smk.params.artifacts, Path(smk.output.report), metrics_json=Path(smk.output.metrics)
)
for claim in claims:
    logging.info("%s | %s | %s: %s", claim.artifact, claim.where, claim.statement, claim.verdict)
