"""The ``agreement`` step of the GPU check: the same runs and products on the CPU and on the
device agree within stated tolerances."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from secondorder.spec import RunSpec

LOSS_RTOL = 1e-2
"""Logged losses of the CPU and the device agree within this relative difference: float
sums in another order, and TF32 convolutions on CUDA (cuDNN's default), over a few steps."""
ACCURACY_ATOL = 0.02
"""Logged test accuracies agree within 2 points (4 of the 200 test images)."""
PRODUCT_RTOL = 1e-2
"""|a - b| / |a| of a gradient or curvature product on the CPU (a) and on the device (b)."""
TOLERANCES = {"loss_rtol": LOSS_RTOL, "accuracy_atol": ACCURACY_ATOL, "product_rtol": PRODUCT_RTOL}
STEPS_PER_RUN = {False: 3, True: 2}  # by ``small``
TRAIN_EXAMPLES = {False: 128, True: 16}  # one full batch
AGREEMENT_METHODS = {
    "sgd": {"lr": 0.05},
    "shg": {"gradient_fraction": "minibatch", "cg_max_iter": 5},
    "shg-gauss-newton": {
        "gradient_fraction": "minibatch",
        "cg_max_iter": 5,
        "curvature": "gauss-newton",
    },
    "sqn": {"update_interval": 1, "memory": 5, "curvature_batch_size": 100_000},
    "lsr1": {},
}
AGREEMENT_MODELS = {"lenet": ("tanh", "standard"), "resnet18": ("relu", "narrow")}


def agreement_spec(model: str, case: str, small: bool) -> RunSpec:
    """A few full-batch steps (one per epoch): the CPU and the device draw the same samples."""
    from secondorder.optim import resolve_hparams

    method = case.split("-")[0]
    activation, variant = AGREEMENT_MODELS[model]
    return RunSpec(
        dataset="mnist",
        model=model,
        activation=activation,
        variant=variant,
        optimizer=case,
        method=method,
        hparams=resolve_hparams(method, AGREEMENT_METHODS[case]),
        batch_size=TRAIN_EXAMPLES[small],
        epochs=STEPS_PER_RUN[small],
        seed=0,
        train_subset=TRAIN_EXAMPLES[small],
        test_subset=200,
        logs_per_epoch=1,
    )


def check_agreement(device: str, bundle: Path, tmp: Path, small: bool) -> dict[str, Any]:
    """CPU against ``device``: each spec's logged losses and accuracies, and the products."""
    from secondorder.training.loop import train_run

    threads = 1 if small else max(1, (os.cpu_count() or 1) // 2)
    runs, worst_loss, worst_accuracy = {}, 0.0, 0.0
    for model in AGREEMENT_MODELS:
        for case in AGREEMENT_METHODS:
            spec = agreement_spec(model, case, small)
            rows = {}
            for side, where in (("cpu", "cpu"), ("device", device)):
                out = tmp / "agreement" / f"{model}-{case}-{side}"
                train_run(spec, bundle, out, device=where, progress=False, threads=threads)
                rows[side] = json.loads((out / "summary.json").read_text())
            loss, accuracy = _record_differences(tmp, model, case)
            worst_loss, worst_accuracy = max(worst_loss, loss), max(worst_accuracy, accuracy)
            counters = [rows[side]["counters"] for side in ("cpu", "device")]
            runs[f"{model}/{case}"] = {
                "loss_rdiff": loss,
                "accuracy_diff": accuracy,
                "same_counters": counters[0] == counters[1],
            }
    products = {model: product_differences(model, device) for model in AGREEMENT_MODELS}
    syncs = device_syncs(device)
    worst_product = max(d for diffs in products.values() for d in diffs.values())
    ok = worst_loss <= LOSS_RTOL and worst_accuracy <= ACCURACY_ATOL
    return {
        "ok": ok and worst_product <= PRODUCT_RTOL,
        "steps_per_run": STEPS_PER_RUN[small],
        "train_examples": TRAIN_EXAMPLES[small],
        "max_loss_rdiff": worst_loss,
        "max_accuracy_diff": worst_accuracy,
        "max_product_rdiff": worst_product,
        "runs": runs,
        "products": products,
        "device_syncs_per_step": syncs,
        "headline": f"{len(runs)} runs: losses within {worst_loss:.1e} (rtol {LOSS_RTOL}), "
        f"products within {worst_product:.1e} (rtol {PRODUCT_RTOL})",
    }


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    """A run's metrics rows without the wall time (the one column two equal runs differ in)."""
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return [
            {k: v for k, v in row.items() if k != "train_time_s"} for row in csv.DictReader(handle)
        ]


def _record_differences(tmp: Path, model: str, case: str) -> tuple[float, float]:
    """Largest relative loss and absolute accuracy differences of two runs' metrics rows."""
    tables = [
        metrics_rows(tmp / "agreement" / f"{model}-{case}-{side}") for side in ("cpu", "device")
    ]
    if len(tables[0]) != len(tables[1]):
        return float("inf"), float("inf")
    loss, accuracy = 0.0, 0.0
    for a, b in zip(*tables, strict=True):
        for key in ("train_loss", "test_loss"):
            x, y = float(a[key]), float(b[key])
            if x == x or y == y:  # both NaN at the initial point's train_loss: equal
                loss = max(loss, abs(x - y) / max(abs(x), abs(y), 1e-12))
        accuracy = max(accuracy, abs(float(a["test_accuracy"]) - float(b["test_accuracy"])))
    return loss, accuracy


def product_differences(model: str, device: str) -> dict[str, float]:
    """|a - b| / |a| of the gradient, H v and G v of ``model`` on the CPU (a) and ``device``."""
    from secondorder.curvature import Objective
    from secondorder.models import build_model
    from secondorder.training.devices import device_lease

    activation, variant = AGREEMENT_MODELS[model]
    torch.manual_seed(0)
    net = build_model(
        model, in_channels=1, image_size=28, num_classes=10, activation=activation, variant=variant
    )
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    results: dict[str, list[torch.Tensor]] = {"gradient": [], "hvp": [], "ggnvp": []}
    with device_lease(device) as dev:
        for where in (torch.device("cpu"), dev):
            objective = Objective(net.to(where), F.cross_entropy)
            batch = (x.to(where), y.to(where))
            v = torch.ones(objective.numel, device=where) / objective.numel**0.5
            results["gradient"].append(objective.loss_and_grad(batch, update_batchnorm=False)[1])
            results["hvp"].append(objective.hvp(batch, v))
            results["ggnvp"].append(objective.ggnvp(batch, v))
    return {
        op: float((a - b.cpu()).norm() / a.norm().clamp_min(1e-30))
        for op, (a, b) in results.items()
    }


def device_syncs(device: str) -> dict[str, int] | None:
    """Synchronisations that CUDA's sync debug mode sees in one LeNet step of each method at
    batch 100 after a warm-up step (tests/test_sync.py counts them by call site on the CPU);
    None on the CPU, which has no such mode."""
    import warnings

    from secondorder.curvature import Objective
    from secondorder.models import build_model
    from secondorder.optim import METHODS, build_optimizer, resolve_hparams
    from secondorder.training.devices import device_lease

    counts = {}
    with device_lease(device) as dev:
        if dev.type != "cuda":
            return None
        for method in METHODS:
            torch.manual_seed(0)
            net = build_model("lenet", in_channels=1, image_size=28, num_classes=10).to(dev)
            objective = Objective(net, F.cross_entropy)
            optimizer = build_optimizer(method, objective.params, resolve_hparams(method, {}))
            batch = (
                torch.randn(100, 1, 28, 28, device=dev),
                torch.randint(0, 10, (100,), device=dev),
            )
            optimizer.step(objective, batch, batch)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    optimizer.step(objective, batch, batch)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
            counts[method] = sum("synchroniz" in str(w.message) for w in caught)
    return counts
