"""Glue of rule figure: aggregated CSV -> loss-curve figure, PNG and PDF."""

import logging
from pathlib import Path

from secondorder.analysis import plot_loss_curves
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("figure", smk.log[0]):
    panels = plot_loss_curves(
        Path(smk.input.csv), Path(smk.output.png), Path(smk.output.pdf), **smk.params.options
    )
    logging.info("%d panels -> %s, %s", len(panels), smk.output.png, smk.output.pdf)
