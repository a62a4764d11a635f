"""Glue of rule cg_diagnostics: aggregated CSV -> CG diagnostics figure (PNG, PDF) and CSV."""

import logging
from pathlib import Path

from secondorder.analysis import plot_cg_diagnostics

smk = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO)
summary = plot_cg_diagnostics(
    Path(smk.input.csv),
    Path(smk.output.png),
    Path(smk.output.pdf),
    Path(smk.output.csv),
    **smk.params.options,
)
logging.info("%d settings -> %s", len(summary), smk.output.png)
