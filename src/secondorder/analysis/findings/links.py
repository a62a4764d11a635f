"""Finding 5: ReLU and identity links hurt SHG but not the quasi-Newton methods (Section 4.3,
Figures 9-11): both have zero second derivatives, so part of the Hessian vanishes."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.curves import run_curves
from secondorder.analysis.findings.decisions import claim_lower, claim_not_above
from secondorder.analysis.findings.effects import EFFECT_COLUMNS, effects
from secondorder.analysis.findings.failures import failed_where, note_failed
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
from secondorder.spec import GRID_AXES

# A setting but for its activation and variant (the links).
GROUP_COLUMNS = [axis for axis in GRID_AXES if axis not in ("activation", "variant")]
LABEL_COLUMNS = ("activation", "variant", "batch_size")


def changes(kinds: set[tuple[str, str]]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The (activation, variant) pairs to compare: tanh -> ReLU in each variant run with both
    (Figure 10's AlexNet), and tanh standard -> tanh residual (Figure 11's identity link)."""
    out = [(("tanh", v), ("relu", v)) for _, v in sorted(kinds) if ("tanh", v) in kinds]
    out = [pair for pair in dict.fromkeys(out) if pair[1] in kinds]
    if {("tanh", "standard"), ("tanh", "residual")} <= kinds:
        out.append((("tanh", "standard"), ("tanh", "residual")))
    return out


def check(rows: pd.DataFrame) -> Finding:
    """Relative to SGD in the same setting, because a ReLU net may train faster with every
    optimizer: per dataset, model and batch size, each change of :func:`changes`."""
    finding = Finding(
        key="f5",
        title="ReLU and identity links hurt SHG but not the quasi-Newton methods",
        paper="Abstract; Section 4.3; Figures 9-11",
        rule="Per setting and method: loss / SGD's loss at the last common epoch, per seed "
        "(paired with SGD's seed), tanh against ReLU in the same variant, and standard against "
        "the residual variant with tanh; a "
        "diverged or untuned run: infinite loss. SHG (an effect): the ratio rises by >"
        f"{LOSS_MARGIN:.0%} beyond the seed variation -> holds; the seeds rule such a rise "
        "out -> does not hold; else inconclusive. SQN, SR1 (no harm: positive evidence "
        f"needed): every seed's ratio after at most {EQUIVALENCE_MARGIN:.0%} above every "
        "seed's before, or clearly below it -> holds; above by more than "
        f"{EQUIVALENCE_MARGIN:.0%} beyond the seed variation -> does not hold; else "
        "inconclusive. Each part (SHG; quasi-Newton): majority; the finding: both parts.",
        verdict=UNCLEAR,
        summary="",
        columns=EFFECT_COLUMNS,
    )
    rows, runs, failed = compared_runs(rows)
    curves = run_curves(rows[rows["run_id"].isin(set(runs["run_id"]))], loss_column(rows))
    ablated = runs  # the settings run with more than one link
    if len(runs):
        kinds = runs["activation"] + "/" + runs["variant"]
        ablated = runs[kinds.groupby([runs[c] for c in GROUP_COLUMNS]).transform("nunique") > 1]
    failed = failed_where(failed, ablated, GROUP_COLUMNS)
    failed = failed[failed["method"].isin(("sgd", *paper.SECOND_ORDER_METHODS))]
    shg, quasi, used = [], [], set()
    for key, group in runs.groupby(GROUP_COLUMNS, sort=True):
        setting = setting_label(dict(zip(GROUP_COLUMNS, key, strict=True)), GROUP_COLUMNS)
        kinds = group[["activation", "variant"]].apply(tuple, axis=1)
        for start, end in changes(set(kinds)):
            change = f"{start[0]}, {start[1]} -> {end[0]}, {end[1]}".replace(", standard", "")
            before, after = group[kinds == start], group[kinds == end]
            for effect in effects(curves, before, after, paper.SECOND_ORDER_METHODS):
                if effect.method == "shg":  # hurt: the ratio rises
                    verdict = claim_lower(effect.before, effect.after)
                else:  # not hurt: the ratio after no higher than before
                    verdict = claim_not_above(effect.after, effect.before)
                (shg if effect.method == "shg" else quasi).append(verdict)
                finding.rows.append(effect.row(setting, change, verdict))
                used |= set(effect.run_ids)
    if not shg and not quasi:
        what = (
            "no second-order method run with SGD both with tanh and with ReLU or an identity link"
        )
        return note_failed(not_in_study(finding, what), failed, LABEL_COLUMNS)
    parts = [majority(shg), majority(quasi)]
    finding.verdict = all_of(parts)
    finding.summary = (
        f"{part_text('SHG', shg, 'settings')}; {part_text('quasi-Newton', quasi, 'settings')}"
    )
    finding.run_ids = frozenset(used)
    return note_failed(finding, failed, LABEL_COLUMNS)
