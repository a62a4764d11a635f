"""Each run's training loss on a shared grid of epochs, the seeds' losses at one epoch, and one
curve against a reference curve.

A run that diverged, or was left untuned, has an infinite loss from the point where its record
ends (the paper's Figure 12 depends on counting an explosion as a failure, not as a shorter
curve; a method that could not be tuned did not train).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from secondorder.analysis.findings.decisions import Sample, claim_lower
from secondorder.analysis.findings.thresholds import GRID_POINTS, LOSS_MARGIN, MOST_OF_CURVE
from secondorder.analysis.findings.verdicts import FAILS, HOLDS
from secondorder.training.record import Status


@dataclass
class RunCurve:
    epoch: np.ndarray  # finite logging points, epoch > 0, in order
    loss: np.ndarray
    status: str
    seed: int

    @property
    def infinite_after_end(self) -> bool:
        """A run that diverged, or that was left untuned (every tuning point excluded: the
        method could not be made to train): its loss is infinite after its last point, and
        everywhere when it has none."""
        return self.status in (Status.DIVERGED, Status.UNTUNED)


def run_curves(rows: pd.DataFrame, loss: str) -> dict[str, RunCurve]:
    """Each run's training loss at its logging points after the first (epoch > 0)."""
    curves = {}
    for run_id, run in rows.groupby("run_id", sort=True):
        run = run.sort_values("epoch")
        epoch, value = run["epoch"].to_numpy(float), run[loss].to_numpy(float)
        ok = np.isfinite(epoch) & np.isfinite(value) & (epoch > 0)
        first = run.iloc[0]
        curves[str(run_id)] = RunCurve(
            epoch[ok], value[ok], str(first["status"]), int(first["seed"])
        )
    return curves


def common_range(curves: Iterable[RunCurve]) -> tuple[float, float] | None:
    """Epochs that every run covers: from the latest first point to the earliest last point of
    the runs that did not diverge (a diverged run's loss is infinite after its end)."""
    curves = [c for c in curves if len(c.epoch)]
    if not curves:
        return None
    start = max(c.epoch[0] for c in curves)
    ends = [c.epoch[-1] for c in curves if not c.infinite_after_end]
    end = min(ends or [c.epoch[-1] for c in curves])
    return (start, end) if end >= start else None


def loss_at(curve: RunCurve, epochs: np.ndarray) -> np.ndarray:
    """Linear interpolation; infinite after the end of a diverged or untuned run (and for one
    without finite points), NaN outside a finished run's range."""
    if not len(curve.epoch):
        return np.full(len(epochs), math.inf if curve.infinite_after_end else math.nan)
    values = np.interp(epochs, curve.epoch, curve.loss, left=math.nan, right=math.nan)
    beyond = epochs > curve.epoch[-1] + 1e-9
    values[beyond] = math.inf if curve.infinite_after_end else math.nan
    return values


def epoch_grid(start: float, end: float, points: int = GRID_POINTS) -> np.ndarray:
    return np.linspace(start, end, points) if end > start else np.array([end])


def mean_at(curves: Sequence[RunCurve], epochs: np.ndarray) -> np.ndarray:
    """The seed mean of the losses at `epochs` (infinite where a seed is)."""
    with np.errstate(invalid="ignore"):
        return np.array([loss_at(c, epochs) for c in curves]).mean(axis=0)


def sample_at(curves: Sequence[RunCurve], epoch: float) -> Sample:
    """The runs' losses at one epoch, one per seed, with how the unfinished ones ended."""
    at = np.array([epoch])
    return Sample.of(
        {c.seed: float(loss_at(c, at)[0]) for c in curves},
        [c.status for c in curves if c.status != Status.FINISHED],
    )


def end_samples(
    a: Sequence[RunCurve], b: Sequence[RunCurve]
) -> tuple[float, Sample, Sample] | None:
    """The last epoch that both groups of runs share, and each group's losses there (None:
    no run has a logging point)."""
    span = common_range([*a, *b])
    if span is None:
        return None
    return span[1], sample_at(a, span[1]), sample_at(b, span[1])


@dataclass
class CurveComparison:
    """A method's loss against a reference's on shared epochs, and at the last of them."""

    epochs: np.ndarray
    method: Sample  # at the last epoch
    reference: Sample
    share_lower: float  # grid points where the method's seed mean is lower by the margin
    end: str  # claim_lower(method, reference) at the last epoch: a verdict
    outcome: str  # "lower" / "not lower" / "unclear"


def compare_curves(
    method: Sequence[RunCurve], reference: Sequence[RunCurve], margin: float = LOSS_MARGIN
) -> CurveComparison | None:
    """ "lower": seed mean lower by the margin at >= MOST_OF_CURVE of the grid, and at the last
    point lower beyond the seed variation (:func:`claim_lower`); "not lower": at the last point
    the seeds rule a gain out, and the mean is lower at less than half of the grid; else
    "unclear". None when no run has a logging point."""
    span = common_range([*method, *reference])
    if span is None:
        return None
    epochs = epoch_grid(*span)
    with np.errstate(invalid="ignore"):
        lower = mean_at(method, epochs) < mean_at(reference, epochs) * (1 - margin)
    share = float(lower.mean())
    ours, ref = sample_at(method, span[1]), sample_at(reference, span[1])
    end = claim_lower(ours, ref, margin)
    if share >= MOST_OF_CURVE and end == HOLDS:
        outcome = "lower"
    elif share < 0.5 and end == FAILS:
        outcome = "not lower"
    else:
        outcome = "unclear"
    return CurveComparison(epochs, ours, ref, share, end, outcome)


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
    best = min(presets, key=lambda p: sample_at(groups[p], span[1]).mean)
    return best, groups[best]
