"""Atomic file writes: a temporary file in the target's directory, then ``os.replace``.

A reader (a Snakemake job, a resumed run) sees the old file, no file, or the complete new one,
never a partial one; the temporary file is removed when writing fails. Temporary files are
created with the usual permissions (``mkstemp`` would make them 0600). A process killed while
writing leaves its temporary file behind; :func:`remove_stale_temporaries` collects those of
writers that are gone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")  # see replacing()


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path next to ``path`` (not yet created) for the caller to write;
    on leaving the block it replaces ``path``, or is removed if the block raised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of :func:`replacing` in ``directory`` whose writer process is
    no longer alive (killed mid-write); return what was removed.

    Files of live processes (this one, or another that may still be writing) are kept, as is
    every file that does not have the ``.<name>.<pid>.<8 hex>.tmp`` form. The pid is checked on
    this machine: a directory written concurrently from several hosts is not supported (a run
    directory has one writer at a time).
    """
    removed = []
    for path in sorted(Path(directory).glob(".*.tmp")):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not _process_alive(int(match["pid"])):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except (OverflowError, ValueError):  # not a possible pid: no process writes that file
        return False
    return True


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) so that ``path`` is either absent, the old file, or complete."""
    with replacing(path) as tmp, open(tmp, "x", encoding="utf-8") as handle:
        handle.write(text)


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) replaced by ``None``, recursively.

    Strict JSON has no NaN or Infinity, and parsers other than Python's reject them; a missing
    number (no training loss before the first step, a diverged run's loss) is ``null``.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as strict JSON (non-finite floats as ``null``), atomically."""
    write_text(path, json.dumps(json_ready(value), indent=2, allow_nan=False) + "\n")


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically and flushed to disk before the rename."""
    import torch  # here, not at the top: the analysis jobs write no tensors and skip its import

    with replacing(path) as tmp, open(tmp, "xb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
