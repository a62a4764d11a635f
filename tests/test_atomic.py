"""Atomic writes and the collection of temporary files that killed writers left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from secondorder import atomic


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f".checkpoint.pt.{dead}.0a1b2c3d.tmp"
    live = tmp_path / f".summary.json.{os.getpid()}.deadbeef.tmp"  # this process may be writing
    parent = tmp_path / f".metrics.csv.{os.getppid()}.12345678.tmp"  # another live process
    unrelated = [tmp_path / ".notes.tmp", tmp_path / f".x.{dead}.nothex!.tmp", tmp_path / "a.pt"]
    for path in (stale, live, parent, *unrelated):
        path.write_bytes(b"partial")
    assert atomic.remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(tmp_path.iterdir()) == sorted([live, parent, *unrelated])
    assert atomic.remove_stale_temporaries(tmp_path / "missing") == []


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
