"""Figure 1's claim (Section 3.3): SHG "with larger full gradient used is indeed better, but it's
not significantly better than only partial gradients"; the caption: "20% data to compute
gradient is enough". A claim of no (significant) effect: SHG with its gradient on 20 % of the
data must be inside the equivalence margin of SHG on 100 %, seed by seed."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.curves import end_samples, run_curves
from secondorder.analysis.findings.decisions import claim_not_above, ratio_of
from secondorder.analysis.findings.failures import conclude, failed_where
from secondorder.analysis.findings.selection import (
    MAIN_GRADIENT_FRACTION,
    runs_table,
    split_failed,
)
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import EQUIVALENCE_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
)
from secondorder.analysis.rows import hparams_of, loss_column
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES

FULL_GRADIENT = 1.0


def gradient_fraction(row: pd.Series) -> object:
    """SHG's gradient sample: a fraction of the training set, or "minibatch"."""
    return hparams_of(row).get("gradient_fraction", MAIN_GRADIENT_FRACTION)


def check(rows: pd.DataFrame) -> Finding:
    """Per setting, each SHG preset with its gradient on 20 % against each on 100 % (line search
    on), at the last epoch both share: 20 % no worse than 100 % beyond the equivalence margin."""
    finding = Finding(
        key="fig1-gradient",
        title="SHG's gradient on 20 % of the data is enough; 100 % is not significantly better",
        paper="Section 3.3; Figure 1",
        rule="Per setting with SHG (line search on) run with its gradient on 20 % and on 100 % of "
        "the training set (Figure 1: MNIST, LeNet): the training loss per seed at the last "
        "common epoch (diverged or untuned: infinite). Not significantly better (positive "
        f"evidence): every seed of 20 % at most {EQUIVALENCE_MARGIN:.0%} above every seed of "
        f"100 %, or 20 % clearly lower -> holds; 20 % above by more than {EQUIVALENCE_MARGIN:.0%}"
        " beyond the seed variation -> does not hold; else "
        "inconclusive. The finding: majority of the settings.",
        verdict=UNCLEAR,
        summary="",
        columns=(
            "Setting",
            "20 %",
            "100 %",
            "At epoch",
            "Loss (20 %)",
            "Loss (100 %)",
            "Ratio",
            "Verdict",
        ),
    )
    rows, failed = split_failed(rows)
    runs = runs_table(rows)
    runs = runs[(runs["method"] == "shg") & ~runs["fixed_step"].astype(bool)]
    if len(runs):
        fraction = runs.apply(gradient_fraction, axis=1)
        runs = runs[fraction.isin([MAIN_GRADIENT_FRACTION, FULL_GRADIENT])].assign(
            full=fraction == FULL_GRADIENT
        )
        both = runs.groupby(list(GRID_AXES))["full"].transform("nunique") == 2
        runs = runs[both]
    failed = failed_where(failed[failed["method"] == "shg"], runs, GRID_AXES)
    curves = run_curves(rows[rows["run_id"].isin(set(runs["run_id"]))], loss_column(rows))
    verdicts, used = [], set()
    for key, group in runs.groupby(list(GRID_AXES), sort=True):
        label = setting_label(dict(zip(GRID_AXES, key, strict=True)))
        presets = {
            full: sorted(group.loc[group["full"] == full, "optimizer"].unique())
            for full in (False, True)
        }
        for partial in presets[False]:
            for whole in presets[True]:
                ids = {
                    p: list(group.loc[group["optimizer"] == p, "run_id"]) for p in (partial, whole)
                }
                end = end_samples(
                    [curves[r] for r in ids[partial]], [curves[r] for r in ids[whole]]
                )
                if end is None:
                    continue
                epoch, ours, theirs = end
                verdict = claim_not_above(ours, theirs)
                verdicts.append(verdict)
                finding.rows.append(
                    (
                        label,
                        optimizer_label(partial),
                        optimizer_label(whole),
                        f"{epoch:.3g}",
                        ours.text(),
                        theirs.text(),
                        ratio_of(ours, theirs).text(),
                        verdict,
                    )
                )
                used |= {*ids[partial], *ids[whole]}
    what = "no setting with SHG's gradient on 20 % and on 100 % of the data"
    return conclude(finding, verdicts, used, failed, what, GRID_AXES)
