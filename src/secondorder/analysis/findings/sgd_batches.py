"""Figure 8's claim about SGD: "SGD benefits a bit when batch size grows to 400 but not larger"
(Section 4.2: "the effect of larger batches seems to be stronger for SGD when batch size grows
to 400")."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.curves import end_samples, run_curves
from secondorder.analysis.findings.decisions import claim_lower, claim_not_above
from secondorder.analysis.findings.failures import conclude, failed_where
from secondorder.analysis.findings.selection import runs_table, split_failed
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import EQUIVALENCE_MARGIN, LOSS_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
    all_of,
)
from secondorder.analysis.rows import loss_column
from secondorder.spec import GRID_AXES

# The batch size the paper names (Figure 8's caption).
FIGURE8_BATCH = 400
# A setting but for its batch size.
GROUP_COLUMNS = [axis for axis in GRID_AXES if axis != "batch_size"]


def check(rows: pd.DataFrame) -> Finding:
    """SGD's own loss per epoch at different batch sizes (not relative to another method),
    per setting with batch 400, a smaller and a larger one: lower at 400 than at the smallest
    (benefits), and no lower at any larger size than at 400 (not larger)."""
    finding = Finding(
        key="f4-sgd-400",
        title="SGD benefits a bit from batches growing to 400, but not from larger ones",
        paper="Section 4.2; Figure 8",
        rule=f"SGD's runs (Figures 7-8's), per setting run at batch {FIGURE8_BATCH} and at "
        "sizes below and above it, the training loss per seed at the last epoch each pair of "
        f"sizes shares. Benefits: loss at {FIGURE8_BATCH} below the smallest size's by >"
        f"{LOSS_MARGIN:.0%} beyond the seed variation -> holds, the seeds rule that out -> does "
        f"not hold. Not larger (no effect: positive evidence): for every larger size, every "
        f"seed at {FIGURE8_BATCH} at most {EQUIVALENCE_MARGIN:.0%} above every seed at the "
        f"larger size, or clearly below -> holds; above by more than {EQUIVALENCE_MARGIN:.0%} "
        "beyond the seed variation -> does not hold. Else inconclusive. Per setting: both "
        "parts; the finding: majority of the settings.",
        verdict=UNCLEAR,
        summary="",
        columns=(
            "Setting",
            "Batch sizes",
            "At epoch",
            "Loss (smaller)",
            "Loss (larger)",
            "Claim",
            "Verdict",
        ),
    )
    rows, failed = split_failed(rows)
    runs = runs_table(rows)
    sgd = runs[runs["method"] == "sgd"] if len(runs) else runs
    failed = failed_where(failed[failed["method"] == "sgd"], sgd, GROUP_COLUMNS)
    curves = run_curves(rows[rows["run_id"].isin(set(sgd["run_id"]))], loss_column(rows))
    verdicts, used = [], set()
    for key, own in sgd.groupby([*GROUP_COLUMNS, "optimizer"], sort=True):
        sizes = sorted(set(own["batch_size"]))
        if FIGURE8_BATCH not in sizes or sizes[0] >= FIGURE8_BATCH or sizes[-1] <= FIGURE8_BATCH:
            continue
        label = setting_label(dict(zip(GROUP_COLUMNS, key[:-1], strict=True)), GROUP_COLUMNS)
        at = {b: [curves[r] for r in own.loc[own["batch_size"] == b, "run_id"]] for b in sizes}
        parts = []
        for small, large in [(sizes[0], FIGURE8_BATCH)] + [
            (FIGURE8_BATCH, b) for b in sizes if b > FIGURE8_BATCH
        ]:
            end = end_samples(at[small], at[large])
            if end is None:
                parts.append(UNCLEAR)
                continue
            epoch, before, after = end
            if large == FIGURE8_BATCH:
                claim, verdict = "lower at the larger", claim_lower(after, before)
            else:
                claim, verdict = "not lower at the larger", claim_not_above(before, after)
            parts.append(verdict)
            sizes_text = f"{int(small)} -> {int(large)}"
            row = (label, sizes_text, f"{epoch:.3g}", before.text(), after.text(), claim, verdict)
            finding.rows.append(row)
        verdicts.append(all_of([parts[0], all_of(parts[1:])]))
        used |= set(own["run_id"])
    what = f"no SGD run at batch {FIGURE8_BATCH} and at sizes below and above it"
    return conclude(finding, verdicts, used, failed, what, GRID_AXES[2:])
