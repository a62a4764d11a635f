"""The study layer: a config (YAML) -> checked settings -> the runs of every artifact, the tuning
stage that fills searched hyperparameters, and the cost plan. Its entry points, for the
Snakefile, the command line and tests: :func:`load_config` then :func:`expand`."""

from secondorder.study.config import load_config, load_config_files
from secondorder.study.expand import artifact, artifact_runs, expand, run_settings, searches

__all__ = [
    "artifact",
    "artifact_runs",
    "expand",
    "load_config",
    "load_config_files",
    "run_settings",
    "searches",
]
