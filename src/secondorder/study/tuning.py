"""Hyperparameter tuning as a stage of the study: search spaces, tuning runs, the selection rule.

A hyperparameter written as ``{search: [v1, v2, ...]}`` (in an optimizer preset, or set by a
``tuning`` rule for some settings) is searched instead of fixed; a plain value is pinned and
bypasses tuning for that setting, and a one-value space is the same as that value pinned. The
study's ``search`` block says how:

- every point of the space's grid (the product of its values, in the order written) is trained
  for a short budget of ``epochs`` once per tuning seed: these tuning runs are ordinary runs,
  except that they hold out a stratified ``validation`` split of the training set, train on the
  rest and evaluate on that split (:func:`trial_specs`); the test set never reaches them;
- :func:`select` scores each point by :data:`SELECTION_RULE` and writes the winner into the
  group's selection file (``results/tuning/<group>.json``);
- the final runs of the setting (every seed) read that file and train with the winner
  (:func:`secondorder.training.selection.resolve_selection`), on the whole training set
  (``final_training: all``) or on the rest without the validation split (``rest``).

A final run's id hashes its spec without the searched values but with the search (space,
budget, split, tuning seeds), so it is known before tuning and changes exactly when what
selects its values changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from secondorder.errors import ConfigError
from secondorder.optim import resolve_hparams
from secondorder.spec import RunSpec
from secondorder.study.space import grid

SELECTION_RULE = (
    "lowest validation loss at the end of the tuning budget, averaged over the tuning seeds; "
    "a point with a diverged, failed or non-finite seed is excluded; a tie goes to the point "
    "listed first in the grid; when every point is excluded, nothing is selected and the "
    "final runs are recorded as 'untuned' without training"
)
SEARCH_DEFAULTS: dict[str, Any] = {
    "epochs": 1,  # budget of a tuning run
    "validation": 0.1,  # held-out split of the training set: a fraction or a count
    "final_training": "all",  # final runs train on: all | rest (without the validation split)
    "seeds": [0],  # each point is tuned once per seed; final runs use every study seed
}
FINAL_TRAINING = ("all", "rest")


def selection_path(spec: RunSpec) -> str:
    """The selection file that a final run reads (written by the DAG's select rule)."""
    return f"results/tuning/{spec.tuning_group}.json"


def trial_specs(spec: RunSpec) -> list[tuple[dict[str, Any], list[RunSpec]]]:
    """The tuning runs of a final run's search: (point, one spec per tuning seed) in grid order.

    A tuning run is the final run with the point's values, the budget's epochs, a tuning seed,
    the validation split held out and evaluated on, and no extra evaluations.
    """
    if spec.search is None:
        return []
    search = spec.search
    trials = []
    for point in grid(search["space"]):
        hparams = resolve_hparams(spec.method, {**spec.hparams, **point})
        runs = [
            replace(
                spec,
                hparams=hparams,
                epochs=search["epochs"],
                seed=seed,
                holdout=search["validation"],
                evaluate_on="validation",
                search=None,
                eval_every=None,
            )
            for seed in search["seeds"]
        ]
        trials.append((point, runs))
    return trials


def select(spec: RunSpec, summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The selection of a final run's search from its tuning runs' summaries (by run id).

    Applies :data:`SELECTION_RULE`; returns what the selection file holds: the space, the
    budget, every point with its runs, status and score, the status (``selected`` or
    ``all_excluded``) and the winner (None when nothing is selected).
    """
    assert spec.search is not None
    trials = []
    for point, runs in trial_specs(spec):
        scores, statuses = [], []
        for run in runs:
            summary = summaries.get(run.run_id)
            if summary is None:
                raise ConfigError(f"selection {spec.tuning_group}: no summary of {run.run_id}")
            if summary.get("spec") != run.to_dict():
                raise ConfigError(
                    f"selection {spec.tuning_group}: the summary of {run.run_id} is of another spec"
                )
            status = summary.get("status", "unknown")
            loss = (summary.get("final") or {}).get("validation_loss")
            finite = isinstance(loss, int | float) and math.isfinite(loss)
            statuses.append(status if status != "finished" or finite else "non-finite")
            scores.append(float(loss) if finite else None)
        excluded = any(status != "finished" for status in statuses)
        trials.append(
            {
                "values": point,
                "run_ids": [run.run_id for run in runs],
                "statuses": statuses,
                "seed_scores": scores,
                "score": None if excluded else sum(scores) / len(scores),
            }
        )
    ranked = [trial for trial in trials if trial["score"] is not None]
    winner = min(ranked, key=lambda trial: trial["score"]) if ranked else None  # first on ties
    return {
        "group": spec.tuning_group,
        "setting": {
            "dataset": spec.dataset,
            "model": spec.model,
            "activation": spec.activation,
            "variant": spec.variant,
            "optimizer": spec.optimizer,
            "method": spec.method,
            "batch_size": spec.batch_size,
        },
        "pinned": spec.hparams,
        "search": spec.search,
        "rule": SELECTION_RULE,
        "trials": trials,
        "status": "selected" if winner is not None else "all_excluded",
        "winner": None if winner is None else winner["values"],
        "score": None if winner is None else winner["score"],
    }
