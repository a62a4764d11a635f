"""Benchmark: what a gradient, a curvature product and an optimizer step cost, side by side.

Everything is measured in one process on one device, so the ratios (Hessian-vector product /
gradient, ...) are meaningful even where absolute times are not. Each timing synchronises the
device, warms up first, and reports the median and minimum over repeats. Inputs are random
tensors of the datasets' shapes (the cost does not depend on pixel values); the SGD epoch time
runs the real training runner on the real MNIST bundle when it exists, beside a hand loop of
the same epoch on the same resident tensors.
"""

from __future__ import annotations

import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from secondorder import atomic
from secondorder.curvature import Batch, Objective
from secondorder.models import build_model
from secondorder.optim import METHODS, build_optimizer, resolve_hparams
from secondorder.spec import DATASETS, RunSpec
from secondorder.training.batches import DataPlan
from secondorder.training.devices import device_lease, synchronize
from secondorder.training.record import environment

# Each model on the dataset and with the activation of its paper experiments.
DATASET = {"lenet": "mnist", "alexnet": "cifar10", "resnet18": "cifar10"}
ACTIVATIONS = {"lenet": "tanh", "alexnet": "tanh", "resnet18": "relu"}


def run_benchmark(
    data_bundle: Path,
    out: Path,
    *,
    device: str = "auto",
    quick: bool = False,
    models: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Measure and write the JSON report to ``out``; return it (holding a GPU lease)."""
    with device_lease(device) as dev:
        return _measure(data_bundle, out, dev, quick=quick, models=models)


def _measure(
    data_bundle: Path, out: Path, dev: torch.device, *, quick: bool, models: tuple[str, ...] | None
) -> dict[str, Any]:
    batches = (16, 64) if quick else (100, 1000)
    repeats = 3 if quick else 20
    models = models or (("lenet",) if quick else tuple(DATASET))
    results: list[dict[str, Any]] = []
    for name in models:
        for batch_size in batches:
            results += _curvature_timings(name, batch_size, dev, repeats)
        results += _optimizer_timings(name, dev, repeats=max(3, repeats // 4), quick=quick)
    report = {
        "description": "median milliseconds per call; ratios are to the gradient at the same "
        "model and batch size, measured in this one process",
        "quick": quick,
        "environment": environment(dev, 0, {}),
        "results": results,
        "ratios": _ratios(results),
        "sgd_epoch": _sgd_epoch(data_bundle, dev, quick),
    }
    atomic.write_text(out, json.dumps(report, indent=2))
    return report


def _setup(name: str, batch_size: int, dev: torch.device) -> tuple[Objective, tuple]:
    facts = DATASETS[DATASET[name]]
    channels, size = facts.channels, facts.image_size
    torch.manual_seed(0)
    model = build_model(
        name,
        in_channels=channels,
        image_size=size,
        num_classes=10,
        activation=ACTIVATIONS[name],
    ).to(dev)
    x = torch.randn(batch_size, channels, size, size, device=dev)
    y = torch.randint(0, 10, (batch_size,), device=dev)
    return Objective(model, F.cross_entropy), (x, y)


def _curvature_timings(
    name: str, batch_size: int, dev: torch.device, repeats: int
) -> list[dict[str, Any]]:
    objective, batch = _setup(name, batch_size, dev)
    v = torch.randn(objective.numel, device=dev)

    def double_backward() -> torch.Tensor:
        """H v by reverse-over-reverse, for comparison with forward-over-reverse."""
        x, y = batch
        loss = F.cross_entropy(objective.model(x), y)
        grads = torch.autograd.grad(loss, objective.params, create_graph=True)
        flat = torch.cat([g.reshape(-1) for g in grads])
        return torch.cat([h.reshape(-1) for h in torch.autograd.grad(flat @ v, objective.params)])

    calls: dict[str, Callable[[], Any]] = {
        "gradient": lambda: objective.loss_and_grad(batch, update_batchnorm=False),
        "hvp_forward_over_reverse": lambda: objective.hvp(batch, v),
        "hvp_double_backward": double_backward,
        "ggnvp": lambda: objective.ggnvp(batch, v),
        "loss": lambda: objective.loss(batch),
    }
    return [
        {"model": name, "batch_size": batch_size, "op": op, **_time(call, dev, repeats)}
        for op, call in calls.items()
    ]


def _optimizer_timings(
    name: str, dev: torch.device, *, repeats: int, quick: bool
) -> list[dict[str, Any]]:
    """One iteration of each optimizer at batch 100, with the runner's data plan (the gradient
    sample of GD/SHG is ``gradient_fraction`` of the training-set size)."""
    batch_size = 16 if quick else 100
    n_train = 640 if quick else DATASETS[DATASET[name]].train_size
    rows = []
    for method in METHODS:
        objective, minibatch = _setup(name, batch_size, dev)
        hparams = resolve_hparams(method, {})
        optimizer = build_optimizer(method, objective.params, hparams)
        plan = DataPlan.from_hparams(hparams, n_train)
        batch, curvature = minibatch, None
        if plan.gradient_size is not None:
            batch, curvature = _random_batch(minibatch, plan.gradient_size, dev), minibatch
        if plan.curvature_size is not None:
            curvature = _random_batch(minibatch, plan.curvature_size, dev)
        step = functools.partial(optimizer.step, objective, batch, curvature)
        timing = _time(step, dev, repeats)
        rows.append({"model": name, "batch_size": batch_size, "op": f"step_{method}", **timing})
    return rows


def _random_batch(like: Batch, size: int, dev: torch.device) -> Batch:
    """``size`` random samples of the shape of ``like``'s (the cost ignores pixel values)."""
    x = like[0]
    return torch.randn(size, *x.shape[1:], device=dev), torch.randint(0, 10, (size,), device=dev)


def _time(
    call: Callable[[], Any], dev: torch.device, repeats: int, budget_s: float = 10.0
) -> dict[str, float]:
    """Median and minimum of ``repeats`` timed calls after two warm-up calls; stops early (after
    at least three calls) once ``budget_s`` is spent, so slow CPU measurements stay bounded."""
    for _ in range(2):
        call()
    samples: list[float] = []
    while len(samples) < repeats and (len(samples) < 3 or sum(samples) < budget_s * 1e3):
        synchronize(dev)
        start = time.perf_counter()
        call()
        synchronize(dev)
        samples.append((time.perf_counter() - start) * 1e3)
    return {
        "ms_median": statistics.median(samples),
        "ms_min": min(samples),
        "repeats": len(samples),
    }


def _ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_key = {(r["model"], r["batch_size"], r["op"]): r["ms_median"] for r in results}
    ratios: dict[str, dict[str, float]] = {}
    for (model, batch_size, op), ms in by_key.items():
        gradient = by_key.get((model, batch_size, "gradient"))
        if gradient and op != "gradient":
            ratios.setdefault(f"{model}@{batch_size}", {})[f"{op}/gradient"] = ms / gradient
    return ratios


def lenet_sgd_spec(**fields: Any) -> RunSpec:
    """One epoch of SGD (lr 0.05, batch 100) on LeNet/MNIST: the small run that the benchmark's
    epoch and the GPU check's lease step train; `fields` set its subsets and logging."""
    defaults = dict(
        dataset="mnist",
        model="lenet",
        activation="tanh",
        variant="standard",
        optimizer="sgd",
        method="sgd",
        hparams=resolve_hparams("sgd", {"lr": 0.05}),
        batch_size=100,
        epochs=1,
        seed=0,
        logs_per_epoch=1,
    )
    return RunSpec(**{**defaults, **fields})


def _sgd_epoch(data_bundle: Path, dev: torch.device, quick: bool) -> dict[str, Any]:
    """Training time of one SGD epoch of LeNet on MNIST through the real runner, and of the
    same epoch by a hand loop on the same resident tensors (what the runner adds: its batch
    plan, counters and logging; evaluations are off both clocks)."""
    if not Path(data_bundle).exists():
        return {"skipped": f"no MNIST bundle at {data_bundle} (run the data rule first)"}
    from secondorder.training.loop import train_run

    spec = lenet_sgd_spec(train_subset=2000 if quick else None, test_subset=1000)
    with tempfile.TemporaryDirectory() as tmp:
        threads = torch.get_num_threads()  # as the other measurements of this benchmark
        summary = train_run(
            spec, data_bundle, tmp, device=str(dev), progress=False, threads=threads
        )
    hand_s = _hand_loop_epoch(spec, data_bundle, dev)
    return {
        "train_examples": spec.train_subset or DATASETS[spec.dataset].train_size,
        "batch_size": spec.batch_size,
        "epoch_train_time_s": summary["train_time_s"],
        "hand_loop_epoch_s": hand_s,
        "runner_over_hand_loop": summary["train_time_s"] / hand_s,
        "test_accuracy": summary["final"]["test_accuracy"],
    }


def _hand_loop_epoch(spec: Any, data_bundle: Path, dev: torch.device) -> float:
    """Seconds of one plain SGD epoch of ``spec``'s model on its data, resident on ``dev``:
    a permutation, then per mini-batch a forward, a backward and an in-place update."""
    from secondorder import data

    loaded = data.load(
        data_bundle, dev, train_subset=spec.train_subset, test_subset=spec.test_subset, seed=0
    )
    x, y = loaded.x_train, loaded.y_train
    torch.manual_seed(spec.seed)
    facts = DATASETS[spec.dataset]
    model = build_model(
        spec.model,
        in_channels=facts.channels,
        image_size=facts.image_size,
        num_classes=10,
        activation=spec.activation,
    ).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    lr, batch = spec.hparams["lr"], spec.batch_size
    synchronize(dev)
    started = time.perf_counter()
    order = torch.randperm(len(y), device=dev)
    for start in range(0, len(y) - batch + 1, batch):
        index = order[start : start + batch]
        loss = F.cross_entropy(model(x[index]), y[index])
        for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
            p.data.add_(g, alpha=-lr)
    synchronize(dev)
    return time.perf_counter() - started
