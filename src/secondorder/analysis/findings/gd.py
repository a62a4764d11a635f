"""Finding 2: GD (the mean gradient of the same 20 % of the data that SHG's gradient uses) is
not better than SGD, so SHG's gain is not just more data per step (Section 4.1)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.against_sgd import COMPARISON_COLUMNS, compare_with_sgd
from secondorder.analysis.findings.thresholds import LOSS_MARGIN, MOST_OF_CURVE
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    UNCLEAR,
    Finding,
    count_text,
    majority,
    not_in_study,
)

# GD lower than SGD along the curve refutes the statement; GD not lower supports it.
OUTCOME_VERDICT = {"lower": FAILS, "not lower": HOLDS, "unclear": UNCLEAR}


def check(rows: pd.DataFrame) -> Finding:
    """The comparison of finding 1 with GD in place of the second-order method, read the other
    way round: GD clearly lower than SGD along the curve -> does not hold."""
    finding = Finding(
        key="f2",
        title="GD (aggregated gradient on the data SHG uses) is not better than SGD, so SHG's "
        "gain is not just more data per step",
        paper="Section 4.1; Figures 2-3",
        rule="Per main setting, GD against SGD as in finding 1: GD lower by "
        f">{LOSS_MARGIN:.0%} at >={MOST_OF_CURVE:.0%} of the epochs and at the last one -> "
        "does not hold; GD not lower at more than half -> holds; else inconclusive. The "
        "finding: the majority of the settings.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    comparisons = compare_with_sgd(rows, ("gd",))
    if not comparisons:
        return not_in_study(finding, "no setting with both GD and SGD")
    verdicts = []
    for item in comparisons:
        verdicts.append(OUTCOME_VERDICT[item.comparison.outcome])
        finding.rows.append(item.row(verdicts[-1]))
    finding.verdict = majority(verdicts)
    finding.summary = count_text(verdicts, "settings")
    finding.run_ids = frozenset(r for item in comparisons for r in item.run_ids)
    return finding
