"""Where a winner sits in its tuning grid, and the points beyond an edge that tuning adds.

A winner on the edge of a searched hyperparameter's grid (:data:`EDGE_RULE`) says that the best
value may lie beyond it; with ``search.extend_edges`` one more value beyond that edge is tuned
and the selection redone (:data:`EXTENSION_RULE`). The value beyond each edge depends on the
grid alone, so every point an extension may add is known before tuning
(:func:`candidate_points`): the DAG builds their runs when it is parsed and trains only those
that the grid's winner asks for (:func:`extension_points`). Torch-free: the analysis reads it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

# Where a winner's value sits in its grid (the selection file's ``positions``).
LOWEST, HIGHEST, INSIDE, TWO_VALUES, UNORDERED = (
    "lowest",
    "highest",
    "inside",
    "two values",
    "not numeric",
)
EDGES = (LOWEST, HIGHEST)
EDGE_RULE = (
    "a winner is on the edge of its grid when its value of a searched hyperparameter is the "
    "smallest or the largest of a numeric grid of 3 or more values: the best value may lie "
    "beyond the grid; a 2-value grid has no inside, so its winner is not flagged (either answer "
    "would say nothing) but marked 'two values'; non-numeric values have no order"
)
EXTENSION_RULE = (
    "with search.extend_edges, a winner on an edge adds one point per hyperparameter on an "
    "edge: the winner with that value moved one step beyond the edge, continuing the two grid "
    "values nearest it (by their ratio when both are positive, as on a log grid, else by their "
    "difference; rounded to an integer for an integer hyperparameter, else to 3 significant "
    "digits); a value the method does not accept is not tried; the selection is then redone "
    "once over the grid and the added points (a winner on the new edge stays flagged)"
)


def is_ordered(values: Sequence[Any]) -> bool:
    """Whether a grid's values are numbers (booleans are not), so that it has edges."""
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def grid_position(values: Sequence[Any], value: Any) -> str:
    """Where ``value`` sits among a searched hyperparameter's ``values`` (:data:`EDGE_RULE`)."""
    if not is_ordered(values):
        return UNORDERED
    if len(values) == 2:
        return TWO_VALUES
    if value == min(values):
        return LOWEST
    if value == max(values):
        return HIGHEST
    return INSIDE


def winner_positions(
    space: Mapping[str, Sequence[Any]], winner: Mapping[str, Any] | None
) -> dict[str, str]:
    """Searched key -> where the winner's value sits in its grid (empty without a winner)."""
    if winner is None:
        return {}
    return {key: grid_position(values, winner[key]) for key, values in space.items()}


def tried_space(
    space: Mapping[str, Sequence[Any]], points: Sequence[Mapping[str, Any]]
) -> dict[str, list[Any]]:
    """Searched key -> the values that ``points`` tried (the grid's and any added beyond it), in
    the order first tried: where a winner sits is judged among them."""
    return {key: list(dict.fromkeys(point[key] for point in points)) for key in space}


def beyond(values: Sequence[int | float], edge: str) -> int | float | None:
    """The value one step beyond the ``edge`` (:data:`LOWEST` or :data:`HIGHEST`) of a numeric
    grid of 3+ values (:data:`EXTENSION_RULE`); None where the grid has no such edge or the
    step lands on a value of the grid. Whether the method accepts it is the caller's check."""
    if len(values) < 3 or not is_ordered(values):
        return None
    ordered = sorted(values)
    edge_value, nearest = (ordered[0], ordered[1]) if edge == LOWEST else ordered[:-3:-1]
    if edge_value > 0 and nearest > 0:
        value = edge_value * (edge_value / nearest)
    else:
        value = edge_value + (edge_value - nearest)
    if all(isinstance(v, int) for v in values):
        value = round(value)
    elif math.isfinite(value):
        value = float(f"{value:.3g}")
    return None if value in values or not math.isfinite(value) else value


def extension_points(
    space: Mapping[str, Sequence[Any]], winner: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The points an extension adds for ``winner`` (none without one): per searched key on an
    edge, the winner with that key's value beyond the edge, in the space's key order."""
    points = []
    for key, position in winner_positions(space, winner).items():
        if position in EDGES:
            value = beyond(space[key], position)
            if value is not None:
                points.append({**winner, key: value})  # type: ignore[dict-item]
    return points


def candidate_points(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every point that :func:`extension_points` may return for some winner of ``space``: per
    key and edge with a value beyond it, every combination of the other keys' values."""
    points = []
    for key, values in space.items():
        others = {k: v for k, v in space.items() if k != key}
        for edge in EDGES:
            value = beyond(values, edge)
            if value is None:
                continue
            for combination in itertools.product(*others.values()):
                point = dict(zip(others, combination, strict=True))
                points.append({k: value if k == key else point[k] for k in space})
    return points
