"""The paper's findings, one module and one rule each, checked on the aggregated run rows.

Every ``check`` takes the rows of all artifacts (the columns of
:func:`secondorder.analysis.records.aggregate`) and returns a
:class:`~secondorder.analysis.findings.base.Finding`: verdict (holds / does not hold /
inconclusive), the rule with its thresholds, the numbers per setting across seeds and the runs
used (the report links the artifacts that show them).
"""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings import (
    batch_size,
    gd,
    line_search,
    links,
    per_epoch,
    table1,
    wall_time,
)
from secondorder.analysis.findings.base import (
    FAILS,
    GRID_POINTS,
    HOLDS,
    LOSS_MARGIN,
    MOST_OF_CURVE,
    NOT_IN_STUDY,
    PAPER_METHODS,
    SECOND_ORDER,
    UNCLEAR,
    VERDICTS,
    Finding,
    is_beyond_paper,
    paper_rows,
)
from secondorder.analysis.findings.table1 import TABLE1_TOLERANCE_PP
from secondorder.analysis.findings.wall_time import TARGET_ACCURACY, TIME_MARGIN
from secondorder.analysis.records import CONTEXT_COLUMNS, SPEC_COLUMNS

__all__ = [
    "FAILS",
    "GRID_POINTS",
    "HOLDS",
    "LOSS_MARGIN",
    "MOST_OF_CURVE",
    "NOT_IN_STUDY",
    "PAPER_METHODS",
    "SECOND_ORDER",
    "TABLE1_TOLERANCE_PP",
    "TARGET_ACCURACY",
    "TIME_MARGIN",
    "UNCLEAR",
    "VERDICTS",
    "Finding",
    "check_all",
    "is_beyond_paper",
    "paper_rows",
]


# The columns every check reads (an empty table still has them).
EMPTY_COLUMNS = (*SPEC_COLUMNS, *CONTEXT_COLUMNS, "epoch", "iteration", "train_time_s")


def check_all(rows: pd.DataFrame, *, times: pd.DataFrame | None = None) -> list[Finding]:
    """Every finding, in the report's order (the issue's six, then Table 1). `times`: the
    Table 2 CSV when the study has one (else finding 3 computes it from the rows).

    Only finished and diverged runs count: a run that failed (crashed) says nothing about its
    optimizer; the report's scale section counts it. Runs beyond the paper (Adam, SHG with
    Gauss-Newton curvature or Levenberg-Marquardt damping: :func:`is_beyond_paper`) do not
    count either: the findings are the paper's statements about its own methods."""
    if "status" in rows:
        rows = rows[rows["status"].isin(["finished", "diverged"])]
    if rows.empty or not {"epoch", "train_loss", "test_accuracy"} <= set(rows):
        rows = pd.DataFrame(columns=[*EMPTY_COLUMNS, "train_loss", "test_accuracy"])
    rows = paper_rows(rows)
    return [
        per_epoch.check(rows),
        gd.check(rows),
        wall_time.check(rows, times),
        batch_size.check(rows),
        links.check(rows),
        line_search.check(rows),
        table1.check(rows),
    ]
