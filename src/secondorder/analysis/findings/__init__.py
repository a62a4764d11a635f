"""The paper's findings, one module and one rule each, checked on the aggregated run rows and
the tuning records.

Every ``check`` takes the rows of all artifacts (the columns of
:func:`secondorder.analysis.records.aggregate`; the claims about tuning: the tuning stage's
selection files, :mod:`~.tuning_records`) and returns a
:class:`~secondorder.analysis.findings.verdicts.Finding`: verdict (holds / does not hold /
inconclusive), the rule with its thresholds, the numbers per setting across seeds and the runs
used (the report links the artifacts that show them).

Conventions of every rule:

- a verdict "holds" or "does not hold" only when the effect is larger than the seed-to-seed
  variation (:mod:`~.decisions`, whose :data:`~.decisions.RULE_TEXT` the report can print); a
  claim of no effect needs positive evidence (the seeds inside an equivalence margin);
- a run that diverged, or was left untuned (every tuning point excluded: the method could not
  be tuned), is an outcome: an infinite loss from where its record ends, listed in the tables;
  a run that failed (crashed) is listed as such and not counted;
- a tuning point that diverged or failed is not near the best; a method whose every point was
  excluded could not be tuned, an outcome of the claims of tuning;
- a setting with no runs for a finding is "inconclusive: not in this study", listed, not hidden.

What they share, one module per idea: :mod:`~.verdicts` (the Finding type and how verdicts
combine), :mod:`~.thresholds` (with :data:`~.thresholds.THRESHOLDS`, each with its reason),
:mod:`~.decisions` (seed samples and the decisions on them), :mod:`~.selection` (which runs
count), :mod:`~.failures` (how failed runs are listed), :mod:`~.curves` (losses on shared
epochs), :mod:`~.against_sgd` and :mod:`~.effects` (the comparisons of several findings),
:mod:`~.text` (how their tables write numbers), :mod:`~.tuning_records` (what the tuning
records say).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from secondorder.analysis.findings import (
    batch_claims,
    batch_size,
    byrd_step,
    drn,
    gd,
    gradient_fraction,
    hard_to_tune,
    line_search,
    link_order,
    links,
    per_dataset,
    per_epoch,
    relu_alexnet,
    run_time,
    sgd_batches,
    sqn_alexnet,
    table1,
    wall_time,
)
from secondorder.analysis.findings.decisions import RULE_TEXT
from secondorder.analysis.findings.selection import is_beyond_paper, paper_rows
from secondorder.analysis.findings.thresholds import (
    GRID_POINTS,
    LOSS_MARGIN,
    MOST_OF_CURVE,
    TABLE1_TOLERANCE_PP,
    THRESHOLDS,
    TIME_MARGIN,
)
from secondorder.analysis.findings.tuning_records import Selection
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    NOT_IN_STUDY,
    UNCLEAR,
    VERDICTS,
    Finding,
)
from secondorder.analysis.records import CONTEXT_COLUMNS, SPEC_COLUMNS

__all__ = [
    "FAILS",
    "GRID_POINTS",
    "HOLDS",
    "LOSS_MARGIN",
    "MOST_OF_CURVE",
    "NOT_IN_STUDY",
    "RULE_TEXT",
    "TABLE1_TOLERANCE_PP",
    "THRESHOLDS",
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


def check_all(
    rows: pd.DataFrame,
    *,
    times: pd.DataFrame | None = None,
    selections: Sequence[Selection] = (),
) -> list[Finding]:
    """Every finding, in the report's order (the paper's six major findings, each followed by
    the claims of its figures, then the claims of tuning and Table 1). `times`: the Table 2 CSV
    when the study has one, at its own targets (else finding 3 computes it from the rows at the
    paper's); `selections`: the tuning stage's selection files, loaded (none: nothing tuned).

    Every run's status counts as the rules say (untuned and diverged: outcomes; failed:
    listed, not counted). Runs beyond the paper (Adam, SHG with Gauss-Newton curvature or
    Levenberg-Marquardt damping: :func:`is_beyond_paper`) do not count: the findings are the
    paper's statements about its own methods."""
    if rows.empty or not {"epoch", "train_loss", "test_accuracy"} <= set(rows):
        rows = pd.DataFrame(columns=[*EMPTY_COLUMNS, "train_loss", "test_accuracy"])
    rows = paper_rows(rows)
    return [
        per_epoch.check(rows),
        per_dataset.check_mnist(rows),
        per_dataset.check_cifar10(rows),
        gradient_fraction.check(rows),
        gd.check(rows),
        wall_time.check(rows, times),
        run_time.check(rows),
        batch_size.check(rows),
        batch_claims.check_shg_large_batch(rows),
        batch_claims.check_sqn_stagnates(rows),
        batch_claims.check_sgd_beats_sr1(rows),
        sgd_batches.check(rows),
        links.check(rows),
        relu_alexnet.check(rows),
        drn.check_shg(rows),
        link_order.check(rows),
        drn.check_quasi_newton(rows),
        drn.check_quasi_newton_lower(rows),
        line_search.check(rows),
        byrd_step.check(rows),
        hard_to_tune.check(selections),
        sqn_alexnet.check(rows, selections),
        table1.check(rows),
    ]
