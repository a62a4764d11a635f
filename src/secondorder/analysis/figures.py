"""Loss curves: aggregated rows -> panels of seed-averaged curves -> a figure (PNG and PDF)."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from secondorder import atomic
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.style import (
    preset_ranks,
    preset_style,
    setting_label,
    sort_key,
)

_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
X_LABELS = {
    "epoch": "epoch (iterations × batch size / N)",
    "time": "training wall time (s, log)",
    "work": "data passes incl. all work (log)",
}

X_DESCRIPTIONS = {
    "epoch": "x: epochs, iterations x batch size / N (N = training-set size), as in the paper.",
    "time": "x: wall time of training in seconds (device synchronised; evaluation excluded).",
    "work": "x: data passes including all work: samples through every forward pass "
    "(gradients, curvature products, line-search trials) divided by N.",
}


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


def _loss_column(table: pd.DataFrame) -> str:
    """full_train_loss when every run has it, else the running mean of mini-batch losses."""
    if "full_train_loss" in table and len(table):
        has_full = table.groupby("run_id")["full_train_loss"].apply(
            lambda s: bool(np.isfinite(s.to_numpy(dtype=float)).any())
        )
        if bool(has_full.all()):
            return "full_train_loss"
    return "train_loss"


def _x_values(runs: pd.DataFrame, x: str) -> pd.Series:
    if x == "epoch":
        return runs["epoch"].astype(float)
    if x == "time":
        return runs["train_time_s"].astype(float)
    if x == "work":
        if "forward_samples" not in runs:
            return pd.Series(np.nan, index=runs.index)
        return runs["forward_samples"].astype(float) / runs["train_size"].astype(float)
    raise ValueError(f"x must be one of {tuple(X_LABELS)}, got {x!r}")


GRID_COLUMNS = ("dataset", "model", "optimizer", "activation", "variant", "batch_size")


def _group_columns(
    table: pd.DataFrame, lines: str, panels: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """Panel columns: `panels`, or by default dataset, model and every other grid axis that
    varies (except `lines` and the optimizer); line columns: `lines`, then every other grid axis
    that varies and is in no panel column, so that no line mixes two settings."""
    if panels is None:
        panel = ["dataset", "model"]
        panel += [
            c
            for c in ("activation", "variant", "batch_size")
            if c != lines and table[c].nunique() > 1
        ]
    else:
        panel = list(panels)
    line = [lines]
    line += [
        c
        for c in GRID_COLUMNS
        if c not in panel and c != lines and c in table and table[c].nunique() > 1
    ]
    return panel, line


def _fixed_step(runs: pd.DataFrame) -> bool:
    """Whether the runs' resolved hyperparameters switch the line search off."""
    if "hparams" not in runs:
        return False
    text = runs["hparams"].iloc[0]
    return isinstance(text, str) and json.loads(text or "{}").get("line_search") is False


def _build_curve(
    key: tuple, columns: Sequence[str], runs: pd.DataFrame, x: str, loss: str
) -> Curve:
    runs = runs.copy()
    runs["_x"] = _x_values(runs, x)
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
            if run["status"].iloc[0] == "diverged":
                diverged.append((float(last["_x"]), float(last["_y"])))
            if "train_time_s" in last and last["epoch"] > 0:
                times.append(float(last["train_time_s"]) / float(last["epoch"]))
        elif run["status"].iloc[0] == "diverged":
            diverged.append((float("nan"), float("nan")))
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
    loss = _loss_column(table)
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


def _curve_style(
    curve: Curve, lines: str, rank: int, count: int, preset_rank: Mapping[str, int]
) -> dict[str, Any]:
    if lines == "optimizer":
        return preset_style(
            curve.method, preset_rank.get(curve.optimizer, 0), fixed_step=curve.fixed_step
        )
    # Several lines per optimizer preset: its colour, lighter for earlier values, distinct dashes.
    base = to_rgb(preset_style(curve.method, preset_rank.get(curve.optimizer, 0))["color"])
    shade = 0.55 * (1 - rank / max(count - 1, 1))
    colour = tuple(c + (1 - c) * shade for c in base)
    return {"color": colour, "linestyle": _LINESTYLES[rank % len(_LINESTYLES)]}


def curve_label(curve: Curve, lines: str) -> str:
    """Legend text of a curve (also names it in claims), with its divergences."""
    columns = list(curve.columns) or [lines, *(["optimizer"] if len(curve.key) > 1 else [])]
    parts = [setting_label(c, v) for c, v in zip(columns, curve.key, strict=False)]
    if lines != "optimizer" and "optimizer" in columns:  # the optimizer first: "SGD, batch 100"
        parts.insert(0, parts.pop(columns.index("optimizer")))
    label = ", ".join(parts)
    if curve.fixed_step and lines == "optimizer":
        label += " (fixed step)"
    if curve.n_diverged:
        label += (
            " (diverged)"
            if curve.n_diverged == curve.n_runs
            else f" (diverged {curve.n_diverged}/{curve.n_runs} seeds)"
        )
    return label


def _plain_log_labels(axis: Any, low: float, high: float) -> None:
    """Log-axis labels as plain numbers; minor ticks 2 and 5 labelled too on ranges of less
    than two decades (where the decades alone give one or two labels)."""
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    axis.set_major_formatter(plain)
    if low > 0 and high / low < 100:
        axis.set_minor_locator(ticker.LogLocator(base=10, subs=(2.0, 5.0)))
        axis.set_minor_formatter(plain)
    else:
        axis.set_minor_formatter(ticker.NullFormatter())


def save_figure(fig: Figure, path: Path, fmt: str) -> None:
    # Fixed metadata so that identical data give identical files.
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=200, metadata=metadata)


def healthy_range(panel: Panel) -> tuple[float, float]:
    """The y range (positive) of the curves with no diverged run, or of all curves when every
    one diverged: a diverged run's huge finite losses must not flatten the healthy curves."""
    healthy = [c for c in panel.curves if len(c.y) and not c.n_diverged]
    values = np.concatenate(
        [np.r_[c.y_min, c.y_max] for c in (healthy or panel.curves) if len(c.y)] or [np.empty(0)]
    )
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return float("nan"), float("nan")
    return float(values.min()), float(values.max())


def _draw_panel(
    ax: Any,
    panel: Panel,
    x: str,
    lines: str,
    preset_rank: Mapping[str, int],
    order: Sequence[str] = (),
) -> list[str]:
    """Draw one panel, presets in `order` (the study's) first; return the labels of curves
    clipped at the top of the axis."""
    low, high = healthy_range(panel)
    has_range = np.isfinite(low) and np.isfinite(high)
    log_y = has_range and high / low > 10  # curves span more than a decade
    top = (high * 2.0 if log_y else high + 0.15 * (high - low or high)) if has_range else np.inf
    by_opt: dict[str, list[Curve]] = {}
    for curve in panel.curves:
        by_opt.setdefault(curve.optimizer, []).append(curve)
    clipped = []
    position = {name: i for i, name in enumerate(order)}
    for curve in sorted(panel.curves, key=lambda c: position.get(c.optimizer, len(position))):
        group = by_opt[curve.optimizer]
        style = _curve_style(curve, lines, group.index(curve), len(group), preset_rank)
        label = curve_label(curve, lines)
        if len(curve.y) and np.nanmax(curve.y_max) > top:
            clipped.append(label)
        ax.plot(curve.x, np.minimum(curve.y, top), lw=1.4, label=label, **style)
        if curve.n_runs > 1 and len(curve.x):
            ax.fill_between(
                curve.x,
                np.minimum(curve.y_min, top),
                np.minimum(curve.y_max, top),
                color=style["color"],
                alpha=0.18,
                lw=0,
            )
        for px, py in curve.diverged_points:  # where a run stopped: 'x', at the top if clipped
            if np.isfinite(px) and np.isfinite(py):
                ax.plot(
                    px,
                    min(py, top),
                    marker="x",
                    ms=7,
                    mew=2,
                    color=style["color"],
                    ls="none",
                    clip_on=False,
                )
    if log_y:
        ax.set_yscale("log")
    if has_range:
        bottom = low / 1.3 if log_y else max(low - 0.05 * (high - low), 0.0)
        ax.set_ylim(bottom, top if np.isfinite(top) else None)
    if log_y:
        _plain_log_labels(ax.yaxis, *ax.get_ylim())
    if x in ("time", "work") and any(len(c.x) for c in panel.curves):
        ax.set_xscale("log")
        _plain_log_labels(ax.xaxis, *ax.get_xlim())
    return clipped


def plot_loss_curves(
    aggregated_csv: Path,
    out_png: Path,
    out_pdf: Path,
    *,
    x: str = "epoch",
    title: str = "",
    lines: str = "optimizer",
    panels: Sequence[str] | None = None,
    presets: Mapping[str, str] | None = None,
    beyond_paper: bool = False,
) -> list[Panel]:
    """Training loss curves: one panel per `panels` value (default: per dataset and model, and
    whatever else varies), one line per `lines` value.

    Seeds are averaged point by point (min-max band when several). Diverged runs end at their
    last finite point, marked with an 'x'; their losses above twice the healthy curves' range
    are clipped to the top of the axis (and said so). y is log scale when the curves span more
    than a decade; x is epochs, wall time (log) or data passes including all work (log).
    `presets` (name -> method, in the study's order) fixes each preset's colour across figures.
    Returns the panels (for claims and tests).
    """
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {tuple(X_LABELS)}, got {x!r}")
    table = read_aggregated(Path(aggregated_csv))
    found = build_panels(table, x=x, lines=lines, panels=panels)
    if presets is None and len(table):
        presets = dict(zip(table["optimizer"], table["method"], strict=True))
    preset_rank = preset_ranks(presets or {})
    loss = _loss_column(table) if len(table) else "train_loss"
    n = max(len(found), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    width = max(3.6 * ncols, 4.4)
    fig = Figure(figsize=(width, 3.0 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(found) :]:
        ax.set_axis_off()
    if not found:
        axes[0].text(0.5, 0.5, "no data", ha="center", va="center", transform=axes[0].transAxes)
    y_label = (
        "training loss, full training set"
        if loss == "full_train_loss"
        else "training loss, running mean"
    )
    for ax, panel in zip(axes, found, strict=False):
        clipped = _draw_panel(ax, panel, x, lines, preset_rank, list(presets or {}))
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel(X_LABELS[x], fontsize=8)
        ax.set_ylabel(y_label + (" (log)" if ax.get_yscale() == "log" else ""), fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6.5, frameon=False)
        if clipped:
            ax.text(
                0.99,
                0.99,
                "clipped at the top: " + "; ".join(clipped),
                fontsize=6,
                ha="right",
                va="top",
                transform=ax.transAxes,
                color="0.3",
            )
    if beyond_paper:
        title = f"Beyond the paper. {title}" if title else "Beyond the paper"
    if title:
        fig.suptitle(textwrap.fill(title, width=int(width * 13)), fontsize=10)
    save_figure(fig, Path(out_png), "png")
    save_figure(fig, Path(out_pdf), "pdf")
    return found
