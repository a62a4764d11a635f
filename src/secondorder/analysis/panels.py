"""What a loss-curve figure shows, without drawing it: aggregated rows -> panels of
seed-averaged curves, each with its min-max band and how its runs ended. The figure, the
metrics and the report read the same panels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from secondorder.analysis.rows import (
    OTHER_AXES,
    RUN_SETTING_BY_PRESET,
    count_failed,
    count_runs,
    hparams_of,
    loss_column,
    x_values,
)
from secondorder.analysis.style import setting_label, sort_key
from secondorder.training.record import Status

# How a legend names a setting whose runs are untuned: its search excluded every grid point
# (secondorder.study.tuning: a point with a diverged, failed or non-finite seed is excluded).
UNTUNED_LABEL = "untuned: every grid point diverged or failed"


@dataclass(eq=False)  # holds arrays: compare by identity
class Curve:
    """One line of a panel: seed-mean curve, its min-max band, and how its runs ended."""

    key: tuple  # values of the line columns
    optimizer: str
    method: str
    x: np.ndarray
    y: np.ndarray
    y_min: np.ndarray
    y_max: np.ndarray
    epoch: np.ndarray  # epoch of each point (for per-epoch comparisons on any x axis)
    n_runs: int
    diverged_points: list[tuple[float, float]]  # last finite (x, y) of each diverged run
    time_per_epoch: float  # mean over runs of train_time_s / epoch at the last point
    fixed_step: bool = False  # a line-search method run with a fixed step (line_search: false)
    columns: tuple[str, ...] = ()  # names of the key's values (the figure's line columns)
    n_untuned: int = 0  # runs recorded but not trained: their search excluded every point
    n_failed: int = 0  # runs that raised (a failed tuning run's record), or ended unknown

    @property
    def n_diverged(self) -> int:
        return len(self.diverged_points)


@dataclass
class Panel:
    key: dict[str, Any]
    curves: list[Curve]

    @property
    def title(self) -> str:
        head = [setting_label(k, self.key[k]) for k in ("dataset", "model") if k in self.key]
        parts = [" / ".join(head)] if head else []
        parts += [setting_label(k, v) for k, v in self.key.items() if k not in ("dataset", "model")]
        return ", ".join(parts)


def _group_columns(
    table: pd.DataFrame, lines: str, panels: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """Panel columns: `panels`, or by default dataset, model and every other grid axis that
    varies (except `lines` and the optimizer); line columns: `lines`, then every other grid axis
    that varies and is in no panel column, so that no line mixes two settings."""
    if panels is None:
        panel = ["dataset", "model"]
        panel += [c for c in OTHER_AXES if c != lines and table[c].nunique() > 1]
    else:
        panel = list(panels)
    line = [lines]
    line += [
        c
        for c in RUN_SETTING_BY_PRESET
        if c not in panel and c != lines and c in table and table[c].nunique() > 1
    ]
    return panel, line


def _fixed_step(runs: pd.DataFrame) -> bool:
    """Whether the runs' resolved hyperparameters switch the line search off."""
    return hparams_of(runs.iloc[0]).get("line_search") is False


def _build_curve(
    key: tuple, columns: Sequence[str], runs: pd.DataFrame, x: str, loss: str
) -> Curve:
    runs = runs.copy()
    runs["_x"] = x_values(runs, x)
    runs["_y"] = runs[loss].astype(float)
    finite = np.isfinite(runs["_x"]) & np.isfinite(runs["_y"])
    if x in ("time", "work"):
        finite &= runs["_x"] > 0  # log x axis
    good = runs[finite]
    diverged, times = [], []
    for run_id, run in runs.groupby("run_id", sort=True):  # where each run ended
        ok = good[good["run_id"] == run_id]
        if len(ok):
            last = ok.sort_values("iteration").iloc[-1]
            if run["status"].iloc[0] == Status.DIVERGED:
                diverged.append((float(last["_x"]), float(last["_y"])))
            if "train_time_s" in last and last["epoch"] > 0:
                times.append(float(last["train_time_s"]) / float(last["epoch"]))
        elif run["status"].iloc[0] == Status.DIVERGED:
            diverged.append((float("nan"), float("nan")))
    statuses = runs.groupby("run_id")["status"].first()
    stats = (
        good.groupby("iteration")
        .agg(
            x=("_x", "mean"),
            y=("_y", "mean"),
            y_min=("_y", "min"),
            y_max=("_y", "max"),
            epoch=("epoch", "mean"),
        )
        .sort_index()
    )
    return Curve(
        key=key,
        optimizer=str(runs["optimizer"].iloc[0]),
        method=str(runs["method"].iloc[0]),
        x=stats["x"].to_numpy(),
        y=stats["y"].to_numpy(),
        y_min=stats["y_min"].to_numpy(),
        y_max=stats["y_max"].to_numpy(),
        epoch=stats["epoch"].to_numpy(),
        n_runs=runs["run_id"].nunique(),
        diverged_points=diverged,
        time_per_epoch=float(np.mean(times)) if times else float("nan"),
        fixed_step=_fixed_step(runs),
        columns=tuple(columns),
        n_untuned=count_runs(statuses, Status.UNTUNED),
        n_failed=count_failed(statuses),
    )


def build_panels(
    table: pd.DataFrame,
    *,
    x: str = "epoch",
    lines: str = "optimizer",
    panels: Sequence[str] | None = None,
) -> list[Panel]:
    """Group aggregated rows into panels and seed-averaged curves (what a figure shows)."""
    if table.empty or "iteration" not in table:
        return []
    loss = loss_column(table)
    panel_cols, line_cols = _group_columns(table, lines, panels)
    out = []
    for panel_key, rows in table.groupby(panel_cols, sort=False, dropna=False):
        panel_key = panel_key if isinstance(panel_key, tuple) else (panel_key,)
        curves = [
            _build_curve(
                line_key if isinstance(line_key, tuple) else (line_key,), line_cols, runs, x, loss
            )
            for line_key, runs in rows.groupby(line_cols, sort=False, dropna=False)
        ]
        curves.sort(key=lambda c: (sort_key(c.optimizer), *(sort_key(v) for v in c.key)))
        out.append(Panel(dict(zip(panel_cols, panel_key, strict=True)), curves))
    out.sort(key=lambda p: tuple(sort_key(v) for v in p.key.values()))
    return out


def curve_label(curve: Curve, lines: str) -> str:
    """Legend text of a curve (also names it in claims), with its divergences."""
    columns = list(curve.columns) or [lines, *(["optimizer"] if len(curve.key) > 1 else [])]
    parts = [setting_label(c, v) for c, v in zip(columns, curve.key, strict=False)]
    if lines != "optimizer" and "optimizer" in columns:  # the optimizer first: "SGD, batch 100"
        parts.insert(0, parts.pop(columns.index("optimizer")))
    label = ", ".join(parts)
    if curve.fixed_step and lines == "optimizer":
        label += " (fixed step)"
    for count, outcome in (
        (curve.n_diverged, "diverged"),
        (curve.n_untuned, UNTUNED_LABEL),
        (curve.n_failed, "failed"),
    ):
        if count:
            label += (
                f" ({outcome})"
                if count == curve.n_runs
                else f" ({outcome} {count}/{curve.n_runs} seeds)"
            )
    return label


def undrawn(curve: Curve) -> str | None:
    """Why a curve has no point to draw (its runs were untuned, failed, or diverged before
    their first logged loss), or None when it has one."""
    if len(curve.y):
        return None
    if curve.n_untuned:
        return "untuned, not trained"
    if curve.n_failed:
        return "failed"
    if curve.n_diverged:
        return "diverged before its first logged loss"
    return "no logged loss"
