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
  group's selection file (:func:`secondorder.study.layout.selection`); a tuning run that fails
  is recorded as failed (:func:`record_failure`), so its point is excluded and its group goes on;
- the final runs of the setting (every seed) read that file and train with the winner
  (:func:`secondorder.training.selection.resolve_selection`), on the whole training set
  (``final_training: all``) or on the rest without the validation split (``rest``).

A final run's id hashes its spec without the searched values but with the search (space,
budget, split, tuning seeds), so it is known before tuning and changes exactly when what
selects its values changes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from secondorder import atomic
from secondorder.errors import ConfigError
from secondorder.optim import resolve_hparams
from secondorder.spec import RunSpec
from secondorder.study import layout
from secondorder.study.space import grid
from secondorder.training import record

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


def trial_runs(spec: RunSpec) -> list[RunSpec]:
    """Every tuning run of a final run's search, in grid order (none without a search)."""
    return [run for _, runs in trial_specs(spec) for run in runs]


def is_tuning_run(spec: RunSpec) -> bool:
    """Whether ``spec`` is a tuning run: it evaluates on its held-out validation split."""
    return spec.evaluate_on == "validation"


def tuned_presets(presets: Iterable[str], searches: Mapping[str, RunSpec]) -> list[str]:
    """The optimizer presets (of ``presets``, in their order) that some search group tunes."""
    tuned = {spec.optimizer for spec in searches.values()}
    return [name for name in presets if name in tuned]


def record_failure(spec: RunSpec, run_dir: str | Path, error: Exception) -> dict[str, Any]:
    """Record a tuning run that raised ``error`` as its result, and return its summary.

    Its ``summary.json`` is its ``failed.json`` (status ``failed``, the error), beside a
    ``metrics.csv`` without rows: the outputs of its training job exist, so rule select runs
    and excludes the point (:data:`SELECTION_RULE`) and the rest of the group goes on. A failed
    record is never kept (:mod:`secondorder.training.record`): a job that runs again for this
    run, e.g. after deleting the run directory, trains it again.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record.write_failure(run_dir, spec, error)
    failure = json.loads((run_dir / layout.FAILED).read_text())
    atomic.write_text(run_dir / layout.METRICS, record.metrics_csv([]))
    atomic.write_json(run_dir / layout.SUMMARY, failure)  # last: its presence marks the record
    return failure


def report_section(study: Mapping[str, Any], searches: Mapping[str, RunSpec]) -> dict[str, Any]:
    """What the claims report shows of the tuning stage: its Markdown table, the sensitivity
    figures, the search settings and the selection rule (empty when nothing is searched)."""
    if not searches:
        return {}
    figures = layout.tuning_figures(tuned_presets(study["optimizers"], searches))
    return {
        "markdown": layout.tuning_table("md"),
        "figures": [path for path in figures if path.endswith(".png")],
        "search": study["search"],
        "rule": SELECTION_RULE,
    }


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
