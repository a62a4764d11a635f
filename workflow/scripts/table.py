"""Glue of rule table: aggregated CSV -> accuracy table (Markdown, LaTeX, CSV)."""

import logging
from pathlib import Path

from secondorder.analysis import accuracy_table
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("table", smk.log[0]):
    summary = accuracy_table(
        Path(smk.input.csv),
        Path(smk.output.md),
        Path(smk.output.tex),
        Path(smk.output.csv),
        **smk.params.options,
    )
    logging.info("%d cells -> %s", len(summary), smk.output.md)
