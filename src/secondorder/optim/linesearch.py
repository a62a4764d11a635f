"""Backtracking Armijo line search (the paper's eq. 2), shared by SHG, SQN and L-SR1."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from secondorder.curvature import Batch, Objective

# Expected trials per search, for cost estimates: the mean of the quick study's counters (70
# runs on a CPU: mean 2.3 trials per step, at most 7), rounded up.
EXPECTED_TRIALS = 2.5


@dataclass
class LineSearchResult:
    """Outcome of a line search: the step to apply (0.0 if none) and the loss there."""

    step: float  # accepted step a (0.0 when nothing was accepted: do not move)
    loss: Tensor  # loss at w + step * p on the search batch (loss0 when step is 0.0)
    trials: int  # loss evaluations made
    accepted: bool


def armijo(
    objective: Objective,
    batch: Batch,
    w: Tensor,
    loss0: Tensor,
    grad_dot_dir: Tensor | float,
    direction: Tensor,
    *,
    initial_step: float = 1.0,
    c: float = 0.1,
    backtrack: float = 0.5,
    max_trials: int = 20,
) -> LineSearchResult:
    """Return the first a = initial_step * backtrack**k with f(w + a p) - f(w) <= c a g^T p.

    ``f`` is ``objective.loss`` on ``batch`` (BatchNorm: batch statistics, running statistics
    untouched), ``loss0`` = f(w), ``grad_dot_dir`` = g^T p. The parameters are not modified; the
    caller applies ``w + step * p``.

    - g^T p >= 0 or not finite (not a descent direction): no trial, ``accepted=False``,
      ``step=0.0`` (the caller decides what to do and counts it as a non-descent direction).
    - No trial accepted within ``max_trials`` (non-finite trial losses count as rejections):
      ``accepted=False``, ``step=0.0``, and ``line_search_failures`` is incremented.

    Host synchronisations: one for g^T p when it is a tensor (a float costs none), and one per
    trial (the accept/reject decision).
    """
    if not 0.0 < c < 1.0:
        raise ValueError(f"Armijo constant c must be in (0, 1), got {c}")
    if not 0.0 < backtrack < 1.0:
        raise ValueError(f"backtracking factor must be in (0, 1), got {backtrack}")
    if max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, got {max_trials}")
    slope = float(grad_dot_dir)
    if not (math.isfinite(slope) and slope < 0.0):
        return LineSearchResult(step=0.0, loss=loss0, trials=0, accepted=False)
    counters = objective.counters
    step = float(initial_step)
    for trial in range(1, max_trials + 1):
        loss = objective.loss(batch, w + step * direction)
        counters.line_search_trials += 1
        if bool(loss - loss0 <= c * step * slope):
            return LineSearchResult(step=step, loss=loss, trials=trial, accepted=True)
        step *= backtrack
    counters.line_search_failures += 1
    return LineSearchResult(step=0.0, loss=loss0, trials=max_trials, accepted=False)
