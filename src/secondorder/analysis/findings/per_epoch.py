"""Finding 1: second-order methods reach a lower training loss than SGD in the same number of
epochs (the paper's first major finding; Figures 2 and 3)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.base import (
    COMPARISON_COLUMNS,
    FAILS,
    GRID_POINTS,
    HOLDS,
    LOSS_MARGIN,
    MOST_OF_CURVE,
    SECOND_ORDER,
    UNCLEAR,
    Finding,
    compare_with_sgd,
    count_text,
    majority,
    not_in_study,
)
from secondorder.analysis.style import optimizer_label

OUTCOME_VERDICT = {"lower": HOLDS, "not lower": FAILS, "unclear": UNCLEAR}


def check(rows: pd.DataFrame) -> Finding:
    """Along the curve, not only at the end: each second-order preset against SGD on a shared
    grid of epochs in each main setting; a method holds where it is lower at most of the grid
    and clearly lower at the end. The finding holds when most methods hold in most settings
    (the paper itself says SQN is "slightly worse" on MNIST, so one method failing somewhere
    does not overturn a statement about second-order methods in general)."""
    finding = Finding(
        key="f1",
        title="Second-order methods reach a lower training loss than SGD in the same number "
        "of epochs",
        paper="Abstract; Section 4.1; Figures 2-3",
        rule=f"Per method and main setting, on {GRID_POINTS} epochs of the common range "
        f"(first point skipped): lower than SGD by >{LOSS_MARGIN:.0%} at >="
        f"{MOST_OF_CURVE:.0%} of them and at the last one with seed ranges apart -> holds; "
        "not lower at more than half -> does not hold; else inconclusive. Per method: the "
        "majority of its settings; the finding: the majority of the methods.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    comparisons = compare_with_sgd(rows, SECOND_ORDER)
    if not comparisons:
        return not_in_study(finding, "no setting with SGD and a second-order method")
    by_method: dict[str, list[str]] = {}
    for item in comparisons:
        verdict = OUTCOME_VERDICT[item.comparison.outcome]
        by_method.setdefault(item.preset, []).append(verdict)
        finding.rows.append(item.row(verdict))
    method_verdicts = {m: majority(v) for m, v in by_method.items()}
    finding.verdict = majority(list(method_verdicts.values()))
    finding.summary = (
        count_text(list(method_verdicts.values()), "methods")
        + " ("
        + ", ".join(f"{optimizer_label(m)}: {v}" for m, v in method_verdicts.items())
        + ")"
    )
    finding.run_ids = frozenset(r for item in comparisons for r in item.run_ids)
    return finding
