"""Validation primitives of configs and run specs: each returns the checked value or raises a
one-line :class:`~secondorder.errors.ConfigError` that names the offending key path and what is
allowed."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from secondorder.errors import ConfigError

MAX_SEED = 2**32 - 1  # what every seeded generator accepts (numpy's is the narrowest)

MAX_COUNT = 2**31 - 1  # sizes and counts: anything larger is a typo, and would overflow later

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def key_path(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def type_name(value: Any) -> str:
    return "nothing (an empty file?)" if value is None else type(value).__name__


def as_mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type_name(value)} {value!r}")
    return dict(value)


def check_keys(values: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in values:
        if key not in allowed:
            of = f" of {where}" if where else ""
            raise ConfigError(
                f"{key_path(where, key)}: unknown key; allowed keys{of}: {', '.join(allowed)}"
            )


def check_choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if isinstance(value, bool | int | float) or value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not allowed; choose one of: {', '.join(allowed)}")
    return value


def check_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ConfigError(
            f"{where}: {value!r} is not a valid name; names start with a-z or 0-9 and use only "
            "a-z, 0-9, '.', '_', '-'"
        )
    return value


def check_int(
    value: Any,
    where: str,
    *,
    minimum: int = 1,
    maximum: int = MAX_COUNT,
    optional: bool = False,
) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        null = " (or null)" if optional else ""
        raise ConfigError(
            f"{where}: expected an integer from {minimum} to {maximum}{null}, got {value!r}"
        )
    return value


def check_list(value: Any, where: str, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
    if len(set(map(repr, value))) != len(value):
        raise ConfigError(f"{where}: the list {value!r} repeats a value")
    return value


def check_device(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise ConfigError(f"device: {value!r} is not allowed; choose auto, cpu, cuda or cuda:N")
    return value


def check_seeds(value: Any) -> list[int]:
    seeds = check_list(value, "seeds")
    for i, seed in enumerate(seeds):
        check_int(seed, f"seeds[{i}]", minimum=0, maximum=MAX_SEED)
    return seeds


def is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def quoted_number_hint(value: Any) -> str:
    """For '1e-3' written in quotes: say that it is text and how to write the number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return ""
        if math.isfinite(number):
            return f" (text, not a number: write {number!r} without quotes)"
    return ""


def check_presets_defined(names: Any, presets: Mapping[str, Any], where: str) -> None:
    """Refuse preset ``names`` (an artifact's optimizers) that ``presets`` lacks, saying that a
    config adding to another (config/beyond.yaml to config/config.yaml) is given after it."""
    missing = (
        [n for n in names if isinstance(n, str) and n not in presets]
        if isinstance(names, list)
        else []
    )
    if missing:
        raise ConfigError(
            f"{where}: {', '.join(map(repr, missing))} not defined in optimizers; choose one "
            f"of: {', '.join(presets)}; a config that adds to another, as config/beyond.yaml adds "
            "to config/config.yaml, goes after it: --configfile config/config.yaml "
            "config/beyond.yaml"
        )
