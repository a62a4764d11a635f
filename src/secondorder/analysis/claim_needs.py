"""What runs a claim of the paper needs, and whether a study config runs them, without running
anything. A :class:`Need` names the kind of artifact a claim reads and the parts its rule needs,
each a check over run specs: :func:`together` (runs of several filters in one setting),
:func:`sizes` (at two batch sizes or more), :func:`around` (below, at and above one batch
size), :func:`any_of`, and of these :func:`links` and :func:`against_sgd`; the filters are
:class:`Runs` (:func:`runs`, :func:`main`, :func:`drn`).
:func:`coverage` checks a need on the runs of a config's artifacts (:class:`ArtifactRuns`).

Torch-free and config-free: the command line expands the config and passes the run specs in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from secondorder.analysis import paper
from secondorder.spec import GRID_AXES, RunSpec

# The pseudo-kind of a need read from the tuning stage's records (results/tuning/), not from
# an artifact: the runs whose preset searches a hyperparameter, in any artifact.
TUNING = "tuning"
# The main gradient sample of SHG (Section 3.3); Figure 1's other fractions are its variants.
MAIN_FRACTION = 0.2
BUT_BATCH = tuple(a for a in GRID_AXES if a != "batch_size")
BUT_LINKS = tuple(a for a in GRID_AXES if a not in ("activation", "variant"))


@dataclass(frozen=True)
class Runs:
    """A filter of the paper's runs (never a method or variant beyond the paper: Adam, SHG with
    Gauss-Newton curvature or adaptive damping). ``activation="paper"``: the model's activation
    in the paper (tanh; ReLU for the DRN); ``line_search``: of a second-order method (None:
    either); ``fraction``: SHG's gradient sample (None: any); ``hparams``: values it must
    have."""

    methods: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    activation: str | None = None
    variant: str | None = None
    line_search: bool | None = True
    fraction: float | str | None = MAIN_FRACTION
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, run: RunSpec) -> bool:
        hp = run.hparams
        activation = paper.ACTIVATION.get(run.model) if self.activation == "paper" else None
        searching = hp.get("line_search", True) is not False
        fraction = hp.get("gradient_fraction", MAIN_FRACTION)
        return all(
            (
                run.method in self.methods,
                hp.get("curvature", "hessian") == "hessian" and not hp.get("adapt_damping"),
                not self.datasets or run.dataset in self.datasets,
                not self.models or run.model in self.models,
                (activation or self.activation) in (None, run.activation),
                self.variant in (None, run.variant),
                run.method not in paper.SECOND_ORDER_METHODS
                or self.line_search in (None, searching),
                run.method != "shg" or self.fraction in (None, fraction),
                all(hp.get(k) == v for k, v in self.hparams.items()),
            )
        )


def runs(*methods: str, on: str | None = None, model: str | None = None, **more: Any) -> Runs:
    """The runs of `methods` (on dataset `on`, of `model`; `more`: the other fields of Runs)."""
    return Runs(methods, (on,) if on else (), (model,) if model else (), **more)


def main(*methods: str, on: str | None = None) -> Runs:
    """The paper's main comparison (Figures 2-5): LeNet and AlexNet, the paper's activation, the
    standard variant, line search on, SHG's gradient on 20 %."""
    datasets = (on,) if on else ()
    return Runs(methods, datasets, ("lenet", "alexnet"), "paper", "standard")


def drn(*methods: str, on: str | None = None) -> Runs:
    """The DRN of Figure 9 with ReLU (any variant: the paper's, narrow, ResNet-20)."""
    return Runs(methods, (on,) if on else (), ("resnet18",), "relu")


def _groups(selected: Iterable[RunSpec], axes: Sequence[str]) -> list[list[RunSpec]]:
    groups: dict[tuple, list[RunSpec]] = {}
    for run in selected:
        groups.setdefault(tuple(getattr(run, a) for a in axes), []).append(run)
    return list(groups.values())


@dataclass(frozen=True)
class Check:
    """One part of what a claim's rule needs: whether some runs hold it (``met``), and the
    filters of the runs it reads (to name the artifacts that show them)."""

    filters: tuple[Runs, ...]
    met: Callable[[Sequence[RunSpec]], bool]

    def uses(self, run: RunSpec) -> bool:
        return any(f(run) for f in self.filters)


def together(*filters: Runs, axes: tuple[str, ...] = GRID_AXES) -> Check:
    """Runs of every filter in one setting (equal on ``axes``)."""

    def met(selected: Sequence[RunSpec]) -> bool:
        return any(
            all(any(f(r) for r in group) for f in filters)
            for group in _groups((r for r in selected if any(f(r) for f in filters)), axes)
        )

    return Check(filters, met)


def sizes(*filters: Runs, at_least: int = 2) -> Check:
    """Runs of every filter at `at_least` shared batch sizes of one setting (but its batch)."""

    def met(selected: Sequence[RunSpec]) -> bool:
        for group in _groups((r for r in selected if any(f(r) for f in filters)), BUT_BATCH):
            shared = set.intersection(*({r.batch_size for r in group if f(r)} for f in filters))
            if len(shared) >= at_least:
                return True
        return False

    return Check(filters, met)


def around(runs_of: Runs, size: int) -> Check:
    """Runs of one filter at batch `size` and at sizes below and above it, in one setting."""

    def met(selected: Sequence[RunSpec]) -> bool:
        for group in _groups(filter(runs_of, selected), BUT_BATCH):
            found = {r.batch_size for r in group}
            if size in found and min(found) < size < max(found):
                return True
        return False

    return Check((runs_of,), met)


def any_of(*checks: Check) -> Check:
    """One of several ways to hold a part (e.g. a link changed: ReLU, or a residual block)."""
    filters = tuple(f for c in checks for f in c.filters)
    return Check(filters, lambda selected: any(c.met(selected) for c in checks))


Scope = Callable[..., Runs]  # main or drn: runs of methods (on a dataset) in one scope


def links(methods: Sequence[str], *kinds: tuple[str, str]) -> Check:
    """Each method in each (activation, variant) kind, in one dataset, model and batch size."""
    filters = (runs(m, activation=a, variant=v) for m in methods for a, v in kinds)
    return together(*filters, axes=BUT_LINKS)


def against_sgd(scope: Scope, methods: Sequence[str], on: str | None = None) -> Check:
    """SGD (on dataset `on`) and one of `methods` in one setting of `scope` (:func:`main`,
    :func:`drn`)."""
    return any_of(*(together(scope("sgd", on=on), scope(m)) for m in methods))


@dataclass(frozen=True)
class Need:
    """The runs a claim reads from one kind of artifact (``"loss_curves"``; with an x axis,
    ``"loss_curves:time"``; or :data:`TUNING`): the artifacts of the paper's config
    (config/config.yaml) that show them, and the parts its rule needs (all of them), each
    named."""

    kind: str
    names: tuple[str, ...]
    parts: tuple[tuple[str, Check], ...]

    @property
    def what(self) -> str:
        return "; ".join(label for label, _ in self.parts)


def curves(names: Iterable[str], *parts: tuple[str, Check]) -> Need:
    """A need of loss-curve figures."""
    return Need("loss_curves", tuple(names), parts)


def per_dataset(label: str, check_of: Callable[[str], Check]) -> tuple[tuple[str, Check], ...]:
    """One part per dataset: "MNIST: <label>", "CIFAR-10: <label>"."""
    return tuple(
        (f"{name}: {label}", check_of(dataset))
        for dataset, name in (("mnist", "MNIST"), ("cifar10", "CIFAR-10"))
    )


@dataclass(frozen=True)
class ArtifactRuns:
    """One artifact of a config and its runs (final runs, without the tuning trials)."""

    name: str
    kind: str
    x: str | None
    runs: tuple[RunSpec, ...]

    def read_by(self, kind: str) -> list[RunSpec]:
        """Its runs that a need of `kind` reads (for :data:`TUNING`: the tuned ones)."""
        if kind == TUNING:
            return [r for r in self.runs if r.search is not None]
        wanted, _, x = kind.partition(":")
        return list(self.runs) if self.kind == wanted and (not x or self.x == x) else []


@dataclass(frozen=True)
class Coverage:
    """Whether a config runs what one need asks: the artifacts whose runs it reads (those the
    need names first), and the parts that no run of the config holds."""

    need: Need
    artifacts: tuple[str, ...]
    missing: tuple[str, ...]


def coverage(need: Need, artifacts: Sequence[ArtifactRuns]) -> Coverage:
    """Check `need` on the pooled runs of `artifacts` of its kind (the findings read the runs
    of every artifact together: a setting may take SGD from one figure and SHG from another)."""
    read = {a.name: a.read_by(need.kind) for a in artifacts}
    used = sorted(
        (a.name for a in artifacts if any(c.uses(r) for r in read[a.name] for _, c in need.parts)),
        key=lambda name: name not in need.names,
    )
    pooled = [r for own in read.values() for r in own]
    missing = tuple(label for label, check in need.parts if not check.met(pooled))
    return Coverage(need, tuple(used), missing)
