"""Finding 6: second-order methods fail with a fixed learning rate; line search is essential
(Section 4.4, Figure 12)."""

from __future__ import annotations

import json

import pandas as pd

from secondorder.analysis.findings.curves import end_samples, run_curves
from secondorder.analysis.findings.decisions import (
    Sample,
    claim_at_least,
    claim_not_above,
    ratio_of,
)
from secondorder.analysis.findings.failures import failed_where, note_failed
from secondorder.analysis.findings.selection import (
    differing_hparams,
    is_inverse_step,
    runs_table,
    split_failed,
)
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import (
    DECISIVE_FACTOR,
    EQUIVALENCE_MARGIN,
    FIXED_STEP_FAILURE,
)
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    UNCLEAR,
    Finding,
    count_text,
    majority,
    not_in_study,
)
from secondorder.analysis.rows import hparams_of, loss_column
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES


def fixed_step_verdict(fixed: Sample, searching: Sample) -> str:
    """holds: the fixed step does not work (every seed at FIXED_STEP_FAILURE x its twin's loss
    or above, beyond the seed variation; diverged or untuned: infinite); does not hold: it
    works (no worse than the twin, :func:`claim_not_above`); else inconclusive (worse, but it
    trains)."""
    if claim_at_least(fixed, searching, FIXED_STEP_FAILURE) == HOLDS:
        return HOLDS
    return FAILS if claim_not_above(fixed, searching) == HOLDS else UNCLEAR


def line_search_twin(
    fixed: pd.Series, searching: pd.DataFrame, runs_per_preset: pd.Series
) -> tuple[str, list[str]] | None:
    """The line-search preset that `fixed` switches off, with the hyperparameters (besides the
    step length's) in which they differ: the candidate of the same method with the fewest such
    differences, ties going to the preset the study runs most (the method's main preset, not a
    one-figure variant). None without a candidate."""
    own = hparams_of(fixed)
    candidates = []
    for preset, group in searching.groupby("optimizer", sort=True):
        differences = differing_hparams(own, hparams_of(group.iloc[0]))
        main = -int(runs_per_preset.get(preset, 0))
        candidates.append((len(differences), main, preset, differences))
    if not candidates:
        return None
    _, _, preset, differences = min(candidates)
    return str(preset), differences


def _fixed_rate(runs: pd.DataFrame) -> pd.Series:
    """Fixed-step runs with a fixed learning rate (Byrd et al.'s 1/k step is its own claim)."""
    if runs.empty:
        return runs["fixed_step"].astype(bool)
    return runs["fixed_step"].astype(bool) & ~runs.apply(is_inverse_step, axis=1)


def check(rows: pd.DataFrame) -> Finding:
    """Each fixed-step run group (a second-order preset with ``line_search: false``) against its
    line-search twin in the same setting (:func:`line_search_twin`: the same preset but for the
    step length; never a different configuration of the method that happens to be better), at
    the last common epoch; a diverged fixed-step run has an infinite loss there, so an
    explosion (the paper's failure mode) counts as failing."""
    finding = Finding(
        key="f6",
        title="Second-order methods fail with a fixed learning rate; line search is essential",
        paper="Sections 3.4 and 4.4; Figure 12",
        rule="Per setting and method: the fixed step's loss against its line-search twin's at "
        "the last common epoch, per seed (diverged or untuned: infinite). Does not work: every "
        f"seed at {FIXED_STEP_FAILURE:g}x the twin's or above, beyond the seed variation (one "
        f"seed: {FIXED_STEP_FAILURE * DECISIVE_FACTOR:g}x, or diverged) -> holds; works: every "
        "seed at most "
        f"{EQUIVALENCE_MARGIN:.0%} above every seed of the twin, or clearly below -> does not "
        "hold; else (worse, but it trains) inconclusive. The finding: majority (the paper: "
        '"will not work on most of cases").',
        verdict=UNCLEAR,
        summary="",
        columns=(
            "Setting",
            "Fixed step",
            "Line search",
            "At epoch",
            "Loss (fixed)",
            "Loss (line search)",
            "Ratio",
            "Verdict",
        ),
    )
    every = runs_table(rows)
    rows, failed = split_failed(rows)
    fixed_runs = every[_fixed_rate(every)]  # their methods' failed runs list
    failed = failed_where(failed, fixed_runs, [*GRID_AXES, "method"])
    runs = runs_table(rows)
    fixed = runs[_fixed_rate(runs)]
    if fixed.empty:
        what = "no second-order run with a fixed learning rate"
        return note_failed(not_in_study(finding, what), failed, GRID_AXES)
    curves = run_curves(rows, loss_column(rows))
    runs_per_preset = runs["optimizer"].value_counts()
    verdicts, used = [], set()
    for key, group in fixed.groupby([*GRID_AXES, "method", "optimizer"], sort=True):
        setting = dict(zip(GRID_AXES, key[:-2], strict=True))
        method, preset = key[-2], key[-1]
        same = runs[(runs[list(GRID_AXES)] == pd.Series(setting)).all(axis=1)]
        searching = same[~same["fixed_step"] & (same["method"] == method)]
        twin = line_search_twin(group.iloc[0], searching, runs_per_preset)
        if twin is None:
            continue
        ls_preset, differences = twin
        ls_ids = searching.loc[searching["optimizer"] == ls_preset, "run_id"]
        ls_curves = [curves[r] for r in ls_ids]
        own = [curves[r] for r in group["run_id"]]
        end = end_samples(own, ls_curves)
        if end is None:
            continue
        epoch, ours, theirs = end
        verdict = fixed_step_verdict(ours, theirs)
        verdicts.append(verdict)
        lr = json.loads(group["hparams"].iloc[0]).get("lr")
        finding.rows.append(
            (
                setting_label(setting),
                f"{optimizer_label(preset)}" + (f" (lr {lr:g})" if lr is not None else ""),
                optimizer_label(ls_preset)
                + (f" (differs in {', '.join(differences)})" if differences else ""),
                f"{epoch:.3g}",
                ours.text(),
                theirs.text(),
                ratio_of(ours, theirs).text(),
                verdict,
            )
        )
        used |= set(group["run_id"])
        used |= set(ls_ids)
    if not verdicts:
        what = "no fixed-step run with a line-search counterpart"
        return note_failed(not_in_study(finding, what), failed, GRID_AXES)
    if any(" (differs in " in row[2] for row in finding.rows):
        finding.rule += (
            " Where no line-search preset equals the fixed-step one but for the step length, "
            "the closest is used and its differences are named."
        )
    finding.verdict = majority(verdicts)
    finding.summary = count_text(verdicts, "settings")
    finding.run_ids = frozenset(used)
    return note_failed(finding, failed, GRID_AXES)
