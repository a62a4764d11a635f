"""What a run shows while it trains: a tqdm bar (by default when stderr is a terminal), else one
log line per logging point."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator

from secondorder.spec import RunSpec

log = logging.getLogger("secondorder.training.progress")

Report = Callable[[dict[str, float], int], None]
"""Called at each logging point with its metrics row and the steps since the last point."""


@contextlib.contextmanager
def progress_report(spec: RunSpec, total: int, done: int, shown: bool | None) -> Iterator[Report]:
    """The report of ``spec``'s run for the block: a bar of ``total`` steps, ``done`` of them
    already (a resumed run), when ``shown`` (None: when stderr is a terminal); else log lines."""
    if not (sys.stderr.isatty() if shown is None else shown):
        yield lambda row, steps: _log_row(spec, row)
        return
    from tqdm import tqdm

    with tqdm(total=total, initial=done, desc=spec.run_id, unit="it") as bar:
        yield lambda row, steps: bar.update(steps)


def _log_row(spec: RunSpec, row: dict[str, float]) -> None:
    log.info(
        "%s epoch %.2f it %d time %.1fs train_loss %.4g test_loss %.4g test_acc %.4f",
        spec.run_id,
        row["epoch"],
        row["iteration"],
        row["train_time_s"],
        row["train_loss"],
        row["test_loss"],
        row["test_accuracy"],
    )
