"""Tests of the analysis layer on small synthetic run records (no training involved)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from secondorder import analysis
from secondorder.analysis import findings, paper
from secondorder.analysis.panels import curve_label
from secondorder.cost import CostCounters
from secondorder.spec import DATASETS
from secondorder.study.artifacts import HEADLINE_COUNTS, KINDS
from secondorder.training import record

COUNTERS = list(CostCounters().as_dict())


def write_run(
    root: Path,
    *,
    dataset: str = "mnist",
    model: str = "lenet",
    optimizer: str = "sgd",
    method: str | None = None,
    seed: int = 0,
    losses: list[float],
    accuracies: list[float] | None = None,
    status: str = "finished",
    seconds_per_point: float = 1.0,
    work_per_point: int = 200,
    train_subset: int | None = 1000,
    activation: str = "tanh",
    batch_size: int = 100,
    full_losses: list[float] | None = None,
    hparams: dict | None = None,
    columns: dict[str, list] | None = None,
    train_accuracy: float | None = None,
) -> Path:
    """A run record as the training loop writes it: 4 logging points per epoch on N images
    (train_subset, else the full training set); ``train_accuracy``: the final model's on the
    training set (None: a record made before runs measured it)."""
    method = method or optimizer
    n = train_subset or DATASETS[dataset].train_size
    spec = {
        "dataset": dataset,
        "model": model,
        "activation": activation,
        "variant": "standard",
        "optimizer": optimizer,
        "method": method,
        "hparams": hparams or {"lr": 0.1},
        "batch_size": batch_size,
        "epochs": 2,
        "seed": seed,
        "train_subset": train_subset,
        "test_subset": 500 if train_subset else None,
        "logs_per_epoch": 4,
        "eval_train_loss": full_losses is not None,
        "chunk_size": 4096,
    }
    run_id = f"{dataset}-{model}-{activation}__{optimizer}__bs{batch_size}__s{seed}__abc123"
    points = len(losses)
    iterations = [i * n // (4 * batch_size) for i in range(points)]
    accuracies = accuracies if accuracies is not None else [0.1 * (i + 1) for i in range(points)]
    rows = {
        "epoch": [it * batch_size / n for it in iterations],
        "iteration": iterations,
        "train_time_s": [i * seconds_per_point for i in range(points)],
        "train_loss": [math.nan, *losses[1:]],
        "full_train_loss": full_losses if full_losses is not None else [math.nan] * points,
        "test_loss": losses,
        "test_accuracy": accuracies,
    }
    for name in COUNTERS:
        rows[name] = [0] * points
    rows["forward_samples"] = [i * work_per_point for i in range(points)]
    rows.update(columns or {})
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(run_dir / "metrics.csv", index=False)
    summary = {
        "run_id": run_id,
        "spec": spec,
        "status": status,
        "epochs_completed": rows["epoch"][-1],
        "iterations": iterations[-1],
        "train_time_s": rows["train_time_s"][-1],
        "final": {
            "test_loss": losses[-1],
            "test_accuracy": accuracies[-1],
            **({} if train_accuracy is None else {"train_accuracy": train_accuracy}),
        },
        "best_test_accuracy": max(accuracies),
        "counters": {},
        "environment": {
            "device": "cpu",
            "device_name": "cpu",
            "data": {"name": dataset, "files": {"train.gz": "f00d"}, "original_md5": True},
        },
        "error": None,
        "diverged_at": {"epoch": rows["epoch"][-1], "iteration": iterations[-1]}
        if status == "diverged"
        else None,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def write_failed_run(root: Path, **setting: Any) -> Path:
    """A tuning run that raised, as secondorder.study.tuning.record_failure records it: a
    summary with status failed and the error but no environment, a metrics.csv without rows."""
    run_dir = write_run(root, losses=[2.3], **setting)
    spec = json.loads((run_dir / "summary.json").read_text())["spec"]
    failure = {"run_id": run_dir.name, "spec": spec, "status": "failed", "error": "E: overflow"}
    (run_dir / "summary.json").write_text(json.dumps(failure))
    (run_dir / "metrics.csv").write_text(record.metrics_csv([]))
    return run_dir


DECREASING = [2.3, 1.0, 0.8, 0.6, 0.5, 0.45, 0.4, 0.38, 0.36]


@pytest.fixture
def study(tmp_path: Path) -> dict[str, list[Path]]:
    """Two seeds of SGD and SHG, one diverged SR1, one GD; MNIST LeNet + CIFAR-10 LeNet SGD."""
    runs = tmp_path / "runs"
    sgd = [
        write_run(runs, seed=0, losses=DECREASING, accuracies=[0.1, 0.5, 0.9, 0.95] + [0.97] * 5),
        write_run(
            runs,
            seed=1,
            losses=[v * 1.02 for v in DECREASING],
            accuracies=[0.1, 0.5, 0.9, 0.95] + [0.99] * 5,
        ),
    ]
    shg = [
        write_run(
            runs,
            optimizer="shg",
            seed=s,
            losses=[v * f for v in DECREASING],
            seconds_per_point=20.0,
            work_per_point=1000,
        )
        for s, f in ((0, 0.5), (1, 0.52))
    ]
    sr1 = [
        write_run(
            runs,
            optimizer="sr1",
            method="lsr1",
            losses=[2.3, 1.2, 0.9, math.nan],
            status="diverged",
            seconds_per_point=5.0,
        )
    ]
    gd = [write_run(runs, optimizer="gd", method="gd", losses=[v * 1.5 for v in DECREASING])]
    cifar = [
        write_run(
            runs,
            dataset="cifar10",
            train_subset=None,
            losses=DECREASING,
            accuracies=[0.1, 0.3, 0.5, 0.6, 0.65, 0.7, 0.69, 0.68, 0.68],
        )
    ]
    return {"sgd": sgd, "shg": shg, "sr1": sr1, "gd": gd, "cifar": cifar}


def all_runs(study: dict[str, list[Path]]) -> list[Path]:
    return [run for runs in study.values() for run in runs]


def test_aggregate_rows_and_columns(study, tmp_path):
    out = tmp_path / "agg" / "all.csv"
    analysis.aggregate(all_runs(study), out)
    table = pd.read_csv(out)
    assert list(table.columns[: len(analysis.SPEC_COLUMNS)]) == list(analysis.SPEC_COLUMNS)
    for column in ("epoch", "train_loss", "test_accuracy", "forward_samples", "train_size"):
        assert column in table
    # 6 MNIST runs and 1 CIFAR-10 run with 9 points each, the diverged one with 4.
    assert len(table) == 6 * 9 + 4
    assert table["run_id"].nunique() == 7
    sr1 = table[table["optimizer"] == "sr1"]
    assert set(sr1["status"]) == {"diverged"} and set(sr1["method"]) == {"lsr1"}
    assert set(table[table["dataset"] == "cifar10"]["train_size"]) == {50_000}
    assert set(table[table["dataset"] == "mnist"]["train_size"]) == {1000}
    assert not list(out.parent.glob(".*tmp"))  # atomic write leaves no temporary file


def test_aggregate_keeps_a_run_without_metrics(tmp_path):
    run = write_run(tmp_path / "runs", losses=[2.3, 1.0], status="failed")
    (run / "metrics.csv").write_text("")
    table = analysis.aggregate([run], tmp_path / "a.csv")
    assert len(table) == 1 and table["status"].iloc[0] == "failed"


def test_aggregate_names_a_missing_summary(tmp_path):
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"summary\.json"):
        analysis.aggregate([run], tmp_path / "a.csv")


def test_aggregate_of_no_runs_writes_the_header(tmp_path):
    analysis.aggregate([], tmp_path / "a.csv")
    assert list(pd.read_csv(tmp_path / "a.csv").columns)[:3] == ["run_id", "dataset", "model"]


def _valid_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def _valid_pdf(path: Path) -> bool:
    data = path.read_bytes()
    return data[:5] == b"%PDF-" and b"%%EOF" in data[-1024:]


@pytest.mark.parametrize("x", ["epoch", "time", "work"])
def test_loss_curve_figure_files_and_panels(study, tmp_path, x):
    agg = tmp_path / "fig.csv"
    analysis.aggregate(all_runs(study), agg)
    png, pdf = tmp_path / "fig" / f"{x}.png", tmp_path / "fig" / f"{x}.pdf"
    panels = analysis.plot_loss_curves(agg, png, pdf, x=x, title=f"Loss vs {x}")
    assert _valid_png(png) and _valid_pdf(pdf)
    assert [p.title for p in panels] == ["MNIST / LeNet", "CIFAR-10 / LeNet"]
    mnist = {c.optimizer: c for c in panels[0].curves}
    assert list(mnist) == ["sgd", "gd", "shg", "sr1"]  # paper order, from the palette
    # Two seeds are averaged point by point, with the min-max band.
    sgd = mnist["sgd"]
    assert sgd.n_runs == 2
    np.testing.assert_allclose(sgd.y[-1], (0.36 + 0.36 * 1.02) / 2)
    np.testing.assert_allclose([sgd.y_min[-1], sgd.y_max[-1]], [0.36, 0.36 * 1.02])
    # The diverged run stops at its last finite point and is marked there.
    sr1 = mnist["sr1"]
    assert sr1.n_diverged == 1 and len(sr1.y) == 2  # row 0 (NaN running mean), NaN at the end
    assert sr1.diverged_points[0][1] == pytest.approx(0.9)
    if x == "work":  # gradient-equivalents / N: 1000 forward-only samples a point on N = 1000
        np.testing.assert_allclose(mnist["shg"].x, np.arange(1, 9) / 3)
    if x == "time":
        assert (sgd.x > 0).all()  # t = 0 is dropped on the log axis


def test_full_train_loss_is_used_when_every_run_has_it(tmp_path):
    runs = [
        write_run(tmp_path / "r", seed=s, losses=DECREASING, full_losses=[1.0] * 9) for s in (0, 1)
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    panels = analysis.plot_loss_curves(tmp_path / "a.csv", tmp_path / "f.png", tmp_path / "f.pdf")
    assert panels[0].curves[0].y.tolist() == [1.0] * 9  # row 0 included: the full loss exists


def test_lines_by_batch_size(tmp_path):
    runs = [
        write_run(tmp_path / "r", optimizer=o, batch_size=b, losses=DECREASING)
        for o in ("sgd", "shg")
        for b in (100, 200)
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    panels = analysis.plot_loss_curves(
        tmp_path / "a.csv", tmp_path / "f.png", tmp_path / "f.pdf", lines="batch_size"
    )
    assert len(panels) == 1
    assert [c.key for c in panels[0].curves] == [
        (100, "sgd"),
        (200, "sgd"),
        (100, "shg"),
        (200, "shg"),
    ]


def test_empty_figure_is_still_written(tmp_path):
    analysis.aggregate([], tmp_path / "a.csv")
    analysis.plot_loss_curves(tmp_path / "a.csv", tmp_path / "f.png", tmp_path / "f.pdf")
    assert _valid_pdf(tmp_path / "f.pdf") and (tmp_path / "f.png").stat().st_size > 0


def test_colours_are_fixed_per_optimizer():
    assert analysis.optimizer_colour("shg") == analysis.PALETTE["shg"]
    assert analysis.optimizer_colour("my-preset") == analysis.optimizer_colour("my-preset")


def test_accuracy_table_numbers(study, tmp_path):
    agg = tmp_path / "t.csv"
    for run, accuracy in zip(study["sgd"], (0.99, 0.995), strict=True):  # the final model's
        summary = json.loads((run / "summary.json").read_text())
        summary["final"]["train_accuracy"] = accuracy
        (run / "summary.json").write_text(json.dumps(summary))
    analysis.aggregate(study["sgd"] + study["cifar"], agg)
    md, tex, csv = tmp_path / "t.md", tmp_path / "t.tex", tmp_path / "t_out.csv"
    summary = analysis.accuracy_table(agg, md, tex, csv, title="Table 1")
    rows = pd.read_csv(csv).set_index("dataset")
    # By hand: seeds' best accuracies 97 and 99 -> mean 98, sample std sqrt(2) = 1.41.
    assert rows.loc["mnist", "best_acc_mean"] == pytest.approx(98.0)
    assert rows.loc["mnist", "best_acc_std"] == pytest.approx(math.sqrt(2))
    assert rows.loc["mnist", "paper_acc"] == 99.2
    assert rows.loc["cifar10", "best_acc_mean"] == pytest.approx(70.0)
    assert math.isnan(rows.loc["cifar10", "best_acc_std"])  # one seed
    assert len(summary) == 2
    text = md.read_text()
    # Train / test of the final model: train 99 and 99.5, test 97 and 99 at the last point;
    # the CIFAR-10 record has no training accuracy (made before runs measured it).
    assert rows.loc["mnist", "final_train_acc_mean"] == pytest.approx(99.25)
    assert rows.loc["mnist", "final_test_acc_mean"] == pytest.approx(98.0)
    assert (
        "| LeNet | 98.00 ± 1.41 | 99.2 | 99.25 / 98.00 | 70.00 | 69 | not recorded / 68.00 |"
        in text
    )
    assert "MNIST train / test, final" in text
    assert "Reduced scale: training subset of 1000 images, test subset of 500 images" in text
    latex = tex.read_text()
    assert (
        r"98.00 $\pm$ 1.41" in latex
        and r"\toprule" in latex
        and "%" not in latex.replace(r"\%", "")
    )


def test_accuracy_table_notes_divergence(tmp_path):
    runs = [
        write_run(
            tmp_path / "r",
            losses=[2.3, 1.0, math.nan],
            accuracies=[0.1, 0.6, 0.1],
            status="diverged",
        )
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    summary = analysis.accuracy_table(
        tmp_path / "a.csv", tmp_path / "t.md", tmp_path / "t.tex", tmp_path / "t.csv"
    )
    assert summary["best_acc_mean"].iloc[0] == pytest.approx(60.0)
    text = (tmp_path / "t.md").read_text()
    assert "60.00*" in text and "1 of 1 runs diverged" in text


def test_accuracy_table_with_two_activations(tmp_path):
    """Paper values sit next to the paper's activation only (tanh for LeNet, ReLU for DRN)."""
    runs = [
        write_run(tmp_path / "r", model=m, activation=a, losses=[2.3, 1.0], accuracies=[0.1, acc])
        for m, a, acc in (
            ("lenet", "tanh", 0.99),
            ("lenet", "relu", 0.98),
            ("resnet18", "tanh", 0.97),
            ("resnet18", "relu", 0.993),
        )
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    out = [tmp_path / f"t.{ext}" for ext in ("md", "tex", "csv")]
    summary = analysis.accuracy_table(tmp_path / "a.csv", *out, title="T")
    paper = {(r["model"], r["activation"]): r["paper_acc"] for r in summary.to_dict("records")}
    assert paper[("lenet", "tanh")] == 99.2 and paper[("resnet18", "relu")] == 99.3
    assert math.isnan(paper[("lenet", "relu")]) and math.isnan(paper[("resnet18", "tanh")])
    text = out[0].read_text()
    assert (
        "| LeNet (relu) | 98.00 |  |" in text
        and "| DRN (ResNet-18) (relu) | 99.30 | 99.3 |" in text
    )
    table1 = findings.table1.check(analysis.records.read_aggregated(tmp_path / "a.csv"))
    assert [row[0] for row in table1.rows] == ["MNIST / LeNet", "MNIST / DRN (ResNet-18)"]
    assert [row[-1] for row in table1.rows] == ["holds", "holds"]


def _summary_row(dataset: str, model: str, mean: float, *, subset: float | None = None) -> dict:
    return {
        "dataset": dataset,
        "model": model,
        "optimizer": "sgd",
        "activation": paper.ACTIVATION[model],
        "variant": "standard",
        "n_runs": 1,
        "n_seeds": 1,
        "best_acc_mean": mean,
        "best_acc_std": math.nan,
        "best_acc_min": mean,
        "best_acc_max": mean,
        "paper_acc": paper.TABLE1_ACCURACY[(dataset, model)],
        "paper_activation": paper.ACTIVATION[model],
        "n_diverged": 0,
        "n_failed": 0,
        "epochs": 20,
        "epochs_reached": 20,
        "train_subset": subset,
        "test_subset": None,
    }


def test_table1_entry_tolerance():
    summary = pd.DataFrame(
        [
            _summary_row("mnist", "lenet", 99.0),  # -0.2 <= 0.5: holds
            _summary_row("mnist", "alexnet", 98.0),  # -1.4, full scale: does not hold
            _summary_row("cifar10", "lenet", 60.0, subset=2000),  # reduced: inconclusive
            _summary_row("cifar10", "resnet18", math.nan),  # no value: inconclusive
        ]
    )
    verdicts = [findings.table1.entry_verdict(row) for row in summary.to_dict("records")]
    assert verdicts == ["holds", "does not hold", "inconclusive", "inconclusive"]


def test_time_to_target_first_evaluation_at_or_above_the_target(tmp_path):
    """Seeds reach 0.95 at the 4th point (3 s) and the 5th (4 s); a third never does."""
    runs = [
        write_run(
            tmp_path / "r", seed=0, losses=DECREASING, accuracies=[0.1, 0.5, 0.9, 0.95] + [0.97] * 5
        ),
        write_run(
            tmp_path / "r",
            seed=1,
            losses=DECREASING,
            accuracies=[0.1, 0.5, 0.9, 0.94, 0.96] + [0.9] * 4,
        ),
        write_run(tmp_path / "r", seed=2, losses=DECREASING, accuracies=[0.1] * 9),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    table = pd.read_csv(tmp_path / "a.csv")
    times = analysis.run_times(table, {"mnist": 0.95}).set_index("seed")
    assert times.loc[0, "seconds"] == 3.0 and times.loc[1, "seconds"] == 4.0
    assert math.isnan(times.loc[2, "seconds"])
    assert (times["resolution_s"] == 1.0).all() and (times["evaluations"] == 9).all()
    out = [tmp_path / f"t2.{ext}" for ext in ("md", "tex", "csv")]
    summary = analysis.time_to_target_table(tmp_path / "a.csv", *out, targets={"mnist": 0.95})
    row = summary.iloc[0]
    assert (row["n_runs"], row["n_reached"]) == (3, 2)
    assert row["seconds_mean"] == pytest.approx(3.5)
    assert row["seconds_std"] == pytest.approx(math.sqrt(0.5))
    assert row["paper_seconds"] == 4.4  # SGD, MNIST, LeNet, tanh, batch 100
    text = out[0].read_text()
    assert "| SGD | 3.5 ± 0.71 (2/3 seeds) | 4.4 |" in text
    assert "resolution (median seconds between evaluations) 1-1 s" in text
    assert "Device: cpu." in text


def test_time_to_target_not_reached_and_paper_inconsistency(tmp_path):
    runs = [
        write_run(tmp_path / "r", dataset="cifar10", losses=DECREASING, accuracies=[0.5] * 9),
        write_run(
            tmp_path / "r",
            dataset="cifar10",
            optimizer="sr1",
            method="lsr1",
            losses=[2.3, 1.2, math.nan],
            accuracies=[0.1, 0.2, 0.1],
            status="diverged",
        ),
        write_run(tmp_path / "r", dataset="cifar10", optimizer="adam", losses=DECREASING),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    out = [tmp_path / f"t2.{ext}" for ext in ("md", "tex", "csv")]
    analysis.time_to_target_table(tmp_path / "a.csv", *out, targets={"cifar10": 0.73})
    text = out[0].read_text()
    assert "| SGD | not reached | 89.7 |" in text
    assert "| SR1 | not reached (diverged) | 2744 |" in text
    assert (
        "| Adam | 7 | – |" in text
    )  # accuracy 0.1, 0.2, ...: 0.8 >= 0.73 at 7 s; beyond the paper
    assert "best test accuracy of 69%, below the 73% target" in text
    assert r"\toprule" in out[1].read_text()


# -- colours, clipping, panels


def test_presets_of_different_methods_never_share_a_colour():
    methods = {"sgd": "sgd", "shg": "shg", "shg-gn": "shg", "shg-fixed": "shg", "sr1": "lsr1"}
    ranks = analysis.preset_ranks(methods)
    assert ranks == {"sgd": 0, "shg": 0, "shg-gn": 1, "shg-fixed": 2, "sr1": 0}
    styles = {
        name: analysis.preset_style(m, ranks[name], fixed_step=name.endswith("fixed"))
        for name, m in methods.items()
    }
    colours = [tuple(round(c, 6) for c in style["color"]) for style in styles.values()]
    assert len(set(colours)) == len(colours)
    assert styles["shg"]["linestyle"] == "-" and styles["shg-fixed"]["linestyle"] == "--"
    assert styles["shg-gn"]["linestyle"] not in ("-", "--")
    assert analysis.optimizer_label("shg-gn") == "SHG-gn"


def test_a_diverged_runs_huge_losses_are_clipped_to_the_healthy_range(tmp_path):
    from matplotlib.figure import Figure

    from secondorder.analysis.figures import _draw_panel, healthy_range

    runs = [
        write_run(tmp_path / "r", losses=DECREASING),
        write_run(
            tmp_path / "r",
            optimizer="shg-fixed",
            method="shg",
            hparams={"line_search": False, "lr": 0.1},
            losses=[2.3, 1.5, 1e12],
            status="diverged",
        ),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    panel = analysis.build_panels(pd.read_csv(tmp_path / "a.csv"))[0]
    assert healthy_range(panel) == (0.36, 1.0)  # SGD's range only (row 0 has no running mean)
    fixed = next(c for c in panel.curves if c.optimizer == "shg-fixed")
    assert fixed.fixed_step and fixed.n_diverged == 1
    ax = Figure().subplots()
    clipped = _draw_panel(ax, panel, "epoch", "optimizer", {"sgd": 0, "shg-fixed": 1})
    assert clipped == ["SHG-fixed (fixed step) (diverged)"]
    # 0.36-1.0 spans less than a decade: linear axis, 15 % headroom above the healthy maximum.
    assert ax.get_yscale() == "linear"
    assert ax.get_ylim()[1] == pytest.approx(1.0 + 0.15 * (1.0 - 0.36))


def test_explicit_panels_and_lines_never_mix_settings(tmp_path):
    runs = [
        write_run(tmp_path / "r", dataset=d, optimizer=o, batch_size=b, losses=DECREASING)
        for d in ("mnist", "cifar10")
        for o in ("sgd", "shg")
        for b in (100, 200)
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    panels = analysis.plot_loss_curves(
        tmp_path / "a.csv",
        tmp_path / "f.png",
        tmp_path / "f.pdf",
        lines="batch_size",
        panels=["dataset", "optimizer"],
        beyond_paper=True,
    )
    assert [p.title for p in panels] == [
        "MNIST, SGD",
        "MNIST, SHG",
        "CIFAR-10, SGD",
        "CIFAR-10, SHG",
    ]
    assert [c.key for c in panels[0].curves] == [(100,), (200,)]
    # Without the optimizer as a panel, it joins the lines.
    panels = analysis.build_panels(
        pd.read_csv(tmp_path / "a.csv"), lines="batch_size", panels=["dataset"]
    )
    assert len(panels) == 2 and len(panels[0].curves) == 4
    assert curve_label(panels[0].curves[0], "batch_size") == "SGD, batch 100"


def _grid_position(ax: Any) -> tuple[int, int]:
    spec = ax.get_subplotspec()
    return spec.rowspan.start, spec.colspan.start


def test_figure_8_is_datasets_by_methods_with_a_loss_axis_per_dataset(tmp_path):
    """Figure 8's layout (panels: [dataset, optimizer]): rows = datasets, columns = methods,
    no empty axes; each dataset's row shares its loss axis, the rows do not."""
    from secondorder.analysis.figures import loss_curve_figure

    runs = [
        write_run(
            tmp_path / "r",
            dataset=d,
            optimizer=o,
            batch_size=b,
            losses=[v * scale for v in DECREASING],
        )
        for d, scale in (("mnist", 0.1), ("cifar10", 1.0))
        for o in ("sgd", "shg")
        for b in (100, 200)
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    fig, panels = loss_curve_figure(
        pd.read_csv(tmp_path / "a.csv"), lines="batch_size", panels=["dataset", "optimizer"]
    )
    assert len(fig.axes) == len(panels) == 4  # no empty slot
    where = {ax.get_title(): _grid_position(ax) for ax in fig.axes}
    assert where == {
        "MNIST, SGD": (0, 0),
        "MNIST, SHG": (0, 1),
        "CIFAR-10, SGD": (1, 0),
        "CIFAR-10, SHG": (1, 1),
    }
    axes = {title: ax for ax, title in ((ax, ax.get_title()) for ax in fig.axes)}
    shared = axes["MNIST, SGD"].get_shared_y_axes()
    assert shared.joined(axes["MNIST, SGD"], axes["MNIST, SHG"])
    assert shared.joined(axes["CIFAR-10, SGD"], axes["CIFAR-10, SHG"])
    assert not shared.joined(axes["MNIST, SGD"], axes["CIFAR-10, SGD"])
    assert all(ax.lines for ax in fig.axes)
    # One panel per dataset (Figure 12): side by side, each on its own loss axis.
    fig, _ = loss_curve_figure(pd.read_csv(tmp_path / "a.csv"), lines="batch_size")
    assert sorted(_grid_position(ax) for ax in fig.axes) == [(0, 0), (0, 1)]
    assert not fig.axes[0].get_shared_y_axes().joined(*fig.axes)


def test_four_panels_of_one_dataset_fill_two_by_two():
    from secondorder.analysis.figures import layout
    from secondorder.analysis.panels import Panel

    found = [Panel({"dataset": "mnist", "model": m}, []) for m in ("a", "b", "c", "d")]
    assert [len(row) for row in layout(found)] == [2, 2]
    assert [len(row) for row in layout(found[:3])] == [3]


def test_an_untuned_and_a_diverged_setting_are_marked_in_the_figure(tmp_path):
    """An untuned setting (every grid point excluded: recorded, not trained) has no curve but
    its legend entry and a note in its panel; a diverged run's end is marked and explained."""
    from secondorder.analysis.figures import loss_curve_figure

    runs = [
        write_run(tmp_path / "r", losses=DECREASING),
        write_run(tmp_path / "r", optimizer="sqn", losses=[2.3], status="untuned"),
        write_run(
            tmp_path / "r",
            optimizer="sr1",
            method="lsr1",
            losses=[2.3, 1.2, 0.9, math.nan],
            status="diverged",
        ),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    for x in ("epoch", "work"):
        fig, panels = loss_curve_figure(pd.read_csv(tmp_path / "a.csv"), x=x)
        (ax,) = fig.axes
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == [
            "SGD",
            "SQN (untuned: every grid point diverged or failed)",
            "SR1 (diverged)",
            "where a diverged run stopped",
        ]
        notes = " ".join(t.get_text() for t in ax.texts)
        assert "no curve: SQN: untuned, not trained" in notes.replace("\n", " ")
        sqn = next(c for c in panels[0].curves if c.optimizer == "sqn")
        assert (sqn.n_untuned, sqn.n_runs, len(sqn.y)) == (1, 1, 0)
    analysis.plot_loss_curves(tmp_path / "a.csv", tmp_path / "f.png", tmp_path / "f.pdf")
    assert _valid_png(tmp_path / "f.png")


# -- metrics.json


def test_headline_metrics_key_every_setting_and_mark_divergence(tmp_path):
    runs = [
        write_run(tmp_path / "r", losses=[2.3, 0.36], accuracies=[0.5, 0.705]),
        write_run(
            tmp_path / "r",
            optimizer="sgd-big",
            method="sgd",
            losses=[2.3, 1e9],
            accuracies=[0.1, 0.13],
            status="diverged",
        ),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    artifact = {"name": "table1", "kind": "accuracy_table", "aggregated": tmp_path / "a.csv"}
    curves = {**artifact, "name": "fig", "kind": "loss_curves"}
    metrics = analysis.headline_metrics([artifact, curves])
    assert metrics["table1"] == {
        "mnist-lenet-tanh-standard-sgd-bs100": {
            "best_test_accuracy": 70.5,
            "runs": 1,
            "diverged_runs": 0,
            "untuned_runs": 0,
            "failed_runs": 0,
        },
        "mnist-lenet-tanh-standard-sgd-big-bs100": {
            "best_test_accuracy": 13.0,
            "runs": 1,
            "diverged_runs": 1,
            "untuned_runs": 0,
            "failed_runs": 0,
        },
    }
    assert metrics["fig"]["mnist-lenet-tanh-standard-sgd-big-bs100"]["diverged_runs"] == 1
    assert metrics["fig"]["mnist-lenet-tanh-standard-sgd-bs100"]["final_train_loss"] == 0.36


def test_table1_hides_the_papers_value_beside_a_diverged_row(tmp_path):
    runs = [
        write_run(tmp_path / "r", losses=[2.3, math.nan], accuracies=[0.1, 0.13], status="diverged")
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    out = [tmp_path / f"t.{ext}" for ext in ("md", "tex", "csv")]
    summary = analysis.accuracy_table(tmp_path / "a.csv", *out)
    assert math.isnan(summary["paper_acc"].iloc[0])
    text = out[0].read_text()
    assert "| LeNet | 13.00* |  |" in text and "not comparable with the paper's 99.2%" in text


# -- CG diagnostics


def test_cg_diagnostics_per_setting_with_and_without_stop_counters(tmp_path):
    stops = {
        "optimizer_steps": [0, 5, 10],
        "cg_iterations": [0, 20, 40],
        "cg_negative_curvature_stops": [0, 3, 6],
        "cg_max_iter_stops": [0, 1, 2],
        "cg_converged_stops": [0, 1, 2],
    }
    runs = [
        write_run(tmp_path / "r", optimizer="shg", losses=[2.3, 1.0, 0.5], columns=stops),
        write_run(tmp_path / "r", optimizer="sgd", losses=[2.3, 1.0, 0.5]),  # no CG: left out
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    out = [tmp_path / "cg.png", tmp_path / "cg.pdf", tmp_path / "cg.csv"]
    summary = analysis.plot_cg_diagnostics(tmp_path / "a.csv", *out, title="CG")
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["cg_iterations_per_step"] == 4.0
    assert row["cg_negative_curvature_stops_share"] == pytest.approx(0.6)
    assert _valid_png(out[0]) and _valid_pdf(out[1])

    # An older record: no stop counters, no optimizer_steps (iterations stand in).
    old = write_run(
        tmp_path / "old",
        optimizer="shg",
        losses=[2.3, 1.0, 0.5],
        columns={"cg_iterations": [0, 5, 25]},
    )
    analysis.aggregate([old], tmp_path / "b.csv")
    summary = analysis.plot_cg_diagnostics(tmp_path / "b.csv", *out)
    iterations = pd.read_csv(tmp_path / "b.csv")["iteration"].iloc[-1]
    assert summary["cg_iterations_per_step"].iloc[0] == pytest.approx(25 / iterations)
    assert summary["cg_negative_curvature_stops_share"].isna().all()


def test_a_figure_and_a_verdict_read_the_same_loss(tmp_path):
    """A run that diverged at once has an infinite full-set loss at every evaluation: it still
    measured that loss, so the figure and the findings both read full_train_loss."""
    from secondorder.analysis.findings.curves import run_curves
    from secondorder.analysis.rows import loss_column

    runs = [
        write_run(tmp_path / "r", losses=DECREASING, full_losses=[v * 0.9 for v in DECREASING]),
        write_run(
            tmp_path / "r",
            optimizer="shg",
            losses=[2.3, math.inf],
            full_losses=[math.inf, math.inf],
            status="diverged",
        ),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    table = analysis.records.read_aggregated(tmp_path / "a.csv")
    drawn = next(c for c in analysis.build_panels(table)[0].curves if c.optimizer == "sgd")
    judged = run_curves(table, loss_column(table))[str(table["run_id"].iloc[0])]
    np.testing.assert_allclose(drawn.y[drawn.epoch > 0], judged.loss)
    np.testing.assert_allclose(judged.loss, [v * 0.9 for v in DECREASING[1:]])


def test_headline_metrics_count_untuned_runs(tmp_path):
    """An untuned run (its search excluded every point: recorded, not trained) is counted as
    untuned, neither as diverged nor as failed."""
    runs = [
        write_run(tmp_path / "r", losses=[2.3, 0.36], accuracies=[0.5, 0.705]),
        write_run(
            tmp_path / "r", optimizer="sqn", losses=[2.3], accuracies=[0.1], status="untuned"
        ),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    table1 = {"name": "table1", "kind": "accuracy_table", "aggregated": tmp_path / "a.csv"}
    curves = {**table1, "name": "fig", "kind": "loss_curves"}
    table2 = {**table1, "name": "table2", "kind": "time_to_target", "targets": {"mnist": 0.7}}
    metrics = analysis.headline_metrics([table1, curves, table2])
    for name in ("table1", "fig", "table2"):
        untuned = metrics[name]["mnist-lenet-tanh-standard-sqn-bs100"]
        assert (untuned["runs"], untuned["untuned_runs"], untuned["diverged_runs"]) == (1, 1, 0)
        assert metrics[name]["mnist-lenet-tanh-standard-sgd-bs100"]["untuned_runs"] == 0
    assert metrics["table1"]["mnist-lenet-tanh-standard-sqn-bs100"]["failed_runs"] == 0


def test_every_kinds_headline_numbers_carry_the_counts_and_count_failed_runs(tmp_path):
    """Per setting, each kind's numbers are its own (KINDS[kind].headline) and the shared
    counts; a failed run is counted as failed, not as a healthy run."""
    stops = {
        "optimizer_steps": [0, 5, 10],
        "cg_iterations": [0, 20, 40],
        "cg_negative_curvature_stops": [0, 3, 6],
    }
    runs = [
        write_run(tmp_path / "r", losses=[2.3, 0.36], accuracies=[0.5, 0.705]),
        write_failed_run(tmp_path / "r", seed=1),
        write_run(tmp_path / "r", optimizer="shg", losses=[2.3, 1.0, 0.5], columns=stops),
    ]
    analysis.aggregate(runs, tmp_path / "a.csv")
    options = {"aggregated": tmp_path / "a.csv", "targets": {"mnist": 0.7}}
    metrics = analysis.headline_metrics([{"name": k, "kind": k, **options} for k in KINDS])
    for kind in KINDS:
        assert metrics[kind], kind
        for entry in metrics[kind].values():
            assert set(HEADLINE_COUNTS) <= set(entry) <= {*KINDS[kind].headline, *HEADLINE_COUNTS}
    for kind in ("loss_curves", "accuracy_table", "time_to_target"):
        sgd = metrics[kind]["mnist-lenet-tanh-standard-sgd-bs100"]
        assert [sgd[count] for count in HEADLINE_COUNTS] == [2, 0, 0, 1], kind
    assert metrics["cg_diagnostics"]["mnist-lenet-tanh-standard-shg-bs100"]["failed_runs"] == 0
