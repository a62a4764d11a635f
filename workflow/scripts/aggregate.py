"""Glue of rule aggregate: an artifact's run records -> one CSV (secondorder.analysis)."""

import logging
from pathlib import Path

from secondorder.analysis import aggregate

smk = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO)
run_dirs = list(dict.fromkeys(Path(record).parent for record in smk.input.records))
table = aggregate(run_dirs, Path(smk.output[0]))
logging.info("%d rows of %d runs -> %s", len(table), len(run_dirs), smk.output[0])
