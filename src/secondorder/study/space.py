"""The search-space syntax of study configs: a hyperparameter written ``{search: [v1, ...]}``
is searched, a plain value (or a one-value space) is pinned; a space's grid is the product of its
values in the order written. Torch-free: the config checks and the report read it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from secondorder.errors import ConfigError

SEARCH_KEY = "search"


def is_search(value: Any) -> bool:
    """Whether a hyperparameter value is a search space (``{search: [...]}``)."""
    return isinstance(value, Mapping) and SEARCH_KEY in value


def split_space(
    entry: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """(pinned values, search space) of preset hyperparameters; a one-value space is pinned.

    Raises :class:`ConfigError` naming the key for a malformed space.
    """
    pinned: dict[str, Any] = {}
    space: dict[str, list[Any]] = {}
    for key, value in entry.items():
        if isinstance(value, Mapping):
            if set(value) != {SEARCH_KEY}:
                raise ConfigError(
                    f"{where}.{key}: a mapping here must be a search space {{search: [values]}}"
                    f", got keys {sorted(map(str, value))}"
                )
            values = value[SEARCH_KEY]
            if not isinstance(values, list) or not values:
                raise ConfigError(
                    f"{where}.{key}.search: expected a non-empty list of values, got {values!r}"
                )
            if len(set(map(repr, values))) != len(values):
                raise ConfigError(f"{where}.{key}.search: the list {values!r} repeats a value")
            if len(values) == 1:
                pinned[key] = values[0]
            else:
                space[key] = list(values)
        else:
            pinned[key] = value
    return pinned, space


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every point of a space, in the order written (the first key varies slowest)."""
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*space.values())]
