"""Best test accuracy per setting over seeds, as Markdown, LaTeX and CSV tables next to the
paper's Table 1, and beside it the final model's training vs test accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secondorder import atomic
from secondorder.analysis import paper
from secondorder.analysis.records import SPEC_COLUMNS, read_aggregated
from secondorder.analysis.rows import OTHER_AXES, count_failed, count_runs, varying
from secondorder.analysis.style import (
    dataset_label,
    is_missing,
    model_label,
    optimizer_label,
    sort_key,
)
from secondorder.analysis.tabular import write_markdown_and_latex
from secondorder.training.record import Status


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    """A column as floats (NaN where the table lacks it: records made before it existed)."""
    return table[name].astype(float) if name in table else pd.Series(np.nan, table.index)


def _best_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run: best test accuracy (%) over its logging points, the final model's test
    accuracy (its last point) and training accuracy (% on the training set; NaN where the
    record has none), and its context."""
    keys = [*SPEC_COLUMNS, "epochs", "train_subset", "test_subset"]
    keys = [k for k in keys if k in table]
    runs = table.assign(
        _acc=_column(table, "test_accuracy") * 100.0,
        _train=_column(table, "final_train_accuracy") * 100.0,
    )
    if "iteration" in runs:
        runs = runs.sort_values(["run_id", "iteration"], kind="stable")
    best = runs.groupby("run_id", sort=True).agg(
        best=("_acc", "max"),
        final_test=("_acc", "last"),
        final_train=("_train", "first"),
        last_epoch=("epoch", "max"),
    )
    first = runs.groupby("run_id", sort=True)[[k for k in keys if k != "run_id"]].first()
    return first.join(best).reset_index()


def _mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.mean()) if len(values) else np.nan


def accuracy_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Best test accuracy (%) per (dataset, model[, optimizer, activation, variant]) over
    seeds: mean, sample std (ddof=1), min, max, counts, the paper's value and context."""
    runs = _best_accuracy(table)
    extra = varying(runs, ("optimizer", *OTHER_AXES))
    rows = []
    for key, group in runs.groupby(["dataset", "model", *extra], sort=False, dropna=False):
        entry = dict(zip(["dataset", "model", *extra], key, strict=True))
        values = group["best"].dropna()
        activation = str(group["activation"].iloc[0])
        rows.append(
            {
                **entry,
                "optimizer": ",".join(sorted(group["optimizer"].unique())),
                "method": ",".join(sorted(group["method"].unique())),
                "activation": activation,
                "variant": ",".join(sorted(group["variant"].unique())),
                "batch_size": ",".join(map(str, sorted(group["batch_size"].unique()))),
                "n_runs": len(group),
                "n_seeds": group["seed"].nunique(),
                "best_acc_mean": values.mean() if len(values) else np.nan,
                "best_acc_std": values.std(ddof=1) if len(values) > 1 else np.nan,
                "best_acc_min": values.min() if len(values) else np.nan,
                "best_acc_max": values.max() if len(values) else np.nan,
                # the final model, train vs test (mean over the runs that recorded it)
                "final_train_acc_mean": _mean(group["final_train"]),
                "final_test_acc_mean": _mean(group["final_test"]),
                "n_train_acc_recorded": int(group["final_train"].notna().sum()),
                "paper_acc": paper.TABLE1_ACCURACY.get((entry["dataset"], entry["model"]), np.nan),
                "paper_activation": paper.ACTIVATION.get(entry["model"], ""),
                "n_diverged": count_runs(group["status"], Status.DIVERGED),
                "n_untuned": count_runs(group["status"], Status.UNTUNED),
                "n_failed": count_failed(group["status"]),
                "epochs": group["epochs"].max(),
                "epochs_reached": group["last_epoch"].min(),
                "train_subset": group["train_subset"].max(),
                "test_subset": group["test_subset"].max(),
            }
        )
    summary = pd.DataFrame(rows)
    if not summary.empty:
        # The paper's value belongs to SGD with the paper's activation; when a model was trained
        # with several activations, only that row carries it.
        n_activations = summary.groupby(["dataset", "model"])["activation"].transform("nunique")
        keep = (summary["activation"] == summary["paper_activation"]) | (n_activations == 1)
        keep &= summary["method"] == "sgd"
        # A row with diverged, untuned or failed runs is not comparable with the paper's value.
        keep &= (summary["n_diverged"] == 0) & (summary["n_untuned"] == 0)
        keep &= summary["n_failed"] == 0
        summary.loc[~keep, "paper_acc"] = np.nan
        summary = summary.sort_values(  # the paper's order of models and methods
            ["model", "optimizer", "dataset"],
            key=lambda s: s.map(lambda v: sort_key(v)[0]),
            kind="stable",
        ).reset_index(drop=True)
    return summary


def reduced_scale(row: Mapping[str, Any]) -> list[str]:
    """How a summary row is smaller than the paper's setting (training/test subsets)."""
    notes = []
    if not is_missing(row.get("train_subset")):
        notes.append(f"training subset of {int(row['train_subset'])} images")
    if not is_missing(row.get("test_subset")):
        notes.append(f"test subset of {int(row['test_subset'])} images")
    return notes


def _cell(row: Mapping[str, Any], pm: str) -> str:
    if is_missing(row["best_acc_mean"]):
        return "n/a"
    text = f"{row['best_acc_mean']:.2f}"
    if row["n_seeds"] > 1 and not is_missing(row["best_acc_std"]):
        text += f" {pm} {row['best_acc_std']:.2f}"
    return text + ("*" if row["n_diverged"] or row["n_untuned"] or row["n_failed"] else "")


def _train_test_cell(row: Mapping[str, Any]) -> str:
    """'99.10 / 98.20': the final model's training and test accuracy (means over seeds), the
    training accuracy 'not recorded' in records made before it was."""
    test = row["final_test_acc_mean"]
    train = row["final_train_acc_mean"]
    train_text = "not recorded" if is_missing(train) else f"{train:.2f}"
    return f"{train_text} / {'n/a' if is_missing(test) else f'{test:.2f}'}"


def _row_label(row: Mapping[str, Any], extra: Sequence[str]) -> str:
    label = model_label(row["model"])
    details = [f"{row[c]}" if c != "optimizer" else optimizer_label(row[c]) for c in extra]
    return f"{label} ({', '.join(details)})" if details else label


def _table_notes(summary: pd.DataFrame) -> list[str]:
    notes = []
    seeds = sorted(summary["n_seeds"].unique()) if len(summary) else []
    if any(s > 1 for s in seeds):
        notes.append("Cells: mean ± sample standard deviation over seeds.")
    notes.append(
        "Train / test, final: the final model's accuracy on the whole training set it trained "
        "on and on the test set (mean over seeds), evaluated once at the end of each run, off "
        "the training clock; 'not recorded': a record made before runs measured it. The best "
        "test accuracy (ours) is the highest of any logging point."
    )
    partial = summary[
        (summary["n_train_acc_recorded"] > 0)
        & (summary["n_train_acc_recorded"] < summary["n_runs"])
    ]
    for row in partial.to_dict("records"):
        notes.append(
            f"{dataset_label(row['dataset'])} / {model_label(row['model'])}: training accuracy "
            f"recorded by {row['n_train_acc_recorded']} of {row['n_runs']} runs, their mean shown."
        )
    scale = {tuple(reduced_scale(row)) for row in summary.to_dict("records")}
    for item in sorted(s for s in scale if s):
        notes.append("Reduced scale: " + ", ".join(item) + " (the paper uses the full sets).")
    epochs = sorted({int(e) for e in summary["epochs"].dropna()})
    if epochs:
        notes.append(f"Epochs per run: {', '.join(map(str, epochs))}.")
    for row in summary.to_dict("records"):
        where = f"{dataset_label(row['dataset'])} / {model_label(row['model'])}"
        if row["n_diverged"]:
            value = paper.TABLE1_ACCURACY.get((row["dataset"], row["model"]))
            notes.append(
                f"* {where}: {row['n_diverged']} of {row['n_runs']} runs diverged; "
                "the best accuracy before divergence is shown"
                + (f", not comparable with the paper's {value:g}%." if value else ".")
            )
        if row["n_untuned"]:
            notes.append(
                f"* {where}: {row['n_untuned']} of {row['n_runs']} runs untuned (every point of "
                "their search was excluded), so not trained."
            )
        if row["n_failed"]:
            notes.append(f"* {where}: {row['n_failed']} of {row['n_runs']} runs failed.")
        paper_shown = not is_missing(row["paper_acc"])
        if paper_shown and row["paper_activation"] not in ("", row["activation"]):
            notes.append(
                f"{where}: activation {row['activation']}, the paper's model uses "
                f"{row['paper_activation']}."
            )
    return notes


def accuracy_table(
    aggregated_csv: Path, out_md: Path, out_tex: Path, out_csv: Path, *, title: str = ""
) -> pd.DataFrame:
    """Best test accuracy (%): rows = model, columns = dataset, ours next to the paper's Table 1,
    then the final model's training vs test accuracy (the reviewers' question).

    Writes Markdown, LaTeX (booktabs) and a tidy CSV; returns the summary frame.
    """
    table = read_aggregated(Path(aggregated_csv))
    summary = accuracy_summary(table) if len(table) else pd.DataFrame()
    atomic.write_text(Path(out_csv), summary.to_csv(index=False))
    if summary.empty:
        atomic.write_text(Path(out_md), f"**{title}**\n\nNo runs.\n" if title else "No runs.\n")
        atomic.write_text(Path(out_tex), "% no runs\n")
        return summary
    extra = [
        c
        for c in ("optimizer", *OTHER_AXES)
        if c in summary and summary.groupby(["dataset", "model"])[c].nunique().max() > 1
    ]
    datasets = sorted(summary["dataset"].unique(), key=sort_key)
    header = ["Model"]
    for dataset in datasets:
        name = dataset_label(dataset)
        header += [f"{name} (ours)", f"{name} (paper)", f"{name} train / test, final"]
    body = []
    for _, rows in summary.groupby(["model", *extra], sort=False):
        first = rows.iloc[0]
        line = [_row_label(first, extra)]
        for dataset in datasets:
            cell = rows[rows["dataset"] == dataset]
            if cell.empty:
                line += ["", "", ""]
                continue
            record = cell.iloc[0].to_dict()
            theirs = record["paper_acc"]
            line += [
                _cell(record, "±"),
                "" if is_missing(theirs) else f"{theirs:g}",
                _train_test_cell(record),
            ]
        body.append(line)
    notes = _table_notes(summary)

    write_markdown_and_latex(
        Path(out_md),
        Path(out_tex),
        caption=f"{title} (best test accuracy, %; the final model's train / test accuracy)".strip(),
        header=header,
        body=body,
        notes=notes,
    )
    return summary
