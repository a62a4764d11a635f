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
  group's selection file (:func:`secondorder.study.layout.selection`), with the grid's size and
  where the winner sits in it (:data:`EDGE_RULE`); a tuning run that fails is recorded as
  failed (:func:`record_failure`), so its point is excluded and its group goes on;
- with ``extend_edges``, a first pass on the grid alone (the DAG's checkpoint) says which
  points beyond an edge winner to tune (:data:`EXTENSION_RULE`), and the selection is redone
  with them; the runs any extension may add are known before tuning (:func:`extension_runs`);
- the final runs of the setting (every seed) read that file and train with the winner
  (:func:`secondorder.training.selection.resolve_selection`), on the whole training set
  (``final_training: all``) or on the rest without the validation split (``rest``).

A final run's id hashes its spec without the searched values but with the search (space,
budget, split, tuning seeds), so it is known before tuning and changes exactly when what
selects its values changes. Every point gets the same budget; :func:`budget_check` says, per
setting, how many points each method's grid has, and ``equal_budget`` makes unequal grids a
config error (:data:`BUDGET_RULE`).

Torch-free (the optimizer registry is imported where a run's hyperparameters are resolved): the
analysis reads the rules and the budget check.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from secondorder import atomic
from secondorder.errors import ConfigError
from secondorder.spec import GRID_AXES, RunSpec, setting_name
from secondorder.study import layout
from secondorder.study.grids import (
    EDGE_RULE,
    EDGES,
    EXTENSION_RULE,
    candidate_points,
    extension_points,
    tried_space,
    winner_positions,
)
from secondorder.study.grids import TWO_VALUES as TWO_VALUES  # the report asks here
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
    "equal_budget": False,  # true: presets tuned in one setting must have grids of one size
    "extend_edges": False,  # true: a winner on an edge adds a point beyond it (EXTENSION_RULE)
}
FINAL_TRAINING = ("all", "rest")

BUDGET_RULE = (
    "every grid point of every method gets the same budget (the search block's epochs, once "
    "per tuning seed, on the same split), and every method tuned in one setting (dataset, "
    "model, activation, variant, batch size) gets the same number of grid points "
    "(search.equal_budget makes a config with unequal grids an error); points, not compute, "
    "are equal: a point of SHG costs about a hundred of SGD, and an equal-cost rule would give "
    "SGD a hundredfold finer search; an edge winner's extra point (search.extend_edges) is "
    "added by one rule for every method"
)


def trial_specs(spec: RunSpec) -> list[tuple[dict[str, Any], list[RunSpec]]]:
    """The tuning runs of a final run's search: (point, one spec per tuning seed) in grid order.

    A tuning run is the final run with the point's values, the budget's epochs, a tuning seed,
    the validation split held out and evaluated on, and no extra evaluations.
    """
    if spec.search is None:
        return []
    return [(point, _point_runs(spec, point)) for point in grid(spec.search["space"])]


def _point_runs(spec: RunSpec, point: Mapping[str, Any]) -> list[RunSpec]:
    """One tuning run of ``point`` per tuning seed of ``spec``'s search (see trial_specs)."""
    from secondorder.optim import resolve_hparams  # torch: only where runs are made

    assert spec.search is not None
    hparams = resolve_hparams(spec.method, {**spec.hparams, **point})
    return [
        replace(
            spec,
            hparams=hparams,
            epochs=spec.search["epochs"],
            seed=seed,
            holdout=spec.search["validation"],
            evaluate_on="validation",
            search=None,
            eval_every=None,
        )
        for seed in spec.search["seeds"]
    ]


def extends(spec: RunSpec) -> bool:
    """Whether a final run's search adds a point beyond an edge winner (``extend_edges``)."""
    return spec.search is not None and bool(spec.search.get("extend_edges"))


def extension_specs(
    spec: RunSpec, points: Iterable[Mapping[str, Any]]
) -> list[tuple[dict[str, Any], list[RunSpec]]]:
    """(point, its tuning runs) of the ``points`` beyond an edge that the method accepts
    (:data:`EXTENSION_RULE`: a value it refuses is not tried)."""
    specs = []
    for point in points:
        try:
            specs.append((dict(point), _point_runs(spec, point)))
        except ConfigError:
            continue
    return specs


def extension_runs(searches: Mapping[str, RunSpec]) -> dict[str, RunSpec]:
    """Every tuning run that an edge extension may add to the ``searches`` (group -> final
    spec) that extend edges, by run id: built before tuning, trained only when a grid's winner
    asks for it, so neither the study's run table nor its plan holds them."""
    runs = {}
    for spec in searches.values():
        if extends(spec):
            points = candidate_points(spec.search["space"])  # type: ignore[index]
            for _, trials in extension_specs(spec, points):
                runs.update((run.run_id, run) for run in trials)
    return dict(sorted(runs.items()))


def selection_summaries(spec: RunSpec, grid_selection: str | Path | None) -> list[str]:
    """The summaries of the tuning runs that rule select reads: the grid's, then those of the
    points that the grid's own selection file (``grid_selection``, with ``extend_edges``)
    adds."""
    runs = trial_runs(spec)
    if grid_selection is not None:
        added = json.loads(Path(grid_selection).read_text())["extensions"]
        runs += [run for _, trials in extension_specs(spec, added) for run in trials]
    return [layout.run_file(run.run_id, layout.SUMMARY) for run in runs]


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
    """What the claims report shows of the tuning stage: its table (CSV), the sensitivity
    figures, the search settings, the selection, edge and budget rules and the budget check
    (empty when nothing is searched)."""
    if not searches:
        return {}
    figures = layout.tuning_figures(tuned_presets(study["optimizers"], searches))
    return {
        "table": layout.tuning_table("csv"),
        "figures": [path for path in figures if path.endswith(".png")],
        "search": study["search"],
        "rule": SELECTION_RULE,
        "edge_rule": EDGE_RULE + (f"; {EXTENSION_RULE}" if study["search"]["extend_edges"] else ""),
        "budget_rule": BUDGET_RULE,
        "budgets": budget_check(searches),
    }


def grid_budgets(groups: Iterable[tuple[Mapping[str, Any], str, int]]) -> list[dict[str, Any]]:
    """Per setting, the grid points of each preset tuned in it, and whether they are equal.

    ``groups``: (setting, preset, grid points) per search group, the setting a mapping with at
    least the grid axes. Returns one entry per setting, sorted by the grid axes: ``setting``
    (the grid axes), ``label`` (``mnist-lenet-tanh bs100``), ``points`` (preset -> the distinct
    grid sizes of its groups, one unless an artifact's run settings split a preset's setting)
    and ``equal``.
    """
    budgets: dict[tuple[Any, ...], dict[str, Any]] = {}
    for setting, preset, points in groups:
        key = tuple(setting[axis] for axis in GRID_AXES)
        entry = budgets.setdefault(
            key,
            {
                "setting": dict(zip(GRID_AXES, key, strict=True)),
                "label": setting_label(setting),
                "points": {},
            },
        )
        sizes = entry["points"].setdefault(preset, [])
        if points not in sizes:
            sizes.append(points)
            sizes.sort()
    for entry in budgets.values():
        entry["equal"] = len({n for sizes in entry["points"].values() for n in sizes}) == 1
    return [budgets[key] for key in sorted(budgets)]


def budget_check(searches: Mapping[str, RunSpec]) -> list[dict[str, Any]]:
    """:func:`grid_budgets` of a study's searches (group -> final spec, see
    :func:`secondorder.study.searches`)."""
    return grid_budgets(
        (
            {axis: getattr(spec, axis) for axis in GRID_AXES},
            spec.optimizer,
            len(grid(spec.search["space"])),
        )
        for spec in searches.values()
        if spec.search is not None
    )


def setting_label(setting: Mapping[str, Any]) -> str:
    """A setting in one word and its batch size, as run ids spell it: ``mnist-lenet-tanh bs100``."""
    name = setting_name(
        setting["dataset"], setting["model"], setting["activation"], setting["variant"]
    )
    return f"{name} bs{setting['batch_size']}"


def _trial(
    spec: RunSpec,
    point: Mapping[str, Any],
    runs: Sequence[RunSpec],
    summaries: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """One point of a selection: its runs, their statuses and scores, its score (mean over the
    seeds; None when a seed is excluded, :data:`SELECTION_RULE`)."""
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
        statuses.append(status if status != record.Status.FINISHED or finite else "non-finite")
        scores.append(float(loss) if finite else None)
    excluded = any(status != record.Status.FINISHED for status in statuses)
    return {
        "values": dict(point),
        "run_ids": [run.run_id for run in runs],
        "statuses": statuses,
        "seed_scores": scores,
        "score": None if excluded else sum(scores) / len(scores),
    }


def _best(trials: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    ranked = [trial for trial in trials if trial["score"] is not None]
    return min(ranked, key=lambda trial: trial["score"]) if ranked else None  # first on ties


def select(
    spec: RunSpec, summaries: Mapping[str, Mapping[str, Any]], *, grid_only: bool = False
) -> dict[str, Any]:
    """The selection of a final run's search from its tuning runs' summaries (by run id).

    Applies :data:`SELECTION_RULE` to the grid; with ``extend_edges`` (and not ``grid_only``,
    the first pass that says what to add) also to the points beyond the grid's edge winner,
    marked ``extended`` (:data:`EXTENSION_RULE`). Returns what the selection file holds: the
    space, the budget, the grid's size (``points``), the added points (``extensions``), every
    point with its runs, statuses, per-seed scores and score, the status (``selected`` or
    ``all_excluded``), the winner (None when nothing is selected), where it sits among the
    values tried per searched key (``positions``) and the keys on an edge (``on_edge``,
    :data:`EDGE_RULE`).
    """
    assert spec.search is not None
    trials = [_trial(spec, point, runs, summaries) for point, runs in trial_specs(spec)]
    grid_winner = _best(trials)
    added = []
    if extends(spec) and grid_winner is not None:
        added = extension_specs(spec, extension_points(spec.search["space"], grid_winner["values"]))
    if not grid_only:
        trials += [{**_trial(spec, p, runs, summaries), "extended": True} for p, runs in added]
    winner = _best(trials)
    tried = tried_space(spec.search["space"], [trial["values"] for trial in trials])
    positions = winner_positions(tried, None if winner is None else winner["values"])
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
        "points": len(grid(spec.search["space"])),
        "extensions": [point for point, _ in added],
        "trials": trials,
        "status": "selected" if winner is not None else "all_excluded",
        "winner": None if winner is None else winner["values"],
        "score": None if winner is None else winner["score"],
        "positions": positions,
        "on_edge": [key for key, position in positions.items() if position in EDGES],
        "edge_rule": EDGE_RULE,
    }
