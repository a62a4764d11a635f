"""Finding 5: ReLU and identity links hurt SHG but not the quasi-Newton methods (Section 4.3,
Figures 9-11): both have zero second derivatives, so part of the Hessian vanishes."""

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

# A setting but for its activation and variant (the links).
GROUP_COLUMNS = [axis for axis in GRID_AXES if axis not in ("activation", "variant")]
BASE = ("tanh", "standard")  # activation, variant of the setting the changes start from


def check(rows: pd.DataFrame) -> Finding:
    """Relative to SGD in the same setting, because a ReLU net may train faster with every
    optimizer: per dataset, model and batch size, each setting that differs from tanh /
    standard (ReLU; the residual variant) against tanh / standard."""
    finding = Finding(
        key="f5",
        title="ReLU and identity links hurt SHG but not the quasi-Newton methods",
        paper="Abstract; Section 4.3; Figures 9-11",
        rule="Per setting and method: loss / SGD's loss at the last common epoch, tanh + "
        f"standard against ReLU or the residual variant. SHG: the ratio rises by >"
        f"{LOSS_MARGIN:.0%} -> holds, falls by that -> does not hold, else inconclusive. "
        f"SQN, SR1: rises by >{LOSS_MARGIN:.0%} -> does not hold, else holds. Each part "
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
        kinds = group[["activation", "variant"]].apply(tuple, axis=1)
        base = group[kinds == BASE]
        for kind in sorted(set(kinds) - {BASE}):
            change = f"{BASE[0]} -> {kind[0]}" + (f", {kind[1]}" if kind[1] != BASE[1] else "")
            for effect in effects(curves, base, group[kinds == kind], paper.SECOND_ORDER_METHODS):
                verdict = effect_verdict(effect, "up")
                (shg if effect.method == "shg" else quasi).append(verdict)
                finding.rows.append(effect.row(setting, change, verdict))
                used |= set(effect.run_ids)
    if not shg and not quasi:
        return not_in_study(
            finding,
            "no second-order method run with SGD both with tanh and with ReLU or an identity link",
        )
    parts = [majority(shg), majority(quasi)]
    finding.verdict = all_of(parts)
    finding.summary = (
        f"SHG: {parts[0]} ({count_text(shg, 'settings')}); quasi-Newton: {parts[1]} "
        f"({count_text(quasi, 'settings')})"
    )
    finding.run_ids = frozenset(used)
    return finding
