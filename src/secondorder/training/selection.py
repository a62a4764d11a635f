"""A final run's hyperparameters from its tuning group's selection (written by the study's
``select`` rule, :func:`secondorder.study.tuning.select`): the winner fills the searched keys;
when nothing was selected the spec is returned unchanged and the run is recorded as untuned.
The run record names the selection (:data:`SELECTION_KEYS`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from secondorder.errors import ConfigError
from secondorder.optim import resolve_hparams
from secondorder.spec import RunSpec

SELECTION_KEYS = ("group", "status", "winner", "score", "rule")


def resolve_selection(spec: RunSpec, selection: Mapping[str, Any]) -> RunSpec:
    """The final run of ``spec`` with the selected values (unchanged when nothing was
    selected: the caller records it as untuned). The run id stays the same."""
    if selection.get("group") != spec.tuning_group:
        raise ConfigError(
            f"run {spec.run_id}: the selection file is of group {selection.get('group')!r}, "
            f"not {spec.tuning_group!r}"
        )
    winner = selection.get("winner")
    if winner is None:
        return spec
    if set(winner) != set(spec.search["space"]):
        raise ConfigError(
            f"run {spec.run_id}: the selection sets {sorted(winner)}, the search space has "
            f"{sorted(spec.search['space'])}"
        )
    resolved = replace(spec, hparams=resolve_hparams(spec.method, {**spec.hparams, **winner}))
    assert resolved.run_id == spec.run_id
    return resolved


def run_to_train(
    spec: RunSpec, selection: Mapping[str, Any] | None
) -> tuple[RunSpec, dict[str, Any] | None]:
    """The spec that trains, and the selection its record names (None without a search): a
    final run with a search needs its group's ``selection``."""
    if spec.search is None:
        return spec, None
    if selection is None:
        raise ConfigError(
            f"run {spec.run_id} searches {list(spec.search['space'])}: "
            "pass the selection of its tuning runs"
        )
    resolved = resolve_selection(spec, selection)
    return resolved, {key: selection[key] for key in SELECTION_KEYS}
