"""The paper's findings, one module and one rule each, checked on the aggregated run rows.

Every ``check`` takes the rows of all artifacts (the columns of
:func:`secondorder.analysis.records.aggregate`) and returns a
:class:`~secondorder.analysis.findings.verdicts.Finding`: verdict (holds / does not hold /
inconclusive), the rule with its thresholds, the numbers per setting across seeds and the runs
used (the report links the artifacts that show them).

Conventions of every rule:

- a run that diverged has an infinite loss from the point where its record ends (the paper's
  Figure 12 depends on counting an explosion as a failure, not as a shorter curve);
- seeds are summarised by their mean and min-max range, and a difference counts only beyond a
  relative margin (:mod:`~secondorder.analysis.findings.thresholds`);
- a setting with no runs for a finding is "inconclusive: not in this study", listed, not hidden.

What they share, one module per idea: :mod:`~.verdicts` (the Finding type and how verdicts
combine), :mod:`~.thresholds`, :mod:`~.selection` (which runs count), :mod:`~.curves` (losses on
shared epochs, seed statistics), :mod:`~.against_sgd` and :mod:`~.effects` (the comparisons
of several findings), :mod:`~.text` (how their tables write numbers).
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
from secondorder.analysis.findings.selection import is_beyond_paper, paper_rows
from secondorder.analysis.findings.thresholds import (
    GRID_POINTS,
    LOSS_MARGIN,
    MOST_OF_CURVE,
    TABLE1_TOLERANCE_PP,
    TIME_MARGIN,
)
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    NOT_IN_STUDY,
    UNCLEAR,
    VERDICTS,
    Finding,
)
from secondorder.analysis.records import CONTEXT_COLUMNS, SPEC_COLUMNS
from secondorder.analysis.rows import TRAINED

__all__ = [
    "FAILS",
    "GRID_POINTS",
    "HOLDS",
    "LOSS_MARGIN",
    "MOST_OF_CURVE",
    "NOT_IN_STUDY",
    "TABLE1_TOLERANCE_PP",
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

    Only runs that trained (finished or diverged) count: a run that failed (crashed) or was
    left untuned says nothing about its optimizer; the report's scale section counts it. Runs
    beyond the paper (Adam, SHG with Gauss-Newton curvature or Levenberg-Marquardt damping:
    :func:`is_beyond_paper`) do not count either: the findings are the paper's statements about
    its own methods."""
    if "status" in rows:
        rows = rows[rows["status"].isin(TRAINED)]
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
