"""The study workflow: data -> one training job per run -> aggregated CSVs -> figures and
tables -> report (results/report.md).

    snakemake                                     # laptop scale (study.config.DEFAULT_CONFIG)
    snakemake --configfile config/config.yaml     # the paper at full scale
    snakemake --profile profiles/slurm --configfile config/config.yaml   # on a SLURM cluster

The expansion of the config into runs, the artifact kinds and every path are plain Python
(secondorder.study: expand, artifacts, layout); this file and workflow/rules/ only wire rules
from them and call thin glue scripts (secondorder.glue).
"""

import os
from pathlib import Path

from snakemake.utils import min_version

from secondorder.study.config import DEFAULT_CONFIG

min_version("9")

# Jobs import the package from this checkout's src/, whatever environment runs them: the
# project's virtualenv (an editable install of the same src/), a conda environment or the
# Apptainer image (workflow/envs/, built from requirements.lock), which hold only the pins.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")])
)


envvars:
    "PYTHONPATH",  # passed on to jobs on other machines (SLURM, ...)


# The rules' conda environment (--software-deployment-method conda); relative to workflow/rules/.
CONDA_ENV = "../envs/secondorder.yaml"


# --software-deployment-method apptainer runs every rule in this image; build it first with
# `apptainer build secondorder.sif workflow/envs/secondorder.def`.
container: "secondorder.sif"


# The page of `snakemake --report results/snakemake-report.html`; rules mark what it shows.
report: "workflow/report/workflow.rst"


# The default study. A --configfile on the command line replaces it (Snakemake would otherwise
# merge both configs key by key, mixing two studies).
if not workflow.overwrite_configfiles:

    configfile: DEFAULT_CONFIG


include: "workflow/rules/common.smk"  # checks the config, then maps runs and artifacts to files
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tuning.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


# Jobs on the machine that runs Snakemake (an artifact kind's rule says so itself).
localrules:
    all,
    data,
    aggregate,
    report,
    select,
    select_grid,
    tuning_report,


rule all:
    default_target: True
    input:
        ARTIFACT_FILES,
        rules.tuning_report.output if SEARCHES else [],
        rules.report.output,
