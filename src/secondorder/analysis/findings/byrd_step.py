"""Section 3.4: "in (Byrd et al., 2016) a decaying schedule 1/k ... is proposed to be the step
size of each update, in practice we find out this scheme does not work on most of our
experiments". SQN with the step beta/k (the sqn-byrd preset) against SQN with its line search,
"does not work" as finding 6 defines it for a fixed step."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.curves import end_samples, run_curves
from secondorder.analysis.findings.decisions import ratio_of
from secondorder.analysis.findings.failures import conclude, failed_where
from secondorder.analysis.findings.line_search import fixed_step_verdict, line_search_twin
from secondorder.analysis.findings.selection import is_inverse_step, runs_table, split_failed
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import (
    DECISIVE_FACTOR,
    EQUIVALENCE_MARGIN,
    FIXED_STEP_FAILURE,
)
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
)
from secondorder.analysis.rows import loss_column
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES


def check(rows: pd.DataFrame) -> Finding:
    """Each run group with the 1/k step against its line-search twin in the same setting
    (:func:`~.line_search.line_search_twin`), at the last common epoch."""
    finding = Finding(
        key="byrd-step",
        title="Byrd et al.'s 1/k step size does not work in most experiments",
        paper="Section 3.4",
        rule="Per setting: SQN with the step beta/k (Byrd et al. 2016) against SQN with its line "
        "search, the training loss per seed at the last common epoch (diverged or untuned: "
        "infinite). Does not work: every seed at "
        f"{FIXED_STEP_FAILURE:g}x the line search's or above, beyond the seed variation (one "
        f"seed: {FIXED_STEP_FAILURE * DECISIVE_FACTOR:g}x, or diverged) -> holds; works: every "
        f"seed at most {EQUIVALENCE_MARGIN:.0%} above every seed of the line search, or clearly "
        "below -> does not hold; else inconclusive. The finding: majority of the settings "
        '("most of our experiments").',
        verdict=UNCLEAR,
        summary="",
        columns=(
            "Setting",
            "Step 1/k",
            "Line search",
            "At epoch",
            "Loss (1/k)",
            "Loss (line search)",
            "Ratio",
            "Verdict",
        ),
        shown_by=("loss_curves",),
    )
    every = runs_table(rows)
    rows, failed = split_failed(rows)
    inverse = every[every.apply(is_inverse_step, axis=1)] if len(every) else every
    failed = failed_where(failed, inverse, [*GRID_AXES, "method"])
    runs = runs_table(rows)
    byrd = runs[runs.apply(is_inverse_step, axis=1)] if len(runs) else runs
    curves = run_curves(rows, loss_column(rows))
    runs_per_preset = runs["optimizer"].value_counts()
    verdicts, used = [], set()
    for key, group in byrd.groupby([*GRID_AXES, "method", "optimizer"], sort=True):
        setting = dict(zip(GRID_AXES, key[:-2], strict=True))
        same = runs[(runs[list(GRID_AXES)] == pd.Series(setting)).all(axis=1)]
        searching = same[~same["fixed_step"].astype(bool) & (same["method"] == key[-2])]
        twin = line_search_twin(group.iloc[0], searching, runs_per_preset)
        if twin is None:
            continue
        ls_preset, differences = twin
        ls_ids = list(searching.loc[searching["optimizer"] == ls_preset, "run_id"])
        end = end_samples([curves[r] for r in group["run_id"]], [curves[r] for r in ls_ids])
        if end is None:
            continue
        epoch, ours, theirs = end
        verdicts.append(fixed_step_verdict(ours, theirs))
        differences = [d for d in differences if d != "step_schedule"]
        finding.rows.append(
            (
                setting_label(setting),
                optimizer_label(key[-1]),
                optimizer_label(ls_preset)
                + (f" (differs in {', '.join(differences)})" if differences else ""),
                f"{epoch:.3g}",
                ours.text(),
                theirs.text(),
                ratio_of(ours, theirs).text(),
                verdicts[-1],
            )
        )
        used |= {*group["run_id"], *ls_ids}
    what = "no SQN run with the step 1/k and a line-search counterpart"
    return conclude(finding, verdicts, used, failed, what, GRID_AXES)
