"""Glue of rule time_to_target: aggregated CSV -> seconds-to-target table (MD, LaTeX, CSV)."""

import logging
from pathlib import Path

from secondorder.analysis import time_to_target_table
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("time_to_target", smk.log[0]):
    summary = time_to_target_table(
        Path(smk.input.csv),
        Path(smk.output.md),
        Path(smk.output.tex),
        Path(smk.output.csv),
        **smk.params.options,
    )
    logging.info("%d settings -> %s", len(summary), smk.output.md)
