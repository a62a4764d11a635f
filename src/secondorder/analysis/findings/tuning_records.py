"""What the findings read from the tuning stage's records: the selection files of rule select
(:func:`secondorder.study.tuning.select`, one per search group: every grid point with its
statuses and validation loss per tuning seed, the winner or none).

A point "near the best" on a tuning seed: it finished with a validation loss within
:data:`~.thresholds.LOSS_MARGIN` of that seed's best point; a point that diverged, failed or
ended non-finite on that seed is not near the best (an excluded point is an outcome: the method
did not train there). A group whose every point was excluded is *untuned*: the method could not
be tuned in that setting. Points that an edge extension added beyond the grid (``extended``)
are left out of the grid's size and shares, so that grids of one size compare; the winner may
be one of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.decisions import Sample
from secondorder.analysis.findings.selection import (
    BEYOND_PAPER_VARIANTS,
    is_beyond_paper,
    is_fixed_step,
    is_gradient_variant,
)
from secondorder.analysis.findings.thresholds import LOSS_MARGIN
from secondorder.spec import GRID_AXES
from secondorder.training.record import Status

Selection = Mapping[str, Any]  # one selection file, as rule select wrote it


def setting_of(selection: Selection) -> dict[str, Any]:
    """The grid axes of the selection's setting (dataset, model, activation, variant, batch)."""
    return {axis: selection["setting"][axis] for axis in GRID_AXES}


def method_of(selection: Selection) -> str:
    return str(selection["setting"]["method"])


def preset_of(selection: Selection) -> str:
    return str(selection["setting"]["optimizer"])


def grid_trials(selection: Selection) -> list[Mapping[str, Any]]:
    """The points of the group's grid, in grid order (not those added beyond an edge)."""
    return [t for t in selection["trials"] if not t.get("extended", False)]


def grid_size(selection: Selection) -> int:
    """The points of the group's grid."""
    return len(grid_trials(selection))


def is_untuned(selection: Selection) -> bool:
    """Every point excluded on some seed: nothing was selected, the final runs are 'untuned'."""
    return all(trial.get("score") is None for trial in selection["trials"])


def is_paper_search(selection: Selection) -> bool:
    """A search group of the paper's methods as the paper runs them: not a method or variant
    beyond the paper, not a model variant beyond its text, no fixed step (Figure 12's presets
    and Byrd et al.'s 1/k step are claims of their own), SHG's gradient on 20 % of the data."""
    if selection["setting"]["variant"] in BEYOND_PAPER_VARIANTS:
        return False
    row = pd.Series(
        {"method": method_of(selection), "hparams": json.dumps(selection.get("pinned") or {})}
    )
    return not (is_beyond_paper(row) or is_fixed_step(row) or is_gradient_variant(row))


def paper_searches(selections: Sequence[Selection]) -> list[Selection]:
    """The selections of :func:`is_paper_search`, in their order."""
    return [s for s in selections if is_paper_search(s)]


def in_paper_activation(selection: Selection) -> bool:
    """The model with the paper's activation (tanh; ReLU for the DRN), standard variant."""
    setting = selection["setting"]
    wanted = paper.ACTIVATION.get(setting["model"], setting["activation"])
    return setting["activation"] == wanted and setting["variant"] == "standard"


def _seed_outcomes(selection: Selection) -> dict[int, list[tuple[str, float | None]]]:
    """Tuning seed -> (status, validation loss or None) of every grid point, in grid order."""
    seeds = [int(s) for s in selection["search"].get("seeds", [0])]
    outcomes: dict[int, list[tuple[str, float | None]]] = {s: [] for s in seeds}
    for trial in grid_trials(selection):
        scores = trial.get("seed_scores") or [trial.get("score")] * len(seeds)
        for seed, status, score in zip(seeds, trial["statuses"], scores, strict=False):
            finite = isinstance(score, int | float) and math.isfinite(score)
            outcomes[seed].append((status, float(score) if finite else None))
    return outcomes


def near_best_shares(selection: Selection, margin: float = LOSS_MARGIN) -> Sample:
    """Per tuning seed, the share of the grid's points near that seed's best (0 where no point
    finished); the notes count the excluded points ("3 diverged")."""
    shares, excluded = {}, []
    for seed, points in _seed_outcomes(selection).items():
        finished = [v for status, v in points if status == Status.FINISHED and v is not None]
        best = min(finished, default=math.nan)
        near = sum(v <= best * (1 + margin) for v in finished) if finished else 0
        shares[seed] = near / len(points) if points else math.nan
        excluded += [s for s, v in points if s != Status.FINISHED or v is None]
    return Sample.of(shares, excluded)


def winner_scores(selection: Selection) -> Sample:
    """The winner's validation loss per tuning seed (empty when untuned)."""
    if is_untuned(selection):
        return Sample.of({})
    trial = min(
        (t for t in selection["trials"] if t.get("score") is not None),
        key=lambda t: t["score"],
    )
    seeds = [int(s) for s in selection["search"].get("seeds", [0])]
    scores = trial.get("seed_scores") or [trial["score"]] * len(seeds)
    return Sample.of({s: float(v) for s, v in zip(seeds, scores, strict=False)})


def share_text(sample: Sample) -> str:
    """'25%' (one seed), '25% (17-33%, 2 seeds)'; 'n/a' without values."""
    if not sample.values:
        return "n/a"
    text = f"{sample.mean:.0%}"
    if sample.n_seeds > 1:
        low, high = f"{sample.low * 100:.0f}", f"{sample.high:.0%}"
        spread = f"{low}-{high}, " if f"{low}%" != high else ""
        text += f" ({spread}{sample.n_seeds} seeds)"
    return text


def excluded_text(selection: Selection) -> str:
    """'none', or '3 of 12 (2 diverged, 1 failed)': grid points excluded on some tuning seed."""
    excluded = [t for t in grid_trials(selection) if t.get("score") is None]
    if not excluded:
        return "none"
    outcomes = [s for t in excluded for s in dict.fromkeys(t["statuses"]) if s != Status.FINISHED]
    counts = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))
    return f"{len(excluded)} of {grid_size(selection)} ({counts})"
