"""Seed-aware decisions: when a difference between two seed samples is real, and when the seeds
show there is none.

A :class:`Sample` is one value per seed (a loss at an epoch, a time, a ratio of two of them; a
diverged or untuned run: infinite). Every rule of the findings is made of these decisions, so
that a verdict "holds" or "does not hold" only when the effect is larger than the seed-to-seed
variation (:data:`RULE_TEXT` says how; the report prints it):

- :func:`compare` -- "lower" / "higher" / "unclear": the seeds apart by the margin (every seed
  of one side beyond every seed of the other), or, where both sides have the same seeds, every
  paired difference beyond the margin in the same direction; with fewer than ``MIN_SEEDS``
  seeds on a side, only a gap of ``DECISIVE_FACTOR`` counts.
- :func:`claim_lower` -- a claim of a difference; :func:`claim_not_above` and
  :func:`claim_equivalent` -- claims of no (harmful) effect, which need positive evidence: the
  seeds of both sides inside the equivalence margin.
- :func:`claim_at_least` -- "a is at least k times b".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from secondorder.analysis.findings.thresholds import (
    DECISIVE_FACTOR,
    EQUIVALENCE_MARGIN,
    LOSS_MARGIN,
    MIN_SEEDS,
)
from secondorder.analysis.findings.verdicts import FAILS, HOLDS, UNCLEAR

LOWER, HIGHER, SAME = "lower", "higher", "unclear"

RULE_TEXT = (
    f"A difference counts when the seeds are apart: every seed of one side beyond every seed of "
    f"the other by the margin, or, where both sides ran the same seeds, every paired difference "
    f"beyond the margin in the same direction; with fewer than {MIN_SEEDS} seeds on a side, "
    f"only a gap of {DECISIVE_FACTOR:g}x or more (a diverged or untuned run counts as an "
    f"infinite loss). A claim of no effect ('comparable', 'no worse', 'does not help') holds "
    f"only with at least {MIN_SEEDS} seeds per side, every seed of one side within "
    f"{EQUIVALENCE_MARGIN:.0%} of every seed of the other. Anything else is inconclusive."
)


@dataclass(frozen=True)
class Sample:
    """One value per seed; ``seeds`` names them (None: the values are all ratios of two
    samples that share no seeds, so not one per seed), ``n_seeds`` is the fewest seeds behind
    a value's side, ``notes`` how runs ended where not finished ("1 untuned")."""

    values: tuple[float, ...]
    seeds: tuple[int, ...] | None
    n_seeds: int
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, by_seed: Mapping[int, float], outcomes: Iterable[str] = ()) -> Sample:
        """A sample from seed -> value (NaN: not measured, left out); `outcomes`: the statuses
        of the runs that did not finish (counted into the notes)."""
        kept = {int(s): float(v) for s, v in sorted(by_seed.items()) if not math.isnan(v)}
        outcomes = list(outcomes)
        notes = tuple(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))
        return cls(tuple(kept.values()), tuple(kept), len(kept), notes)

    @property
    def low(self) -> float:
        return min(self.values, default=math.nan)

    @property
    def high(self) -> float:
        return max(self.values, default=math.nan)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else math.nan

    def scaled(self, factor: float) -> Sample:
        return Sample(tuple(v * factor for v in self.values), self.seeds, self.n_seeds, self.notes)

    def text(self) -> str:
        """'0.123 (0.12-0.13, 3 seeds)', then how runs ended where not finished; 'untuned' or
        'diverged' alone where every seed ended so."""
        if not self.values:
            return "n/a"
        if self.seeds is None:  # all ratios of two unpaired samples
            low, high = f"{self.low:.3g}", f"{self.high:.3g}"
            return low if low == high else f"{low}-{high} (unpaired seeds)"
        every = len(self.notes) == 1 and self.notes[0].startswith(f"{self.n_seeds} ")
        if every and all(math.isinf(v) for v in self.values):  # every seed ended one way
            word = self.notes[0].split(" ", 1)[1]
            return word if self.n_seeds == 1 else f"{word} ({self.n_seeds} seeds)"
        text, low, high = f"{self.mean:.4g}", f"{self.low:.4g}", f"{self.high:.4g}"
        if self.n_seeds > 1:
            text += (
                f" ({self.n_seeds} seeds)"
                if low == high
                else f" ({low}-{high}, {self.n_seeds} seeds)"
            )
        return text + (f"; {', '.join(self.notes)}" if self.notes else "")


def _ratio(a: float, b: float) -> float:
    """a / b; NaN where undefined (inf / inf, x / 0)."""
    if (math.isinf(a) and math.isinf(b)) or b == 0:
        return math.nan
    return a / b


def ratio_of(a: Sample, b: Sample) -> Sample:
    """a / b per seed where both ran the same seeds (paired), else every a / every b; the notes
    of both (b's marked "(reference)")."""
    notes = (*a.notes, *(f"{note} (reference)" for note in b.notes))
    if a.seeds is not None and b.seeds is not None and set(a.seeds) == set(b.seeds):
        own = dict(zip(a.seeds, a.values, strict=True))
        other = dict(zip(b.seeds, b.values, strict=True))
        paired = Sample.of({s: _ratio(own[s], other[s]) for s in own})
        return Sample(paired.values, paired.seeds, paired.n_seeds, notes)
    values = tuple(r for x in a.values for y in b.values if not math.isnan(r := _ratio(x, y)))
    return Sample(values, None, min(a.n_seeds, b.n_seeds) if values else 0, notes)


def _paired(a: Sample, b: Sample) -> list[tuple[float, float]] | None:
    if a.seeds is None or b.seeds is None or set(a.seeds) != set(b.seeds):
        return None
    other = dict(zip(b.seeds, b.values, strict=True))
    return [(x, other[s]) for s, x in zip(a.seeds, a.values, strict=True)]


def compare(a: Sample, b: Sample, margin: float = LOSS_MARGIN) -> str:
    """Whether `a` is lower or higher than `b` beyond the seed variation (see the module)."""
    if not a.values or not b.values:
        return SAME
    if min(a.n_seeds, b.n_seeds) < MIN_SEEDS:
        if a.high < math.inf and a.high * DECISIVE_FACTOR <= b.low:
            return LOWER
        if b.high < math.inf and a.low >= b.high * DECISIVE_FACTOR:
            return HIGHER
        return SAME
    if a.high < b.low * (1 - margin):
        return LOWER
    if a.low > b.high * (1 + margin):
        return HIGHER
    pairs = _paired(a, b)
    if pairs:
        if all(x < y * (1 - margin) for x, y in pairs):
            return LOWER
        if all(x > y * (1 + margin) for x, y in pairs):
            return HIGHER
    return SAME


def _enough(*samples: Sample) -> bool:
    return all(s.n_seeds >= MIN_SEEDS for s in samples)


def claim_lower(a: Sample, b: Sample, margin: float = LOSS_MARGIN) -> str:
    """'a is lower than b'. holds: :func:`compare` says lower; does not hold: it says higher,
    or the seeds rule the gain out (no seed of `a` below any seed of `b` by the margin);
    else inconclusive."""
    moved = compare(a, b, margin)
    if moved == LOWER:
        return HOLDS
    ruled_out = _enough(a, b) and b.high < math.inf and a.low >= b.high * (1 - margin)
    if moved == HIGHER or ruled_out:
        return FAILS
    return UNCLEAR


def claim_not_above(a: Sample, b: Sample, margin: float = EQUIVALENCE_MARGIN) -> str:
    """'a is no higher than b' (no harm, no worse). holds: every seed of `a` within the margin
    above every seed of `b` (or below it), or `a` clearly lower; does not hold: `a` higher
    beyond the margin (:func:`compare`); else inconclusive."""
    within = _enough(a, b) and a.high < math.inf and a.high <= b.low * (1 + margin)
    if compare(a, b) == LOWER or within:
        return HOLDS
    return FAILS if compare(a, b, margin) == HIGHER else UNCLEAR


def claim_equivalent(a: Sample, b: Sample, margin: float = EQUIVALENCE_MARGIN) -> str:
    """'a and b are comparable'. holds: the seeds of both inside the margin (the highest of
    all within (1 + margin) x the lowest); does not hold: one beyond the margin of the other
    (:func:`compare`); else inconclusive."""
    if compare(a, b, margin) != SAME:
        return FAILS
    everything = (*a.values, *b.values)
    if _enough(a, b) and max(everything) <= min(everything) * (1 + margin) < math.inf:
        return HOLDS
    return UNCLEAR


def claim_at_least(a: Sample, b: Sample, factor: float) -> str:
    """'a is at least `factor` x b'. holds: `a` above factor x `b` (:func:`compare`, no
    margin); does not hold: below it; else inconclusive."""
    moved = compare(a, b.scaled(factor), margin=0.0)
    return {HIGHER: HOLDS, LOWER: FAILS}.get(moved, UNCLEAR)
