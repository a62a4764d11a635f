"""Glue of rule tuning_report: the selection files -> the tuning table and sensitivity figures."""

import logging
from pathlib import Path

from secondorder.analysis.tuning_report import write_tuning_report

smk = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO)
figures = {}
for png in (Path(p) for p in smk.output.figures if p.endswith(".png")):
    preset = png.stem.removeprefix("tuning_")
    figures[preset] = (png, png.with_suffix(".pdf"))
table = write_tuning_report(
    [Path(p) for p in smk.input.selections],
    Path(smk.output.csv),
    Path(smk.output.md),
    figures,
    smk.params.presets,
)
logging.info("%d points of %d groups", len(table), table["group"].nunique() if len(table) else 0)
