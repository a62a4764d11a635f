"""Each preset of some methods against a reference method (SGD, or GD) along the training-loss
curve in each setting of some selected rows: the comparison of findings 1 and 2 and of the DRN's
claims."""

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
from secondorder.analysis.findings.selection import CURVE_MODELS, main_settings, runs_table
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.rows import loss_column
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES

COMPARISON_COLUMNS = (
    "Setting",
    "Claim",
    "Epochs lower",
    "At epoch",
    "Loss (method)",
    "Loss (reference)",
    "Verdict",
)


@dataclass
class SettingComparison:
    """One optimizer preset against the reference in one setting."""

    setting: dict  # the grid axes' values
    label: str  # the setting as the table writes it
    preset: str
    method: str
    reference: str  # the reference's preset
    comparison: CurveComparison
    run_ids: list[str]

    def row(self, claim: str, verdict: str) -> tuple[str, ...]:
        """The table row of one claim about this comparison ("lower than", "comparable to")."""
        c = self.comparison
        return (
            self.label,
            f"{optimizer_label(self.preset)} {claim} {optimizer_label(self.reference)}",
            f"{c.share_lower:.0%}",
            f"{c.epochs[-1]:.3g}",
            c.method.text(),
            c.reference.text(),
            verdict,
        )


def main_rows(rows: pd.DataFrame, models: Sequence[str] = CURVE_MODELS) -> pd.DataFrame:
    """The main settings (:func:`main_settings`) of Figures 2-5's models."""
    main = main_settings(rows)
    return main[main["model"].isin(models)]


def compare_with(
    rows: pd.DataFrame,
    methods: Sequence[str],
    reference: str = "sgd",
    label_columns: Sequence[str] = ("batch_size",),
) -> list[SettingComparison]:
    """Each preset of `methods` against the `reference` method along the training-loss curve,
    in every setting of `rows` (already selected, runs that count) that has both. A setting
    whose runs have no logging point at all (all untuned) gives no comparison."""
    runs = runs_table(rows)
    curves = run_curves(rows, loss_column(rows))
    out = []
    for key, group in runs.groupby(list(GRID_AXES), sort=True):
        found = reference_curves(curves, group, reference)
        if found is None:
            continue
        ref_preset, ref_curves = found
        ref_ids = list(group.loc[group["optimizer"] == ref_preset, "run_id"])
        setting = dict(zip(GRID_AXES, key, strict=True))
        label = setting_label(setting, label_columns)
        for preset, own in group[group["method"].isin(methods)].groupby("optimizer", sort=True):
            ids = list(own["run_id"])
            comparison = compare_curves([curves[r] for r in ids], ref_curves)
            if comparison is not None:
                method = str(own["method"].iloc[0])
                out.append(
                    SettingComparison(
                        setting, label, str(preset), method, ref_preset, comparison, ids + ref_ids
                    )
                )
    return out
