"""Figure 11's ordering: "the influence of identity link is not as strong as ReLu but still
affects the performance of SHG" (Section 4.3: "ReLu posts stronger challenges"). That both
hurt SHG is finding 5; this finding compares the two."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.curves import common_range, run_curves
from secondorder.analysis.findings.decisions import claim_lower
from secondorder.analysis.findings.effects import relative_loss
from secondorder.analysis.findings.failures import conclude, failed_where
from secondorder.analysis.findings.selection import compared_runs
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import LOSS_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
)
from secondorder.analysis.rows import loss_column
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES

# A setting but for its links; the three kinds of Figures 10-11 (activation, variant).
GROUP_COLUMNS = [axis for axis in GRID_AXES if axis not in ("activation", "variant")]
TANH, RELU, RESIDUAL = ("tanh", "standard"), ("relu", "standard"), ("tanh", "residual")


def check(rows: pd.DataFrame) -> Finding:
    """SHG's loss relative to SGD's with the residual block against with ReLU, per seed, at
    the last epoch that all runs of the three kinds (tanh, ReLU, tanh with the residual block)
    share; relative to SGD because a link may change how fast every optimizer trains."""
    finding = Finding(
        key="f5-fig11",
        title="The identity link (residual block) hurts SHG less than ReLU",
        paper="Section 4.3; Figures 10-11",
        rule="Per dataset, model and batch size run with tanh, with ReLU and with tanh and the "
        "residual block (Figures 10-11's AlexNet), each with SHG (gradient on 20 %) and SGD: "
        "SHG's loss / SGD's per seed at the last epoch all share (diverged or untuned: "
        "infinite). Lower with the residual block than with ReLU by >"
        f"{LOSS_MARGIN:.0%} beyond the seed variation -> holds; the seeds rule that out -> "
        "does not hold; else inconclusive. The finding: majority of the settings.",
        verdict=UNCLEAR,
        summary="",
        columns=(
            "Setting",
            "Method",
            "At epoch",
            "Loss / SGD, tanh",
            "Loss / SGD, ReLU",
            "Loss / SGD, residual block",
            "Verdict",
        ),
    )
    rows, runs, failed = compared_runs(rows)
    runs = runs[runs["method"].isin(("sgd", "shg"))]
    if len(runs):  # the settings run with all three kinds
        kinds = runs[["activation", "variant"]].apply(tuple, axis=1)
        runs = runs[kinds.isin([TANH, RELU, RESIDUAL])]
        kinds = runs["activation"] + "/" + runs["variant"]
        runs = runs[kinds.groupby([runs[c] for c in GROUP_COLUMNS]).transform("nunique") == 3]
    failed = failed_where(failed[failed["method"].isin(("sgd", "shg"))], runs, GROUP_COLUMNS)
    curves = run_curves(rows[rows["run_id"].isin(set(runs["run_id"]))], loss_column(rows))
    verdicts, used = [], set()
    for key, group in runs.groupby(GROUP_COLUMNS, sort=True):
        label = setting_label(dict(zip(GROUP_COLUMNS, key, strict=True)), GROUP_COLUMNS)
        kind = group[["activation", "variant"]].apply(tuple, axis=1)
        parts = {k: group[kind == k] for k in (TANH, RELU, RESIDUAL)}
        if any(not (p["method"] == "sgd").any() for p in parts.values()):
            continue
        shared = set.intersection(
            *(set(p.loc[p["method"] == "shg", "optimizer"]) for p in parts.values())
        )
        for preset in sorted(shared):
            ids = group.loc[group["optimizer"].eq(preset) | group["method"].eq("sgd"), "run_id"]
            span = common_range(curves[r] for r in ids)
            if span is None:
                continue
            tanh, relu, residual = (
                relative_loss(curves, parts[k], preset, span[1]) for k in (TANH, RELU, RESIDUAL)
            )
            verdicts.append(claim_lower(residual, relu))
            finding.rows.append(
                (
                    label,
                    optimizer_label(preset),
                    f"{span[1]:.3g}",
                    tanh.text(),
                    relu.text(),
                    residual.text(),
                    verdicts[-1],
                )
            )
            used |= set(ids)
    what = "no setting with SHG and SGD run with tanh, with ReLU and with the residual block"
    return conclude(finding, verdicts, used, failed, what, GRID_AXES[2:])
