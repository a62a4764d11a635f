"""Abstract; Sections 4.1-4.2: "current methods are too sensitive to parameters and not easy to
tune for different settings", read from the tuning records (:mod:`~.tuning_records`).

A grid that is forgiving has many points near its best; a sensitive one has few, and an untuned
one (every point excluded) none. Per setting, each second-order method's share of grid points
near the best is set against SGD's, on grids of the same size (a share of a larger grid is not
comparable: a wider grid reaches further from the best, so we do not compare them, and say
so)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.claim_needs import TUNING
from secondorder.analysis.findings.decisions import Sample
from secondorder.analysis.findings.failures import conclude
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import (
    DECISIVE_SHARE_GAP,
    LOSS_MARGIN,
    MIN_SEEDS,
    SHARE_MARGIN,
)
from secondorder.analysis.findings.tuning_records import (
    Selection,
    excluded_text,
    grid_size,
    is_untuned,
    method_of,
    near_best_shares,
    paper_searches,
    preset_of,
    setting_of,
    share_text,
)
from secondorder.analysis.findings.verdicts import FAILS, HOLDS, UNCLEAR, Finding
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES

RULE = (
    "Per setting and second-order method (SHG, SQN, SR1 with their line search) tuned beside "
    "SGD: the share of the grid's points whose validation loss on a tuning seed is within "
    f"{LOSS_MARGIN:.0%} of that seed's best point (a diverged, failed or non-finite point is "
    "not), against SGD's share, only on grids of the same size (else inconclusive: not "
    "compared). Too sensitive -> holds: an untuned method (every point excluded) on a grid at "
    f"least as large as a tuned SGD's, or with {MIN_SEEDS}+ tuning seeds the method's share below "
    f"SGD's by {SHARE_MARGIN:.0%} of the grid or more on every seed (seeds apart, or every "
    f"paired difference); with one tuning seed only by {DECISIVE_SHARE_GAP:.0%} or more. Not "
    f"more sensitive -> does not hold: with {MIN_SEEDS}+ seeds, no seed of the method below any "
    f"seed of SGD by {SHARE_MARGIN:.0%}; with one seed, the method's share above SGD's by "
    f"{DECISIVE_SHARE_GAP:.0%} or more. Else inconclusive. The finding: majority of the "
    "comparisons (methods x settings)."
)
COLUMNS = (
    "Setting",
    "Method",
    "Grid points",
    "Near best (method)",
    "Near best (SGD)",
    "Excluded (method)",
    "Excluded (SGD)",
    "Verdict",
)


def less_forgiving(method: Sample, sgd: Sample) -> str:
    """'the method's grid has fewer points near its best than SGD's' (see :data:`RULE`), on
    per-seed shares."""
    if not method.values or not sgd.values:
        return UNCLEAR
    if min(method.n_seeds, sgd.n_seeds) < MIN_SEEDS:
        gap = sgd.mean - method.mean
        if abs(gap) < DECISIVE_SHARE_GAP:
            return UNCLEAR
        return HOLDS if gap > 0 else FAILS
    if method.high <= sgd.low - SHARE_MARGIN:
        return HOLDS
    shared = (
        method.seeds is not None and sgd.seeds is not None and set(method.seeds) == set(sgd.seeds)
    )
    if shared:
        theirs = dict(zip(sgd.seeds, sgd.values, strict=True))
        own = zip(method.seeds, method.values, strict=True)
        if all(theirs[s] - v >= SHARE_MARGIN for s, v in own):
            return HOLDS
    return FAILS if method.low > sgd.high - SHARE_MARGIN else UNCLEAR


def verdict(method: Selection, sgd: Selection) -> str:
    """One comparison: the method's grid against SGD's in one setting."""
    if is_untuned(method):
        tried = grid_size(method) >= grid_size(sgd)  # as many chances as SGD's, or more
        return HOLDS if tried and not is_untuned(sgd) else UNCLEAR
    if grid_size(method) != grid_size(sgd):
        return UNCLEAR
    return less_forgiving(near_best_shares(method), near_best_shares(sgd))


def _key(selection: Selection) -> tuple:
    return tuple(setting_of(selection).values())


def check(selections: Sequence[Selection]) -> Finding:
    """Each second-order method's tuning grid against SGD's in the same setting."""
    finding = Finding(
        key="hard-to-tune",
        title="Second-order methods are too sensitive to their hyperparameters",
        paper="Abstract; Sections 4.1-4.2",
        rule=RULE,
        verdict=UNCLEAR,
        summary="",
        columns=COLUMNS,
        shown_by=(TUNING,),
    )
    searches = paper_searches(selections)
    sgd = {}
    for selection in searches:
        if method_of(selection) == "sgd":
            sgd.setdefault(_key(selection), selection)
    verdicts = []
    order = sorted(
        (s for s in searches if method_of(s) in paper.SECOND_ORDER_METHODS),
        key=lambda s: (_key(s), preset_of(s)),
    )
    for selection in order:
        reference = sgd.get(_key(selection))
        if reference is None:
            continue
        verdicts.append(verdict(selection, reference))
        sizes = f"{grid_size(selection)}"
        if grid_size(selection) != grid_size(reference):
            sizes = f"{grid_size(selection)} vs SGD {grid_size(reference)}: not compared"
        untuned = "untuned (every point excluded)"
        finding.rows.append(
            (
                setting_label(setting_of(selection), GRID_AXES),
                optimizer_label(preset_of(selection)),
                sizes,
                untuned if is_untuned(selection) else share_text(near_best_shares(selection)),
                untuned if is_untuned(reference) else share_text(near_best_shares(reference)),
                excluded_text(selection),
                excluded_text(reference),
                verdicts[-1],
            )
        )
    what = "no second-order method tuned beside SGD in one setting"
    return conclude(finding, verdicts, (), pd.DataFrame(), what, what="comparisons")
