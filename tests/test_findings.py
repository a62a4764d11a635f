"""Each finding's rule on synthetic run tables with a known answer: holds, does not hold,
inconclusive (and "not in this study" where its runs are absent)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from secondorder.analysis import findings
from secondorder.analysis.findings import (
    batch_size,
    gd,
    line_search,
    links,
    per_epoch,
    table1,
    wall_time,
)

SGD = [2.3, 1.0, 0.8, 0.6, 0.5]  # loss at epochs 0, 0.25, 0.5, 0.75, 1.0


def run(
    optimizer: str,
    losses: list[float],
    *,
    method: str | None = None,
    seed: int = 0,
    dataset: str = "mnist",
    model: str = "lenet",
    activation: str = "tanh",
    variant: str = "standard",
    batch_size: int = 100,
    status: str = "finished",
    accuracies: list[float] | None = None,
    seconds_per_point: float = 1.0,
    hparams: dict | None = None,
    train_subset: float = math.nan,
) -> pd.DataFrame:
    """The aggregated rows of one run, one logging point per quarter epoch."""
    n = len(losses)
    run_id = f"{dataset}-{model}-{activation}-{variant}__{optimizer}__bs{batch_size}__s{seed}"
    return pd.DataFrame(
        {
            "run_id": run_id,
            "dataset": dataset,
            "model": model,
            "activation": activation,
            "variant": variant,
            "optimizer": optimizer,
            "method": method or optimizer,
            "batch_size": batch_size,
            "seed": seed,
            "status": status,
            "epochs": 1,
            "train_subset": train_subset,
            "test_subset": math.nan,
            "hparams": json.dumps(hparams or {"lr": 0.1}),
            "epoch": [0.25 * i for i in range(n)],
            "iteration": [25 * i for i in range(n)],
            "train_time_s": [seconds_per_point * i for i in range(n)],
            "train_loss": [math.nan, *losses[1:]],
            "test_accuracy": accuracies or [0.1 * (i + 1) for i in range(n)],
        }
    )


def scaled(factor: float | list[float]) -> list[float]:
    return list(np.array(SGD) * np.asarray(factor))


def table(*runs: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(runs, ignore_index=True)


def test_majority_and_conjunction():
    H, F, U = findings.HOLDS, findings.FAILS, findings.UNCLEAR
    assert findings.verdicts.majority([H, H, F]) == H
    assert findings.verdicts.majority([F, F, U]) == F
    assert findings.verdicts.majority([H, F]) == U
    assert findings.verdicts.majority([]) == U
    assert findings.verdicts.all_of([H, H]) == H and findings.verdicts.all_of([H, F]) == F
    assert findings.verdicts.all_of([H, U]) == U


# -- finding 1: per epoch


def test_per_epoch_holds_when_lower_along_the_curve():
    f = per_epoch.check(table(run("sgd", SGD), run("shg", scaled(0.5))))
    assert f.verdict == "holds"
    assert f.rows[0][1:3] == ("SHG", "100%") and f.rows[0][-1] == "holds"


def test_per_epoch_does_not_hold_when_higher_or_equal():
    f = per_epoch.check(table(run("sgd", SGD), run("shg", scaled(1.5))))
    assert f.verdict == "does not hold"
    equal = per_epoch.check(table(run("sgd", SGD), run("shg", scaled(0.98))))
    assert equal.verdict == "does not hold"  # within the margin: not lower


def test_per_epoch_inconclusive_when_seed_ranges_overlap():
    rows = table(
        run("sgd", SGD),
        run("sgd", SGD, seed=1),
        run("shg", scaled(0.5)),
        run("shg", scaled(1.1), seed=1),  # mean 0.8 x SGD, but one seed is above SGD
    )
    f = per_epoch.check(rows)
    assert f.verdict == "inconclusive"
    assert "2 seeds" in f.rows[0][4]


def test_per_epoch_inconclusive_when_lower_only_late():
    f = per_epoch.check(table(run("sgd", SGD), run("shg", scaled([1, 1.2, 1.0, 0.5, 0.5]))))
    assert 0.5 <= float(f.rows[0][2].rstrip("%")) / 100 < findings.MOST_OF_CURVE
    assert f.verdict == "inconclusive"


def test_per_epoch_is_the_majority_of_methods_and_a_divergence_fails():
    rows = table(
        run("sgd", SGD),
        run("shg", scaled(0.5)),
        run("sqn", scaled(0.6)),
        run("sr1", [2.3, 0.5, 0.4], method="lsr1", status="diverged"),
    )
    f = per_epoch.check(rows)
    assert f.verdict == "holds"
    by_method = {r[1]: r[-1] for r in f.rows}
    assert by_method == {"SHG": "holds", "SQN": "holds", "SR1": "does not hold"}
    assert "diverged" in next(r for r in f.rows if r[1] == "SR1")[4]


def test_per_epoch_counts_methods_not_presets():
    """Three SHG presets that hold are one method: with SQN and SR1 failing, the finding fails
    (counting presets it would hold, 3 of 5)."""
    rows = table(
        run("sgd", SGD),
        *(run(p, scaled(0.5), method="shg") for p in ("shg", "shg-50pct", "shg-100pct")),
        run("sqn", scaled(1.5)),
        run("sr1", scaled(1.5), method="lsr1"),
    )
    f = per_epoch.check(rows)
    assert f.verdict == "does not hold"
    assert f.summary.startswith("holds in 1 of 3 methods, does not hold in 2")
    assert "SHG: holds (holds in 3 of 3 comparisons" in f.summary
    assert len(f.rows) == 5  # every preset is still listed


def test_runs_beyond_the_paper_do_not_count():
    """SHG with Gauss-Newton curvature or adaptive damping, and Adam, are not the paper's
    methods: they cannot make finding 1 hold; a fixed damping is SHG's own tuning."""
    gn = {"curvature": "gauss-newton", "damping": 0.0}
    lm = {"curvature": "hessian", "damping": 1.0, "adapt_damping": True}
    rows = table(
        run("sgd", SGD),
        run("shg", scaled(1.5), hparams={"curvature": "hessian", "damping": 0.1}),
        run("shg-gn", scaled(0.3), method="shg", hparams=gn),
        run("shg-lm", scaled(0.3), method="shg", hparams=lm),
        run("adam", scaled(0.3)),
    )
    checked = {f.key: f for f in findings.check_all(rows)}
    assert checked["f1"].verdict == "does not hold"
    assert [r[1] for r in checked["f1"].rows] == ["SHG"]
    assert set(findings.paper_rows(rows)["optimizer"]) == {"sgd", "shg"}
    # Without the beyond-the-paper runs in the table, the same verdict: they changed nothing.
    assert per_epoch.check(findings.paper_rows(rows)).verdict == "does not hold"
    assert per_epoch.check(rows).verdict == "holds"  # the check itself would count them


def test_per_epoch_uses_the_main_setting_only():
    rows = table(run("sgd", SGD, activation="relu"), run("shg", scaled(0.5), activation="relu"))
    f = per_epoch.check(rows)  # LeNet's paper activation is tanh: not the main comparison
    assert f.verdict == "inconclusive" and f.summary.startswith(findings.NOT_IN_STUDY)
    assert per_epoch.check(table(run("sgd", SGD))).summary.startswith(findings.NOT_IN_STUDY)
    assert per_epoch.check(table(run("sgd", SGD))[0:0]).verdict == "inconclusive"


# -- finding 2: GD


def test_gd_three_outcomes():
    assert gd.check(table(run("sgd", SGD), run("gd", scaled(1.5)))).verdict == "holds"
    assert gd.check(table(run("sgd", SGD), run("gd", scaled(0.5)))).verdict == "does not hold"
    overlap = table(
        run("sgd", SGD),
        run("sgd", SGD, seed=1),
        run("gd", scaled(0.5)),
        run("gd", scaled(1.1), seed=1),
    )
    assert gd.check(overlap).verdict == "inconclusive"
    assert gd.check(table(run("sgd", SGD))).summary.startswith(findings.NOT_IN_STUDY)


# -- finding 3: time to target


def times(**seconds: float | list[float]) -> pd.DataFrame:
    """A Table 2 CSV for MNIST LeNet: optimizer -> seconds (one per seed; NaN: not reached)."""
    methods = {"sr1": "lsr1"}
    out = []
    for optimizer, values in seconds.items():
        for seed, value in enumerate(np.atleast_1d(values)):
            out.append(
                {
                    "dataset": "mnist",
                    "model": "lenet",
                    "optimizer": optimizer,
                    "method": methods.get(optimizer, optimizer),
                    "seed": seed,
                    "time_to_target_s": value,
                }
            )
    return pd.DataFrame(out)


ONE_RUN = table(run("sgd", SGD))


def test_time_to_target_holds_like_the_papers_table2():
    f = wall_time.check(ONE_RUN, times(sgd=4.4, shg=183, sqn=71.9, sr1=172.9))
    assert f.verdict == "holds"
    assert f.rows[0][2:] == ("holds", "holds")
    assert "SGD 4.4; SHG 183; SQN 71.9; SR1 173" in f.rows[0][1]


def test_time_to_target_does_not_hold():
    assert wall_time.check(ONE_RUN, times(sgd=100, shg=50, sqn=60)).verdict == ("does not hold")
    # SGD first but SR1 faster than SQN.
    f = wall_time.check(ONE_RUN, times(sgd=4, shg=183, sqn=72, sr1=20))
    assert f.rows[0][2:] == ("holds", "does not hold") and f.verdict == "does not hold"
    # SGD never reaches the target, SQN does.
    f = wall_time.check(ONE_RUN, times(sgd=math.nan, sqn=72, shg=100))
    assert f.verdict == "does not hold" and "SGD not reached" in f.rows[0][1]


def test_time_to_target_inconclusive():
    # Within the 10 % margin.
    assert wall_time.check(ONE_RUN, times(sgd=10, shg=10.5, sqn=10.2)).verdict == ("inconclusive")
    # Nobody reaches the target.
    nobody = times(sgd=math.nan, shg=math.nan, sqn=math.nan)
    assert wall_time.check(ONE_RUN, nobody).verdict == "inconclusive"
    # No SQN: the second part cannot be checked.
    f = wall_time.check(ONE_RUN, times(sgd=4, shg=183))
    assert f.verdict == "inconclusive" and f.rows[0][3] == "n/a"
    assert wall_time.check(ONE_RUN, times(sgd=4)).summary.startswith(findings.NOT_IN_STUDY)


def test_a_seed_that_misses_the_target_counts_as_not_reached():
    f = wall_time.check(ONE_RUN, times(sgd=[4, 5], shg=[3, math.nan], sqn=[50, 60]))
    assert "reached by 1/2 seeds" in f.rows[0][1] and f.rows[0][2] == "holds"


def test_time_to_target_from_the_rows():
    accuracy = [0.5, 0.9, 0.985, 0.99, 0.99]
    rows = table(
        run("sgd", SGD, accuracies=accuracy, seconds_per_point=1.0),
        run("shg", scaled(0.5), accuracies=accuracy, seconds_per_point=30.0),
        run("sqn", scaled(0.6), accuracies=[0.5, 0.9, 0.95, 0.99, 0.99], seconds_per_point=5.0),
    )
    seconds = wall_time.target_times(rows).set_index("optimizer")["time_to_target_s"]
    assert seconds.to_dict() == {"sgd": 2.0, "shg": 60.0, "sqn": 15.0}
    f = wall_time.check(rows)
    assert f.verdict == "holds" and len(f.run_ids) == 3


# -- finding 4: batch size


def batches(shg_large: float, sqn_large: float) -> pd.DataFrame:
    """SGD loses 20 % when the batch grows 100 -> 400; SHG and SQN start at 0.8 and 0.9 x SGD."""
    return table(
        run("sgd", SGD),
        run("sgd", scaled(1.2), batch_size=400),
        run("shg", scaled(0.8)),
        run("shg", scaled(shg_large), batch_size=400),
        run("sqn", scaled(0.9)),
        run("sqn", scaled(sqn_large), batch_size=400),
    )


def test_batch_size_three_outcomes():
    f = batch_size.check(batches(shg_large=0.6, sqn_large=1.5))
    assert f.verdict == "holds", f.rows
    assert [r[-1] for r in f.rows] == ["holds", "holds"]
    assert f.rows[0][1] == "batch 100 -> 400"
    # SHG's ratio rises with the batch: does not hold.
    assert batch_size.check(batches(shg_large=1.5, sqn_large=1.5)).verdict == "does not hold"
    # SQN gains more than SGD from the larger batch: does not hold.
    assert batch_size.check(batches(shg_large=0.6, sqn_large=0.7)).verdict == "does not hold"
    # SHG's ratio unchanged (0.96 / 1.2 = 0.8): inconclusive.
    assert batch_size.check(batches(shg_large=0.96, sqn_large=1.5)).verdict == "inconclusive"
    one_size = table(run("sgd", SGD), run("shg", scaled(0.5)))
    assert batch_size.check(one_size).summary.startswith(findings.NOT_IN_STUDY)


# -- finding 5: ReLU and identity links


def activations(shg_relu: float, sqn_relu: float, variant: str = "standard") -> pd.DataFrame:
    other = {"activation": "relu"} if variant == "standard" else {"variant": variant}
    return table(
        run("sgd", SGD, model="alexnet"),
        run("shg", scaled(0.5), model="alexnet"),
        run("sqn", scaled(0.8), model="alexnet"),
        run("sgd", scaled(0.7), model="alexnet", **other),
        run("shg", scaled(0.7 * shg_relu), model="alexnet", **other),
        run("sqn", scaled(0.7 * sqn_relu), model="alexnet", **other),
    )


def test_links_three_outcomes():
    f = links.check(activations(shg_relu=1.5, sqn_relu=0.8))
    assert f.verdict == "holds", f.rows
    assert f.rows[0][1] == "tanh -> relu" and f.rows[0][4:6] == ("0.5", "1.5")
    assert links.check(activations(1.5, 0.8, variant="residual")).rows[0][1] == (
        "tanh -> tanh, residual"
    )
    # SQN hurt as well: does not hold.
    assert links.check(activations(shg_relu=1.5, sqn_relu=1.2)).verdict == "does not hold"
    # SHG helped by ReLU: does not hold.
    assert links.check(activations(shg_relu=0.3, sqn_relu=0.8)).verdict == "does not hold"
    # SHG unchanged relative to SGD: inconclusive.
    assert links.check(activations(shg_relu=0.5, sqn_relu=0.8)).verdict == "inconclusive"
    only_tanh = table(run("sgd", SGD), run("shg", scaled(0.5)))
    assert links.check(only_tanh).summary.startswith(findings.NOT_IN_STUDY)


# -- finding 6: line search


FIXED = {"lr": 0.01, "line_search": False}


def test_line_search_three_outcomes():
    searching = run("sr1", SGD, method="lsr1")
    exploded = run("sr1_fixed", [2.3, 5.0], method="lsr1", status="diverged", hparams=FIXED)
    f = line_search.check(table(searching, exploded))
    assert f.verdict == "holds"
    assert f.rows[0][1:3] == ("sr1_fixed (lr 0.01)", "SR1") and f.rows[0][4] == "diverged"
    fine = run("sr1_fixed", scaled(0.5), method="lsr1", hparams=FIXED)
    assert line_search.check(table(searching, fine)).verdict == "does not hold"
    same = run("sr1_fixed", scaled(1.02), method="lsr1", hparams=FIXED)
    assert line_search.check(table(searching, same)).verdict == "inconclusive"
    assert line_search.check(table(searching)).summary.startswith(findings.NOT_IN_STUDY)


def test_a_fixed_step_preset_is_compared_with_its_line_search_twin():
    """Not with a better configuration of the same method: SHG-fixed (20 % gradient) against
    SHG (20 %), though SHG-100pct is far lower; where no twin is exact, the closest is named
    with its differences."""
    base = {"gradient_fraction": 0.2, "cg_max_iter": 20}
    fixed = run("shg-fixed", scaled(0.9), method="shg", hparams={**base, **FIXED})
    twin = run("shg", SGD, method="shg", hparams={**base, "line_search": True, "lr": 1.0})
    full = {**base, "gradient_fraction": 1.0}
    better = run("shg-100pct", scaled(0.1), method="shg", hparams=full)
    f = line_search.check(table(fixed, twin, better))
    assert f.rows[0][2] == "SHG" and f.verdict == "does not hold"  # fixed is lower than twin
    assert "closest" not in f.rule
    tuned = run("shg", SGD, method="shg", hparams={**base, "cg_max_iter": 10})
    f = line_search.check(table(fixed, tuned, better))
    assert f.rows[0][2] == "SHG (differs in cg_max_iter)"
    assert "the closest is used" in f.rule


def test_fixed_step_runs_stay_out_of_the_main_comparison():
    exploded = run("sr1_fixed", [2.3, 5.0], method="lsr1", status="diverged", hparams=FIXED)
    f = per_epoch.check(table(run("sgd", SGD), run("shg", scaled(0.5)), exploded))
    assert [r[1] for r in f.rows] == ["SHG"]


# -- Table 1


@pytest.mark.parametrize(
    ("accuracy", "subset", "expected"),
    [(0.991, math.nan, "holds"), (0.97, math.nan, "does not hold"), (0.97, 1000, "inconclusive")],
)
def test_table1_three_outcomes(accuracy, subset, expected):
    rows = run("sgd", SGD, accuracies=[0.5, 0.9, 0.95, accuracy, 0.96], train_subset=subset)
    f = table1.check(rows)
    assert f.verdict == expected
    assert f.rows[0][:3] == ("MNIST / LeNet", f"{accuracy * 100:.2f}", "99.2")


def test_check_all_lists_every_finding_once():
    keys = [f.key for f in findings.check_all(table(run("sgd", SGD), run("shg", scaled(0.5))))]
    assert keys == ["f1", "f2", "f3", "f4", "f5", "f6", "t1"]


def test_failed_and_empty_studies_are_inconclusive_not_errors():
    failed = run("shg", scaled(0.5), status="failed")
    checked = findings.check_all(table(run("sgd", SGD), failed))
    assert [f.verdict for f in checked][:2] == ["inconclusive", "inconclusive"]
    assert checked[0].summary.startswith(findings.NOT_IN_STUDY)  # the failed run is left out
    no_metrics = pd.DataFrame({"run_id": ["r"], "status": ["failed"], "epoch": [math.nan]})
    for rows in (no_metrics, no_metrics.iloc[0:0], table(failed)):
        assert {f.verdict for f in findings.check_all(rows)} == {"inconclusive"}
