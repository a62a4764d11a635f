"""The DRN's (ResNet-18 with ReLU) claims, each its own finding: Figure 9, "SHG can still
optimize DRN on MNIST well, it fails to converge to better training loss on CIFAR-10"; and the
abstract's (2), "quasi-Newton methods are competitive with SGD even when using ReLu ... on
residual networks" (the conclusions: "competitive results when training DRN on both MNIST and
CIFAR-10"); and Section 4.3's stronger "it converges to smaller training loss than SGD on both
MNIST and CIFAR-10")."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.against_sgd import COMPARISON_COLUMNS, compare_with
from secondorder.analysis.findings.decisions import claim_lower, claim_not_above
from secondorder.analysis.findings.failures import note_failed
from secondorder.analysis.findings.per_epoch import LOWER_RULE, OUTCOME_VERDICT, method_summary
from secondorder.analysis.findings.selection import drn_settings, split_failed
from secondorder.analysis.findings.thresholds import EQUIVALENCE_MARGIN, LOSS_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
    all_of,
    majority,
    not_in_study,
    part_text,
)
from secondorder.analysis.style import dataset_label

QUASI_NEWTON = ("sqn", "lsr1")
LABEL_COLUMNS = ("variant", "batch_size")
SCOPE = (
    "ResNet-18 with ReLU (Figure 9) in each variant the study runs (the paper's; narrow at "
    "CPU scale; not the authors' ResNet-20, beyond the paper's text), the smallest batch "
    "size, line search on, SHG's gradient on 20 %: "
    "loss per seed at the last common epoch (diverged or untuned: infinite)"
)


def _rows(rows: pd.DataFrame, methods: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    counted, failed = split_failed(drn_settings(rows))
    return counted, failed[failed["method"].isin(("sgd", *methods))]


def check_shg(rows: pd.DataFrame) -> Finding:
    """SHG against SGD on the DRN: on MNIST no worse (it trains the DRN "well"), on CIFAR-10
    clearly higher (it "fails")."""
    finding = Finding(
        key="f5-fig9",
        title="SHG trains the DRN (ReLU) on MNIST but fails on CIFAR-10",
        paper="Section 4.3; Figure 9",
        rule=f"{SCOPE}. MNIST: SHG no worse than SGD (every seed at most "
        f"{EQUIVALENCE_MARGIN:.0%} above every seed of SGD, or clearly below) -> holds, above "
        f"by more beyond the seed variation -> does not hold. CIFAR-10: SHG above SGD by >"
        f"{LOSS_MARGIN:.0%} beyond the seed variation -> holds, the seeds rule that out -> does "
        "not hold. Else inconclusive. Each dataset: majority of its settings; the finding: both.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    counted, failed = _rows(rows, ("shg",))
    comparisons = compare_with(counted, ("shg",), label_columns=LABEL_COLUMNS)
    parts: dict[str, list[str]] = {"mnist": [], "cifar10": []}
    for item in comparisons:
        c, dataset = item.comparison, item.setting["dataset"]
        if dataset == "mnist":
            claim, verdict = "no worse than", claim_not_above(c.method, c.reference)
        elif dataset == "cifar10":
            claim, verdict = "higher than", claim_lower(c.reference, c.method)
        else:
            continue
        parts[dataset].append(verdict)
        finding.rows.append(item.row(claim, verdict))
    if not any(parts.values()):
        what = "no DRN setting with SHG and SGD"
        return note_failed(not_in_study(finding, what), failed, LABEL_COLUMNS)
    verdicts = {dataset: majority(v) for dataset, v in parts.items()}
    finding.verdict = all_of(list(verdicts.values()))
    finding.summary = "; ".join(
        part_text(dataset_label(d), v, "settings") for d, v in parts.items()
    )
    finding.run_ids = frozenset(r for item in comparisons for r in item.run_ids)
    return note_failed(finding, failed, LABEL_COLUMNS)


def check_quasi_newton(rows: pd.DataFrame) -> Finding:
    """SQN and SR1 against SGD on the DRN: competitive means no worse than SGD (the paper adds
    that they reach a lower loss; "competitive" asks less)."""
    finding = Finding(
        key="f5-drn-qn",
        title="Quasi-Newton methods are competitive with SGD on the residual network with ReLU",
        paper="Abstract (2); Section 4.3; Conclusions",
        rule=f"{SCOPE}. Per method and setting (both datasets): no worse than SGD -- every "
        f"seed at most {EQUIVALENCE_MARGIN:.0%} above every seed of SGD, or clearly below -> "
        f"holds; above by more than {EQUIVALENCE_MARGIN:.0%} beyond the seed variation -> does "
        "not hold; else inconclusive. Per method (SQN, SR1): majority of its settings; the "
        "finding: every method run.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    counted, failed = _rows(rows, QUASI_NEWTON)
    comparisons = compare_with(counted, QUASI_NEWTON, label_columns=LABEL_COLUMNS)
    if not comparisons:
        what = "no DRN setting with SGD and SQN or SR1"
        return note_failed(not_in_study(finding, what), failed, LABEL_COLUMNS)
    by_method: dict[str, list[str]] = {}
    for item in comparisons:
        verdict = claim_not_above(item.comparison.method, item.comparison.reference)
        by_method.setdefault(item.method, []).append(verdict)
        finding.rows.append(item.row("no worse than", verdict))
    verdicts, text = method_summary(by_method)
    finding.verdict = all_of(list(verdicts.values()))
    finding.summary = text
    finding.run_ids = frozenset(r for item in comparisons for r in item.run_ids)
    return note_failed(finding, failed, LABEL_COLUMNS)


def check_quasi_newton_lower(rows: pd.DataFrame) -> Finding:
    """SQN and SR1 against SGD on the DRN along the curve: lower, on each dataset (the
    stronger claim beside "competitive")."""
    finding = Finding(
        key="drn-qn-lower",
        title="On the DRN quasi-Newton methods reach a lower training loss than SGD",
        paper="Section 4.3; Figure 9",
        rule=f"{SCOPE}. Per method and setting: {LOWER_RULE}. Per dataset (MNIST, CIFAR-10): "
        "the majority of its comparisons (SQN, SR1); the finding: both datasets.",
        verdict=UNCLEAR,
        summary="",
        columns=COMPARISON_COLUMNS,
    )
    counted, failed = _rows(rows, QUASI_NEWTON)
    comparisons = compare_with(counted, QUASI_NEWTON, label_columns=LABEL_COLUMNS)
    parts: dict[str, list[str]] = {"mnist": [], "cifar10": []}
    for item in comparisons:
        if item.setting["dataset"] not in parts:
            continue
        verdict = OUTCOME_VERDICT[item.comparison.outcome]
        parts[item.setting["dataset"]].append(verdict)
        finding.rows.append(item.row("lower than", verdict))
    if not any(parts.values()):
        what = "no DRN setting with SGD and SQN or SR1"
        return note_failed(not_in_study(finding, what), failed, LABEL_COLUMNS)
    finding.verdict = all_of([majority(v) for v in parts.values()])
    finding.summary = "; ".join(
        part_text(dataset_label(d), v, "comparisons") for d, v in parts.items()
    )
    finding.run_ids = frozenset(r for item in comparisons for r in item.run_ids)
    return note_failed(finding, failed, LABEL_COLUMNS)
