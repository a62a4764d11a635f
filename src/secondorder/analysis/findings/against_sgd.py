"""Each preset of some methods against SGD along the training-loss curve in each of the
paper's main settings: the comparison of findings 1 (second-order methods) and 2 (GD)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from secondorder.analysis.findings.curves import (
    CurveComparison,
    compare_curves,
    reference_curves,
    run_curves,
)
from secondorder.analysis.findings.selection import main_settings, runs_table
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.rows import loss_column
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES

COMPARISON_COLUMNS = (
    "Setting",
    "Method",
    "Epochs lower",
    "At epoch",
    "Loss (method)",
    "Loss (SGD)",
    "Verdict",
)


@dataclass
class SettingComparison:
    """One optimizer preset against SGD in one setting."""

    setting: str
    preset: str
    method: str
    comparison: CurveComparison
    run_ids: list[str]

    def row(self, verdict: str) -> tuple[str, ...]:
        c = self.comparison
        return (
            self.setting,
            optimizer_label(self.preset),
            f"{c.share_lower:.0%}",
            f"{c.epochs[-1]:.3g}",
            c.method.text(),
            c.reference.text(),
            verdict,
        )


def compare_with_sgd(rows: pd.DataFrame, methods: Sequence[str]) -> list[SettingComparison]:
    """Each preset of `methods` against SGD along the training-loss curve, in every main
    setting (see :func:`main_settings`) that has both."""
    main = main_settings(rows)
    runs = runs_table(main)
    curves = run_curves(main, loss_column(main))
    out = []
    for key, group in runs.groupby(list(GRID_AXES), sort=True):
        reference = reference_curves(curves, group, "sgd")
        if reference is None:
            continue
        sgd_preset, sgd_curves = reference
        sgd_ids = list(group.loc[group["optimizer"] == sgd_preset, "run_id"])
        label = setting_label(dict(zip(GRID_AXES, key, strict=True)), ("batch_size",))
        for preset, own in group[group["method"].isin(methods)].groupby("optimizer", sort=True):
            ids = list(own["run_id"])
            comparison = compare_curves([curves[r] for r in ids], sgd_curves)
            if comparison is not None:
                method = str(own["method"].iloc[0])
                out.append(SettingComparison(label, str(preset), method, comparison, ids + sgd_ids))
    return out
