"""Finished run records: when an existing record stands for a run, so it is never retrained.

A run's record (``metrics.csv``, ``summary.json``, ``model.pt`` in its run directory) is a pure
function of three things: the run spec (its hash is part of the run id), the data bundle's
content, and the training code. When a job is started again for a run whose directory already
holds a finished or diverged record of the same three, the record is kept as it is and nothing
is trained: at the paper's scale a spurious rerun throws away GPU-days. A record of another spec,
other data or other training code is stale: it is removed before training starts, so that a
kill during the new training leaves no old record that could pass for the new one.

The training code is every module of the package except :mod:`secondorder.analysis` (which only
reads records). ``snakemake --forcerun train`` after an edit of the library therefore retrains;
to retrain with unchanged code (e.g. to time it again), delete the run directory.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import secondorder
from secondorder.spec import RunSpec

log = logging.getLogger("secondorder.training.record")


class Status(enum.StrEnum):
    """A run's outcome, as ``summary.json`` (or ``failed.json``) records it. Torch-free: the
    analysis reads it. A str, so records and comparisons hold the plain word."""

    FINISHED = "finished"  # trained for all its epochs
    DIVERGED = "diverged"  # stopped at a non-finite or exploding training loss; record kept
    UNTUNED = "untuned"  # a final run whose search excluded every point: recorded, not trained
    FAILED = "failed"  # raised: failed.json only, which is not an output, so nothing looks done


OUTPUTS = ("metrics.csv", "summary.json", "model.pt")
REUSABLE_STATUSES = (Status.FINISHED, Status.DIVERGED, Status.UNTUNED)


@functools.cache
def training_code_digest() -> str:
    """sha256 over this package's training code (see :func:`code_digest`)."""
    return code_digest(Path(secondorder.__file__).resolve().parent)


def code_digest(package: Path) -> str:
    """sha256 over the names and bytes of a package's modules, ``analysis/`` excluded."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("analysis/"):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_summary(out_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``summary.json`` as a dict, or None when absent or unreadable."""
    try:
        summary = json.loads((Path(out_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def reusable_summary(
    out_dir: str | Path, spec: RunSpec, data_digest: str | None
) -> dict[str, Any] | None:
    """The summary of a complete record in ``out_dir`` made by this spec, data and code, else
    None. ``data_digest`` is the bundle's content digest (None: unknown, never reusable)."""
    out_dir = Path(out_dir)
    summary = read_summary(out_dir)
    if summary is None or data_digest is None:
        return None
    environment = summary.get("environment") or {}
    data = environment.get("data") or {}
    if (
        summary.get("status") in REUSABLE_STATUSES
        and summary.get("spec") == spec.to_dict()
        and data.get("bundle_sha256") == data_digest
        and environment.get("training_code_sha256") == training_code_digest()
        and all((out_dir / name).is_file() for name in OUTPUTS)
    ):
        return summary
    return None


def remove_stale(out_dir: str | Path) -> None:
    """Delete the outputs of a record that does not stand for the run about to train."""
    out_dir = Path(out_dir)
    stale = [name for name in OUTPUTS if (out_dir / name).exists()]
    if stale:
        log.warning("%s: removing a stale record (%s) before training", out_dir, ", ".join(stale))
    for name in stale:
        (out_dir / name).unlink(missing_ok=True)
