"""The shape shared by findings 4 and 5: how a change of setting (a larger batch, a ReLU, an
identity link) moves each second-order method's loss relative to SGD's, and what the paper
expects of SHG (an effect) and of the quasi-Newton methods (no such effect)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from secondorder.analysis.findings.curves import (
    RunCurve,
    common_range,
    direction,
    ratio,
    reference_curves,
    seed_stats,
)
from secondorder.analysis.findings.text import ratio_text
from secondorder.analysis.findings.thresholds import LOSS_MARGIN
from secondorder.analysis.findings.verdicts import FAILS, HOLDS, UNCLEAR
from secondorder.analysis.style import optimizer_label

EFFECT_COLUMNS = (
    "Setting",
    "Change",
    "Method",
    "At epoch",
    "Loss / SGD before",
    "Loss / SGD after",
    "Change of ratio",
    "Verdict",
)


@dataclass
class Effect:
    """A preset's loss relative to SGD's before and after a change of setting."""

    preset: str
    method: str
    epoch: float
    before: float  # loss / SGD loss, seed means at `epoch`
    after: float
    run_ids: list[str]

    @property
    def change(self) -> float:
        return ratio(self.after, self.before)

    def row(self, setting: str, change: str, verdict: str) -> tuple[str, ...]:
        return (
            setting,
            change,
            optimizer_label(self.preset),
            f"{self.epoch:.3g}",
            ratio_text(self.before),
            ratio_text(self.after),
            f"{ratio_text(self.change)} ({direction(self.change)})",
            verdict,
        )


def _relative_loss(
    curves: dict[str, RunCurve], group: pd.DataFrame, preset: str, epoch: float
) -> float:
    own = [curves[r] for r in group.loc[group["optimizer"] == preset, "run_id"]]
    _, sgd = reference_curves(curves, group, "sgd")
    at = np.array([epoch])
    return ratio(float(seed_stats(own, at).mean[0]), float(seed_stats(sgd, at).mean[0]))


def effects(
    curves: dict[str, RunCurve], before: pd.DataFrame, after: pd.DataFrame, methods: Sequence[str]
) -> list[Effect]:
    """Each preset of `methods` run in both settings (each with SGD), at the last epoch that
    all these runs share (a diverged run counts as infinite loss there)."""
    out = []
    if not ((before["method"] == "sgd").any() and (after["method"] == "sgd").any()):
        return out
    both = set(before["optimizer"]) & set(after["optimizer"])
    for preset in sorted(both):
        method = str(before.loc[before["optimizer"] == preset, "method"].iloc[0])
        if method not in methods:
            continue
        used = pd.concat([before, after])
        used = used[used["optimizer"].eq(preset) | used["method"].eq("sgd")]
        span = common_range(curves[r] for r in used["run_id"])
        if span is None:
            continue
        epoch = span[1]
        out.append(
            Effect(
                preset,
                method,
                epoch,
                _relative_loss(curves, before, preset, epoch),
                _relative_loss(curves, after, preset, epoch),
                list(used["run_id"]),
            )
        )
    return out


def effect_verdict(effect: Effect, expected: str, margin: float = LOSS_MARGIN) -> str:
    """SHG should show the `expected` direction ("up": worse relative to SGD, "down": better):
    that direction holds, the opposite does not, no clear change is inconclusive. The
    quasi-Newton methods should not: the expected direction does not hold, anything else
    holds (an undefined ratio is inconclusive)."""
    moved = direction(effect.change, margin)
    if moved == "n/a":
        return UNCLEAR
    if effect.method == "shg":
        if moved == expected:
            return HOLDS
        return UNCLEAR if moved == "flat" else FAILS
    return FAILS if moved == expected else HOLDS
