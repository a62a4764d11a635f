"""What conjugate gradient does inside SHG, per method and setting (beyond the paper): CG
iterations per optimizer step, and why CG stopped (negative curvature, the iteration cap, or
converged), from the cost counters at the end of each run. A reader sees, e.g., that with ReLU
CG stops at negative or zero curvature almost at once, which is why SHG stalls there.

Records written before the stop counters existed lack those columns: the figure then shows the
CG iterations alone and says that the stop reasons were not recorded.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from secondorder import atomic
from secondorder.analysis.figures import save_figure
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.rows import RUN_SETTING, count_failed, count_runs
from secondorder.analysis.style import preset_ranks, preset_style, setting_label, sort_key
from secondorder.training.record import Status

STOP_COLUMNS = {
    "cg_negative_curvature_stops": "negative curvature",
    "cg_max_iter_stops": "iteration cap",
    "cg_converged_stops": "converged",
}
STOP_COLOURS = {
    "cg_negative_curvature_stops": "#D55E00",
    "cg_max_iter_stops": "#999999",
    "cg_converged_stops": "#009E73",
}
PER_STEP_COLUMNS = ("cg_iterations", "line_search_failures", "non_descent_directions")


def _steps(last: pd.Series) -> float:
    """Optimizer steps of a run: the counter when recorded, else its iterations."""
    steps = last.get("optimizer_steps", float("nan"))
    if steps is None or not np.isfinite(float(steps)) or float(steps) <= 0:
        steps = last["iteration"]
    return float(steps)


def run_diagnostics(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run that used CG (cg_iterations > 0): its setting, steps, counters per step,
    and the share of each CG stop reason (NaN when the record has no stop counters)."""
    rows = []
    if table.empty or "cg_iterations" not in table:
        return pd.DataFrame(rows)
    for run_id, run in table.groupby("run_id", sort=True):
        last = run.sort_values("iteration").iloc[-1]
        if not np.isfinite(float(last["cg_iterations"])) or float(last["cg_iterations"]) <= 0:
            continue
        steps = _steps(last)
        row = {"run_id": run_id, **{c: last[c] for c in RUN_SETTING}}
        row.update({"method": last["method"], "seed": last["seed"], "status": last["status"]})
        row["steps"] = steps
        for column in PER_STEP_COLUMNS:
            value = float(last[column]) if column in last else float("nan")
            row[f"{column}_per_step"] = value / steps if steps > 0 else float("nan")
        stops = {c: float(last[c]) if c in last else float("nan") for c in STOP_COLUMNS}
        total = sum(stops.values())
        for column, value in stops.items():
            row[f"{column}_share"] = value / total if total > 0 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def diagnostics_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting: mean over seeds of every per-step and share column, with the min and max
    of CG iterations per step."""
    if runs.empty:
        return pd.DataFrame()
    values = [c for c in runs if c.endswith(("_per_step", "_share"))]
    grouped = runs.groupby(list(RUN_SETTING), sort=False, dropna=False)
    summary = grouped[values].mean()
    summary["cg_iterations_per_step_min"] = grouped["cg_iterations_per_step"].min()
    summary["cg_iterations_per_step_max"] = grouped["cg_iterations_per_step"].max()
    summary["n_runs"] = grouped.size()
    summary["n_diverged"] = grouped["status"].apply(lambda s: count_runs(s, Status.DIVERGED))
    summary["n_untuned"] = grouped["status"].apply(lambda s: count_runs(s, Status.UNTUNED))
    summary["n_failed"] = grouped["status"].apply(count_failed)
    summary["method"] = grouped["method"].first()
    summary = summary.reset_index()
    return summary.sort_values(
        list(RUN_SETTING), key=lambda s: s.map(sort_key), kind="stable"
    ).reset_index(drop=True)


def _labels(summary: pd.DataFrame) -> list[str]:
    """A short label per row: dataset / model, then the settings that vary."""
    others = [c for c in RUN_SETTING if c not in ("dataset", "model")]
    varying = [c for c in others if summary[c].nunique() > 1]
    labels = []
    for row in summary.to_dict("records"):
        text = " / ".join(setting_label(c, row[c]) for c in ("dataset", "model"))
        details = [setting_label(c, row[c]) for c in varying]
        labels.append(text + (f", {', '.join(details)}" if details else ""))
    return labels


def plot_cg_diagnostics(
    aggregated_csv: Path,
    out_png: Path,
    out_pdf: Path,
    out_csv: Path,
    *,
    title: str = "",
    presets: Mapping[str, str] | None = None,
    beyond_paper: bool = True,
) -> pd.DataFrame:
    """Left: CG iterations per optimizer step (mean over seeds, min-max whiskers), one bar per
    setting in its preset's colour. Right: why CG stopped (share of solves). Also writes the
    numbers as CSV; returns them."""
    table = read_aggregated(Path(aggregated_csv))
    summary = diagnostics_summary(run_diagnostics(table))
    atomic.write_text(Path(out_csv), summary.to_csv(index=False))
    n = max(len(summary), 1)
    fig = Figure(figsize=(10.0, max(2.8, 1.4 + 0.32 * n)), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    if summary.empty:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no run used CG", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
    else:
        if presets is None:
            presets = dict(zip(summary["optimizer"], summary["method"], strict=True))
        ranks = preset_ranks(presets)
        y = np.arange(len(summary))[::-1]
        colours = [
            preset_style(m, ranks.get(o, 0))["color"]
            for o, m in zip(summary["optimizer"], summary["method"], strict=True)
        ]
        mean = summary["cg_iterations_per_step"].to_numpy(float)
        whiskers = np.vstack(
            [
                mean - summary["cg_iterations_per_step_min"].to_numpy(float),
                summary["cg_iterations_per_step_max"].to_numpy(float) - mean,
            ]
        )
        left.barh(y, mean, color=colours, xerr=whiskers, capsize=2, ecolor="0.3")
        left.set_yticks(y, _labels(summary), fontsize=7)
        left.set_xlabel("CG iterations per optimizer step (mean over seeds, min-max)", fontsize=8)
        left.set_title("How long CG runs", fontsize=9)
        _draw_stops(right, summary, y)
        for ax in (left, right):
            ax.tick_params(labelsize=7)
            ax.grid(True, axis="x", alpha=0.3)
    if beyond_paper:
        title = f"Beyond the paper. {title}" if title else "Beyond the paper"
    if title:
        fig.suptitle(textwrap.fill(title, width=130), fontsize=10)
    save_figure(fig, Path(out_png), "png")
    save_figure(fig, Path(out_pdf), "pdf")
    return summary


def _draw_stops(ax: Any, summary: pd.DataFrame, y: np.ndarray) -> None:
    shares = [f"{c}_share" for c in STOP_COLUMNS]
    if summary[shares].isna().all().all():
        ax.text(
            0.5,
            0.5,
            "stop reasons not recorded in these runs",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )
        ax.set_title("Why CG stopped", fontsize=9)
        return
    start = np.zeros(len(summary))
    for column, label in STOP_COLUMNS.items():
        share = summary[f"{column}_share"].fillna(0.0).to_numpy(float)
        ax.barh(y, share, left=start, color=STOP_COLOURS[column], label=label)
        start += share
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of CG solves, by why CG stopped (mean over seeds)", fontsize=8)
    ax.set_title("Why CG stopped", fontsize=9)
    ax.figure.legend(fontsize=7, frameon=False, loc="outside lower right", ncol=len(STOP_COLUMNS))
