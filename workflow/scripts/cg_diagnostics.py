"""Glue of rule cg_diagnostics: aggregated CSV -> CG diagnostics figure (PNG, PDF) and CSV."""

import logging
from pathlib import Path

from secondorder.analysis import plot_cg_diagnostics
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("cg_diagnostics", smk.log[0]):
    summary = plot_cg_diagnostics(
        Path(smk.input.csv),
        Path(smk.output.png),
        Path(smk.output.pdf),
        Path(smk.output.csv),
        **smk.params.options,
    )
    logging.info("%d settings -> %s", len(summary), smk.output.png)
