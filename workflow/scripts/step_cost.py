"""Glue of rule step_cost: aggregated CSV -> cost of one optimizer step (Markdown, LaTeX, CSV)."""

import logging
from pathlib import Path

from secondorder.analysis.step_cost import step_cost_table
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("step_cost", smk.log[0]):
    summary = step_cost_table(
        Path(smk.input.csv),
        Path(smk.output.md),
        Path(smk.output.tex),
        Path(smk.output.csv),
        **smk.params.options,
    )
    logging.info("%d settings -> %s", len(summary), smk.output.md)
