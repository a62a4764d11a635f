"""Finding 1: second-order methods reach a lower training loss than SGD in the same number of
epochs (the paper's first major finding; Figures 2 and 3 pooled; each figure's own words are
:mod:`~secondorder.analysis.findings.per_dataset`)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.against_sgd import COMPARISON_COLUMNS, compare_with, main_rows
from secondorder.analysis.findings.failures import note_failed
from secondorder.analysis.findings.selection import split_failed
from secondorder.analysis.findings.thresholds import GRID_POINTS, LOSS_MARGIN, MOST_OF_CURVE
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    UNCLEAR,
    Finding,
    count_text,
    majority,
    not_in_study,
)

METHOD_LABELS = {"shg": "SHG", "sqn": "SQN", "lsr1": "SR1"}
OUTCOME_VERDICT = {"lower": HOLDS, "not lower": FAILS, "unclear": UNCLEAR}
# The rule of "lower than SGD along the curve", which the per-dataset findings share.
LOWER_RULE = (
    f"on {GRID_POINTS} epochs of the common range (first point skipped): the seed mean lower "
    f"than SGD's by >{LOSS_MARGIN:.0%} at >={MOST_OF_CURVE:.0%} of them, and at the last one "
    "lower beyond the seed variation -> holds; at the last one the seeds rule a gain of "
    f"{LOSS_MARGIN:.0%} out, and lower at less than half -> does not hold; else inconclusive. "
    "A diverged or untuned run counts as an infinite loss"
)
SCOPE = (
    "Main settings of Figures 2-3 (LeNet, AlexNet; paper activation, standard variant, the "
    "smallest batch size, line search on, SHG's gradient on 20 %: Figure 1's other fractions "
    "are not counted)"
)


def method_summary(by_method: dict[str, list[str]]) -> tuple[dict[str, str], str]:
    """Each method's majority verdict, and 'SHG: holds (2 of 2 hold), SR1: ...'."""
    verdicts = {m: majority(v) for m, v in by_method.items()}
    text = ", ".join(
        f"{METHOD_LABELS[m]}: {verdicts[m]} ({by_method[m].count(HOLDS)} of "
        f"{len(by_method[m])} hold)"
        for m in paper.SECOND_ORDER_METHODS
        if m in by_method
    )
    return verdicts, text


def check(rows: pd.DataFrame) -> Finding:
    """Along the curve, not only at the end: each second-order method against SGD in each main
    setting. A method (SHG, SQN, SR1) holds when most of its settings do; the finding holds
    when most methods hold (the paper itself says SQN is "slightly worse" on MNIST, so one
    method failing somewhere does not overturn a statement about second-order methods)."""
    finding = Finding(
        key="f1",
        title="Second-order methods reach a lower training loss than SGD in the same number "
        "of epochs",
        paper="Abstract; Section 4.1; Figures 2-3",
        rule=f"{SCOPE}, per method and setting, {LOWER_RULE}. Per method (SHG, SQN, SR1): "
        "the majority of its settings; the finding: the majority of the methods.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    counted, failed = split_failed(main_rows(rows))
    failed = failed[failed["method"].isin(("sgd", *paper.SECOND_ORDER_METHODS))]
    comparisons = compare_with(counted, paper.SECOND_ORDER_METHODS)
    if not comparisons:
        return note_failed(
            not_in_study(finding, "no setting with SGD and a second-order method"), failed
        )
    by_method: dict[str, list[str]] = {}
    for item in comparisons:
        verdict = OUTCOME_VERDICT[item.comparison.outcome]
        by_method.setdefault(item.method, []).append(verdict)
        finding.rows.append(item.row("lower than", verdict))
    verdicts, text = method_summary(by_method)
    finding.verdict = majority(list(verdicts.values()))
    finding.summary = f"{count_text(list(verdicts.values()), 'methods')} ({text})"
    finding.run_ids = frozenset(r for item in comparisons for r in item.run_ids)
    return note_failed(finding, failed)
