"""Figure 10 in its own words: "using ReLu in deep neural networks deteriorates performance of
SHG but not SR1" (AlexNet with tanh against with ReLU). Finding 5 pools this change with the
identity link's and with SQN; this finding is the tanh -> ReLU change on the standard AlexNet
alone, SHG and SR1."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.curves import run_curves
from secondorder.analysis.findings.decisions import claim_lower, claim_not_above
from secondorder.analysis.findings.effects import EFFECT_COLUMNS, effects
from secondorder.analysis.findings.failures import failed_where, note_failed
from secondorder.analysis.findings.links import GROUP_COLUMNS
from secondorder.analysis.findings.selection import compared_runs
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import EQUIVALENCE_MARGIN, LOSS_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
    all_of,
    majority,
    not_in_study,
    part_text,
)
from secondorder.analysis.rows import loss_column

MODEL = "alexnet"
METHODS = ("sgd", "shg", "lsr1")


def check(rows: pd.DataFrame) -> Finding:
    """Per dataset and batch size with SGD run on AlexNet (standard) with tanh and with ReLU:
    SHG's and SR1's loss relative to SGD's, per seed, before and after the change."""
    finding = Finding(
        key="fig10-relu",
        title="ReLU hurts SHG but not SR1 (AlexNet)",
        paper="Section 4.3; Figure 10",
        rule="AlexNet (standard variant) per dataset and batch size, run with tanh and with ReLU "
        "(line search on, SHG's gradient on 20 %): loss / SGD's loss at the last common epoch, "
        "per seed (paired with SGD's seed; diverged or untuned: infinite). SHG (hurt): the "
        f"ratio rises by >{LOSS_MARGIN:.0%} beyond the seed variation -> holds; the seeds rule "
        "such a rise out -> does not hold. SR1 (not hurt: positive evidence): every seed's ratio "
        f"with ReLU at most {EQUIVALENCE_MARGIN:.0%} above every seed's with tanh, or clearly "
        f"below -> holds; above by more than {EQUIVALENCE_MARGIN:.0%} beyond the seed variation "
        "-> does not hold. Else inconclusive. Each part (SHG; SR1): majority of its settings; "
        "the finding: both parts.",
        verdict=UNCLEAR,
        summary="",
        columns=EFFECT_COLUMNS,
    )
    rows, runs, failed = compared_runs(rows)
    runs = runs[
        (runs["model"] == MODEL)
        & (runs["variant"] == "standard")
        & runs["activation"].isin(("tanh", "relu"))
        & runs["method"].isin(METHODS)
    ]
    if len(runs):  # the settings run with both activations
        runs = runs[runs.groupby(GROUP_COLUMNS)["activation"].transform("nunique") == 2]
    failed = failed_where(failed[failed["method"].isin(METHODS)], runs, GROUP_COLUMNS)
    curves = run_curves(rows[rows["run_id"].isin(set(runs["run_id"]))], loss_column(rows))
    parts: dict[str, list[str]] = {"shg": [], "lsr1": []}
    used = set()
    for key, group in runs.groupby(GROUP_COLUMNS, sort=True):
        setting = setting_label(dict(zip(GROUP_COLUMNS, key, strict=True)), GROUP_COLUMNS)
        before, after = (group[group["activation"] == a] for a in ("tanh", "relu"))
        for effect in effects(curves, before, after, tuple(parts)):
            if effect.method == "shg":  # hurt: the ratio rises
                verdict = claim_lower(effect.before, effect.after)
            else:  # not hurt: the ratio with ReLU no higher than with tanh
                verdict = claim_not_above(effect.after, effect.before)
            parts[effect.method].append(verdict)
            finding.rows.append(effect.row(setting, "tanh -> relu", verdict))
            used |= set(effect.run_ids)
    if not any(parts.values()):
        what = "no AlexNet setting with SGD and SHG or SR1 both with tanh and with ReLU"
        return note_failed(not_in_study(finding, what), failed, ("activation", "batch_size"))
    finding.verdict = all_of([majority(parts["shg"]), majority(parts["lsr1"])])
    finding.summary = (
        f"{part_text('SHG', parts['shg'], 'settings')}; "
        f"{part_text('SR1', parts['lsr1'], 'settings')}"
    )
    finding.run_ids = frozenset(used)
    return note_failed(finding, failed, ("activation", "batch_size"))
