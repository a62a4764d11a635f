"""Finding 4: larger batches help SHG more than SGD, and do not help SQN and SR1 (Section 4.2,
Figures 6-8)."""

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

# A setting but for its batch size.
GROUP_COLUMNS = [axis for axis in GRID_AXES if axis != "batch_size"]


def check(rows: pd.DataFrame) -> Finding:
    """Relative to SGD at the same batch size and epoch, so that "helps" means "helps more
    than it helps SGD" (the paper's Figures 7-8 draw SGD next to SR1 and SHG): per setting, the
    smallest and the largest batch size that a method and SGD share, each method's loss divided
    by SGD's at the last common epoch, and how that ratio changes."""
    finding = Finding(
        key="f4",
        title="Larger batches help SHG more than SGD, and do not help SQN and SR1",
        paper="Abstract; Section 4.2; Figures 6-8",
        rule="Per setting and method: loss / SGD's loss at the last common epoch, per seed "
        "(paired with SGD's seed), at the smallest and the largest shared batch size; a "
        "diverged or untuned run: infinite loss. SHG (an effect): the ratio falls by "
        f">{LOSS_MARGIN:.0%} beyond the seed variation -> holds; the seeds rule such a fall "
        "out -> does not hold; else inconclusive. SQN, SR1 (no benefit: positive evidence "
        "needed): every seed's ratio at the small batch at most "
        f"{EQUIVALENCE_MARGIN:.0%} above every seed's at the large one, or clearly below it -> "
        f"holds; above by more than {EQUIVALENCE_MARGIN:.0%} beyond the seed variation (the "
        "large batch helped) -> does not hold; else inconclusive. Each part (SHG; "
        "quasi-Newton): majority; the finding: both parts.",
        verdict=UNCLEAR,
        summary="",
        columns=EFFECT_COLUMNS,
    )
    rows, runs, failed = compared_runs(rows)
    curves = run_curves(rows[rows["run_id"].isin(set(runs["run_id"]))], loss_column(rows))
    multi = runs  # the settings run at two batch sizes or more
    if len(runs):
        multi = runs[runs.groupby(GROUP_COLUMNS)["batch_size"].transform("nunique") >= 2]
    failed = failed_where(failed, multi, GROUP_COLUMNS)
    failed = failed[failed["method"].isin(("sgd", *paper.SECOND_ORDER_METHODS))]
    shg, quasi, used = [], [], set()
    for key, group in runs.groupby(GROUP_COLUMNS, sort=True):
        setting = setting_label(dict(zip(GROUP_COLUMNS, key, strict=True)), GROUP_COLUMNS)
        sgd_sizes = set(group.loc[group["method"] == "sgd", "batch_size"])
        second_order = group[group["method"].isin(paper.SECOND_ORDER_METHODS)]
        for preset, own in second_order.groupby("optimizer"):
            sizes = sorted(sgd_sizes & set(own["batch_size"]))
            if len(sizes) < 2:
                continue
            small, large = (group[group["batch_size"] == b] for b in (sizes[0], sizes[-1]))
            change = f"batch {int(sizes[0])} -> {int(sizes[-1])}"
            for effect in effects(curves, small, large, (own["method"].iloc[0],)):
                if effect.preset != preset:
                    continue
                if effect.method == "shg":  # helped: the ratio falls
                    verdict = claim_lower(effect.after, effect.before)
                else:  # not helped: the ratio before no higher than after
                    verdict = claim_not_above(effect.before, effect.after)
                (shg if effect.method == "shg" else quasi).append(verdict)
                finding.rows.append(effect.row(setting, change, verdict))
                used |= set(effect.run_ids)
    if not shg and not quasi:
        what = "no method run with SGD at two or more batch sizes"
        return note_failed(not_in_study(finding, what), failed, [*GROUP_COLUMNS[2:], "batch_size"])
    parts = [majority(shg), majority(quasi)]
    finding.verdict = all_of(parts)
    finding.summary = (
        f"{part_text('SHG', shg, 'settings')}; {part_text('quasi-Newton', quasi, 'settings')}"
    )
    finding.run_ids = frozenset(used)
    return note_failed(finding, failed, [*GROUP_COLUMNS[2:], "batch_size"])
