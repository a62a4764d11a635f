"""Section 4.1 (Table 2's "NA"): "we could not find a set of parameters to make SQN work with
AlexNet on CIFAR-10", read from SQN's tuning outcome on AlexNet/CIFAR-10 (its selection files)
and its final runs against SGD's."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from secondorder.analysis.claim_needs import TUNING
from secondorder.analysis.findings.curves import end_samples, reference_curves, run_curves
from secondorder.analysis.findings.decisions import (
    Sample,
    claim_at_least,
    claim_not_above,
    ratio_of,
)
from secondorder.analysis.findings.failures import conclude, failed_where
from secondorder.analysis.findings.selection import runs_table, split_failed
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import (
    DECISIVE_FACTOR,
    EQUIVALENCE_MARGIN,
    SQN_FAILURE,
)
from secondorder.analysis.findings.tuning_records import (
    Selection,
    excluded_text,
    grid_size,
    in_paper_activation,
    is_untuned,
    method_of,
    paper_searches,
    preset_of,
    setting_of,
    winner_scores,
)
from secondorder.analysis.findings.verdicts import FAILS, HOLDS, UNCLEAR, Finding
from secondorder.analysis.rows import loss_column
from secondorder.spec import GRID_AXES

DATASET, MODEL = "cifar10", "alexnet"
RULE = (
    "Per setting of AlexNet (tanh) on CIFAR-10 in which SQN (with its line search) was tuned: "
    "holds when SQN is untuned (every grid point excluded: diverged, failed or non-finite), or "
    f"its final runs' training loss at the last epoch shared with SGD's stays at {SQN_FAILURE:g}x "
    f"SGD's or above on every seed, beyond the seed variation (one seed: "
    f"{SQN_FAILURE * DECISIVE_FACTOR:g}x, or diverged), or, without that, its best tuning "
    "point's validation loss does so against SGD's best (per tuning seed); does not hold when "
    f"its final runs reach SGD's: every seed at most {EQUIVALENCE_MARGIN:.0%} above every seed "
    "of SGD, or clearly below (the final runs decide before the tuning point: they trained "
    "longer); else inconclusive. The finding: majority of the settings (batch sizes)."
)
COLUMNS = (
    "Setting",
    "SQN's tuning",
    "Best validation loss (SQN)",
    "Best validation loss (SGD)",
    "At epoch",
    "Loss (SQN)",
    "Loss (SGD)",
    "Ratio",
    "Verdict",
)


def outcome(tuned: Sample, reference: Sample, final: tuple[Sample, Sample] | None) -> str:
    """The verdict of one setting from SQN's and SGD's best tuning points and, where both
    have final runs, their final losses (see :data:`RULE`); an untuned SQN has no best point."""
    if not tuned.values:
        return HOLDS
    if final is not None:
        if claim_not_above(*final) == HOLDS:
            return FAILS
        if claim_at_least(*final, SQN_FAILURE) == HOLDS:
            return HOLDS
    return HOLDS if claim_at_least(tuned, reference, SQN_FAILURE) == HOLDS else UNCLEAR


def _same_setting(runs: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    setting = setting_of(selection)
    if runs.empty:
        return runs
    return runs[(runs[list(GRID_AXES)] == pd.Series(setting)).all(axis=1)]


def _sqn_searches(selections: Sequence[Selection]) -> list[Selection]:
    return [
        s
        for s in paper_searches(selections)
        if method_of(s) == "sqn"
        and s["setting"]["dataset"] == DATASET
        and s["setting"]["model"] == MODEL
        and in_paper_activation(s)
    ]


def check(rows: pd.DataFrame, selections: Sequence[Selection]) -> Finding:
    """SQN's tuning and final runs on AlexNet/CIFAR-10 against SGD's in each setting."""
    finding = Finding(
        key="sqn-alexnet-cifar10",
        title="No hyperparameters make SQN work on AlexNet/CIFAR-10",
        paper="Section 4.1; Table 2",
        rule=RULE,
        verdict=UNCLEAR,
        summary="",
        columns=COLUMNS,
        shown_by=(TUNING, "loss_curves:epoch"),
    )
    counted, failed = split_failed(rows)
    runs = runs_table(counted)
    curves = run_curves(counted, loss_column(counted)) if len(counted) else {}
    searches = paper_searches(selections)
    compared = sorted(_sqn_searches(selections), key=lambda s: tuple(setting_of(s).values()))
    verdicts, used = [], set()
    for selection in compared:
        sgd = next(
            (
                s
                for s in searches
                if method_of(s) == "sgd" and setting_of(s) == setting_of(selection)
            ),
            None,
        )
        same = _same_setting(runs, selection)
        own = list(same.loc[same["optimizer"] == preset_of(selection), "run_id"])
        reference = _sgd_runs(curves, same, None if sgd is None else preset_of(sgd))
        end = None
        if own and reference:
            end = end_samples([curves[r] for r in own], [curves[r] for r in reference])
        tuned = winner_scores(selection)
        theirs = winner_scores(sgd) if sgd is not None else Sample.of({})
        verdicts.append(outcome(tuned, theirs, None if end is None else end[1:]))
        finding.rows.append(
            _row(selection, tuned, theirs if sgd is not None else None, end, verdicts[-1])
        )
        used |= {*own, *reference}
    settings = pd.DataFrame([setting_of(s) for s in compared], columns=list(GRID_AXES))
    failed = failed_where(failed[failed["method"].isin(("sqn", "sgd"))], settings, GRID_AXES)
    what = "SQN is not tuned on AlexNet (tanh) / CIFAR-10"
    return conclude(finding, verdicts, used, failed, what, GRID_AXES)


def _row(
    selection: Selection,
    tuned: Sample,
    sgd: Sample | None,
    end: tuple[float, Sample, Sample] | None,
    verdict: str,
) -> tuple[str, ...]:
    """The table row of one setting (`sgd`: SGD's best tuning point, None: SGD not tuned;
    `end`: the last shared epoch and both final runs' losses there)."""
    status = (
        f"untuned: every point of {grid_size(selection)} excluded ({excluded_text(selection)})"
        if is_untuned(selection)
        else f"selected {_point(selection)}; excluded: {excluded_text(selection)}"
    )
    finals = (
        (f"{end[0]:.3g}", end[1].text(), end[2].text(), ratio_of(end[1], end[2]).text())
        if end is not None
        else ("n/a", "no final runs", "n/a", "n/a")
    )
    return (
        setting_label(setting_of(selection)),
        status,
        tuned.text() if tuned.values else "none",
        sgd.text() if sgd is not None else "SGD not tuned",
        *finals,
        verdict,
    )


def _sgd_runs(curves: dict, same: pd.DataFrame, preset: str | None) -> list[str]:
    """SGD's final runs in the setting: the tuned preset's, else the best SGD preset's."""
    if preset is not None and (same["optimizer"] == preset).any():
        return list(same.loc[same["optimizer"] == preset, "run_id"])
    found = reference_curves(curves, same, "sgd") if len(same) else None
    if found is None:
        return []
    return list(same.loc[same["optimizer"] == found[0], "run_id"])


def _point(selection: Selection) -> str:
    winner = selection.get("winner") or {}
    return ", ".join(f"{k}={v}" for k, v in winner.items()) or "the only point"
