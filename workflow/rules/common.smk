# The study (checked config) and the helpers of the rules: its runs and artifacts (from
# secondorder.study.config) and the files they map to.

import importlib.util
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from secondorder import study
from secondorder.study import plan, tuning
from secondorder.data import digest_path
from secondorder.errors import ConfigError


def config_error(message):
    """A malformed config is the user's mistake: one line on stderr, exit 1, no traceback."""
    print(message, file=sys.stderr)
    sys.exit(1)


def schema_message(error):
    """'key.path: what is wrong' from the jsonschema error behind Snakemake's WorkflowError."""
    from jsonschema.exceptions import ValidationError

    cause = error.__cause__ or error.__context__
    if not isinstance(cause, ValidationError):
        return str(error)
    path = "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in cause.absolute_path
    )
    return f"{path.lstrip('.') or 'top level'}: {cause.message}"


# Snakemake has already merged the config files into `config`, but with a reader that lets a
# duplicate key win silently and reads 1e-3 as a string: read them again with ours (the same
# for every entry point), then apply the `--config key=value` overrides on top.
CONFIG_FILES = [str(path) for path in workflow.overwrite_configfiles] or [
    study.config.DEFAULT_CONFIG
]
try:
    RAW_CONFIG, STUDY = study.load_config_files(
        CONFIG_FILES, workflow.config_settings.config
    )
except ConfigError as error:
    config_error(str(error))
try:  # the schema documents the config; study.load_config has checked all of it already
    validate(RAW_CONFIG, "../schemas/config.schema.yaml", set_default=False)
except Exception as error:
    config_error(f"{', '.join(CONFIG_FILES)}: {schema_message(error)}")


RUNS = study.expand(STUDY)  # run id -> RunSpec, one training job each (tuning runs too)
SEARCHES = study.searches(
    STUDY
)  # selection group -> a final run that reads its selection
ARTIFACT_RUNS = study.artifact_runs(STUDY)  # artifact name -> its run ids
KIND_OUTPUTS = {
    "loss_curves": ["results/figures/{name}.png", "results/figures/{name}.pdf"],
    "accuracy_table": [
        "results/tables/{name}.md",
        "results/tables/{name}.tex",
        "results/tables/{name}.csv",
    ],
    "time_to_target": [
        "results/tables/{name}.md",
        "results/tables/{name}.tex",
        "results/tables/{name}.csv",
    ],
    "cg_diagnostics": [
        "results/figures/{name}.png",
        "results/figures/{name}.pdf",
        "results/figures/{name}.csv",
    ],
}
# Preset name -> method, in the config's order: fixes each preset's colour in every figure.
PRESET_METHODS = {
    name: preset["method"] for name, preset in STUDY["optimizers"].items()
}


def artifacts_of_kind(kind):
    return [name for name, entry in STUDY["artifacts"].items() if entry["kind"] == kind]


def names_pattern(names):
    """A wildcard constraint matching exactly these names (never matching when empty)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def uses_cuda(device):
    """Whether training jobs run on a GPU (for `auto`, decided where the DAG is built)."""
    if device.startswith("cuda"):
        return True
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return False


TRAIN_GPUS = 1 if uses_cuda(STUDY["device"]) else 0
# Timings of this machine (`secondorder plan --calibrate`), else of $SECONDORDER_CALIBRATION,
# else the package's default: what each training job asks the scheduler for.
CALIBRATION = plan.load_calibration()
# The analysis code (every module of the subpackage, findings/ included) is an input of the analysis rules: editing
# it redraws figures and tables (cheap). Training code is not an input of training (hours); see
# train.smk.
ANALYSIS_CODE = sorted(
    str(path)
    for path in Path(
        importlib.util.find_spec("secondorder.analysis").origin
    ).parent.rglob("*.py")
)


wildcard_constraints:
    run_id="[a-z0-9._-]+",
    dataset="mnist|cifar10",
    figure=names_pattern(artifacts_of_kind("loss_curves")),
    table=names_pattern(artifacts_of_kind("accuracy_table")),
    time_table=names_pattern(artifacts_of_kind("time_to_target")),
    cg_figure=names_pattern(artifacts_of_kind("cg_diagnostics")),
    artifact=names_pattern(STUDY["artifacts"]),
    group=names_pattern(SEARCHES),


def dataset_bundle(dataset):
    return f"data/prepared/{dataset}.pt"


def dataset_digest(dataset):
    return str(digest_path(dataset_bundle(dataset)))


def all_datasets():
    return sorted({spec.dataset for spec in RUNS.values()})


def artifact_outputs(name):
    kind = STUDY["artifacts"][name]["kind"]
    return [pattern.format(name=name) for pattern in KIND_OUTPUTS[kind]]


def all_targets():
    outputs = [path for name in STUDY["artifacts"] for path in artifact_outputs(name)]
    return [
        *outputs,
        *tuning_outputs(),
        "results/report.md",
        "results/report.html",
        "results/metrics.json",
    ]


def tuned_presets():
    """The optimizer presets that some run tunes, in the config's order."""
    tuned = {spec.optimizer for spec in SEARCHES.values()}
    return [name for name in STUDY["optimizers"] if name in tuned]


def tuning_figures():
    return [
        f"results/figures/tuning_{preset}.{suffix}"
        for preset in tuned_presets()
        for suffix in ("png", "pdf")
    ]


def tuning_outputs():
    """The tuning stage's report files (none when nothing is searched)."""
    if not SEARCHES:
        return []
    return ["results/tables/tuning.csv", "results/tables/tuning.md", *tuning_figures()]


# -- input and params functions of the rules


def run_selection(wildcards):
    """The selection a final run with a search trains with (none for other runs)."""
    spec = RUNS[wildcards.run_id]
    return [tuning.selection_path(spec)] if spec.search is not None else []


def group_spec(wildcards):
    return SEARCHES[wildcards.group].to_dict()


def group_trial_summaries(wildcards):
    return [
        f"results/runs/{trial.run_id}/summary.json"
        for _, trials in tuning.trial_specs(SEARCHES[wildcards.group])
        for trial in trials
    ]


def all_selections(wildcards):
    return [f"results/tuning/{group}.json" for group in SEARCHES]


def run_spec(wildcards):
    return RUNS[wildcards.run_id].to_dict()


def train_runtime(wildcards, attempt):
    """Minutes for the scheduler: the run's cost estimate times a safety factor (and the
    attempt), capped (secondorder.study.plan.resources)."""
    return plan.resources(RUNS[wildcards.run_id], CALIBRATION, attempt)["runtime"]


def train_mem_mb(wildcards, attempt):
    """Host memory for the scheduler, from the run's estimate (secondorder.study.plan.resources)."""
    return plan.resources(RUNS[wildcards.run_id], CALIBRATION, attempt)["mem_mb"]


def run_bundle(wildcards):
    return dataset_bundle(RUNS[wildcards.run_id].dataset)


def run_bundle_digest(wildcards):
    return dataset_digest(RUNS[wildcards.run_id].dataset)


def artifact_run_records(wildcards):
    return [
        f"results/runs/{run_id}/{name}"
        for run_id in ARTIFACT_RUNS[wildcards.artifact]
        for name in ("metrics.csv", "summary.json")
    ]


def figure_options(wildcards):
    entry = STUDY["artifacts"][wildcards.figure]
    return {
        "x": entry["x"],
        "title": entry["title"],
        "lines": entry["lines"],
        "panels": entry["panels"],
        "presets": PRESET_METHODS,
        "beyond_paper": entry["beyond_paper"],
    }


def time_table_options(wildcards):
    entry = STUDY["artifacts"][wildcards.time_table]
    return {"title": entry["title"], "targets": entry["targets"]}


def cg_figure_options(wildcards):
    entry = STUDY["artifacts"][wildcards.cg_figure]
    return {"title": entry["title"], "presets": PRESET_METHODS, "beyond_paper": True}


def table_title(wildcards):
    return STUDY["artifacts"][wildcards.table]["title"]


def report_inputs(wildcards):
    return [
        *(path for name in STUDY["artifacts"] for path in artifact_outputs(name)),
        *(f"results/aggregated/{name}.csv" for name in STUDY["artifacts"]),
        *tuning_outputs(),
    ]


def report_artifacts(wildcards):
    """What write_report needs to know of each artifact (see secondorder.analysis)."""
    return [
        {
            "name": name,
            "kind": entry["kind"],
            "title": entry["title"],
            "x": entry["x"],
            "lines": entry["lines"],
            "panels": entry["panels"],
            "targets": entry["targets"],
            "beyond_paper": entry["beyond_paper"],
            "aggregated": f"results/aggregated/{name}.csv",
            "outputs": artifact_outputs(name),
        }
        for name, entry in STUDY["artifacts"].items()
    ]


def report_summaries(wildcards):
    """Every run's summary.json (data checksums, device and software for the report)."""
    return [f"results/runs/{run_id}/summary.json" for run_id in RUNS]


def report_tuning(wildcards):
    """The tuning stage's files and settings for the report's section (empty: nothing tuned)."""
    if not SEARCHES:
        return {}
    return {
        "markdown": "results/tables/tuning.md",
        "figures": [path for path in tuning_figures() if path.endswith(".png")],
        "search": STUDY["search"],
        "rule": tuning.SELECTION_RULE,
    }


def report_settings(wildcards):
    """The settings of the study that the report lists."""
    keys = (
        "seeds",
        "device",
        "run",
        "model_defaults",
        "optimizers",
        "tuning",
        "search",
    )
    return {key: STUDY[key] for key in keys}


# -- Snakemake's HTML report (snakemake --report): where each artifact's files appear


def report_subcategory(wildcard):
    """The report subcategory of the artifact named by ``wildcard``: the paper's or beyond it."""

    def subcategory(wildcards):
        beyond = STUDY["artifacts"][getattr(wildcards, wildcard)]["beyond_paper"]
        return "Beyond the paper" if beyond else "The paper"

    return subcategory


def report_labels(wildcard, content):
    """The report labels of the artifact named by ``wildcard``: its name and what the file is."""

    def labels(wildcards):
        return {"artifact": getattr(wildcards, wildcard), "content": content}

    return labels
