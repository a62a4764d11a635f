"""Glue of rule table: aggregated CSV -> accuracy table (Markdown, LaTeX, CSV)."""

import logging
from pathlib import Path

from secondorder.analysis import accuracy_table

smk = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO)
summary = accuracy_table(
    Path(smk.input.csv),
    Path(smk.output.md),
    Path(smk.output.tex),
    Path(smk.output.csv),
    title=smk.params.title,
)
logging.info("%d cells -> %s", len(summary), smk.output.md)
