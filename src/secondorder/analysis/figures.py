"""Loss-curve figures (PNG and PDF): the panels of :mod:`secondorder.analysis.panels`, drawn
with the study's colours, clipping and axes; and the figure-file writer all figures share."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import ticker
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from secondorder import atomic
from secondorder.analysis.panels import Curve, Panel, build_panels, curve_label
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.rows import X_AXES, loss_column
from secondorder.analysis.style import preset_ranks, preset_style

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
    if x not in X_AXES:
        raise ValueError(f"x must be one of {X_AXES}, got {x!r}")
    table = read_aggregated(Path(aggregated_csv))
    found = build_panels(table, x=x, lines=lines, panels=panels)
    if presets is None and len(table):
        presets = dict(zip(table["optimizer"], table["method"], strict=True))
    preset_rank = preset_ranks(presets or {})
    loss = loss_column(table)
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
