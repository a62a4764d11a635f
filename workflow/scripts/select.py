"""Glue of rule select (and checkpoint select_grid): a search group's tuning-run summaries ->
its selection file (on the grid alone, for the checkpoint)."""

import json
import logging
from pathlib import Path

from secondorder import atomic
from secondorder.glue import rule_job
from secondorder.spec import RunSpec
from secondorder.study import tuning

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("select", smk.log[0]):
    spec = RunSpec.from_dict(smk.params.spec)
    summaries = {}
    for path in smk.input.summaries:
        summary = json.loads(Path(path).read_text())
        summaries[summary["run_id"]] = summary
    selection = tuning.select(spec, summaries, grid_only=smk.params.grid_only)
    atomic.write_json(smk.output[0], selection)
    logging.info("%s: %s %s", selection["group"], selection["status"], selection["winner"])
