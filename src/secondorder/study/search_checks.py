"""The checks of a study's ``search`` block (the tuning stage, :mod:`secondorder.study.tuning`):
its keys and values, a validation split that fits every searching run, and, with
``equal_budget``, grids of one size for the presets tuned in one setting
(:data:`~secondorder.study.tuning.BUDGET_RULE`). Each failure is one line naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from secondorder.errors import ConfigError
from secondorder.study.checks import (
    MAX_SEED,
    as_mapping,
    check_choice,
    check_int,
    check_keys,
    check_list,
)
from secondorder.study.expand import artifact_specs, searches
from secondorder.study.run_checks import check_validation_split


def check_search(value: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """The search block with defaults filled in (``config``: the study checked so far, its
    artifacts, optimizers and tuning rules included)."""
    from secondorder.study.tuning import FINAL_TRAINING, SEARCH_DEFAULTS

    raw = as_mapping(value, "search")
    check_keys(raw, tuple(SEARCH_DEFAULTS), "search")
    search = {**SEARCH_DEFAULTS, **raw}
    check_int(search["epochs"], "search.epochs")
    validation = search["validation"]
    if isinstance(validation, float):
        if not 0 < validation < 1:
            raise ConfigError(
                f"search.validation: expected a fraction in (0, 1) or a number of images, got "
                f"{validation!r}"
            )
    else:
        check_int(validation, "search.validation")
    check_choice(search["final_training"], FINAL_TRAINING, "search.final_training")
    seeds = check_list(search["seeds"], "search.seeds")
    for i, seed in enumerate(seeds):
        check_int(seed, f"search.seeds[{i}]", minimum=0, maximum=MAX_SEED)
    for key in ("equal_budget", "extend_edges"):
        if not isinstance(search[key], bool):
            raise ConfigError(f"search.{key}: expected true or false, got {search[key]!r}")
    checked = {**config, "search": search}
    for name in config["artifacts"]:
        for spec in artifact_specs(checked, name):
            if spec.search is not None:
                check_validation_split(spec, validation, f"artifacts.{name}")
    if search["equal_budget"]:
        check_equal_budget(checked)
    return search


def check_equal_budget(config: Mapping[str, Any]) -> None:
    """Raise naming the first setting whose tuned presets have grids of different sizes."""
    from secondorder.study.tuning import budget_check

    for budget in budget_check(searches(config)):
        if not budget["equal"]:
            sizes = ", ".join(
                f"{preset} {'/'.join(map(str, points))}"
                for preset, points in sorted(budget["points"].items())
            )
            raise ConfigError(
                f"search.equal_budget: the presets tuned in {budget['label']} have grids of "
                f"different sizes ({sizes} points); give each the same number of points, or "
                "set search.equal_budget: false"
            )
