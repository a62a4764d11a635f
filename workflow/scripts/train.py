"""Glue of rule train: one run spec -> its run record (secondorder.training.loop.train_run)."""

import json
import logging
from pathlib import Path

from secondorder.glue import rule_job
from secondorder.spec import RunSpec
from secondorder.training.loop import train_run

smk = snakemake  # noqa: F821 (injected by Snakemake)
# append: a resumed run keeps the log of its earlier attempts
with rule_job("train", smk.log[0], append=True):
    spec = RunSpec.from_dict(smk.params.spec)
    # a run with a search reads its group's selection (rule select); others have none
    selection = [json.loads(Path(path).read_text()) for path in smk.input.selection]
    summary = train_run(
        spec,
        smk.input.data,
        Path(smk.output.summary).parent,
        device=smk.config.get("device", "auto"),
        progress=False,
        threads=smk.threads,  # the rule's `threads:` (1, as train_run's default)
        selection=selection[0] if selection else None,
    )
    logging.info("run %s: %s", spec.run_id, summary["status"])
