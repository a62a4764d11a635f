"""Glue of rule aggregate: an artifact's run records -> one CSV (secondorder.analysis)."""

import logging
from pathlib import Path

from secondorder.analysis import aggregate
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("aggregate", smk.log[0]):
    run_dirs = list(dict.fromkeys(Path(record).parent for record in smk.input.records))
    table = aggregate(run_dirs, Path(smk.output[0]))
    logging.info("%d rows of %d runs -> %s", len(table), len(run_dirs), smk.output[0])
