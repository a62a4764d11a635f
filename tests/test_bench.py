"""The benchmark writes its JSON report (timings are recorded, never asserted)."""

from __future__ import annotations

import json

import pytest

from secondorder.bench import run_benchmark


@pytest.mark.slow
def test_quick_benchmark_writes_ratios_and_the_sgd_epoch(mnist_bundle, tmp_path):
    out = tmp_path / "bench.json"
    report = run_benchmark(mnist_bundle, out, device="cpu", quick=True)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    ops = {(r["model"], r["op"]) for r in report["results"]}
    for op in ("gradient", "hvp_forward_over_reverse", "hvp_double_backward", "ggnvp"):
        assert ("lenet", op) in ops
    for method in ("sgd", "gd", "shg", "sqn", "lsr1", "adam", "lbfgs"):
        assert ("lenet", f"step_{method}") in ops
    assert all(r["ms_median"] > 0 and r["repeats"] >= 3 for r in report["results"])
    ratios = report["ratios"]["lenet@16"]
    assert ratios["hvp_forward_over_reverse/gradient"] > 0
    epoch = report["sgd_epoch"]
    assert epoch["epoch_train_time_s"] > 0 and epoch["hand_loop_epoch_s"] > 0
    assert (
        epoch["runner_over_hand_loop"] == epoch["epoch_train_time_s"] / epoch["hand_loop_epoch_s"]
    )
    assert report["environment"]["device"] == "cpu"
