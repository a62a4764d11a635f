"""Every path of a study under ``data/`` and ``results/``, written once.

The Snakemake rules, the command line and the tuning stage ask here. Paths are relative to the
project root (Snakemake's working directory) and returned as text; a name may be a wildcard
(``run_dir("{run_id}")``), so that a rule's pattern and the file a job writes come from the same
function. Torch-free: the DAG reads it.
"""

from __future__ import annotations

from collections.abc import Iterable

from secondorder.training.record import FAILED as FAILED  # a run directory's files, named by
from secondorder.training.record import METRICS as METRICS  # the record that writes them
from secondorder.training.record import SUMMARY as SUMMARY

DATA = "data"
RESULTS = "results"
PREPARED = f"{DATA}/prepared"

REPORT = f"{RESULTS}/report.md"
REPORT_HTML = f"{RESULTS}/report.html"
METRICS_JSON = f"{RESULTS}/metrics.json"  # headline numbers, the DVC metrics file
SNAKEMAKE_REPORT = f"{RESULTS}/snakemake-report.html"  # snakemake --report
REPORT_LOG = f"{RESULTS}/logs/report.log"
REPORT_BENCHMARK = f"{RESULTS}/benchmarks/report.tsv"


def bundle(dataset: str) -> str:
    """The prepared dataset that training jobs load (its digest sits beside it)."""
    return f"{PREPARED}/{dataset}.pt"


def run_dir(run_id: str) -> str:
    """The directory of one training run: its record, checkpoint and weights."""
    return f"{RESULTS}/runs/{run_id}"


def run_file(run_id: str, name: str) -> str:
    """A file of a run's directory (:data:`METRICS`, :data:`SUMMARY`, :data:`FAILED`, ...)."""
    return f"{run_dir(run_id)}/{name}"


def run_records(run_ids: Iterable[str]) -> list[str]:
    """What the training jobs of ``run_ids`` output: each run's metrics and summary."""
    return [run_file(run_id, name) for run_id in run_ids for name in (METRICS, SUMMARY)]


def selection(group: str) -> str:
    """The selection file of a tuning group: every point, its status and score, the winner."""
    return f"{RESULTS}/tuning/{group}.json"


def grid_selection(group: str) -> str:
    """A group's selection on its grid alone (``search.extend_edges``): the points to add."""
    return f"{RESULTS}/tuning/grid/{group}.json"


def aggregated(artifact: str) -> str:
    """All metrics rows of an artifact's runs, in one CSV."""
    return f"{RESULTS}/aggregated/{artifact}.csv"


def artifact_file(folder: str, artifact: str, suffix: str) -> str:
    """One file of an artifact: ``results/<folder>/<artifact>.<suffix>`` (folder: figures or
    tables, as its kind says)."""
    return f"{RESULTS}/{folder}/{artifact}.{suffix}"


def tuning_table(suffix: str) -> str:
    """The tuning stage's table of every point (CSV, Markdown)."""
    return artifact_file("tables", "tuning", suffix)


def tuning_figures(presets: list[str]) -> list[str]:
    """The tuning stage's sensitivity figures: PNG and PDF per tuned optimizer preset."""
    return [
        artifact_file("figures", f"tuning_{preset}", suffix)
        for preset in presets
        for suffix in ("png", "pdf")
    ]


def log(step: str, name: str) -> str:
    """The log of one job: ``results/logs/<step>/<name>.log``."""
    return f"{RESULTS}/logs/{step}/{name}.log"


def benchmark(step: str, name: str) -> str:
    """Snakemake's time and memory record of one job: ``results/benchmarks/<step>/<name>.tsv``."""
    return f"{RESULTS}/benchmarks/{step}/{name}.tsv"


def calibration(host: str) -> str:
    """This machine's timings (``secondorder plan --calibrate``)."""
    return f"{RESULTS}/calibration-{host}.json"
