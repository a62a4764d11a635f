"""Glue of rule time_to_target: aggregated CSV -> seconds-to-target table (MD, LaTeX, CSV)."""

import logging
from pathlib import Path

from secondorder.analysis import time_to_target_table

smk = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO)
summary = time_to_target_table(
    Path(smk.input.csv),
    Path(smk.output.md),
    Path(smk.output.tex),
    Path(smk.output.csv),
    **smk.params.options,
)
logging.info("%d settings -> %s", len(summary), smk.output.md)
