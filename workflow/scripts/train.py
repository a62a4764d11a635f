"""Glue of rule train: one run spec -> its run record (secondorder.glue.train_job)."""

import logging
from pathlib import Path

from secondorder.glue import rule_job, train_job
from secondorder.spec import RunSpec

smk = snakemake  # noqa: F821 (injected by Snakemake)
# append: a resumed run keeps the log of its earlier attempts
with rule_job("train", smk.log[0], append=True):
    spec = RunSpec.from_dict(smk.params.spec)
    summary = train_job(
        spec,
        smk.input.data,
        Path(smk.output.summary).parent,
        device=smk.config["device"],  # the checked study's (common.smk)
        threads=smk.threads,  # the rule's `threads:` (1, as train_run's default)
        selections=smk.input.selection,  # a run with a search reads its group's; others none
        record_failure=smk.resources.retries_left == 0,  # a tuning run's last attempt
        gpu_slots=smk.resources.gpu_slots,  # its share of a GPU (secondorder.study.packing)
    )
    logging.info("run %s: %s", spec.run_id, summary["status"])
