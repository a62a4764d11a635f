"""Loss curves: aggregated rows -> panels of seed-averaged curves -> a figure (PNG and PDF)."""

from __future__ import annotations

import math
import textwrap
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
    dataset_label,
    model_label,
    optimizer_colour,
    optimizer_label,
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

    @property
    def n_diverged(self) -> int:
        return len(self.diverged_points)


@dataclass
class Panel:
    key: dict[str, Any]
    curves: list[Curve]

    @property
    def title(self) -> str:
        parts = [f"{dataset_label(self.key['dataset'])} / {model_label(self.key['model'])}"]
        parts += [f"{k}={v}" for k, v in self.key.items() if k not in ("dataset", "model")]
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


def _group_columns(table: pd.DataFrame, lines: str) -> tuple[list[str], list[str]]:
    """Panel columns: dataset, model and every other grid axis that varies (except `lines`);
    line columns: `lines`, plus the optimizer when it varies and is not `lines`."""
    panel = ["dataset", "model"]
    panel += [
        c for c in ("activation", "variant", "batch_size") if c != lines and table[c].nunique() > 1
    ]
    line = [lines]
    if lines != "optimizer" and table["optimizer"].nunique() > 1:
        line.append("optimizer")
    return panel, line


def _build_curve(key: tuple, runs: pd.DataFrame, x: str, loss: str) -> Curve:
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
    )


def build_panels(table: pd.DataFrame, *, x: str = "epoch", lines: str = "optimizer") -> list[Panel]:
    """Group aggregated rows into panels and seed-averaged curves (what a figure shows)."""
    if table.empty or "iteration" not in table:
        return []
    loss = _loss_column(table)
    panel_cols, line_cols = _group_columns(table, lines)
    panels = []
    for panel_key, rows in table.groupby(panel_cols, sort=False, dropna=False):
        panel_key = panel_key if isinstance(panel_key, tuple) else (panel_key,)
        curves = [
            _build_curve(line_key if isinstance(line_key, tuple) else (line_key,), runs, x, loss)
            for line_key, runs in rows.groupby(line_cols, sort=False, dropna=False)
        ]
        curves.sort(key=lambda c: (sort_key(c.optimizer), *(sort_key(v) for v in c.key)))
        panels.append(Panel(dict(zip(panel_cols, panel_key, strict=True)), curves))
    panels.sort(key=lambda p: (sort_key(p.key["dataset"]), sort_key(p.key["model"])))
    return panels


def _curve_style(curve: Curve, lines: str, rank: int, count: int) -> dict[str, Any]:
    base = to_rgb(optimizer_colour(curve.optimizer))
    if lines == "optimizer":
        return {"color": base, "linestyle": "-"}
    # Several lines per optimizer: same hue, darker for later values, distinct dashes.
    shade = 0.55 * (1 - rank / max(count - 1, 1))
    colour = tuple(c + (1 - c) * shade for c in base)
    return {"color": colour, "linestyle": _LINESTYLES[rank % len(_LINESTYLES)]}


def curve_label(curve: Curve, lines: str) -> str:
    """Legend text of a curve (also names it in claims), with its divergences."""
    if lines == "optimizer":
        label = optimizer_label(curve.optimizer)
    else:
        label = f"{lines}={curve.key[0]}"
        if len(curve.key) > 1:
            label = f"{optimizer_label(curve.optimizer)}, {label}"
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


def _savefig(fig: Figure, path: Path, fmt: str) -> None:
    # Fixed metadata so that identical data give identical files.
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=200, metadata=metadata)


def plot_loss_curves(
    aggregated_csv: Path,
    out_png: Path,
    out_pdf: Path,
    *,
    x: str = "epoch",
    title: str = "",
    lines: str = "optimizer",
) -> list[Panel]:
    """Training loss curves: one panel per (dataset, model), one line per `lines` value.

    Seeds are averaged point by point (min-max band when several); diverged runs end at their
    last finite point, marked with an 'x'. y is log scale; x is epochs, wall time (log) or data
    passes including all work (log). Returns the panels (for claims and tests).
    """
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {tuple(X_LABELS)}, got {x!r}")
    table = read_aggregated(Path(aggregated_csv))
    panels = build_panels(table, x=x, lines=lines)
    loss = _loss_column(table) if len(table) else "train_loss"
    n = max(len(panels), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    width = max(3.4 * ncols, 4.2)
    fig = Figure(figsize=(width, 2.9 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    if not panels:
        axes[0].text(0.5, 0.5, "no data", ha="center", va="center", transform=axes[0].transAxes)
    y_label = (
        "training loss, full training set (log)"
        if loss == "full_train_loss"
        else "training loss, running mean (log)"
    )
    for ax, panel in zip(axes, panels, strict=False):
        by_opt: dict[str, list[Curve]] = {}
        for curve in panel.curves:
            by_opt.setdefault(curve.optimizer, []).append(curve)
        for curve in panel.curves:
            group = by_opt[curve.optimizer]
            style = _curve_style(curve, lines, group.index(curve), len(group))
            ax.plot(curve.x, curve.y, lw=1.4, label=curve_label(curve, lines), **style)
            if curve.n_runs > 1 and len(curve.x):
                ax.fill_between(
                    curve.x, curve.y_min, curve.y_max, color=style["color"], alpha=0.18, lw=0
                )
            for px, py in curve.diverged_points:
                if np.isfinite(px) and np.isfinite(py):
                    ax.plot(px, py, marker="x", ms=7, mew=2, color=style["color"], ls="none")
        if any((c.y > 0).any() for c in panel.curves if len(c.y)):
            ax.set_yscale("log")
            _plain_log_labels(ax.yaxis, *ax.get_ylim())
        if x in ("time", "work") and any(len(c.x) for c in panel.curves):
            ax.set_xscale("log")
            _plain_log_labels(ax.xaxis, *ax.get_xlim())
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel(X_LABELS[x], fontsize=8)
        ax.set_ylabel(y_label, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(textwrap.fill(title, width=int(width * 13)), fontsize=10)
    _savefig(fig, Path(out_png), "png")
    _savefig(fig, Path(out_pdf), "pdf")
    return panels
