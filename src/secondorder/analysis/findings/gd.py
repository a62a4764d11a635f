"""Finding 2: GD (the mean gradient of the same 20 % of the data that SHG's gradient uses) is
not better than SGD, and trains very differently from SHG, so SHG's gain is not just more data
per step (Section 4.1)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.against_sgd import COMPARISON_COLUMNS, compare_with, main_rows
from secondorder.analysis.findings.failures import note_failed
from secondorder.analysis.findings.per_epoch import LOWER_RULE, OUTCOME_VERDICT, SCOPE
from secondorder.analysis.findings.selection import split_failed
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    UNCLEAR,
    Finding,
    all_of,
    majority,
    not_in_study,
    part_text,
)

# GD lower than SGD along the curve refutes the statement; GD not lower supports it.
GD_VERDICT = {"lower": FAILS, "not lower": HOLDS, "unclear": UNCLEAR}


def check(rows: pd.DataFrame) -> Finding:
    """Two comparisons of finding 1's kind per main setting: GD against SGD, read the other way
    round (GD clearly lower -> does not hold), and SHG against GD (SHG lower -> holds: the same
    data per step, a very different curve)."""
    finding = Finding(
        key="f2",
        title="GD (aggregated gradient on the data SHG uses) is not better than SGD and trains "
        "very differently from SHG, so SHG's gain is not just more data per step",
        paper="Section 4.1; Figures 2-3",
        rule=f"{SCOPE}. (a) GD against SGD per setting, {LOWER_RULE}; read the other way "
        "round: GD lower -> does not hold, GD not lower -> holds. (b) SHG against GD (both "
        "with the gradient on 20 % of the data) the same way: SHG lower -> holds. Each part: "
        "majority of the settings; the finding: both parts.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    counted, failed = split_failed(main_rows(rows))
    failed = failed[failed["method"].isin(("sgd", "gd", "shg"))]
    against_sgd = compare_with(counted, ("gd",))
    shg_vs_gd = compare_with(counted, ("shg",), reference="gd")
    if not against_sgd and not shg_vs_gd:
        return note_failed(not_in_study(finding, "no setting with GD and SGD or SHG"), failed)
    not_better, different = [], []
    for item in against_sgd:
        not_better.append(GD_VERDICT[item.comparison.outcome])
        finding.rows.append(item.row("not lower than", not_better[-1]))
    for item in shg_vs_gd:
        different.append(OUTCOME_VERDICT[item.comparison.outcome])
        finding.rows.append(item.row("lower than", different[-1]))
    parts = [majority(not_better), majority(different)]
    finding.verdict = all_of(parts)
    finding.summary = (
        f"{part_text('GD not better than SGD', not_better, 'settings')}; "
        f"{part_text('SHG lower than GD', different, 'settings')}"
    )
    finding.run_ids = frozenset(r for item in (*against_sgd, *shg_vs_gd) for r in item.run_ids)
    return note_failed(finding, failed)
