"""The training clock: wall seconds of training only, as the run record's ``train_time_s``.

airbench's habit: the clock runs while the loop trains and stops inside one context manager,
:meth:`TrainingClock.paused`, around logging and evaluation. The device is synchronised at each
start and stop, so queued GPU work is timed where it was queued.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch

from secondorder.training.devices import synchronize


class TrainingClock:
    """Seconds of training on ``device`` (``seconds`` restored from a checkpoint on resume)."""

    def __init__(self, device: torch.device, seconds: float = 0.0) -> None:
        self.device = device
        self.seconds = seconds
        self._started: float | None = None

    def start(self) -> None:
        """Start (or restart) the clock once the device's queued work is done."""
        synchronize(self.device)
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the running clock for the block (adding the seconds since its start), then
        start it again."""
        synchronize(self.device)
        self.seconds += time.perf_counter() - self._started
        yield
        self.start()
