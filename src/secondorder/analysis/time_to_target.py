"""Time to a target test accuracy per setting over seeds (the paper's Table 2), as Markdown,
LaTeX and CSV, next to the paper's seconds.

A run's time to target is its training wall time (evaluation excluded) at the *first evaluated
row* whose test accuracy is at or above the target: no interpolation between evaluations, so
the time is exact up to one evaluation interval, and the table states that resolution (the
median training seconds between a run's evaluations). A run that never gets there, or diverges
first, counts as "not reached" for that seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secondorder import atomic
from secondorder.analysis import paper
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.rows import (
    OTHER_AXES,
    RUN_SETTING_BY_PRESET,
    count_failed,
    count_runs,
    varying,
)
from secondorder.analysis.style import (
    dataset_label,
    is_missing,
    model_label,
    optimizer_label,
    setting_label,
    sort_key,
)
from secondorder.analysis.tables import reduced_scale
from secondorder.analysis.tabular import write_markdown_and_latex
from secondorder.training.record import Status

NOT_REACHED = "not reached"


def _first_crossing(run: pd.DataFrame, target: float) -> tuple[float, float, float, int]:
    """(seconds, epoch) at the first evaluated row with accuracy >= target (NaN if none), the
    median seconds between evaluated rows, and how many rows were evaluated."""
    rows = run[np.isfinite(run["test_accuracy"].astype(float))].sort_values("iteration")
    times = rows["train_time_s"].astype(float).to_numpy()
    resolution = float(np.median(np.diff(times))) if len(times) > 1 else float("nan")
    hits = rows[rows["test_accuracy"].astype(float) >= target]
    if hits.empty:
        return float("nan"), float("nan"), resolution, len(rows)
    first = hits.iloc[0]
    return float(first["train_time_s"]), float(first["epoch"]), resolution, len(rows)


def run_times(table: pd.DataFrame, targets: Mapping[str, float]) -> pd.DataFrame:
    """One row per run: its setting, the target, seconds and epoch at the first evaluation at or
    above it (NaN: not reached), the resolution (median s between evaluations) and status."""
    rows = []
    if table.empty or "test_accuracy" not in table:
        return pd.DataFrame(rows)
    for run_id, run in table.groupby("run_id", sort=True):
        first = run.iloc[0]
        target = targets.get(first["dataset"], float("nan"))
        seconds, epoch, resolution, n_evals = _first_crossing(run, target)
        rows.append(
            {
                "run_id": run_id,
                **{c: first[c] for c in RUN_SETTING_BY_PRESET},
                "method": first["method"],
                "seed": first["seed"],
                "status": first["status"],
                "target": target,
                "seconds": seconds,
                "epoch_reached": epoch,
                "resolution_s": resolution,
                "evaluations": n_evals,
                "device": first.get("device"),
                "train_subset": first.get("train_subset"),
                "test_subset": first.get("test_subset"),
            }
        )
    return pd.DataFrame(rows)


def _paper_seconds(row: Mapping[str, Any]) -> tuple[float | None, bool]:
    """The paper's seconds for this row (None: the paper says NA) and whether it has a value
    for it at all (its four optimizers, in its own setting: its activation, the standard
    model, its batch size)."""
    cell = paper.TABLE2_SECONDS.get((row["dataset"], row["model"]), {})
    in_paper = (
        row["optimizer"] in cell
        and row["activation"] == paper.ACTIVATION.get(row["model"])
        and row["variant"] == "standard"
        and int(row["batch_size"]) == paper.BATCH_SIZE
    )
    return (cell[row["optimizer"]] if in_paper else None), in_paper


def time_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting over seeds: runs, runs that reached the target, the mean, sample std, min
    and max of their seconds, the median resolution, and the paper's seconds."""
    if runs.empty:
        return pd.DataFrame()
    groups = ["dataset", "model", "optimizer"]
    groups += varying(runs, OTHER_AXES)
    rows = []
    for _, group in runs.groupby(groups, sort=False):
        first = group.iloc[0]
        reached = group["seconds"].dropna()
        entry = {c: first[c] for c in RUN_SETTING_BY_PRESET}
        theirs, in_paper = _paper_seconds(entry)
        rows.append(
            {
                **entry,
                "method": first["method"],
                "target": first["target"],
                "n_runs": len(group),
                "n_reached": len(reached),
                "n_diverged": count_runs(group["status"], Status.DIVERGED),
                "n_untuned": count_runs(group["status"], Status.UNTUNED),
                "n_failed": count_failed(group["status"]),
                "seconds_mean": reached.mean() if len(reached) else np.nan,
                "seconds_std": reached.std(ddof=1) if len(reached) > 1 else np.nan,
                "seconds_min": reached.min() if len(reached) else np.nan,
                "seconds_max": reached.max() if len(reached) else np.nan,
                "epoch_reached_mean": group["epoch_reached"].mean(),
                "resolution_s": group["resolution_s"].median(),
                "paper_seconds": np.nan if theirs is None else theirs,
                "in_paper": in_paper,
                "train_subset": first["train_subset"],
                "test_subset": first["test_subset"],
            }
        )
    summary = pd.DataFrame(rows)
    return summary.sort_values(
        groups, key=lambda s: s.map(lambda v: sort_key(v)), kind="stable"
    ).reset_index(drop=True)


def time_cell(row: Mapping[str, Any]) -> str:
    """'12.3 ± 0.4' (mean ± sample std over the seeds that reached the target), with
    '(k/n seeds)' when only some did, or 'not reached'."""
    if row["n_reached"] == 0:
        return NOT_REACHED + (" (diverged)" if row["n_diverged"] == row["n_runs"] else "")
    text = f"{row['seconds_mean']:.3g}"
    if row["n_reached"] > 1 and not is_missing(row["seconds_std"]):
        text += f" ± {row['seconds_std']:.2g}"
    if row["n_reached"] < row["n_runs"]:
        text += f" ({row['n_reached']}/{row['n_runs']} seeds)"
    return text


def _paper_cell(row: Mapping[str, Any]) -> str:
    if not row["in_paper"]:
        return "–"
    return "NA" if is_missing(row["paper_seconds"]) else f"{row['paper_seconds']:g}"


def _notes(summary: pd.DataFrame, targets: Mapping[str, float], devices: list[str]) -> list[str]:
    goal = ", ".join(f"{dataset_label(d)} {t:.0%}" for d, t in targets.items())
    papers = ", ".join(f"{dataset_label(d)} {t:.0%}" for d, t in paper.TABLE2_TARGETS.items())
    notes = [
        f"Targets (test accuracy): {goal}; the paper's: {papers}.",
        "Seconds of training wall time (evaluation excluded, device synchronised) at the first "
        "evaluation at or above the target, no interpolation; mean ± sample std over the seeds "
        "that reached it. A run that never reached it (or diverged first) is 'not reached'.",
        "Device: " + (", ".join(devices) if devices else "not recorded") + ".",
    ]
    for (dataset, model), cells in summary.groupby(["dataset", "model"], sort=False):
        resolution = cells["resolution_s"].dropna()
        where = f"{dataset_label(dataset)} / {model_label(model)}"
        if len(resolution):
            notes.append(
                f"{where}: resolution (median seconds between evaluations) "
                f"{resolution.min():.3g}-{resolution.max():.3g} s."
            )
        best = paper.TABLE1_ACCURACY.get((dataset, model))
        target = targets.get(dataset)
        paper_sgd = paper.TABLE2_SECONDS.get((dataset, model), {}).get("sgd")
        if best is not None and target is not None and best < 100 * target and paper_sgd:
            notes.append(
                f"Inconsistent in the paper: its Table 1 gives SGD on {where} a best test "
                f"accuracy of {best:g}%, below the {target:.0%} target, yet its Table 2 has SGD "
                f"reach that target in {paper_sgd:g} s."
            )
    if not summary["in_paper"].all():
        notes.append("–: not in the paper's Table 2 (beyond the paper, or another setting).")
    if "sqn" in set(summary["optimizer"]):
        notes.append("NA (paper): no setting of SQN trained AlexNet on CIFAR-10 in the paper.")
    scale = {tuple(reduced_scale(row)) for row in summary.to_dict("records")}
    for item in sorted(s for s in scale if s):
        notes.append("Reduced scale: " + ", ".join(item) + " (the paper uses the full sets).")
    return notes


def time_to_target_table(
    aggregated_csv: Path,
    out_md: Path,
    out_tex: Path,
    out_csv: Path,
    *,
    targets: Mapping[str, float],
    title: str = "",
) -> pd.DataFrame:
    """Seconds to the target test accuracy: rows = optimizer (and any other varying setting),
    columns = (dataset, model), ours next to the paper's Table 2. Writes Markdown, LaTeX and a
    tidy CSV (one row per setting); returns that summary."""
    table = read_aggregated(Path(aggregated_csv))
    runs = run_times(table, targets)
    summary = time_summary(runs)
    atomic.write_text(Path(out_csv), summary.to_csv(index=False))
    caption = f"{title} (seconds to the target test accuracy)".strip()
    if summary.empty:
        atomic.write_text(Path(out_md), f"**{caption}**\n\nNo runs.\n")
        atomic.write_text(Path(out_tex), "% no runs\n")
        return summary
    extra = varying(summary, OTHER_AXES)
    columns = list(dict.fromkeys(zip(summary["dataset"], summary["model"], strict=True)))
    columns.sort(key=lambda dm: (sort_key(dm[0]), sort_key(dm[1])))
    header = ["Optimizer"]
    for dataset, model in columns:
        where = f"{dataset_label(dataset)} {model_label(model)}"
        header += [f"{where} (ours)", f"{where} (paper)"]
    body = []
    for _, rows in summary.groupby(["optimizer", *extra], sort=False):
        first = rows.iloc[0]
        label = optimizer_label(first["optimizer"])
        details = [setting_label(c, first[c]) for c in extra]
        line = [f"{label} ({', '.join(details)})" if details else label]
        for dataset, model in columns:
            cell = rows[(rows["dataset"] == dataset) & (rows["model"] == model)]
            if cell.empty:
                line += ["", ""]
                continue
            record = cell.iloc[0].to_dict()
            line += [time_cell(record), _paper_cell(record)]
        body.append(line)
    devices = sorted({str(d) for d in runs["device"] if not is_missing(d)})
    write_markdown_and_latex(
        Path(out_md),
        Path(out_tex),
        caption=caption,
        header=header,
        body=body,
        notes=_notes(summary, targets, devices),
    )
    return summary
