"""The per-step cost table (secondorder.analysis.step_cost, artifact kind step_cost) on synthetic
run records whose counters say exactly what each step did."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_analysis import write_failed_run, write_run

from secondorder import analysis
from secondorder.analysis import metrics, step_cost
from secondorder.analysis.report import artifacts as report_artifacts
from secondorder.study import artifacts

REPO = Path(__file__).resolve().parents[1]
N, BATCH = 1000, 100  # write_run's training subset and batch size
LOSSES = [2.3, 1.0, 0.8, 0.6, 0.5, 0.45, 0.4, 0.38, 0.36]  # 9 points: 20 steps, 2 epochs


def counters(points: int = len(LOSSES), **per_step: float) -> dict[str, list]:
    """Counter columns that grow by ``per_step`` at every step of write_run's iterations."""
    iterations = [i * N // (4 * BATCH) for i in range(points)]
    columns = {name: [rate * it for it in iterations] for name, rate in per_step.items()}
    return {"optimizer_steps": iterations, **columns}


# SGD: one gradient on the mini-batch.
SGD = counters(gradient_samples=BATCH, forward_samples=BATCH)


def shg(cg: int, points: int = len(LOSSES)) -> dict[str, list]:
    """SHG: a gradient on 20 % of N, `cg` Hessian-vector products on the mini-batch (one
    forward each), two line-search trials on the gradient sample, one CG solve."""
    gradient = N // 5
    return counters(
        points,
        gradient_samples=gradient,
        curvature_products=cg,
        curvature_samples=cg * BATCH,
        forward_samples=gradient + cg * BATCH + 2 * gradient,
        line_search_trials=2,
        cg_iterations=cg,
        cg_negative_curvature_stops=1,
    )


# SQN with Gauss-Newton products (two forwards each): a gradient and one trial on the
# mini-batch, a product on 100 samples every 10 steps.
SQN = counters(
    gradient_samples=BATCH,
    curvature_products=0.1,
    curvature_samples=0.1 * BATCH,
    forward_samples=BATCH + 2 * 0.1 * BATCH + BATCH,
    line_search_trials=1,
)


@pytest.fixture
def summary(tmp_path: Path):
    runs = tmp_path / "runs"
    records = [
        write_run(runs, seed=0, losses=LOSSES, seconds_per_point=1.0, columns=SGD),
        write_run(runs, seed=1, losses=LOSSES, seconds_per_point=1.0, columns=SGD),
        write_run(runs, optimizer="shg", seed=0, losses=LOSSES, columns=shg(4)),
        write_run(runs, optimizer="shg", seed=1, losses=LOSSES, columns=shg(6)),
        write_run(
            runs,
            optimizer="sqn",
            losses=LOSSES,
            hparams={"lr": 1.0, "curvature": "gauss-newton"},
            columns=SQN,
        ),
        write_run(
            runs,
            optimizer="shg",
            activation="relu",
            losses=[2.3, 9.0, float("inf")],
            status="diverged",
            columns=shg(1, points=3),
        ),
        write_run(runs, optimizer="sr1", method="lsr1", losses=[2.3], status="untuned"),
        write_failed_run(runs, optimizer="adam"),
    ]
    csv = tmp_path / "cost.csv"
    analysis.aggregate(records, csv)
    out = tmp_path / "tables"
    out.mkdir()
    result = step_cost.step_cost_table(
        csv, out / "cost.md", out / "cost.tex", out / "cost.csv", title="Cost"
    )
    return result.set_index(["optimizer", "activation"]), out, csv


def test_per_step_costs_of_sgd_shg_and_sqn(summary):
    table, _, _ = summary
    sgd = table.loc[("sgd", "tanh")]
    assert sgd["gradient_equivalents_per_step"] == pytest.approx(1.0)
    assert sgd["data_passes_per_epoch"] == pytest.approx(1.0)
    assert sgd["curvature_products_per_step"] == 0 and sgd["line_search_trials_per_step"] == 0
    assert sgd["seconds_per_step"] == pytest.approx(8 / 20)  # 8 s over 20 steps
    assert (sgd["n_runs"], sgd["n_seeds"], sgd["n_diverged"]) == (2, 2, 0)

    # 200 gradient samples + 2 x cg x 100 product samples + 1/3 x 400 trial samples, / 100
    per_seed = [(200 + 2 * cg * 100 + 400 / 3) / 100 for cg in (4, 6)]
    shg_row = table.loc[("shg", "tanh")]
    assert shg_row["gradient_equivalents_per_step"] == pytest.approx(sum(per_seed) / 2)
    assert shg_row["gradient_equivalents_per_step_min"] == pytest.approx(per_seed[0])
    assert shg_row["gradient_equivalents_per_step_max"] == pytest.approx(per_seed[1])
    # an epoch is N/B steps, so its data passes are the gradient-equivalents of a step
    assert shg_row["data_passes_per_epoch"] == pytest.approx(sum(per_seed) / 2)
    assert shg_row["curvature_products_per_step"] == pytest.approx(5.0)
    assert shg_row["cg_iterations_per_step"] == pytest.approx(5.0)
    assert shg_row["line_search_trials_per_step"] == pytest.approx(2.0)

    # Gauss-Newton products run two forwards: the forward-only samples are the trial's 100
    sqn = table.loc[("sqn", "tanh")]
    assert sqn["gradient_equivalents_per_step"] == pytest.approx((100 + 2 * 10 + 100 / 3) / 100)
    assert sqn["curvature_products_per_step"] == pytest.approx(0.1)
    assert sqn["line_search_trials_per_step"] == pytest.approx(1.0)
    assert sqn["cg_iterations_per_step"] != sqn["cg_iterations_per_step"]  # NaN: no CG


def test_the_table_marks_diverged_untuned_and_failed_rows(summary):
    table, out, _ = summary
    assert table.loc[("shg", "relu"), "n_diverged"] == 1
    assert table.loc[("sr1", "tanh"), "n_untuned"] == 1
    assert table.loc[("adam", "tanh"), "n_failed"] == 1
    md = (out / "cost.md").read_text()
    assert md.startswith("**Beyond the paper. Cost (cost of one optimizer step)**")
    rows = [line for line in md.splitlines() if line.startswith("| MNIST")]
    sgd, shg_row, shg_relu = (
        next(r for r in rows if f"| {name} |" in r and activation in r)
        for name, activation in (("SGD", "tanh"), ("SHG", "tanh"), ("SHG", "ReLU"))
    )
    assert sgd.split(" | ")[2:5] == ["2", "1", "0"]
    assert shg_row.split(" | ")[3] == "13.3 (11.3-15.3)"
    assert shg_relu.split(" | ")[2] == "1 (1 diverged)"
    sqn_cells = next(r for r in rows if "| SQN |" in r).split(" | ")
    assert sqn_cells[6] == "–"  # no CG
    untuned = next(r for r in rows if "| SR1 |" in r).split(" | ")
    assert untuned[2] == "1 (1 untuned)" and untuned[3] == "n/a"
    assert "| 1 (1 failed) |" in next(r for r in rows if "| Adam |" in r)
    assert "1 of 1 runs diverged; their costs count the steps before they stopped" in md
    assert "2 x samples through a curvature-vector product" in md
    assert "\\begin{tabular}" in (out / "cost.tex").read_text()


def test_headline_numbers_of_the_step_cost_kind(summary):
    _, _, csv = summary
    numbers = analysis.headline_metrics([{"name": "c", "kind": "step_cost", "aggregated": csv}])
    sgd = numbers["c"]["mnist-lenet-tanh-standard-sgd-bs100"]
    assert sgd["gradient_equivalents_per_step"] == pytest.approx(1.0)
    assert (sgd["runs"], sgd["diverged_runs"]) == (2, 0)
    assert numbers["c"]["mnist-lenet-relu-standard-shg-bs100"]["diverged_runs"] == 1


def test_the_kind_is_registered_with_its_script_caption_numbers_and_body():
    kind = artifacts.KINDS["step_cost"]
    assert (REPO / "workflow" / "scripts" / kind.script).is_file()
    assert (REPO / "workflow" / "report" / kind.caption).is_file()
    assert kind.files("cost") == {
        "md": "results/tables/cost.md",
        "tex": "results/tables/cost.tex",
        "csv": "results/tables/cost.csv",
    }
    assert kind.function_options({"title": "T", "beyond_paper": True}, {}) == {
        "title": "T",
        "beyond_paper": True,
    }
    assert "step_cost" in metrics.KIND_METRICS and "step_cost" in report_artifacts.KIND_BODIES


def test_the_work_axis_is_the_step_cost_definition_on_a_real_run(mnist_bundle, tmp_path):
    """A real SHG run (gradients on 20 % of N, Hessian-vector products, line-search trials):
    the figures' work axis at its last point equals the step-cost table's work (data passes
    per epoch x epochs) and the definition worked by hand from the record's counters."""
    from test_train import make_spec

    from secondorder.training.loop import train_run

    spec = make_spec("shg", epochs=1, gradient_fraction=0.2)
    summary = train_run(spec, mnist_bundle, tmp_path / "run", device="cpu", progress=False)
    csv = tmp_path / "a.csv"
    table = analysis.aggregate([tmp_path / "run"], csv)
    (curve,) = analysis.build_panels(table, x="work")[0].curves
    c = summary["counters"]
    assert c["curvature_products"] > 0 and c["line_search_trials"] > 0
    forward_only = c["forward_samples"] - c["gradient_samples"] - c["curvature_samples"]
    by_hand = (c["gradient_samples"] + 2 * c["curvature_samples"] + forward_only / 3) / 300
    assert curve.x[-1] == pytest.approx(by_hand)
    (cost,) = step_cost.run_costs(table).to_dict("records")
    assert curve.x[-1] == pytest.approx(cost["data_passes_per_epoch"] * 1)  # one epoch
    assert curve.x[-1] > curve.epoch[-1]  # SHG's epoch costs more than one gradient pass
