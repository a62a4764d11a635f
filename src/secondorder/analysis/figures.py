"""Loss-curve figures (PNG and PDF): the panels of :mod:`secondorder.analysis.panels`, drawn
with the study's colours, clipping and axes; and the figure-file writer all figures share."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from secondorder import atomic
from secondorder.analysis.panels import Curve, Panel, build_panels, curve_label, undrawn
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.rows import X_AXES, loss_column
from secondorder.analysis.style import preset_ranks, preset_style, sort_key

_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
X_LABELS = {
    "epoch": "epoch (iterations × batch size / N)",
    "time": "training wall time (s, log)",
    "work": "work: gradient-equivalents / N (passes over the training set, log)",
}

X_DESCRIPTIONS = {
    "epoch": "x: epochs, iterations x batch size / N (N = training-set size), as in the paper.",
    "time": "x: wall time of training in seconds (device synchronised; evaluation excluded).",
    "work": "x: work done, in passes over the training set counted in gradient-equivalents: "
    "(samples through a gradient + 2 x samples through a curvature-vector product + 1/3 x "
    "samples through a forward pass alone, e.g. a line-search trial) / N, the step-cost "
    "table's definition; for SGD it equals its epochs.",
}


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


def healthy_range(panels: Panel | Sequence[Panel]) -> tuple[float, float]:
    """The y range (positive) of the curves with no diverged run, or of all curves when every
    one diverged, over one panel or a row of panels that share their loss axis: a diverged
    run's huge finite losses must not flatten the healthy curves."""
    curves = [c for p in ([panels] if isinstance(panels, Panel) else panels) for c in p.curves]
    healthy = [c for c in curves if len(c.y) and not c.n_diverged]
    values = np.concatenate(
        [np.r_[c.y_min, c.y_max] for c in (healthy or curves) if len(c.y)] or [np.empty(0)]
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
    y_range: tuple[float, float] | None = None,
) -> list[str]:
    """Draw one panel, presets in `order` (the study's) first, on the loss range `y_range`
    (default: its own healthy range); return the labels of curves clipped at the top of the
    axis. A curve with nothing to draw (untuned, failed) still has its legend entry."""
    low, high = y_range or healthy_range(panel)
    has_range = np.isfinite(low) and np.isfinite(high)
    log_y = has_range and high / low > 10  # curves span more than a decade
    top = (high * 2.0 if log_y else high + 0.15 * (high - low or high)) if has_range else np.inf
    by_opt: dict[str, list[Curve]] = {}
    for curve in panel.curves:
        by_opt.setdefault(curve.optimizer, []).append(curve)
    clipped, stops = [], 0
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
                stops += 1
                ax.plot(px, min(py, top), color=style["color"], clip_on=False, **_STOP)
    if stops:  # the marker explained once, in the legend
        ax.plot([], [], color="0.35", label="where a diverged run stopped", **_STOP)
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


_STOP = {"marker": "x", "ms": 7, "mew": 2, "ls": "none"}


def _panel_note(ax: Any, panel: Panel, lines: str, clipped: Sequence[str]) -> None:
    """Say in the panel which curves are clipped at the top and which have no curve, and why
    (untuned, failed, diverged before their first logged loss)."""
    missing = [
        f"{curve_label(c, lines).split(' (')[0]}: {why}"
        for c in panel.curves
        if (why := undrawn(c)) is not None
    ]
    notes = (["no curve: " + "; ".join(missing)] if missing else []) + (
        ["clipped at the top: " + "; ".join(clipped)] if clipped else []
    )
    if notes:
        text = "\n".join(textwrap.fill(note, width=60) for note in notes)
        ax.text(
            0.99, 0.99, text, fontsize=6, ha="right", va="top", transform=ax.transAxes, color="0.3"
        )


def layout(found: Sequence[Panel]) -> list[list[Panel | None]]:
    """The panels' grid: one row per dataset and one column per value of the other panel keys
    when there are several datasets and some has several panels (Figures 7-8: datasets x
    methods; a missing pair is an empty slot), else rows of at most 3 panels, as few columns as
    that allows (4 panels: 2 x 2), with no empty slot but in the last row."""
    datasets = list(dict.fromkeys(p.key.get("dataset") for p in found))
    if len(datasets) > 1 and len(found) > len(datasets) and all("dataset" in p.key for p in found):

        def rest(panel: Panel) -> tuple:
            return tuple(v for k, v in panel.key.items() if k != "dataset")

        others = sorted({rest(p) for p in found}, key=lambda r: tuple(map(sort_key, r)))
        cells = {(p.key["dataset"], rest(p)): p for p in found}
        return [[cells.get((d, o)) for o in others] for d in datasets]
    ncols = math.ceil(len(found) / math.ceil(len(found) / 3)) if found else 1
    return [list(found[i : i + ncols]) for i in range(0, len(found), ncols)] or [[]]


def _shares_y(row: Sequence[Panel | None]) -> bool:
    """Whether a row of panels shares its loss axis: all of one dataset, more than one."""
    panels = [p for p in row if p is not None]
    return len(panels) > 1 and len({p.key.get("dataset") for p in panels}) == 1


def loss_curve_figure(
    table: pd.DataFrame,
    *,
    x: str = "epoch",
    title: str = "",
    lines: str = "optimizer",
    panels: Sequence[str] | None = None,
    presets: Mapping[str, str] | None = None,
    beyond_paper: bool = False,
) -> tuple[Figure, list[Panel]]:
    """The figure of :func:`plot_loss_curves` from aggregated rows, and its panels: one axes
    per panel on the grid of :func:`layout`, a shared loss axis across a row of one dataset."""
    if x not in X_AXES:
        raise ValueError(f"x must be one of {X_AXES}, got {x!r}")
    found = build_panels(table, x=x, lines=lines, panels=panels)
    if presets is None and len(table):
        presets = dict(zip(table["optimizer"], table["method"], strict=True))
    preset_rank = preset_ranks(presets or {})
    grid = layout(found)
    ncols = max(len(row) for row in grid) or 1
    width = max(3.6 * ncols, 4.4)
    fig = Figure(figsize=(width, 3.0 * len(grid) + 0.6), layout="constrained")
    spec = fig.add_gridspec(len(grid), ncols)
    if not found:
        ax = fig.add_subplot(spec[0, 0])
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    y_label = (
        "training loss, full training set"
        if loss_column(table) == "full_train_loss"
        else "training loss, running mean"
    )
    for r, row in enumerate(grid):
        shared = _shares_y(row)
        row_range = healthy_range([p for p in row if p is not None]) if shared else None
        first = None
        for c, panel in enumerate(row):
            if panel is None:
                continue
            ax = fig.add_subplot(spec[r, c], sharey=first if shared else None)
            first = first or ax
            clipped = _draw_panel(ax, panel, x, lines, preset_rank, list(presets or {}), row_range)
            ax.set_title(panel.title, fontsize=9)
            ax.set_xlabel(X_LABELS[x], fontsize=8)
            if ax is first or not shared:
                scale = " (log)" if ax.get_yscale() == "log" else ""
                ax.set_ylabel(y_label + scale, fontsize=8)
            else:
                ax.tick_params(which="both", labelleft=False)
            ax.tick_params(which="both", labelsize=7)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=6.5, frameon=False)
            _panel_note(ax, panel, lines, clipped)
    if beyond_paper:
        title = f"Beyond the paper. {title}" if title else "Beyond the paper"
    if title:
        fig.suptitle(
            textwrap.fill(title, width=int(width * 13), break_on_hyphens=False), fontsize=10
        )
    return fig, found


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
    whatever else varies), one line per `lines` value; several datasets with several panels
    each are laid out datasets x the rest, each dataset's row on one loss axis.

    Seeds are averaged point by point (min-max band when several). Diverged runs end at their
    last finite point, marked with an 'x'; their losses above twice the healthy curves' range
    are clipped to the top of the axis (and said so). An untuned or failed setting has no curve
    but its legend entry and a note in its panel saying why. y is log scale when the curves span
    more than a decade; x is epochs, wall time (log) or work in gradient-equivalents (log).
    `presets` (name -> method, in the study's order) fixes each preset's colour across figures.
    Returns the panels (for claims and tests).
    """
    fig, found = loss_curve_figure(
        read_aggregated(Path(aggregated_csv)),
        x=x,
        title=title,
        lines=lines,
        panels=panels,
        presets=presets,
        beyond_paper=beyond_paper,
    )
    save_figure(fig, Path(out_png), "png")
    save_figure(fig, Path(out_pdf), "pdf")
    return found
