"""The shape shared by findings 4 and 5: how a change of setting (a larger batch, a ReLU, an
identity link) moves each second-order method's loss relative to SGD's, per seed, so that the
rules can ask whether the move is larger than the seed-to-seed variation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from secondorder.analysis.findings.curves import (
    RunCurve,
    common_range,
    reference_curves,
    sample_at,
)
from secondorder.analysis.findings.decisions import Sample, ratio_of
from secondorder.analysis.findings.text import ratio_text
from secondorder.analysis.style import optimizer_label

EFFECT_COLUMNS = (
    "Setting",
    "Change",
    "Method",
    "At epoch",
    "Loss / SGD before",
    "Loss / SGD after",
    "Change of mean ratio",
    "Verdict",
)


@dataclass
class Effect:
    """A preset's loss relative to SGD's before and after a change of setting, per seed
    (paired with SGD's seed where both ran the same seeds)."""

    preset: str
    method: str
    epoch: float
    before: Sample
    after: Sample
    run_ids: list[str]

    def row(self, setting: str, change: str, verdict: str) -> tuple[str, ...]:
        moved = self.after.mean / self.before.mean if self.before.mean else float("nan")
        return (
            setting,
            change,
            optimizer_label(self.preset),
            f"{self.epoch:.3g}",
            self.before.text(),
            self.after.text(),
            ratio_text(moved),
            verdict,
        )


def relative_loss(
    curves: dict[str, RunCurve], group: pd.DataFrame, preset: str, epoch: float
) -> Sample:
    """The preset's loss / SGD's in one setting at `epoch`, per seed."""
    own = [curves[r] for r in group.loc[group["optimizer"] == preset, "run_id"]]
    _, sgd = reference_curves(curves, group, "sgd")
    return ratio_of(sample_at(own, epoch), sample_at(sgd, epoch))


def effects(
    curves: dict[str, RunCurve], before: pd.DataFrame, after: pd.DataFrame, methods: Sequence[str]
) -> list[Effect]:
    """Each preset of `methods` run in both settings (each with SGD), at the last epoch that
    all these runs share (a diverged or untuned run counts as infinite loss there)."""
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
                relative_loss(curves, before, preset, epoch),
                relative_loss(curves, after, preset, epoch),
                list(used["run_id"]),
            )
        )
    return out
