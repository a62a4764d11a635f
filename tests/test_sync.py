"""Host synchronisations per optimizer step and per training step, counted (issue 17, item 4).

A step that waits for the device to hand a number to the host stalls the GPU's queue; every
registered method lists the places where it does so on purpose (``host_syncs`` on its class,
each with its reason). A CPU has no ``torch.cuda.set_sync_debug_mode``, so these tests patch
the calls that read a tensor's value on the host (``.item()``, ``.tolist()``, ``.cpu()``,
``.numpy()``, ``float``/``int``/``bool``/``index`` of a tensor, ``.to("cpu")``) and attribute
each to its call site: the innermost frame outside torch (torch.optim counts as the code of the
baselines that wrap it). A site a method does not list fails, naming the method and the site;
so does a listed one that is hit more often per step than its reason allows.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from secondorder.cost import CostCounters
from secondorder.curvature import Objective
from secondorder.models import build_model
from secondorder.optim import METHODS, build_optimizer, resolve_hparams
from secondorder.optim.base import StepContract

HOST_CALLS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")
STEPS = 4


class SyncCounter:
    """Host reads by call site (``module:qualified function``), with one example line each."""

    def __init__(self) -> None:
        self.sites: Counter[str] = Counter()
        self.where: dict[str, str] = {}

    def record(self, call: str, frame: Any) -> None:
        while frame is not None and _in_torch(frame) and not _in_torch_optim(frame):
            frame = frame.f_back
        if frame is None:
            return
        site = f"{frame.f_globals.get('__name__')}:{frame.f_code.co_qualname}"
        self.sites[site] += 1
        self.where.setdefault(site, f"{call} at {frame.f_code.co_filename}:{frame.f_lineno}")

    def clear(self) -> None:
        self.sites.clear()


def _in_torch(frame: Any) -> bool:
    return str(frame.f_globals.get("__name__", "")).startswith("torch")


def _in_torch_optim(frame: Any) -> bool:
    return str(frame.f_globals.get("__name__", "")).startswith("torch.optim")


@contextlib.contextmanager
def counting_syncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncCounter]:
    """Count every host read of a tensor inside the block (patched on ``torch.Tensor``)."""
    counter = SyncCounter()

    def counted(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            counter.record(name, sys._getframe(1))
            return original(self, *args, **kwargs)

        return call

    for name in HOST_CALLS:
        monkeypatch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
    original_to = torch.Tensor.to

    def to(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        # a host transfer is spelled "cpu"; .to(t.device) stays on the compute device
        if "cpu" in (*args, kwargs.get("device")):
            counter.record("to('cpu')", sys._getframe(1))
        return original_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to)
    try:
        yield counter
    finally:
        monkeypatch.undo()


# How often each listed site may be hit in STEPS steps, from the run's counters (lo, hi).
Bound = Callable[[CostCounters, int], tuple[int, int]]
BOUNDS: dict[str, Bound] = {
    # one decision per trial, plus g^T p when it comes as a tensor (SQN)
    "secondorder.optim.linesearch:armijo": lambda c, n: (
        c.line_search_trials,
        c.line_search_trials + n,
    ),
    # one transfer before the loop and one per iteration, exactly
    "secondorder.optim.cg:conjugate_gradient": lambda c, n: (n + c.cg_iterations,) * 2,
    # g^T p, and -g^T g when falling back to steepest descent
    "secondorder.optim.base:FlatOptimizer._descent_or_steepest": lambda c, n: (
        n,
        n + c.non_descent_directions,
    ),
    "secondorder.optim.shg:SHG._adapted_damping": lambda c, n: (0, n),
    "secondorder.optim.sqn:SQN._add_pair": lambda c, n: (c.curvature_products,) * 2,
    # at most two solves per step (H g, and B s for the skip rule), one transfer and two tests
    # on its host copy each
    "secondorder.optim.lsr1:_solve_symmetric": lambda c, n: (0, 2 * 3 * n),
    "secondorder.optim.lsr1:LSR1._add_pair": lambda c, n: (0, n),
    "secondorder.optim.lsr1:sr1_pair_accepted": lambda c, n: (0, n),
}

CASES = {
    "sgd": {},
    "gd": {},
    "shg": {"cg_max_iter": 4},
    "shg-gauss-newton": {"cg_max_iter": 4, "curvature": "gauss-newton"},
    "shg-damped": {"cg_max_iter": 4, "damping": 1.0, "adapt_damping": True},
    "shg-fixed-step": {
        "cg_max_iter": 4,
        "line_search": False,
        "damping": 1.0,
        "adapt_damping": True,
    },
    "sqn": {"update_interval": 2},
    "sqn-gauss-newton": {"update_interval": 2, "curvature": "gauss-newton"},
    "sqn-inverse": {"update_interval": 2, "line_search": False, "step_schedule": "inverse"},
    "lsr1": {},
    "adam": {},
    "lbfgs": {},
}


def _method(case: str) -> str:
    return case.split("-")[0]


def test_every_registered_method_is_counted() -> None:
    assert {_method(case) for case in CASES} == set(METHODS), "add the new method to CASES"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_listed_site_exists(method: str) -> None:
    """A ``host_syncs`` entry names a function that exists (a rename must update the table)."""
    cls = METHODS[method]
    assert issubclass(cls, StepContract)
    for site, reason in cls.host_syncs.items():
        module_name, qualname = site.split(":")
        assert reason, site
        target: Any = importlib.import_module(module_name)
        if qualname == "*":
            continue
        for part in qualname.split("."):
            target = getattr(target, part, None)
            assert target is not None, f"{method}: host_syncs names {site}, which does not exist"
        if site in BOUNDS or module_name.startswith("secondorder"):
            assert site in BOUNDS, f"give {site} a bound in BOUNDS"


def _allowed(method: str, site: str) -> bool:
    return any(fnmatch.fnmatchcase(site, pattern) for pattern in METHODS[method].host_syncs)


@pytest.mark.parametrize("case", list(CASES))
def test_each_step_syncs_only_where_its_method_says(case, monkeypatch) -> None:
    method = _method(case)
    torch.manual_seed(0)
    model = build_model("lenet", in_channels=1, image_size=28, num_classes=10)
    objective = Objective(model, F.cross_entropy)
    optimizer = build_optimizer(method, objective.params, resolve_hparams(method, CASES[case]))
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    optimizer.step(objective, (x, y), (x, y))  # lazy state set up outside the count
    objective.counters = CostCounters()
    with counting_syncs(monkeypatch) as syncs:
        for _ in range(STEPS):
            optimizer.step(objective, (x, y), (x, y))
    for site, count in syncs.sites.items():
        assert _allowed(method, site), (
            f"{method}: a host synchronisation at {site} ({syncs.where[site]}) that "
            f"{type(optimizer).__name__}.host_syncs does not list: remove it, or list it there "
            "with the reason the algorithm needs it"
        )
        if site in BOUNDS:
            lo, hi = BOUNDS[site](objective.counters, STEPS)
            assert lo <= count <= hi, (
                f"{method}: {count} host synchronisations at {site} in {STEPS} steps, "
                f"expected {lo}..{hi} ({objective.counters})"
            )
    if not METHODS[method].host_syncs:
        assert not syncs.sites, f"{method}: expected no host synchronisation per step"


def test_the_training_loop_syncs_once_per_logging_point_not_per_step(
    mnist_bundle, tmp_path, monkeypatch
) -> None:
    """SGD steps make none: a run of twice the steps with the same logging points makes the same
    host reads, and the loop's own is one per logging point (the mean training loss)."""
    from secondorder.spec import RunSpec
    from secondorder.training.loop import train_run

    spec = RunSpec(
        dataset="mnist",
        model="lenet",
        activation="tanh",
        variant="standard",
        optimizer="sgd",
        method="sgd",
        hparams=resolve_hparams("sgd", {"lr": 0.05}),
        batch_size=20,
        epochs=2,
        seed=0,
        train_subset=200,
        test_subset=100,
        logs_per_epoch=2,
    )
    counts = []
    for batch_size in (20, 10):  # 10 and 20 steps per epoch, 2 points each
        run = replace(spec, batch_size=batch_size)
        with counting_syncs(monkeypatch) as syncs:
            train_run(run, mnist_bundle, tmp_path / str(batch_size), device="cpu")
        counts.append(syncs.sites)
    assert counts[0] == counts[1], "a host synchronisation per training step"
    points = spec.epochs * spec.logs_per_epoch
    assert counts[0]["secondorder.training.loop:_train"] == points, counts[0]
