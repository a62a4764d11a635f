"""The verdict vocabulary: what a finding is (:class:`Finding`), its three verdicts, and how
the verdicts of a finding's parts (settings, methods) make its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

HOLDS, FAILS, UNCLEAR = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, FAILS, UNCLEAR)
NOT_IN_STUDY = "not in this study"


@dataclass
class Finding:
    """One finding of the paper, its verdict on this study and the numbers behind it."""

    key: str  # "f1" ... ; also the anchor of its report section
    title: str  # the paper's statement
    paper: str  # where the paper says it
    rule: str  # one sentence, with the thresholds
    verdict: str  # one of VERDICTS
    summary: str  # why this verdict, in one line
    columns: tuple[str, ...] = ()
    rows: list[tuple[str, ...]] = field(default_factory=list)
    run_ids: frozenset[str] = frozenset()
    # Artifact kinds that show it ("kind" or "kind:x"; "tuning": the report's Tuning section);
    # the report links those with its runs.
    shown_by: tuple[str, ...] = ("loss_curves:epoch",)


def not_in_study(finding: Finding, what: str) -> Finding:
    """The finding as inconclusive because the study has no runs for it."""
    finding.verdict = UNCLEAR
    finding.summary = f"{NOT_IN_STUDY}: {what}"
    return finding


def majority(verdicts: Sequence[str]) -> str:
    """holds / does not hold when more than half of the parts say so, else inconclusive."""
    for verdict in (HOLDS, FAILS):
        if sum(v == verdict for v in verdicts) * 2 > len(verdicts) > 0:
            return verdict
    return UNCLEAR


def all_of(verdicts: Sequence[str]) -> str:
    """The verdict of a statement made of parts: any part fails -> fails; all hold -> holds."""
    if FAILS in verdicts:
        return FAILS
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return UNCLEAR


def count_text(verdicts: Sequence[str], what: str) -> str:
    """'holds in 2 of 3 <what>, does not hold in 1, inconclusive in 0'."""
    return (
        f"holds in {sum(v == HOLDS for v in verdicts)} of {len(verdicts)} {what}, does not "
        f"hold in {sum(v == FAILS for v in verdicts)}, inconclusive in "
        f"{sum(v == UNCLEAR for v in verdicts)}"
    )


def part_text(name: str, verdicts: Sequence[str], what: str) -> str:
    """'SHG: holds (holds in 2 of 2 settings, ...)', or 'SHG: not in this study' without any."""
    if not verdicts:
        return f"{name}: {NOT_IN_STUDY}"
    return f"{name}: {majority(verdicts)} ({count_text(verdicts, what)})"
