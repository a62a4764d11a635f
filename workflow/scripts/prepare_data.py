"""Glue of rule prepare_data: check a raw dataset and write its bundle (secondorder.data)."""

import json
import logging

from secondorder.data import prepare, resolve_data_root
from secondorder.glue import rule_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with rule_job("prepare_data", smk.log[0]):
    root = resolve_data_root(smk.config["data_root"])  # the checked study's
    logging.info("preparing %s from %s", smk.wildcards.dataset, root)
    meta = prepare(smk.wildcards.dataset, root, smk.output.bundle)
    logging.info("wrote %s: %s", smk.output.bundle, json.dumps(meta.get("files", {})))
