"""Glue of rule train: one run spec -> its run record (secondorder.train.train_run)."""

import logging
from pathlib import Path

from secondorder.study import RunSpec
from secondorder.train import train_run

smk = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(
    filename=smk.log[0],
    filemode="a",  # a resumed run keeps the log of its earlier attempts
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
)
spec = RunSpec.from_dict(smk.params.spec)
try:
    summary = train_run(
        spec,
        smk.input.data,
        Path(smk.output.summary).parent,
        device=smk.config.get("device", "auto"),
        progress=False,
        threads=smk.threads,  # the rule's `threads:` (1, as train_run's default)
    )
except Exception:
    logging.exception("run %s failed", spec.run_id)
    raise
logging.info("run %s: %s", spec.run_id, summary["status"])
