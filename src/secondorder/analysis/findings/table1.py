"""Table 1: fixed-learning-rate SGD reaches the paper's best test accuracies (Section 3.2)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.failures import conclude
from secondorder.analysis.findings.selection import main_settings, split_failed
from secondorder.analysis.findings.thresholds import TABLE1_TOLERANCE_PP
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    UNCLEAR,
    Finding,
)
from secondorder.analysis.style import dataset_label, is_missing, model_label
from secondorder.analysis.tables import accuracy_summary, reduced_scale


def entry_verdict(row: dict) -> str:
    """Within the tolerance -> holds; outside it -> does not hold at full scale, inconclusive at
    reduced scale (subsets cost accuracy) or without a value."""
    if is_missing(row["best_acc_mean"]):
        return UNCLEAR
    if abs(row["best_acc_mean"] - row["paper_acc"]) <= TABLE1_TOLERANCE_PP.get(row["dataset"], 1):
        return HOLDS
    return UNCLEAR if reduced_scale(row) else FAILS


def check(rows: pd.DataFrame) -> Finding:
    """Best test accuracy of SGD in the main settings, mean over seeds, against Table 1."""
    tolerance = ", ".join(f"{dataset_label(d)} ±{t:g}" for d, t in TABLE1_TOLERANCE_PP.items())
    finding = Finding(
        key="t1",
        title="Fixed-learning-rate SGD reaches the paper's Table 1 best test accuracies",
        paper="Section 3.2; Table 1",
        rule=f"Per dataset and model: best test accuracy of SGD (mean over seeds) within "
        f"{tolerance} percentage points of Table 1 -> holds; outside, or a run diverged or "
        "untuned (SGD did not get there) -> does not hold (at reduced scale: inconclusive). "
        "The finding: majority.",
        verdict=UNCLEAR,
        shown_by=("accuracy_table",),
        summary="",
        columns=("Setting", "Ours (%)", "Paper (%)", "Difference", "Verdict"),
    )
    main = main_settings(rows)
    sgd, failed = split_failed(main[main["method"] == "sgd"])
    summary = accuracy_summary(sgd) if len(sgd) else pd.DataFrame()
    verdicts = []
    for row in summary.to_dict("records"):
        theirs = paper.TABLE1_ACCURACY.get((row["dataset"], row["model"]))
        if theirs is None:
            continue
        ours = row["best_acc_mean"]
        text = "n/a" if is_missing(ours) else f"{ours:.2f}"
        if row["n_seeds"] > 1 and not is_missing(ours):
            text += f" ({row['best_acc_min']:.2f}-{row['best_acc_max']:.2f})"
        unfinished = row["n_diverged"] + row["n_untuned"]
        if unfinished:  # an outcome: this SGD did not reach its accuracy
            verdicts.append(UNCLEAR if reduced_scale(row) else FAILS)
            text += f"; {row['n_diverged']} diverged, {row['n_untuned']} untuned"
        else:
            verdicts.append(entry_verdict(row))
        finding.rows.append(
            (
                f"{dataset_label(row['dataset'])} / {model_label(row['model'])}",
                text,
                f"{theirs:g}",
                "n/a" if is_missing(ours) or unfinished else f"{ours - theirs:+.2f}",
                verdicts[-1],
            )
        )
    missing = "no SGD run of a Table 1 setting"
    return conclude(finding, verdicts, sgd["run_id"], failed, missing, what="entries")
