"""What the Snakemake workflow does in Python: read its study, and run each job's one call into
the library.

The Snakefile reads the study with :func:`read_study` (the study's own strict reader and
checks, then the config schema). A script logs into its rule's log file inside
:func:`rule_job`. A user's mistake (a malformed config or spec, missing or corrupt data, an
unusable device) ends the workflow or the job with one line (``<rule>: error: <message>`` for a
job, in the log too) and exit status 1, as the command line does, instead of a traceback that
leaves the log with only "preparing ...". Unexpected failures keep their traceback (in the log
too), except that of a tuning run, which :func:`train_job` records as the run's result.

Torch-free at import: the analysis jobs do not pay for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from secondorder.errors import ConfigError, DataError, DeviceError

if TYPE_CHECKING:
    from secondorder.spec import RunSpec

USER_ERRORS = (ConfigError, DataError, DeviceError)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger("secondorder")


def read_study(
    config_files: Sequence[str | Path], overrides: Mapping[str, Any], schema: str | Path
) -> dict[str, Any]:
    """The checked study of ``config_files`` with the ``--config`` ``overrides`` on
    top, read by the study's own reader (Snakemake's lets a duplicate key win silently and reads
    1e-3 as text), then validated against the config ``schema``. A problem is one line on
    stderr and exit 1."""
    from secondorder.study import load_config_files

    try:
        raw, checked = load_config_files([str(path) for path in config_files], overrides)
    except ConfigError as error:
        _refuse(str(error))
    problem = schema_problem(raw, schema)
    if problem is not None:
        _refuse(f"{', '.join(map(str, config_files))}: {problem}")
    return checked


def schema_problem(raw: Mapping[str, Any], schema: str | Path) -> str | None:
    """'key.path: what is wrong' where ``raw`` breaks the config ``schema``, else None. The
    schema documents the config; the study's checks have already checked all of it."""
    import yaml
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    rules = yaml.safe_load(Path(schema).read_text(encoding="utf-8"))
    try:
        Draft202012Validator(rules).validate(dict(raw))
    except ValidationError as error:
        path = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        )
        return f"{path.lstrip('.') or 'top level'}: {error.message}"
    return None


def _refuse(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(1)


def train_gpus(device: str) -> int:
    """GPUs a training job asks the scheduler for: 1 on a GPU, else 0 (``auto`` is decided on
    the machine that builds the DAG)."""
    if device.startswith("cuda"):
        return 1
    if device == "auto":
        import torch

        return int(torch.cuda.is_available())
    return 0


def train_gpu_slots(device: str, runs: Mapping[str, RunSpec]) -> Callable[[Any], int]:
    """Rule train's ``gpu_slots`` resource function: 0 where training jobs use no GPU
    (:func:`train_gpus`), else the run's slots of one GPU, priced on a GPU calibration
    (:func:`secondorder.study.packing.gpu_slots`; every slot without one)."""
    if not train_gpus(device):
        return lambda wildcards: 0
    from secondorder.study import calibrate, packing

    calibration = calibrate.gpu_calibration()
    return lambda wildcards: packing.gpu_slots(runs[wildcards.run_id], calibration)


TRAIN_GROUPS = ("gpu-grid", "gpu-extension", "gpu-final")
"""Job groups of training runs (cluster runs only): a grid's tuning runs, the points an edge
extension adds, the final runs. One group each, because a group that a path of the DAG leaves
and enters again (trial -> select -> final) is refused by Snakemake."""


def train_group(
    runs: Mapping[str, RunSpec],
    grid: Mapping[str, Any],
    components: Callable[[], Mapping[str, int]],
) -> Callable[[Any], str | None]:
    """Rule train's ``group`` function: the group of a run of ``runs``, final, in a grid
    (``grid``: the study's runs) or added by an edge extension (:data:`TRAIN_GROUPS`), when
    ``--group-components`` (``components()``, known only after the Snakefile is read) names one
    of them, else None. Snakemake then submits that many runs as one cluster job that holds
    one GPU (profiles/slurm); local runs ignore groups."""
    from secondorder.study import tuning

    def group(wildcards: Any) -> str | None:
        if not set(components()) & set(TRAIN_GROUPS):
            return None
        if not tuning.is_tuning_run(runs[wildcards.run_id]):
            return TRAIN_GROUPS[2]
        return TRAIN_GROUPS[0] if wildcards.run_id in grid else TRAIN_GROUPS[1]

    return group


def analysis_code() -> list[str]:
    """Every module of :mod:`secondorder.analysis` (findings and report included): an input
    of the analysis rules, so that editing it redraws figures and tables (cheap). Training code
    is not an input of training (hours): see rule train."""
    import importlib.util

    spec = importlib.util.find_spec("secondorder.analysis")
    assert spec is not None and spec.origin is not None
    return sorted(str(path) for path in Path(spec.origin).parent.rglob("*.py"))


def report_settings(study: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of the checked ``study`` that the claims report lists."""
    keys = ("seeds", "device", "run", "model_defaults", "optimizers", "tuning", "search")
    return {key: study[key] for key in keys}


@contextlib.contextmanager
def rule_job(rule: str, log_file: str | Path, *, append: bool = False) -> Iterator[None]:
    """Log into ``log_file`` (appending to earlier attempts when ``append``) inside the block;
    turn a user error raised there into one line and ``SystemExit(1)``."""
    logging.basicConfig(
        filename=log_file, filemode="a" if append else "w", level=logging.INFO, format=LOG_FORMAT
    )
    try:
        yield
    except USER_ERRORS as error:
        line = f"{rule}: error: {' '.join(str(error).split())}"
        log.error(line)
        print(line, file=sys.stderr)
        raise SystemExit(1) from None
    except Exception:
        log.exception("%s failed", rule)
        raise


def train_job(
    spec: RunSpec,
    data: str | Path,
    run_dir: str | Path,
    *,
    device: str,
    threads: int,
    selections: Sequence[str | Path] = (),
    record_failure: bool = True,
    gpu_slots: int = 0,
) -> dict[str, Any]:
    """Train one run of the DAG (:func:`secondorder.training.loop.train_run`) and return its
    summary. A final run with a search reads its group's selection, the one file of
    ``selections``. On a GPU it holds the job's ``gpu_slots`` of one GPU's slots (0, a job
    planned for the CPU that finds a GPU: all of them).

    A tuning run whose training raises (not a user error: those stop the job) is recorded as
    failed instead when ``record_failure`` (the job's last attempt: earlier ones fail, so that
    Snakemake's --retries retries them) (:func:`secondorder.study.tuning.record_failure`), so
    that rule select excludes its point and the rest of its group goes on. A final run's
    failure fails the job.
    """
    from secondorder.study import tuning
    from secondorder.training.devices import SLOTS_PER_GPU
    from secondorder.training.loop import train_run

    selection = [json.loads(Path(path).read_text()) for path in selections]
    try:
        return train_run(
            spec,
            data,
            run_dir,
            device=device,
            progress=False,
            threads=threads,
            selection=selection[0] if selection else None,
            slots=gpu_slots or SLOTS_PER_GPU,
        )
    except USER_ERRORS:
        raise
    except Exception as error:
        if not (record_failure and tuning.is_tuning_run(spec)):
            raise
        log.exception("tuning run %s failed: recorded as failed, its point excluded", spec.run_id)
        return tuning.record_failure(spec, run_dir, error)
