"""Figures 2 and 3 in their own words, one finding each: on MNIST "SHG is slightly faster than
SGD, quasi-Newton methods are comparable to SGD"; on CIFAR-10 "clearly both inexact-Newton and
quasi-Newton methods optimize the training loss faster than SGD"."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.against_sgd import COMPARISON_COLUMNS, compare_with, main_rows
from secondorder.analysis.findings.decisions import claim_equivalent
from secondorder.analysis.findings.failures import note_failed
from secondorder.analysis.findings.per_epoch import LOWER_RULE, OUTCOME_VERDICT, SCOPE
from secondorder.analysis.findings.selection import split_failed
from secondorder.analysis.findings.thresholds import EQUIVALENCE_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
    all_of,
    majority,
    not_in_study,
    part_text,
)
from secondorder.analysis.style import dataset_label


def _check(rows: pd.DataFrame, finding: Finding, dataset: str, quasi_lower: bool) -> Finding:
    """SHG lower than SGD along the curve in each of the dataset's main settings; the
    quasi-Newton methods lower too (`quasi_lower`) or comparable at the last epoch. Each part
    (SHG; quasi-Newton): the majority of its comparisons; the finding: both parts."""
    selected = main_rows(rows)
    counted, failed = split_failed(selected[selected["dataset"] == dataset])
    failed = failed[failed["method"].isin(("sgd", *paper.SECOND_ORDER_METHODS))]
    comparisons = compare_with(counted, paper.SECOND_ORDER_METHODS)
    if not comparisons:
        what = f"no {dataset_label(dataset)} setting with SGD and a second-order method"
        return note_failed(not_in_study(finding, what), failed)
    shg, quasi = [], []
    for item in comparisons:
        if item.method == "shg" or quasi_lower:
            claim, verdict = "lower than", OUTCOME_VERDICT[item.comparison.outcome]
        else:
            c = item.comparison
            claim, verdict = "comparable to", claim_equivalent(c.method, c.reference)
        (shg if item.method == "shg" else quasi).append(verdict)
        finding.rows.append(item.row(claim, verdict))
    parts = [majority(shg), majority(quasi)]
    finding.verdict = all_of(parts)
    finding.summary = (
        f"{part_text('SHG', shg, 'settings')}; {part_text('quasi-Newton', quasi, 'comparisons')}"
    )
    finding.run_ids = frozenset(r for item in comparisons for r in item.run_ids)
    return note_failed(finding, failed)


def check_mnist(rows: pd.DataFrame) -> Finding:
    finding = Finding(
        key="f1-mnist",
        title="On MNIST SHG is slightly faster than SGD per epoch; quasi-Newton methods are "
        "comparable to SGD",
        paper="Section 4.1; Figure 2",
        rule=f"{SCOPE}, MNIST only. SHG against SGD per setting, {LOWER_RULE}. SQN and SR1 "
        f"per setting: comparable when at the last common epoch every seed of both lies "
        f"within {EQUIVALENCE_MARGIN:.0%} of the lowest (at least 2 seeds each), not "
        f"comparable when one is beyond that margin of the other, else inconclusive. Each "
        "part (SHG; quasi-Newton): majority; the finding: both parts.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    return _check(rows, finding, "mnist", quasi_lower=False)


def check_cifar10(rows: pd.DataFrame) -> Finding:
    finding = Finding(
        key="f1-cifar10",
        title="On CIFAR-10 both inexact-Newton (SHG) and quasi-Newton methods reach a lower "
        "training loss than SGD per epoch",
        paper="Section 4.1; Figure 3",
        rule=f"{SCOPE}, CIFAR-10 only. SHG, SQN and SR1 against SGD per setting, "
        f"{LOWER_RULE}. Each part (SHG; quasi-Newton): majority; the finding: both parts.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    return _check(rows, finding, "cifar10", quasi_lower=True)
