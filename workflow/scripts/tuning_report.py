"""Glue of rule tuning_report: the selection files -> the tuning table and sensitivity figures."""

import logging
from pathlib import Path

from secondorder.analysis.tuning_report import write_tuning_report
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("tuning_report", smk.log[0]):
    pngs = [Path(p) for p in smk.output.figures if p.endswith(".png")]
    figures = {png.stem.removeprefix("tuning_"): (png, png.with_suffix(".pdf")) for png in pngs}
    table = write_tuning_report(
        [Path(p) for p in smk.input.selections],
        Path(smk.output.csv),
        Path(smk.output.md),
        figures,
        smk.params.presets,
    )
    groups = table["group"].nunique() if len(table) else 0
    logging.info("%d points of %d groups", len(table), groups)
