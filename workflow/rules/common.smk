# The study (the checked config) and the lookups that wire the rules. Runs, search groups and
# artifact kinds come from secondorder.study, every path from secondorder.study.layout.

import re
from pathlib import Path

from secondorder import glue, study
from secondorder.data import digest_path
from secondorder.spec import DATASETS
from secondorder.study import artifacts, layout, plan, tuning

# A --configfile replaces the default study; --config key=value settings go on top.
STUDY = glue.read_study(
    workflow.overwrite_configfiles or [DEFAULT_CONFIG],
    workflow.config_settings.config,
    Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
)
config.update(STUDY)  # what jobs (scripts, report captions) read: the checked study

RUNS = study.expand(STUDY)  # run id -> RunSpec, one training job each (tuning runs too)
SEARCHES = study.searches(STUDY)  # search group -> a final run that reads its selection
TRAINABLE = RUNS | tuning.extension_runs(SEARCHES)  # + what edge winners may add
ARTIFACT_RUNS = study.artifact_runs(STUDY)  # artifact name -> its run ids
ARTIFACT_FILES = artifacts.artifact_files(STUDY["artifacts"])  # every artifact's files
# Preset name -> method, in the config's order: fixes each preset's colour in every figure.
PRESET_METHODS = {name: p["method"] for name, p in STUDY["optimizers"].items()}
TUNED_PRESETS = tuning.tuned_presets(STUDY["optimizers"], SEARCHES)
TRAIN_GPU_SLOTS = glue.train_gpu_slots(STUDY["device"], TRAINABLE)  # 0 on a CPU
# What training jobs ask the scheduler for (plan.calibration_for_requests; None: the default).
CALIBRATION = plan.calibration_for_requests()
ANALYSIS_CODE = glue.analysis_code()  # an input of every analysis rule


def names_pattern(names):
    """A wildcard constraint matching exactly these names (never matching when empty)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    run_id="[a-z0-9._-]+",
    dataset=names_pattern(DATASETS),
    artifact=names_pattern(STUDY["artifacts"]),
    group=names_pattern(SEARCHES),


def run_spec(wildcards):
    return TRAINABLE[wildcards.run_id].to_dict()


def run_bundle(wildcards):
    return layout.bundle(TRAINABLE[wildcards.run_id].dataset)


def run_bundle_digest(wildcards):
    return str(digest_path(run_bundle(wildcards)))


def run_selection(wildcards):
    """The selection a final run with a search trains with (none for other runs)."""
    spec = TRAINABLE[wildcards.run_id]
    return [layout.selection(spec.tuning_group)] if spec.search is not None else []


def train_runtime(wildcards, attempt):
    """Minutes for the scheduler: the run's estimate (secondorder.study.plan.resources)."""
    return plan.resources(TRAINABLE[wildcards.run_id], CALIBRATION, attempt)["runtime"]


def train_mem_mb(wildcards, attempt):
    """Host memory for the scheduler: the run's estimate (secondorder.study.plan.resources)."""
    return plan.resources(TRAINABLE[wildcards.run_id], CALIBRATION, attempt)["mem_mb"]


def train_retries_left(wildcards, attempt):
    """How many more times --retries restarts a failing train job."""
    return max(0, workflow.execution_settings.retries + 1 - attempt)


def group_summaries(wildcards, extended=True):
    """Its grid's tuning summaries, and with extend_edges those of the points added beyond."""
    spec, grid = SEARCHES[wildcards.group], None
    if extended and tuning.extends(spec):
        grid = checkpoints.select_grid.get(**wildcards).output[0]
    return tuning.selection_summaries(spec, grid)


def artifact_records(wildcards):
    return layout.run_records(ARTIFACT_RUNS[wildcards.artifact])


def artifact_options(wildcards):
    entry = STUDY["artifacts"][wildcards.artifact]
    return artifacts.KINDS[entry["kind"]].function_options(entry, PRESET_METHODS)


def artifact_section(wildcards):
    """Where Snakemake's report files an artifact: the paper's, or beyond it."""
    beyond = STUDY["artifacts"][wildcards.artifact]["beyond_paper"]
    return "Beyond the paper" if beyond else "The paper"


def kind_pattern(kind):
    """The wildcard constraint of an artifact kind's rule: the study's artifacts of that kind."""
    return names_pattern(
        n for n, a in STUDY["artifacts"].items() if a["kind"] == kind.name
    )


def kind_outputs(kind):
    """The named outputs of an artifact kind's rule; those the kind shows go in the report."""
    outputs = kind.files("{artifact}")
    for suffix, content in kind.shown.items():
        outputs[suffix] = report(
            outputs[suffix],
            caption=f"../report/{kind.caption}",
            category=kind.section,
            subcategory=artifact_section,
            labels={"artifact": "{artifact}", "content": content},
        )
    return outputs
