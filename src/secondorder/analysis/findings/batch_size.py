"""Finding 4: larger batches help SHG more than SGD, and do not help SQN and SR1 (Section 4.2,
Figures 6-8)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.curves import run_curves
from secondorder.analysis.findings.effects import EFFECT_COLUMNS, effect_verdict, effects
from secondorder.analysis.findings.selection import runs_table
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import LOSS_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
    all_of,
    count_text,
    majority,
    not_in_study,
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
        rule="Per setting and method: loss / SGD's loss at the last common epoch, at the "
        "smallest and the largest shared batch size. SHG: the ratio falls by "
        f">{LOSS_MARGIN:.0%} -> holds, rises by that -> does not hold, else inconclusive. "
        f"SQN, SR1: falls by >{LOSS_MARGIN:.0%} -> does not hold, else holds. Each part "
        "(SHG; quasi-Newton): majority; the finding: both parts.",
        verdict=UNCLEAR,
        summary="",
        columns=EFFECT_COLUMNS,
    )
    runs = runs_table(rows)
    runs = runs[~runs["fixed_step"]] if len(runs) else runs
    curves = run_curves(rows[rows["run_id"].isin(set(runs["run_id"]))], loss_column(rows))
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
                verdict = effect_verdict(effect, "down")
                (shg if effect.method == "shg" else quasi).append(verdict)
                finding.rows.append(effect.row(setting, change, verdict))
                used |= set(effect.run_ids)
    if not shg and not quasi:
        return not_in_study(finding, "no method run with SGD at two or more batch sizes")
    parts = [majority(shg), majority(quasi)]
    finding.verdict = all_of(parts)
    finding.summary = (
        f"SHG: {parts[0]} ({count_text(shg, 'settings')}); quasi-Newton: {parts[1]} "
        f"({count_text(quasi, 'settings')})"
    )
    finding.run_ids = frozenset(used)
    return finding
