"""What one optimizer step costs, per method and setting (beyond the paper): the reviewers asked
for a per-step cost comparison and what "one epoch" means for a second-order method, whose CG
products and line-search passes an epoch axis does not count.

From the cost counters at the end of each run (:class:`secondorder.cost.CostCounters`, the
counter columns of ``metrics.csv``), per optimizer step: gradient-equivalents (the step's work in
mini-batch gradients, :func:`secondorder.analysis.rows.gradient_equivalent_samples`, the
definition the figures' work axis reads too), curvature-vector products, line-search trials, CG
iterations (where the method runs CG) and training seconds; and the data passes one epoch makes
including all work (gradient-equivalent samples / N), which is what one epoch of the paper's x
axis costs each method in SGD's epochs. Means over seeds with min-max;
rows of diverged, untuned and failed runs are marked, not dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secondorder import atomic
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.rows import (
    CURVATURE_PRODUCT_GRADIENTS,
    FORWARD_GRADIENTS,
    OTHER_AXES,
    RUN_SETTING,
    count_failed,
    count_runs,
    gradient_equivalent_samples,
    varying,
)
from secondorder.analysis.style import is_missing, optimizer_label, setting_label, sort_key
from secondorder.analysis.tables import reduced_scale
from secondorder.analysis.tabular import write_markdown_and_latex
from secondorder.training.record import Status

CG_STOPS = ("cg_negative_curvature_stops", "cg_max_iter_stops", "cg_converged_stops")

# The per-step quantities of the table: CSV column stem -> Markdown header.
QUANTITIES = {
    "gradient_equivalents_per_step": "Gradient-equivalents / step",
    "curvature_products_per_step": "Curvature products / step",
    "line_search_trials_per_step": "Line-search trials / step",
    "cg_iterations_per_step": "CG iterations / step",
    "seconds_per_step": "Seconds / step",
    "data_passes_per_epoch": "Data passes / epoch",
}


def _counter(last: pd.Series, name: str) -> float:
    """A counter at a run's last logging point (NaN when the record lacks it)."""
    value = last.get(name, np.nan)
    return float(value) if not is_missing(value) else np.nan


def _steps(last: pd.Series) -> float:
    """Optimizer steps of a run: the counter when recorded, else its iterations (NaN: none)."""
    steps = _counter(last, "optimizer_steps")
    if not steps > 0:
        steps = _counter(last, "iteration")
    return steps if steps > 0 else np.nan


def _runs_cg(last: pd.Series) -> bool:
    """Whether the run made CG solves (one stop counted per solve; older records: iterations)."""
    stops = [_counter(last, c) for c in CG_STOPS]
    if all(np.isnan(stops)):
        return _counter(last, "cg_iterations") > 0
    return np.nansum(stops) > 0


def run_costs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its setting, status, steps and every per-step quantity of
    :data:`QUANTITIES` (NaN where it made no step, or where the record lacks the counter;
    CG iterations NaN where it ran no CG)."""
    rows = []
    if table.empty:
        return pd.DataFrame(rows)
    for run_id, run in table.groupby("run_id", sort=True):
        run = run.sort_values("iteration") if "iteration" in run else run
        last = run.iloc[-1]
        steps = _steps(last)
        samples = float(gradient_equivalent_samples(run).iloc[-1])
        epochs = _counter(last, "epoch")
        train_size = _counter(last, "train_size")
        cg = _counter(last, "cg_iterations") / steps if _runs_cg(last) else np.nan
        rows.append(
            {
                "run_id": run_id,
                **{c: last[c] for c in RUN_SETTING},
                "method": last["method"],
                "seed": last["seed"],
                "status": last["status"],
                "device": last.get("device"),
                "train_subset": last.get("train_subset"),
                "test_subset": last.get("test_subset"),
                "steps": steps,
                "gradient_equivalents_per_step": samples / steps / float(last["batch_size"]),
                "curvature_products_per_step": _counter(last, "curvature_products") / steps,
                "line_search_trials_per_step": _counter(last, "line_search_trials") / steps,
                "cg_iterations_per_step": cg,
                "seconds_per_step": _counter(last, "train_time_s") / steps,
                "data_passes_per_epoch": (
                    samples / train_size / epochs if epochs > 0 and train_size > 0 else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)


def cost_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting (RUN_SETTING: dataset, model, activation, variant, preset, batch size): the
    mean, min and max over its runs of every quantity (runs without steps left out of them),
    the run counts by how they ended, and its method."""
    if runs.empty:
        return pd.DataFrame()
    grouped = runs.groupby(list(RUN_SETTING), sort=False, dropna=False)
    summary = grouped[list(QUANTITIES)].mean()
    for stat in ("min", "max"):
        summary = summary.join(grouped[list(QUANTITIES)].agg(stat).add_suffix(f"_{stat}"))
    summary["n_runs"] = grouped.size()
    summary["n_seeds"] = grouped["seed"].nunique()
    summary["n_diverged"] = grouped["status"].apply(lambda s: count_runs(s, Status.DIVERGED))
    summary["n_untuned"] = grouped["status"].apply(lambda s: count_runs(s, Status.UNTUNED))
    summary["n_failed"] = grouped["status"].apply(count_failed)
    summary["method"] = grouped["method"].first()
    summary["train_subset"] = grouped["train_subset"].max()
    summary["test_subset"] = grouped["test_subset"].max()
    summary = summary.reset_index()
    return summary.sort_values(
        list(RUN_SETTING), key=lambda s: s.map(sort_key), kind="stable"
    ).reset_index(drop=True)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def cost_cell(row: Mapping[str, Any], quantity: str) -> str:
    """'120 (118-122)': the mean over seeds and, where the seeds differ, their min-max; 'n/a'
    where no run made a step, '–' for CG iterations of a method without CG."""
    mean = row[quantity]
    if is_missing(mean):
        return "–" if quantity == "cg_iterations_per_step" and _made_steps(row) else "n/a"
    low, high = row[f"{quantity}_min"], row[f"{quantity}_max"]
    text = _number(mean)
    if _number(low) != _number(high):
        text += f" ({_number(low)}-{_number(high)})"
    return text


def _made_steps(row: Mapping[str, Any]) -> bool:
    return not is_missing(row["seconds_per_step"])


def runs_cell(row: Mapping[str, Any]) -> str:
    """'3', or '3 (1 diverged, 1 untuned)': the runs of a row and how many did not finish."""
    ended = [
        f"{row[f'n_{outcome}']} {outcome}"
        for outcome in ("diverged", "untuned", "failed")
        if row[f"n_{outcome}"]
    ]
    return f"{row['n_runs']}" + (f" ({', '.join(ended)})" if ended else "")


def _setting(row: Mapping[str, Any], extra: list[str]) -> str:
    text = " / ".join(setting_label(c, row[c]) for c in ("dataset", "model"))
    details = [setting_label(c, row[c]) for c in extra]
    return text + (f", {', '.join(details)}" if details else "")


def _notes(summary: pd.DataFrame, runs: pd.DataFrame, extra: list[str]) -> list[str]:
    product, forward = (
        CURVATURE_PRODUCT_GRADIENTS,
        Fraction(FORWARD_GRADIENTS).limit_denominator(10),
    )
    notes = [
        "Gradient-equivalents per step: the work of one optimizer step in mini-batch gradients "
        "(one forward and backward pass on the row's batch size B), from the runs' cost "
        f"counters: (samples through a gradient + {product:g} x samples through a "
        f"curvature-vector product + {forward} x samples through a forward pass alone, e.g. a "
        f"line-search trial) / B. A Hessian- or Gauss-Newton-vector product counts as "
        f"{product:g} gradients (the authors' reply in the review thread, forward-over-reverse "
        "as in Pearlmutter 1994; assumed the same for Gauss-Newton); a forward pass alone as "
        f"{forward} of a gradient (a backward pass costs about two forwards). SGD's step is 1 "
        "by definition.",
        "Data passes per epoch: gradient-equivalent samples / training-set size N per epoch "
        "(N/B steps), i.e. what one epoch of the paper's x axis costs each method in SGD's "
        "epochs, CG products and line-search passes included.",
        "Curvature products: Hessian- or Gauss-Newton-vector products (SHG: one per CG "
        "iteration, plus the residual of a warm-started solve; SQN: one per curvature pair); "
        "–: the method runs no CG. Seconds per step: training wall time (evaluation excluded) "
        "/ steps.",
        "Cells: mean over seeds (min-max where the seeds differ).",
    ]
    devices = sorted({str(d) for d in runs["device"] if not is_missing(d)})
    notes.append("Device: " + (", ".join(devices) if devices else "not recorded") + ".")
    scale = {tuple(reduced_scale(row)) for row in summary.to_dict("records")}
    for item in sorted(s for s in scale if s):
        notes.append(
            "Reduced scale: " + ", ".join(item) + " (the paper uses the full sets): a gradient "
            "on a fraction of the training set (SHG, GD) costs fewer mini-batch gradients here."
        )
    for row in summary.to_dict("records"):
        where = f"{_setting(row, extra)}, {optimizer_label(row['optimizer'])}"
        if row["n_diverged"]:
            notes.append(
                f"{where}: {row['n_diverged']} of {row['n_runs']} runs diverged; their costs "
                "count the steps before they stopped."
            )
        if row["n_untuned"]:
            notes.append(
                f"{where}: {row['n_untuned']} of {row['n_runs']} runs untuned (every point of "
                "their search was excluded): not trained, no steps to count."
            )
        if row["n_failed"]:
            notes.append(
                f"{where}: {row['n_failed']} of {row['n_runs']} runs failed: no steps counted."
            )
    return notes


def step_cost_table(
    aggregated_csv: Path,
    out_md: Path,
    out_tex: Path,
    out_csv: Path,
    *,
    title: str = "",
    beyond_paper: bool = True,
) -> pd.DataFrame:
    """The cost of one optimizer step: one row per setting and optimizer preset, one column per
    quantity of :data:`QUANTITIES`. Writes Markdown, LaTeX (booktabs) and a tidy CSV (one row
    per setting, with min and max); returns that summary."""
    table = read_aggregated(Path(aggregated_csv))
    runs = run_costs(table)
    summary = cost_summary(runs)
    atomic.write_text(Path(out_csv), summary.to_csv(index=False))
    caption = f"{title} (cost of one optimizer step)".strip()
    if beyond_paper:
        caption = f"Beyond the paper. {caption}"
    if summary.empty:
        atomic.write_text(Path(out_md), f"**{caption}**\n\nNo runs.\n")
        atomic.write_text(Path(out_tex), "% no runs\n")
        return summary
    extra = varying(summary, OTHER_AXES)
    header = ["Setting", "Optimizer", "Runs", *QUANTITIES.values()]
    body = [
        [
            _setting(row, extra),
            optimizer_label(row["optimizer"]),
            runs_cell(row),
            *(cost_cell(row, quantity) for quantity in QUANTITIES),
        ]
        for row in summary.to_dict("records")
    ]
    write_markdown_and_latex(
        Path(out_md),
        Path(out_tex),
        caption=caption,
        header=header,
        body=body,
        notes=_notes(summary, runs, extra),
    )
    return summary
