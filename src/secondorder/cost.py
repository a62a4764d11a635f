"""Cost counters: the work a run has done, so loss can be plotted against real work, not epochs;
and the vocabulary of the work a step is expected to do, which the cost plan prices.

All counts are Python ints, updated from sizes known on the host: counting never forces a
device synchronisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# The operations of an Objective that a step's work is made of (Objective.loss, loss_and_grad,
# hvp, ggnvp); a calibration prices each per call and per sample.
OPERATIONS = ("loss", "gradient", "hvp", "ggnvp")
StepWork = dict[str, tuple[float, float]]  # operation -> expected (calls, samples) of one step


@dataclass
class CostCounters:
    """Work done so far by one training run (or one optimizer, when used on its own)."""

    optimizer_steps: int = 0  # calls of an optimizer's step (each makes at most one update)
    forward_samples: int = 0  # samples through a forward pass (gradients, products, trials, ...)
    gradient_samples: int = 0  # samples through a backward pass for a gradient
    curvature_products: int = 0  # Hessian- or Gauss-Newton-vector products
    curvature_samples: int = 0  # samples through those products
    line_search_trials: int = 0  # loss evaluations made by a line search
    line_search_failures: int = 0  # searches that accepted no step
    cg_iterations: int = 0  # conjugate-gradient iterations (SHG)
    # why each CG solve stopped (SHG; the three sum to the number of solves, one per step):
    cg_negative_curvature_stops: int = 0  # met d^T B d <= 0: the step before it is kept
    cg_max_iter_stops: int = 0  # ran out of iterations (cg_max_iter)
    cg_converged_stops: int = 0  # Martens' relative-progress rule or the residual tolerance
    non_descent_directions: int = 0  # directions with g^T p >= 0 that had to be replaced
    skipped_pairs: int = 0  # curvature pairs rejected by a safeguard (SQN, L-SR1)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def load(self, values: dict[str, int]) -> None:
        """Restore counts saved by :meth:`as_dict` (unknown keys are an error)."""
        names = {f.name for f in fields(self)}
        unknown = set(values) - names
        if unknown:
            raise KeyError(f"unknown cost counters: {sorted(unknown)}")
        for key, value in values.items():
            setattr(self, key, int(value))
