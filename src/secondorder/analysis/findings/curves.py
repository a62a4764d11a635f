"""Each run's training loss on a shared grid of epochs, seed statistics, and one curve
against a reference curve.

A run that diverged has an infinite loss from the point where its record ends (the paper's
Figure 12 depends on counting an explosion as a failure, not as a shorter curve).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from secondorder.analysis.findings.text import stats_text
from secondorder.analysis.findings.thresholds import GRID_POINTS, LOSS_MARGIN, MOST_OF_CURVE
from secondorder.analysis.style import is_missing
from secondorder.training.record import Status


@dataclass
class RunCurve:
    epoch: np.ndarray  # finite logging points, epoch > 0, in order
    loss: np.ndarray
    diverged: bool


def run_curves(rows: pd.DataFrame, loss: str) -> dict[str, RunCurve]:
    """Each run's training loss at its logging points after the first (epoch > 0)."""
    curves = {}
    for run_id, run in rows.groupby("run_id", sort=True):
        run = run.sort_values("epoch")
        epoch, value = run["epoch"].to_numpy(float), run[loss].to_numpy(float)
        ok = np.isfinite(epoch) & np.isfinite(value) & (epoch > 0)
        curves[str(run_id)] = RunCurve(
            epoch[ok], value[ok], bool((run["status"] == Status.DIVERGED).any())
        )
    return curves


def common_range(curves: Iterable[RunCurve]) -> tuple[float, float] | None:
    """Epochs that every run covers: from the latest first point to the earliest last point of
    the runs that did not diverge (a diverged run's loss is infinite after its end)."""
    curves = [c for c in curves if len(c.epoch)]
    if not curves:
        return None
    start = max(c.epoch[0] for c in curves)
    ends = [c.epoch[-1] for c in curves if not c.diverged] or [c.epoch[-1] for c in curves]
    end = min(ends)
    return (start, end) if end >= start else None


def loss_at(curve: RunCurve, epochs: np.ndarray) -> np.ndarray:
    """Linear interpolation; infinite after the end of a diverged run (and for a diverged run
    without finite points), NaN outside a finished run's range."""
    if not len(curve.epoch):
        return np.full(len(epochs), math.inf if curve.diverged else math.nan)
    values = np.interp(epochs, curve.epoch, curve.loss, left=math.nan, right=math.nan)
    beyond = epochs > curve.epoch[-1] + 1e-9
    values[beyond] = math.inf if curve.diverged else math.nan
    return values


def epoch_grid(start: float, end: float, points: int = GRID_POINTS) -> np.ndarray:
    return np.linspace(start, end, points) if end > start else np.array([end])


@dataclass
class Stats:
    """Seed statistics of a loss at one or more epochs: mean, min and max over runs."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int

    def text(self, i: int = -1) -> str:
        return stats_text(self.mean[i], self.low[i], self.high[i], self.n)


def seed_stats(curves: Sequence[RunCurve], epochs: np.ndarray) -> Stats:
    values = np.array([loss_at(c, epochs) for c in curves])
    with np.errstate(invalid="ignore"):
        return Stats(values.mean(axis=0), values.min(axis=0), values.max(axis=0), len(curves))


def ratio(a: float, b: float) -> float:
    """a / b with inf/inf and 0/0 undefined (NaN)."""
    if (math.isinf(a) and math.isinf(b)) or b == 0 or is_missing(a) or is_missing(b):
        return math.nan
    return a / b


def direction(value: float, margin: float = LOSS_MARGIN) -> str:
    """'up' / 'down' beyond the relative margin around 1, 'flat' within it, 'n/a' if undefined."""
    if is_missing(value):
        return "n/a"
    if value > 1 + margin:
        return "up"
    if value < 1 - margin:
        return "down"
    return "flat"


@dataclass
class CurveComparison:
    """A method's seed-mean loss against a reference's at shared epochs."""

    epochs: np.ndarray
    method: Stats
    reference: Stats
    share_lower: float  # grid points where the method is lower by the margin
    separated: bool  # at the last point: lower by the margin, and seed ranges apart
    outcome: str  # "lower" / "not lower" / "unclear"


def compare_curves(
    method: Sequence[RunCurve], reference: Sequence[RunCurve], margin: float = LOSS_MARGIN
) -> CurveComparison | None:
    """ "lower": lower by the margin at >= MOST_OF_CURVE of the grid and, at the last point,
    by the margin with the seeds' ranges apart; "not lower": not lower by the margin at more
    than half of the grid; else "unclear". None when the runs share no epochs."""
    span = common_range([*method, *reference])
    if span is None:
        return None
    epochs = epoch_grid(*span)
    ours, ref = seed_stats(method, epochs), seed_stats(reference, epochs)
    with np.errstate(invalid="ignore"):
        lower = ours.mean < ref.mean * (1 - margin)
    share = float(lower.mean())
    separated = bool(lower[-1] and ours.high[-1] < ref.low[-1])
    if share >= MOST_OF_CURVE and separated:
        outcome = "lower"
    elif share < 0.5:
        outcome = "not lower"
    else:
        outcome = "unclear"
    return CurveComparison(epochs, ours, ref, share, separated, outcome)


def reference_curves(
    curves: dict[str, RunCurve], runs: pd.DataFrame, method: str
) -> tuple[str, list[RunCurve]] | None:
    """The runs of one preset of `method` in a setting (the best at the common end when the
    study tuned several presets of it), with the preset's name."""
    presets = sorted(runs.loc[runs["method"] == method, "optimizer"].unique())
    if not presets:
        return None
    groups = {p: [curves[r] for r in runs.loc[runs["optimizer"] == p, "run_id"]] for p in presets}
    if len(groups) == 1:
        return presets[0], groups[presets[0]]
    span = common_range([c for g in groups.values() for c in g])
    if span is None:
        return presets[0], groups[presets[0]]
    end = np.array([span[1]])
    best = min(presets, key=lambda p: float(seed_stats(groups[p], end).mean[0]))
    return best, groups[best]
