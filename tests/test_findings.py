"""Each finding's rule on synthetic multi-seed run tables with a known answer: holds, does not
hold, inconclusive (and "not in this study" where its runs are absent). For every rule: a table
whose seed means say one thing while the seeds disagree is inconclusive; a claim of no effect
with a wide seed range is inconclusive; an untuned setting is an outcome that changes the
verdict it belongs to; a failed run is listed, not counted."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from secondorder import study
from secondorder.analysis import findings
from secondorder.analysis.findings import (
    batch_claims,
    batch_size,
    byrd_step,
    decisions,
    drn,
    gd,
    gradient_fraction,
    hard_to_tune,
    line_search,
    link_order,
    links,
    per_dataset,
    per_epoch,
    relu_alexnet,
    run_time,
    sgd_batches,
    sqn_alexnet,
    table1,
    thresholds,
    wall_time,
)
from secondorder.analysis.findings.decisions import Sample
from secondorder.study import tuning

H, F, U = findings.HOLDS, findings.FAILS, findings.UNCLEAR
SGD = [2.3, 1.0, 0.8, 0.6, 0.5]  # loss at epochs 0, 0.25, 0.5, 0.75, 1.0
SPREAD = [1.0, 1.02, 0.98]  # three seeds close together


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


def seeds(optimizer: str, factors: list[float], **kwargs) -> list[pd.DataFrame]:
    """One run per seed, seed s at factors[s] x SGD's curve."""
    return [run(optimizer, scaled(f), seed=s, **kwargs) for s, f in enumerate(factors)]


def untuned(optimizer: str, n: int = 3, **kwargs) -> list[pd.DataFrame]:
    """A setting whose every tuning point was excluded: recorded with its initial point only."""
    return [run(optimizer, [2.3], seed=s, status="untuned", **kwargs) for s in range(n)]


def table(*runs: pd.DataFrame | list[pd.DataFrame]) -> pd.DataFrame:
    flat = [r for item in runs for r in (item if isinstance(item, list) else [item])]
    return pd.concat(flat, ignore_index=True)


def sgd(factor: float = 1.0, **kwargs) -> list[pd.DataFrame]:
    return seeds("sgd", [factor * f for f in SPREAD], **kwargs)


def sample(*values: float) -> Sample:
    return Sample.of(dict(enumerate(values)))


# -- the decisions


def test_compare_needs_the_seeds_apart_or_paired():
    assert decisions.compare(sample(0.5, 0.55), sample(1.0, 1.1)) == "lower"
    assert decisions.compare(sample(1.0, 1.1), sample(0.5, 0.55)) == "higher"
    # Means far apart (0.62 vs 1.0), one seed of `a` above one of `b`: the ranges overlap and the
    # paired differences disagree in sign.
    assert decisions.compare(sample(0.2, 1.05), sample(1.1, 0.9)) == "unclear"
    # Ranges overlap, but every seed is lower than its own pair: paired.
    assert decisions.compare(sample(0.5, 0.9), sample(0.6, 1.0)) == "lower"
    unpaired = Sample.of({0: 0.5, 1: 0.9})
    assert decisions.compare(unpaired, Sample.of({2: 0.6, 3: 1.0})) == "unclear"
    assert decisions.compare(sample(0.96, 0.97), sample(1.0, 1.0)) == "unclear"  # < margin


def test_one_seed_decides_only_an_order_of_magnitude():
    assert decisions.compare(sample(0.5), sample(1.0)) == "unclear"
    assert decisions.compare(sample(0.09), sample(1.0)) == "lower"
    assert decisions.compare(sample(math.inf), sample(1.0)) == "higher"  # diverged, untuned
    assert decisions.compare(sample(0.5), sample(1.0, 1.1, 0.9)) == "unclear"  # one side
    assert decisions.compare(sample(math.inf), sample(math.inf)) == "unclear"
    assert decisions.claim_lower(sample(0.5), sample(1.0)) == U
    assert decisions.claim_lower(sample(0.05), sample(1.0)) == H


def test_claims_of_a_difference():
    assert decisions.claim_lower(sample(0.5, 0.52), sample(1.0, 1.02)) == H
    assert decisions.claim_lower(sample(1.5, 1.6), sample(1.0, 1.02)) == F
    # Not lower: every seed within the margin of SGD's (the seeds rule a 5 % gain out).
    assert decisions.claim_lower(sample(0.99, 1.0), sample(1.0, 1.02)) == F
    assert decisions.claim_lower(sample(0.5, 1.2), sample(1.0, 1.02)) == U
    assert decisions.claim_lower(sample(math.inf, math.inf), sample(math.inf, math.inf)) == U


def test_claims_of_no_effect_need_positive_evidence():
    narrow, wide = sample(1.0, 1.05, 0.97), sample(0.6, 1.0, 1.5)
    reference = sample(1.0, 1.02, 0.98)
    assert decisions.claim_equivalent(narrow, reference) == H
    assert decisions.claim_equivalent(wide, reference) == U  # means equal, seeds wide
    assert decisions.claim_equivalent(sample(2.0, 2.1), sample(1.0, 1.02)) == F
    assert decisions.claim_equivalent(sample(1.0), sample(1.0)) == U  # one seed: no spread seen
    assert decisions.claim_not_above(narrow, reference) == H
    assert decisions.claim_not_above(sample(0.5, 0.52), reference) == H  # clearly lower
    assert decisions.claim_not_above(wide, reference) == U
    assert decisions.claim_not_above(sample(2.0, 2.1), reference) == F
    assert decisions.claim_not_above(sample(math.inf, math.inf), sample(math.inf, math.inf)) == U


def test_claim_at_least_and_ratios():
    assert decisions.claim_at_least(sample(300, 320), sample(1.0, 1.1), 100) == H
    assert decisions.claim_at_least(sample(30, 32), sample(1.0, 1.1), 100) == F
    assert decisions.claim_at_least(sample(300), sample(1.0), 100) == U  # one seed: 1000x
    assert decisions.claim_at_least(sample(2000), sample(1.0), 100) == H
    paired = decisions.ratio_of(sample(2.0, 3.0), sample(1.0, 1.0))
    assert paired.values == (2.0, 3.0) and paired.seeds == (0, 1)
    cross = decisions.ratio_of(Sample.of({0: 2.0}), Sample.of({1: 1.0, 2: 4.0}))
    assert cross.seeds is None and sorted(cross.values) == [0.5, 2.0] and cross.n_seeds == 1


def test_sample_text():
    assert sample(0.1, 0.2).text() == "0.15 (0.1-0.2, 2 seeds)"
    outcome = Sample.of({0: math.inf, 1: math.inf}, ["untuned", "untuned"])
    assert outcome.text() == "untuned (2 seeds)"
    assert Sample.of({0: math.inf}, ["diverged"]).text() == "diverged"
    mixed = Sample.of({0: 0.5, 1: math.inf}, ["diverged"])
    assert mixed.text() == "inf (0.5-inf, 2 seeds); 1 diverged"


def test_every_threshold_is_named_with_its_reason():
    names = [name for name, _, _ in findings.THRESHOLDS]
    assert len(names) == len(set(names))
    for name, value, reason in findings.THRESHOLDS:
        assert getattr(thresholds, name) == value and len(reason) > 20
    assert {"LOSS_MARGIN", "EQUIVALENCE_MARGIN", "MIN_SEEDS", "DECISIVE_FACTOR"} <= set(names)
    assert "inconclusive" in findings.RULE_TEXT


def test_majority_and_conjunction():
    assert findings.verdicts.majority([H, H, F]) == H
    assert findings.verdicts.majority([F, F, U]) == F
    assert findings.verdicts.majority([H, F]) == U
    assert findings.verdicts.majority([]) == U
    assert findings.verdicts.all_of([H, H]) == H and findings.verdicts.all_of([H, F]) == F
    assert findings.verdicts.all_of([H, U]) == U


# -- finding 1: per epoch, pooled and per dataset


def test_per_epoch_holds_when_lower_along_the_curve():
    f = per_epoch.check(table(sgd(), seeds("shg", [0.5, 0.51, 0.49])))
    assert f.verdict == H
    assert f.rows[0][1:3] == ("SHG lower than SGD", "100%") and f.rows[0][-1] == H
    assert "3 seeds" in f.rows[0][4]


def test_per_epoch_does_not_hold_when_higher_or_equal():
    assert per_epoch.check(table(sgd(), seeds("shg", [1.5, 1.52, 1.49]))).verdict == F
    equal = per_epoch.check(table(sgd(), seeds("shg", [0.99, 1.0, 1.01])))
    assert equal.verdict == F  # within the margin, every seed: not lower


def test_per_epoch_one_seed_is_not_enough():
    """The old single-seed verdicts: 0.5 x SGD held, 0.98 x did not; one seed each now says
    neither, unless the gap is an order of magnitude."""
    assert per_epoch.check(table(run("sgd", SGD), run("shg", scaled(0.5)))).verdict == U
    assert per_epoch.check(table(run("sgd", SGD), run("shg", scaled(0.98)))).verdict == U
    assert per_epoch.check(table(run("sgd", SGD), run("shg", scaled(0.05)))).verdict == H


def test_per_epoch_inconclusive_when_seeds_disagree():
    """SHG's seed mean is 0.72 x SGD's all along, but one seed is above SGD's."""
    f = per_epoch.check(table(sgd(), seeds("shg", [0.5, 0.55, 1.1])))
    assert f.rows[0][2] == "100%" and f.verdict == U


def test_per_epoch_inconclusive_when_lower_only_late():
    shape = [1, 1.2, 1.0, 0.5, 0.5]
    rows = table(
        sgd(), [run("shg", scaled(np.array(shape) * f), seed=s) for s, f in enumerate(SPREAD)]
    )
    f = per_epoch.check(rows)
    assert 0.5 <= float(f.rows[0][2].rstrip("%")) / 100 < findings.MOST_OF_CURVE
    assert f.verdict == U


def test_per_epoch_is_the_majority_of_methods_and_a_divergence_fails():
    rows = table(
        sgd(),
        seeds("shg", [0.5, 0.51, 0.49]),
        seeds("sqn", [0.6, 0.61, 0.59]),
        [run("sr1", [2.3, 0.5, 0.4], method="lsr1", status="diverged", seed=s) for s in range(3)],
    )
    f = per_epoch.check(rows)
    assert f.verdict == H
    by_method = {r[1]: r[-1] for r in f.rows}
    assert by_method == {"SHG lower than SGD": H, "SQN lower than SGD": H, "SR1 lower than SGD": F}
    assert "diverged" in next(r for r in f.rows if r[1].startswith("SR1"))[4]


def test_an_untuned_method_is_an_outcome_not_a_gap():
    """SQN could not be tuned: it did not train, so it is not lower than SGD. Dropped (as
    before), finding 1 would hold on SHG alone; counted, one method each way."""
    rows = table(sgd(), seeds("shg", [0.5, 0.51, 0.49]), untuned("sqn"))
    f = per_epoch.check(rows)
    assert f.verdict == U
    assert next(r for r in f.rows if r[1].startswith("SQN"))[4:] == (
        "untuned (3 seeds)",
        "0.5 (0.49-0.51, 3 seeds)",
        F,
    )
    without = rows[rows["status"] != "untuned"]
    assert per_epoch.check(without).verdict == H


def test_figure_1_gradient_variants_are_not_counted():
    """Figure 1's SHG curves (gradient on 50 %, 100 %) are not SHG's main preset: they neither
    add to SHG's count nor appear in finding 1."""
    rows = table(
        sgd(),
        seeds("shg", [1.5, 1.52, 1.49], hparams={"gradient_fraction": 0.2}),
        seeds("shg-50pct", [0.5] * 3, method="shg", hparams={"gradient_fraction": 0.5}),
        seeds("shg-100pct", [0.5] * 3, method="shg", hparams={"gradient_fraction": 1.0}),
    )
    f = per_epoch.check(rows)
    assert f.verdict == F and [r[1] for r in f.rows] == ["SHG lower than SGD"]


def test_runs_beyond_the_paper_do_not_count():
    """SHG with Gauss-Newton curvature or adaptive damping, and Adam, are not the paper's
    methods: they cannot make finding 1 hold; a fixed damping is SHG's own tuning."""
    gn = {"curvature": "gauss-newton", "damping": 0.0}
    lm = {"curvature": "hessian", "damping": 1.0, "adapt_damping": True}
    rows = table(
        sgd(),
        seeds("shg", [1.5] * 3, hparams={"curvature": "hessian", "damping": 0.1}),
        seeds("shg-gn", [0.3] * 3, method="shg", hparams=gn),
        seeds("shg-lm", [0.3] * 3, method="shg", hparams=lm),
        seeds("adam", [0.3] * 3),
    )
    checked = {f.key: f for f in findings.check_all(rows)}
    assert checked["f1"].verdict == F
    assert [r[1] for r in checked["f1"].rows] == ["SHG lower than SGD"]
    assert set(findings.paper_rows(rows)["optimizer"]) == {"sgd", "shg"}
    assert per_epoch.check(findings.paper_rows(rows)).verdict == F
    assert per_epoch.check(rows).verdict == H  # the check itself would count them


def test_per_epoch_uses_the_main_settings_of_figures_2_and_3_only():
    rows = table(sgd(activation="relu"), seeds("shg", [0.5] * 3, activation="relu"))
    f = per_epoch.check(rows)  # LeNet's paper activation is tanh: not the main comparison
    assert f.verdict == U and f.summary.startswith(findings.NOT_IN_STUDY)
    drn_rows = table(
        sgd(model="resnet18", activation="relu"),
        seeds("shg", [0.5] * 3, model="resnet18", activation="relu"),
    )
    assert per_epoch.check(drn_rows).summary.startswith(findings.NOT_IN_STUDY)  # Figure 9's
    assert per_epoch.check(table(sgd())).summary.startswith(findings.NOT_IN_STUDY)
    assert per_epoch.check(table(run("sgd", SGD))[0:0]).verdict == U


def figure(dataset: str, shg: list[float], sqn: list[float]) -> pd.DataFrame:
    return table(
        sgd(dataset=dataset),
        seeds("shg", shg, dataset=dataset),
        seeds("sqn", sqn, dataset=dataset),
    )


def test_figure_2_shg_lower_quasi_newton_comparable():
    mnist = per_dataset.check_mnist
    assert mnist(figure("mnist", [0.7, 0.71, 0.69], [1.0, 1.05, 0.97])).verdict == H
    f = mnist(figure("mnist", [0.7, 0.71, 0.69], [1.0, 1.05, 0.97]))
    assert [r[1] for r in f.rows] == ["SHG lower than SGD", "SQN comparable to SGD"]
    # SQN far from SGD: not comparable.
    assert mnist(figure("mnist", [0.7, 0.71, 0.69], [2.0, 2.1, 1.9])).verdict == F
    # SQN's seed mean equals SGD's but its seeds range widely: no evidence of "comparable".
    wide = mnist(figure("mnist", [0.7, 0.71, 0.69], [0.6, 1.0, 1.4]))
    assert wide.rows[1][-1] == U and wide.verdict == U
    # SHG's mean lower, its seeds disagree.
    assert mnist(figure("mnist", [0.5, 0.55, 1.1], [1.0, 1.05, 0.97])).verdict == U
    # Only CIFAR-10 runs: Figure 2 is not in the study.
    assert mnist(figure("cifar10", [0.5] * 3, [1.0] * 3)).summary.startswith(findings.NOT_IN_STUDY)


def test_figure_3_both_kinds_clearly_lower():
    cifar = per_dataset.check_cifar10
    assert cifar(figure("cifar10", [0.5, 0.51, 0.49], [0.6, 0.61, 0.59])).verdict == H
    assert cifar(figure("cifar10", [0.5, 0.51, 0.49], [1.0, 1.01, 0.99])).verdict == F
    assert cifar(figure("cifar10", [0.5, 0.51, 0.49], [0.5, 0.55, 1.1])).verdict == U
    # SQN could not be tuned on CIFAR-10: the quasi-Newton part does not hold.
    rows = table(sgd(dataset="cifar10"), seeds("shg", [0.5] * 3, dataset="cifar10"))
    assert cifar(table(rows, untuned("sqn", dataset="cifar10"))).verdict == F
    assert cifar(rows).verdict == U  # without it: no quasi-Newton evidence


# -- finding 2: GD


def test_gd_not_better_than_sgd_and_unlike_shg():
    base = [sgd(), seeds("shg", [0.5, 0.51, 0.49])]
    assert gd.check(table(*base, seeds("gd", [1.5, 1.52, 1.49]))).verdict == H
    f = gd.check(table(*base, seeds("gd", [0.6, 0.61, 0.59])))  # GD below SGD
    assert f.verdict == F and f.rows[0][1] == "GD not lower than SGD" and f.rows[0][-1] == F
    # GD's seed mean is 0.72 x SGD's, but one seed is above SGD: inconclusive.
    assert gd.check(table(*base, seeds("gd", [0.5, 0.55, 1.1]))).verdict == U
    # GD not better than SGD, but SHG trains like GD: SHG's gain could be the data.
    same = table(sgd(), seeds("shg", [1.5, 1.52, 1.49]), seeds("gd", [1.5, 1.51, 1.49]))
    f = gd.check(same)
    assert f.verdict == F and f.rows[1][1] == "SHG lower than GD" and f.rows[1][-1] == F
    assert gd.check(table(sgd())).summary.startswith(findings.NOT_IN_STUDY)


def test_an_untuned_gd_is_not_better_than_sgd():
    f = gd.check(table(sgd(), seeds("shg", [0.5] * 3), untuned("gd")))
    assert f.verdict == H and f.rows[0][4] == "untuned (3 seeds)"


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
PAPER = {"sgd": 4.4, "shg": 183, "sqn": 71.9, "sr1": 172.9}


def spread(value: float) -> list[float]:
    return [value * f for f in SPREAD]


def test_time_to_target_holds_like_the_papers_table2():
    f = wall_time.check(ONE_RUN, times(**{k: spread(v) for k, v in PAPER.items()}))
    assert f.verdict == H and f.rows[0][2:] == (H, H)
    assert "SGD 4.4 (4.31-4.49); SHG 183" in f.rows[0][1]
    # One seed each: SGD first by 17x holds; SQN fastest by 2.4x is not an order of magnitude.
    f = wall_time.check(ONE_RUN, times(**PAPER))
    assert f.rows[0][2:] == (H, U) and f.verdict == U


def test_time_to_target_does_not_hold():
    assert (
        wall_time.check(ONE_RUN, times(sgd=spread(100), shg=spread(50), sqn=spread(60))).verdict
        == F
    )
    # SGD first but SR1 faster than SQN.
    f = wall_time.check(
        ONE_RUN, times(sgd=spread(4), shg=spread(183), sqn=spread(72), sr1=spread(20))
    )
    assert f.rows[0][2:] == (H, F) and f.verdict == F
    # SGD never reaches the target, SQN does.
    f = wall_time.check(ONE_RUN, times(sgd=[math.nan] * 3, sqn=spread(72), shg=spread(100)))
    assert f.verdict == F and "SGD not reached" in f.rows[0][1]


def test_time_to_target_inconclusive():
    # Within the 10 % margin.
    assert (
        wall_time.check(ONE_RUN, times(sgd=spread(10), shg=spread(10.5), sqn=spread(10.2))).verdict
        == U
    )
    # Seed means say SGD first (13 s against 18 s), the seeds overlap.
    f = wall_time.check(ONE_RUN, times(sgd=[4, 5, 30], shg=[20, 25, 10], sqn=[50, 60, 55]))
    assert f.rows[0][2] == U
    # A seed that never reaches the target: infinite, so SHG's range is 3 s to never.
    f = wall_time.check(ONE_RUN, times(sgd=[4, 5], shg=[3, math.nan], sqn=[50, 60]))
    assert "reached by 1/2 seeds" in f.rows[0][1] and f.rows[0][2] == U
    nobody = times(sgd=[math.nan] * 2, shg=[math.nan] * 2, sqn=[math.nan] * 2)
    assert wall_time.check(ONE_RUN, nobody).verdict == U
    # No SQN: the second part cannot be checked.
    f = wall_time.check(ONE_RUN, times(sgd=spread(4), shg=spread(183)))
    assert f.verdict == U and f.rows[0][3] == "n/a"
    assert wall_time.check(ONE_RUN, times(sgd=4)).summary.startswith(findings.NOT_IN_STUDY)


def test_time_to_target_from_the_rows_at_the_studys_own_target():
    accuracy = [0.5, 0.9, 0.985, 0.99, 0.99]
    rows = table(
        [run("sgd", SGD, accuracies=accuracy, seed=s) for s in range(2)],
        [
            run("shg", scaled(0.5), accuracies=accuracy, seconds_per_point=30.0, seed=s)
            for s in range(2)
        ],
        [
            run(
                "sqn",
                scaled(0.6),
                accuracies=[0.5, 0.9, 0.95, 0.99, 0.99],
                seconds_per_point=5.0,
                seed=s,
            )
            for s in range(2)
        ],
    )
    seconds = wall_time.target_times(rows).groupby("optimizer")["time_to_target_s"].first()
    assert seconds.to_dict() == {"sgd": 2.0, "shg": 60.0, "sqn": 15.0}
    f = wall_time.check(rows)
    assert f.verdict == H and len(f.run_ids) == 6
    assert "(target 98%)" in f.rows[0][0] and "this study (MNIST 98%" in f.rule
    ours = wall_time.check(rows, wall_time.target_times(rows, {"mnist": 0.8}))
    assert "(target 80%)" in ours.rows[0][0]
    assert "this study (MNIST 80%; the paper's: MNIST 98%, CIFAR-10 73%)" in ours.rule
    assert "SGD 1 " in ours.rows[0][1]  # 0.9 >= 80 % at the first point


def test_an_untuned_sgd_never_reaches_the_target():
    accuracy = [0.99] * 5  # an untuned run's initial accuracy must not count as reached
    rows = table(
        [run("sgd", [2.3], status="untuned", accuracies=[0.99], seed=s) for s in range(2)],
        [
            run("shg", scaled(0.5), accuracies=accuracy, seconds_per_point=30.0, seed=s)
            for s in range(2)
        ],
        [
            run("sqn", scaled(0.5), accuracies=accuracy, seconds_per_point=5.0, seed=s)
            for s in range(2)
        ],
    )
    f = wall_time.check(rows)
    assert f.rows[0][2] == F and "SGD untuned" in f.rows[0][1]


def test_failed_runs_are_listed_not_counted_in_time_to_target():
    t = times(sgd=spread(4), shg=spread(183), sqn=spread(72)).assign(status="finished", run_id="r")
    t.loc[t.index[-1], "status"] = "failed"  # one SQN seed crashed
    f = wall_time.check(ONE_RUN.iloc[0:0], t.drop(columns="run_id"))
    assert f.rows[0][2:] == (H, H)
    assert f.rows[-1][1] == "SQN failed (crashed): seed 2"
    assert "1 failed run not counted" in f.summary


# -- Section 4.1: SHG hundreds to thousands of times slower


def timed(factor: float, seconds: list[float], **kwargs) -> list[pd.DataFrame]:
    return [
        run("shg" if factor else "sgd", scaled(factor or 1), seed=s, seconds_per_point=t, **kwargs)
        for s, t in enumerate(seconds)
    ]


def test_shg_run_time_ratio():
    sgd_times = [1.0, 1.02, 0.98]
    holds = run_time.check(table(timed(0, sgd_times), timed(0.5, [300, 310, 305])))
    assert holds.verdict == H and holds.rows[0][3].startswith("3")
    assert run_time.check(table(timed(0, sgd_times), timed(0.5, [30, 31, 30]))).verdict == F
    # Mean ratio above 100 (123x), but one seed's below.
    assert run_time.check(table(timed(0, sgd_times), timed(0.5, [300, 40, 30]))).verdict == U
    # One seed each: 300x is not 10x beyond 100x; 2000x is.
    assert run_time.check(table(timed(0, [1.0]), timed(0.5, [300]))).verdict == U
    assert run_time.check(table(timed(0, [1.0]), timed(0.5, [2000]))).verdict == H


def test_shg_run_time_counts_finished_runs_only():
    diverged = [
        run("shg", [2.3, 0.5], status="diverged", seed=s, seconds_per_point=9) for s in range(3)
    ]
    f = run_time.check(table(timed(0, [1.0, 1.0, 1.0]), diverged))
    assert f.summary.startswith(findings.NOT_IN_STUDY)
    assert f.rows[0][1] == "SHG: diverged (3 runs)" and f.rows[0][-1] == "not counted"


# -- finding 4: batch size


def batches(shg_large: list[float], sqn_large: list[float], **kwargs) -> pd.DataFrame:
    """SGD loses 20 % when the batch grows 100 -> 400; SHG and SQN start at 0.8 and 0.9 x SGD
    (3 seeds each); their factors at batch 400 are given per seed."""
    return table(
        sgd(),
        sgd(1.2, batch_size=400),
        seeds("shg", [0.8 * f for f in SPREAD]),
        seeds("shg", shg_large, batch_size=400),
        seeds("sqn", [0.9 * f for f in SPREAD]),
        seeds("sqn", sqn_large, batch_size=400),
    )


def test_batch_size_three_outcomes():
    shg_falls, sqn_rises = spread(0.6), spread(1.5)
    f = batch_size.check(batches(shg_falls, sqn_rises))
    assert f.verdict == H, f.rows
    assert [r[-1] for r in f.rows] == [H, H] and f.rows[0][1] == "batch 100 -> 400"
    # SHG's ratio rises with the batch: does not hold.
    assert batch_size.check(batches(spread(1.5), sqn_rises)).verdict == F
    # SQN gains far more than SGD from the larger batch (ratio 0.75 -> 0.33): does not hold.
    assert batch_size.check(batches(shg_falls, spread(0.4))).verdict == F
    # SQN's ratio unchanged, every seed within the equivalence margin: no benefit, holds.
    assert batch_size.check(batches(shg_falls, spread(1.08))).verdict == H
    # SHG's ratio unchanged (0.96 / 1.2 = 0.8): the seeds rule a fall out.
    assert batch_size.check(batches(spread(0.96), sqn_rises)).verdict == F
    one_size = table(sgd(), seeds("shg", [0.5] * 3))
    assert batch_size.check(one_size).summary.startswith(findings.NOT_IN_STUDY)


def test_batch_size_inconclusive_when_seeds_disagree():
    # SHG's mean ratio falls (0.8 -> 0.63), one seed's rises.
    f = batch_size.check(batches([0.4, 0.5, 1.3], spread(1.5)))
    assert f.rows[0][-1] == U and f.verdict == U
    # "Does not help SQN" with SQN's seeds spread wide at batch 400: no evidence either way.
    f = batch_size.check(batches(spread(0.6), [0.7, 1.08, 1.6]))
    assert f.rows[1][-1] == U and f.verdict == U


def test_batch_size_untuned_at_the_large_batch_counts():
    """SHG could not be tuned at batch 400: larger batches did not help it."""
    rows = table(
        sgd(),
        sgd(1.2, batch_size=400),
        seeds("shg", [0.8] * 3),
        untuned("shg", batch_size=400),
        seeds("sqn", [0.9] * 3),
        seeds("sqn", spread(1.5), batch_size=400),
    )
    f = batch_size.check(rows)
    assert f.rows[0][5] == "untuned (3 seeds)" and f.verdict == F
    assert batch_size.check(rows[rows["status"] != "untuned"]).verdict == U


# -- Figure 8: SGD and batch 400


def sgd_sizes(at_400: list[float], at_800: list[float]) -> pd.DataFrame:
    return table(sgd(), seeds("sgd", at_400, batch_size=400), seeds("sgd", at_800, batch_size=800))


def test_sgd_benefits_up_to_400_but_not_beyond():
    f = sgd_batches.check(sgd_sizes(spread(0.8), spread(0.82)))
    assert f.verdict == H and [r[1] for r in f.rows] == ["100 -> 400", "400 -> 800"]
    # Batch 800 helps far more: does not hold.
    assert sgd_batches.check(sgd_sizes(spread(0.8), spread(0.4))).verdict == F
    # No gain at 400 (the seeds rule 5 % out): does not hold.
    assert sgd_batches.check(sgd_sizes(spread(1.0), spread(1.0))).verdict == F
    # Mean lower at 400 (0.83 x), one seed above batch 100's.
    assert sgd_batches.check(sgd_sizes([0.6, 0.8, 1.1], spread(0.82))).verdict == U
    # "Not larger" with batch 800's seeds spread wide: inconclusive, not holds.
    assert sgd_batches.check(sgd_sizes(spread(0.8), [0.5, 0.8, 1.2])).verdict == U
    no_400 = table(sgd(), sgd(0.8, batch_size=200))
    assert sgd_batches.check(no_400).summary.startswith(findings.NOT_IN_STUDY)


def test_sgd_untuned_at_400_did_not_benefit():
    rows = table(sgd(), untuned("sgd", batch_size=400), seeds("sgd", spread(0.82), batch_size=800))
    assert sgd_batches.check(rows).verdict == F


# -- finding 5: ReLU and identity links


def activations(shg_relu, sqn_relu, variant="standard", model="alexnet") -> pd.DataFrame:
    """SHG at 0.5 x SGD and SQN at 0.8 x with tanh; with the other link SGD trains at 0.7 x and
    SHG, SQN at the given factors (per seed) of that."""
    other = {"activation": "relu"} if variant == "standard" else {"variant": variant}
    return table(
        sgd(model=model),
        seeds("shg", spread(0.5), model=model),
        seeds("sqn", spread(0.8), model=model),
        sgd(0.7, model=model, **other),
        seeds("shg", [0.7 * f for f in shg_relu], model=model, **other),
        seeds("sqn", [0.7 * f for f in sqn_relu], model=model, **other),
    )


def test_links_three_outcomes():
    f = links.check(activations(spread(1.5), spread(0.8)))
    assert f.verdict == H, f.rows
    assert f.rows[0][1] == "tanh -> relu" and f.rows[0][4].startswith("0.5 (")
    residual = links.check(activations(spread(1.5), spread(0.8), variant="residual"))
    assert residual.rows[0][1] == "tanh -> tanh, residual" and residual.verdict == H
    # SQN hurt as well (ratio 0.8 -> 1.4): does not hold.
    assert links.check(activations(spread(1.5), spread(1.4))).verdict == F
    # SHG helped by ReLU: does not hold.
    assert links.check(activations(spread(0.3), spread(0.8))).verdict == F
    only_tanh = table(sgd(), seeds("shg", [0.5] * 3))
    assert links.check(only_tanh).summary.startswith(findings.NOT_IN_STUDY)


def test_links_inconclusive_when_seeds_disagree():
    # SHG's mean ratio rises (0.5 -> 0.67), one seed falls.
    assert links.check(activations([0.3, 0.7, 1.0], spread(0.8))).rows[0][-1] == U
    # "ReLU does not hurt SQN" with SQN's seeds spread wide after: inconclusive, not holds.
    f = links.check(activations(spread(1.5), [0.5, 0.8, 1.4]))
    assert f.rows[1][-1] == U and f.verdict == U


def test_links_untuned_shg_with_relu_is_hurt():
    rows = table(
        sgd(model="alexnet"),
        seeds("shg", spread(0.5), model="alexnet"),
        sgd(0.7, model="alexnet", activation="relu"),
        untuned("shg", model="alexnet", activation="relu"),
    )
    assert links.check(rows).rows[0][-1] == H
    assert links.check(rows[rows["status"] != "untuned"]).summary.startswith(findings.NOT_IN_STUDY)


def test_links_compare_tanh_and_relu_within_each_variant():
    rows = activations(spread(1.5), spread(0.8))
    rows["variant"] = "residual"
    f = links.check(rows)
    assert f.rows[0][1] == "tanh, residual -> relu, residual" and f.verdict == H


def test_the_authors_resnet20_is_beyond_the_papers_claims():
    """The DRN of the authors' reply (ResNet-20) is shown beyond the paper, not counted."""
    rows = table(drn_runs("mnist", shg=spread(1.0)), drn_runs("cifar10", shg=spread(2.0)))
    assert drn.check_shg(rows).verdict == H
    rows["variant"] = "resnet20"
    checked = {f.key: f for f in findings.check_all(rows)}
    assert checked["f5-fig9"].summary.startswith(findings.NOT_IN_STUDY)


def three_links(relu: list[float], residual: list[float]) -> pd.DataFrame:
    """Figure 10-11's AlexNet: SHG at 0.5 x SGD with tanh; with ReLU and with the residual
    block SGD at 0.7 x and SHG at the given factors (per seed) of that."""
    return table(
        sgd(model="alexnet"),
        seeds("shg", spread(0.5), model="alexnet"),
        sgd(0.7, model="alexnet", activation="relu"),
        seeds("shg", [0.7 * f for f in relu], model="alexnet", activation="relu"),
        sgd(0.7, model="alexnet", variant="residual"),
        seeds("shg", [0.7 * f for f in residual], model="alexnet", variant="residual"),
    )


def test_identity_link_hurts_shg_less_than_relu():
    f = link_order.check(three_links(spread(1.5), spread(0.8)))
    # Paired with SGD's seeds, SHG's ratios are the same for every seed here.
    assert f.verdict == H and f.rows[0][3:6] == ("0.5 (3 seeds)", "1.5 (3 seeds)", "0.8 (3 seeds)")
    assert link_order.check(three_links(spread(0.8), spread(1.5))).verdict == F
    # Mean lower with the residual block (0.93 against 1.5), one seed above ReLU's.
    assert link_order.check(three_links(spread(1.5), [0.5, 0.7, 1.6])).verdict == U
    assert link_order.check(activations(spread(1.5), spread(0.8))).summary.startswith(
        findings.NOT_IN_STUDY
    )
    # SHG untuned with ReLU: ReLU hurt it more.
    rows = table(
        sgd(model="alexnet"),
        seeds("shg", spread(0.5), model="alexnet"),
        sgd(0.7, model="alexnet", activation="relu"),
        untuned("shg", model="alexnet", activation="relu"),
        sgd(0.7, model="alexnet", variant="residual"),
        seeds("shg", spread(1.2), model="alexnet", variant="residual"),
    )
    assert link_order.check(rows).verdict == H


# -- Figure 9 and the abstract's DRN claim


def drn_runs(dataset: str, **factors: list[float]) -> list[pd.DataFrame]:
    kwargs = {"dataset": dataset, "model": "resnet18", "activation": "relu"}
    out = sgd(**kwargs)
    for optimizer, values in factors.items():
        method = "lsr1" if optimizer == "sr1" else optimizer
        out += seeds(optimizer, values, method=method, **kwargs)
    return out


def test_shg_trains_the_drn_on_mnist_but_not_on_cifar10():
    mnist = drn_runs("mnist", shg=spread(1.05))
    assert drn.check_shg(table(mnist, drn_runs("cifar10", shg=spread(2.0)))).verdict == H
    assert drn.check_shg(table(mnist, drn_runs("cifar10", shg=spread(0.5)))).verdict == F
    # CIFAR-10: SHG's mean above SGD's (1.33 x), one seed below.
    f = drn.check_shg(table(mnist, drn_runs("cifar10", shg=[1.5, 1.6, 0.9])))
    assert f.verdict == U and f.rows[0][:2] == (
        "CIFAR-10 / DRN (ResNet-18), bs 100",
        "SHG higher than SGD",
    )
    # MNIST: "trains well" with a wide seed range is inconclusive.
    wide = drn_runs("mnist", shg=[0.6, 1.0, 1.5])
    assert drn.check_shg(table(wide, drn_runs("cifar10", shg=spread(2.0)))).verdict == U
    # The quick study's DRN (narrow, MNIST only): CIFAR-10 is not in it.
    only = drn.check_shg(table(mnist))
    assert only.verdict == U and "CIFAR-10: not in this study" in only.summary
    # SHG could not be tuned on CIFAR-10: it fails there.
    untuned_cifar = table(
        sgd(dataset="cifar10", model="resnet18", activation="relu"),
        untuned("shg", dataset="cifar10", model="resnet18", activation="relu"),
    )
    assert drn.check_shg(table(mnist, untuned_cifar)).verdict == H


def test_quasi_newton_competitive_on_the_drn():
    both = [drn_runs(d, sqn=spread(1.05), sr1=spread(0.9)) for d in ("mnist", "cifar10")]
    f = drn.check_quasi_newton(table(*both))
    assert f.verdict == H and [r[1] for r in f.rows[:2]] == [
        "SQN no worse than SGD",
        "SR1 no worse than SGD",
    ]
    wide = drn_runs("mnist", sqn=[0.6, 1.0, 1.5], sr1=spread(0.9))
    assert drn.check_quasi_newton(table(wide)).verdict == U
    assert (
        drn.check_quasi_newton(table(drn_runs("mnist", sqn=spread(1.05), sr1=spread(2.0)))).verdict
        == F
    )
    untuned_sqn = table(
        drn_runs("mnist", sr1=spread(0.9)), untuned("sqn", model="resnet18", activation="relu")
    )
    assert drn.check_quasi_newton(untuned_sqn).verdict == F
    assert drn.check_quasi_newton(table(sgd())).summary.startswith(findings.NOT_IN_STUDY)


# -- finding 6: line search


FIXED = {"lr": 0.01, "line_search": False}


def fixed_step(factors: list[float], **kwargs) -> list[pd.DataFrame]:
    return seeds("sr1_fixed", factors, method="lsr1", hparams=FIXED, **kwargs)


def test_line_search_three_outcomes():
    searching = seeds("sr1", SPREAD, method="lsr1")
    exploded = run("sr1_fixed", [2.3, 5.0], method="lsr1", status="diverged", hparams=FIXED)
    f = line_search.check(table(run("sr1", SGD, method="lsr1"), exploded))
    assert f.verdict == H  # one seed, but a divergence is decisive
    assert f.rows[0][1:3] == ("sr1_fixed (lr 0.01)", "SR1") and f.rows[0][4] == "diverged"
    assert line_search.check(table(searching, fixed_step(spread(3.0)))).verdict == H
    assert line_search.check(table(searching, fixed_step(spread(0.5)))).verdict == F
    assert line_search.check(table(searching, fixed_step(spread(1.05)))).verdict == F  # works
    assert line_search.check(table(searching)).summary.startswith(findings.NOT_IN_STUDY)


def test_a_merely_worse_fixed_step_is_not_a_failure():
    """The paper: a fixed step "will not work". 1.5 x the line search's loss, every seed, is
    clearly worse but trains: inconclusive (it held under the old 5 % rule)."""
    searching = seeds("sr1", SPREAD, method="lsr1")
    assert line_search.check(table(searching, fixed_step(spread(1.5)))).verdict == U


def test_line_search_inconclusive_when_seeds_disagree():
    searching = seeds("sr1", SPREAD, method="lsr1")
    f = line_search.check(table(searching, fixed_step([0.9, 3.0, 4.0])))  # mean 2.6 x
    assert f.verdict == U
    one = line_search.check(table(run("sr1", SGD, method="lsr1"), fixed_step([0.5])))
    assert one.verdict == U  # one seed, 2x: not enough (the old rule: does not hold)


def test_an_untuned_fixed_step_does_not_work():
    searching = seeds("sr1", SPREAD, method="lsr1")
    never = untuned("sr1_fixed", method="lsr1", hparams=FIXED)
    f = line_search.check(table(searching, never))
    assert f.verdict == H and f.rows[0][4] == "untuned (3 seeds)"


def test_a_fixed_step_preset_is_compared_with_its_line_search_twin():
    """Not with a better configuration of the same method: SHG-fixed (20 % gradient) against
    SHG (20 %), though SHG-100pct is far lower; where no twin is exact, the closest is named
    with its differences."""
    base = {"gradient_fraction": 0.2, "cg_max_iter": 20}
    fixed = seeds("shg-fixed", spread(0.9), method="shg", hparams={**base, **FIXED})
    twin = seeds("shg", SPREAD, method="shg", hparams={**base, "line_search": True, "lr": 1.0})
    full = {**base, "gradient_fraction": 1.0}
    better = seeds("shg-100pct", spread(0.1), method="shg", hparams=full)
    f = line_search.check(table(fixed, twin, better))
    assert f.rows[0][2] == "SHG" and f.verdict == F  # fixed no worse than its twin
    assert "closest" not in f.rule
    tuned = seeds("shg", SPREAD, method="shg", hparams={**base, "cg_max_iter": 10})
    f = line_search.check(table(fixed, tuned, better))
    assert f.rows[0][2] == "SHG (differs in cg_max_iter)"
    assert "the closest is used" in f.rule


def test_fixed_step_runs_stay_out_of_the_main_comparison():
    exploded = run("sr1_fixed", [2.3, 5.0], method="lsr1", status="diverged", hparams=FIXED)
    f = per_epoch.check(table(sgd(), seeds("shg", spread(0.5)), exploded))
    assert [r[1] for r in f.rows] == ["SHG lower than SGD"]


# -- Figure 1: SHG's gradient on 20 % against 100 %


def fractions(partial: list[float], full: list[float]) -> pd.DataFrame:
    """SHG with its gradient on 20 % and on 100 % (factors per seed of SGD's curve)."""
    return table(
        seeds("shg", partial, hparams={"gradient_fraction": 0.2}),
        seeds("shg-100pct", full, method="shg", hparams={"gradient_fraction": 1.0}),
    )


def test_twenty_percent_of_the_data_is_enough():
    f = gradient_fraction.check(fractions(spread(1.1), SPREAD))  # 10 % above: not significant
    assert f.verdict == H and f.rows[0][1:3] == ("SHG", "SHG-100pct")
    assert gradient_fraction.check(fractions(spread(0.9), SPREAD)).verdict == H
    assert gradient_fraction.check(fractions(spread(2.0), SPREAD)).verdict == F
    # The mini-batch-only gradient is another curve of Figure 1, not the 20 % one.
    minibatch = seeds(
        "shg-batch", spread(5.0), method="shg", hparams={"gradient_fraction": "minibatch"}
    )
    rows = table(fractions(spread(1.1), SPREAD), minibatch)
    assert (
        gradient_fraction.check(rows).verdict == H and len(gradient_fraction.check(rows).rows) == 1
    )
    assert gradient_fraction.check(table(seeds("shg", SPREAD))).summary.startswith(
        findings.NOT_IN_STUDY
    )


def test_twenty_percent_inconclusive_when_seeds_disagree_or_spread():
    # No effect claimed, the seed mean 1.03 x 100 %'s, the seeds range 0.6-1.5: no evidence.
    assert gradient_fraction.check(fractions([0.6, 1.0, 1.5], SPREAD)).verdict == U
    # The seed mean 1.6 x (significantly worse), but one seed equals 100 %'s.
    assert gradient_fraction.check(fractions([1.0, 1.2, 2.6], SPREAD)).verdict == U


def test_an_untuned_twenty_percent_is_not_enough():
    never = untuned("shg", hparams={"gradient_fraction": 0.2})
    rows = table(
        never, seeds("shg-100pct", SPREAD, method="shg", hparams={"gradient_fraction": 1.0})
    )
    assert gradient_fraction.check(rows).verdict == F


# -- Section 3.4: Byrd et al.'s 1/k step


BYRD = {"lr": 1.0, "line_search": False, "step_schedule": "inverse"}


def byrd(factors: list[float], **kwargs) -> list[pd.DataFrame]:
    return seeds("sqn-byrd", factors, method="sqn", hparams=BYRD, **kwargs)


def test_the_inverse_step_does_not_work():
    searching = seeds("sqn", SPREAD)
    f = byrd_step.check(table(searching, byrd(spread(3.0))))
    assert f.verdict == H and f.rows[0][1:3] == ("SQN-byrd", "SQN")
    assert "differs" not in f.rows[0][2]
    assert byrd_step.check(table(searching, byrd(spread(1.05)))).verdict == F  # it works
    assert (
        byrd_step.check(table(searching, untuned("sqn-byrd", method="sqn", hparams=BYRD))).verdict
        == H
    )
    # Most experiments: one setting each way is no majority.
    cifar = table(seeds("sqn", SPREAD, dataset="cifar10"), byrd(spread(1.0), dataset="cifar10"))
    assert byrd_step.check(table(searching, byrd(spread(3.0)), cifar)).verdict == U
    assert byrd_step.check(table(searching)).summary.startswith(findings.NOT_IN_STUDY)


def test_the_inverse_step_inconclusive_when_seeds_disagree():
    # Mean 2.6 x the line search's, one seed below it.
    assert byrd_step.check(table(seeds("sqn", SPREAD), byrd([0.9, 3.0, 4.0]))).verdict == U


def test_the_inverse_step_is_not_a_fixed_learning_rate():
    rows = table(seeds("sqn", SPREAD), byrd(spread(3.0)))
    assert line_search.check(rows).summary.startswith(findings.NOT_IN_STUDY)


# -- Figure 10: ReLU hurts SHG but not SR1


def relu_runs(shg_relu: list[float], sr1_relu: list[float], model: str = "alexnet") -> pd.DataFrame:
    """With tanh SHG at 0.5 x SGD and SR1 at 0.8 x; with ReLU SGD at 0.7 x and SHG, SR1 at the
    given factors (per seed) of that."""
    relu = {"model": model, "activation": "relu"}
    return table(
        sgd(model=model),
        seeds("shg", spread(0.5), model=model),
        seeds("sr1", spread(0.8), method="lsr1", model=model),
        sgd(0.7, **relu),
        seeds("shg", [0.7 * f for f in shg_relu], **relu),
        seeds("sr1", [0.7 * f for f in sr1_relu], method="lsr1", **relu),
    )


def test_relu_hurts_shg_but_not_sr1():
    f = relu_alexnet.check(relu_runs(spread(1.5), spread(0.8)))
    assert f.verdict == H and [r[1] for r in f.rows] == ["tanh -> relu"] * 2
    assert relu_alexnet.check(relu_runs(spread(1.5), spread(1.4))).verdict == F  # SR1 hurt
    assert relu_alexnet.check(relu_runs(spread(0.3), spread(0.8))).verdict == F  # SHG helped
    lenet = relu_alexnet.check(relu_runs(spread(1.5), spread(0.8), model="lenet"))
    assert lenet.summary.startswith(findings.NOT_IN_STUDY)  # Figure 10 is AlexNet's


def test_relu_inconclusive_when_seeds_disagree_or_spread():
    # SHG's mean ratio rises (0.5 -> 0.67), one seed falls.
    assert relu_alexnet.check(relu_runs([0.3, 0.7, 1.0], spread(0.8))).verdict == U
    # "Not SR1" (no effect) with SR1's seeds spread wide with ReLU: inconclusive.
    assert relu_alexnet.check(relu_runs(spread(1.5), [0.5, 0.8, 1.4])).verdict == U


def test_relu_leaves_the_residual_block_to_figure_11():
    rows = relu_runs(spread(1.5), spread(0.8))
    residual = table(
        sgd(0.7, model="alexnet", variant="residual"),
        seeds("shg", spread(0.3), model="alexnet", variant="residual"),
    )
    f = relu_alexnet.check(table(rows, residual))
    assert f.verdict == H and len(f.rows) == 2


# -- Figures 6-8: the batch-size figures' own claims


def sqn_sizes(large: list[float]) -> pd.DataFrame:
    return table(seeds("sqn", SPREAD), seeds("sqn", large, batch_size=3200))


def test_sqn_stagnates_at_large_batches():
    f = batch_claims.check_sqn_stagnates(sqn_sizes(spread(1.5)))
    assert f.verdict == H and f.rows[0][1] == "SQN higher at batch 3200 than 100"
    assert batch_claims.check_sqn_stagnates(sqn_sizes(spread(1.0))).verdict == F
    assert batch_claims.check_sqn_stagnates(sqn_sizes(spread(0.5))).verdict == F
    assert batch_claims.check_sqn_stagnates(table(seeds("sqn", SPREAD))).summary.startswith(
        findings.NOT_IN_STUDY
    )
    stuck = table(seeds("sqn", SPREAD), untuned("sqn", batch_size=3200))
    assert batch_claims.check_sqn_stagnates(stuck).verdict == H


def test_sqn_stagnates_inconclusive_when_seeds_disagree():
    # Mean 1.47 x at batch 3200, one seed below batch 100's.
    assert batch_claims.check_sqn_stagnates(sqn_sizes([0.9, 1.5, 2.0])).verdict == U


def sr1_sizes(dataset: str, large: list[float]) -> pd.DataFrame:
    """SGD and SR1 equal at batch 100; at 3200 SR1 at the given factors of SGD."""
    return table(
        sgd(dataset=dataset),
        seeds("sr1", SPREAD, method="lsr1", dataset=dataset),
        sgd(dataset=dataset, batch_size=3200),
        seeds("sr1", large, method="lsr1", dataset=dataset, batch_size=3200),
    )


def test_sgd_outperforms_sr1_at_large_batches_on_both_datasets():
    both = table(sr1_sizes("mnist", spread(1.5)), sr1_sizes("cifar10", spread(1.5)))
    f = batch_claims.check_sgd_beats_sr1(both)
    assert f.verdict == H and f.rows[0][1] == "SGD lower than SR1 at batch 3200"
    one = batch_claims.check_sgd_beats_sr1(sr1_sizes("mnist", spread(1.5)))
    assert one.verdict == U and "CIFAR-10: not in this study" in one.summary
    other = table(sr1_sizes("mnist", spread(1.5)), sr1_sizes("cifar10", spread(0.5)))
    assert batch_claims.check_sgd_beats_sr1(other).verdict == F
    seeds_disagree = table(sr1_sizes("mnist", spread(1.5)), sr1_sizes("cifar10", [0.9, 1.5, 2.0]))
    assert batch_claims.check_sgd_beats_sr1(seeds_disagree).verdict == U


def shg_sizes(large: list[float]) -> pd.DataFrame:
    """SGD and SHG equal at batch 100; at 3200 SHG at the given factors of SGD."""
    return table(
        sgd(), seeds("shg", SPREAD), sgd(batch_size=3200), seeds("shg", large, batch_size=3200)
    )


def test_shg_much_faster_than_sgd_at_a_large_batch():
    f = batch_claims.check_shg_large_batch(shg_sizes(spread(0.5)))
    assert f.verdict == H and f.rows[0][1:3] == ("SHG lower than SGD at batch 3200", "100%")
    assert batch_claims.check_shg_large_batch(shg_sizes(spread(1.5))).verdict == F
    assert batch_claims.check_shg_large_batch(shg_sizes(spread(1.0))).verdict == F
    # Mean 0.72 x SGD's all along, one seed above it.
    assert batch_claims.check_shg_large_batch(shg_sizes([0.5, 0.55, 1.1])).verdict == U
    assert batch_claims.check_shg_large_batch(
        table(sgd(), seeds("shg", SPREAD))
    ).summary.startswith(findings.NOT_IN_STUDY)


# -- Section 4.3: quasi-Newton lower than SGD on the DRN


def test_quasi_newton_lower_than_sgd_on_the_drn():
    lower = [drn_runs(d, sqn=spread(0.5), sr1=spread(0.6)) for d in ("mnist", "cifar10")]
    f = drn.check_quasi_newton_lower(table(*lower))
    assert f.verdict == H and f.rows[0][1] == "SQN lower than SGD"
    # Competitive (f5-drn-qn holds), not lower.
    level = [drn_runs(d, sqn=spread(1.05), sr1=spread(1.0)) for d in ("mnist", "cifar10")]
    assert drn.check_quasi_newton(table(*level)).verdict == H
    assert drn.check_quasi_newton_lower(table(*level)).verdict == F
    # SQN's mean 0.72 x SGD's on MNIST, one seed above: MNIST inconclusive, so the finding.
    disagree = drn_runs("mnist", sqn=[0.5, 0.55, 1.1], sr1=spread(0.6))
    assert drn.check_quasi_newton_lower(table(disagree, lower[1])).verdict == U
    only = drn.check_quasi_newton_lower(table(lower[0]))
    assert only.verdict == U and "CIFAR-10: not in this study" in only.summary


def test_untuned_runs_are_outcomes_in_the_batch_relu_and_drn_claims():
    """A method that could not be tuned did not train: it changes each verdict it belongs to."""
    never_sr1 = untuned("sr1", method="lsr1", dataset="cifar10", batch_size=3200)
    cifar = table(
        sgd(dataset="cifar10"),
        seeds("sr1", SPREAD, method="lsr1", dataset="cifar10"),
        sgd(dataset="cifar10", batch_size=3200),
        never_sr1,
    )
    assert (
        batch_claims.check_sgd_beats_sr1(table(sr1_sizes("mnist", spread(1.5)), cifar)).verdict == H
    )
    never_shg = untuned("shg", batch_size=3200)
    rows = table(sgd(), seeds("shg", SPREAD), sgd(batch_size=3200), never_shg)
    assert batch_claims.check_shg_large_batch(rows).verdict == F
    relu = relu_runs(spread(1.5), spread(0.8))
    relu = relu[~((relu["optimizer"] == "sr1") & (relu["activation"] == "relu"))]
    never = untuned("sr1", method="lsr1", model="alexnet", activation="relu")
    assert relu_alexnet.check(table(relu, never)).verdict == F  # ReLU stopped SR1
    lower = [drn_runs(d, sqn=spread(0.5)) for d in ("mnist", "cifar10")]
    stuck = untuned("sqn", dataset="cifar10", model="resnet18", activation="relu")
    cifar_sgd = drn_runs("cifar10")
    assert drn.check_quasi_newton_lower(table(*lower)).verdict == H
    assert drn.check_quasi_newton_lower(table(lower[0], cifar_sgd, stuck)).verdict == F


def test_a_failed_run_is_listed_in_the_new_claims():
    crashed = run(
        "shg-100pct",
        [2.3],
        method="shg",
        seed=3,
        status="failed",
        hparams={"gradient_fraction": 1.0},
    )
    f = gradient_fraction.check(table(fractions(spread(1.1), SPREAD), crashed))
    assert f.verdict == H and "1 failed run not counted" in f.summary
    assert f.rows[-1][-1] == "not counted"


# -- every finding's table marks the runs that did not finish (issue 19, item 4)


def broken(rows: pd.DataFrame, how: str, optimizer: str, **where) -> pd.DataFrame:
    """`rows` with the runs of `optimizer` (in the setting `where`) ended another way:
    "untuned" (every seed: its initial point only), or "diverged, failed" (its first seed
    diverged, a failed seed 9 beside it)."""
    mask = rows["optimizer"] == optimizer
    for column, value in where.items():
        mask &= rows[column] == value
    assert mask.any(), (optimizer, where)
    target = rows[mask]
    if how == "untuned":
        return pd.concat([rows[~mask], target[target["epoch"] == 0].assign(status="untuned")])
    first = target["seed"] == target["seed"].min()
    rows = rows.copy()
    rows.loc[first[first].index, "status"] = "diverged"
    crashed = target[first].assign(run_id=lambda t: t["run_id"] + "-crashed", seed=9)
    return pd.concat([rows, crashed.assign(status="failed")], ignore_index=True)


ALEX, RELU = {"model": "alexnet"}, {"model": "alexnet", "activation": "relu"}
DRN = {"model": "resnet18", "activation": "relu"}
MARKED = {
    "f1": (per_epoch.check, lambda: table(sgd(), seeds("shg", spread(0.5))), "shg", {}),
    "f1-mnist": (
        per_dataset.check_mnist,
        lambda: figure("mnist", spread(0.7), spread(1.0)),
        "shg",
        {},
    ),
    "f1-cifar10": (
        per_dataset.check_cifar10,
        lambda: figure("cifar10", spread(0.7), spread(0.7)),
        "sqn",
        {},
    ),
    "fig1-gradient": (
        gradient_fraction.check,
        lambda: fractions(spread(1.1), SPREAD),
        "shg-100pct",
        {},
    ),
    "f2": (
        gd.check,
        lambda: table(sgd(), seeds("gd", spread(1.2)), seeds("shg", spread(0.5))),
        "gd",
        {},
    ),
    "f3-shg-time": (
        run_time.check,
        lambda: table(timed(0, [1.0, 1.02, 0.98]), timed(0.5, [300, 310, 305])),
        "shg",
        {},
    ),
    "f4": (batch_size.check, lambda: batches(spread(0.5), spread(1.0)), "shg", {"batch_size": 400}),
    "abstract1-large-batch": (
        batch_claims.check_shg_large_batch,
        lambda: shg_sizes(spread(0.5)),
        "shg",
        {"batch_size": 3200},
    ),
    "fig6-sqn-batch": (
        batch_claims.check_sqn_stagnates,
        lambda: sqn_sizes(spread(1.5)),
        "sqn",
        {"batch_size": 3200},
    ),
    "fig7-sr1-batch": (
        batch_claims.check_sgd_beats_sr1,
        lambda: table(sr1_sizes("mnist", spread(1.5)), sr1_sizes("cifar10", spread(1.5))),
        "sr1",
        {"dataset": "mnist", "batch_size": 3200},
    ),
    "f4-sgd-400": (
        sgd_batches.check,
        lambda: sgd_sizes(spread(0.8), spread(0.82)),
        "sgd",
        {"batch_size": 800},
    ),
    "f5": (links.check, lambda: activations(spread(1.5), spread(0.8)), "shg", RELU),
    "fig10-relu": (relu_alexnet.check, lambda: relu_runs(spread(1.5), spread(0.8)), "shg", RELU),
    "f5-fig9": (
        drn.check_shg,
        lambda: table(drn_runs("mnist", shg=spread(1.05)), drn_runs("cifar10", shg=spread(2.0))),
        "shg",
        {"dataset": "cifar10", **DRN},
    ),
    "f5-fig11": (
        link_order.check,
        lambda: three_links(spread(1.5), spread(1.2)),
        "shg",
        {"variant": "residual", **ALEX},
    ),
    "f5-drn-qn": (
        drn.check_quasi_newton,
        lambda: table(*(drn_runs(d, sqn=spread(1.0)) for d in ("mnist", "cifar10"))),
        "sqn",
        {"dataset": "mnist", **DRN},
    ),
    "drn-qn-lower": (
        drn.check_quasi_newton_lower,
        lambda: table(*(drn_runs(d, sqn=spread(0.5)) for d in ("mnist", "cifar10"))),
        "sqn",
        {"dataset": "mnist", **DRN},
    ),
    "f6": (
        line_search.check,
        lambda: table(seeds("sr1", SPREAD, method="lsr1"), fixed_step(spread(3.0))),
        "sr1_fixed",
        {},
    ),
    "byrd-step": (
        byrd_step.check,
        lambda: table(seeds("sqn", SPREAD), byrd(spread(3.0))),
        "sqn-byrd",
        {},
    ),
    "t1": (
        table1.check,
        lambda: table(
            *(run("sgd", SGD, seed=s, accuracies=[0.5, 0.9, 0.95, 0.991, 0.96]) for s in range(3))
        ),
        "sgd",
        {},
    ),
}


@pytest.mark.parametrize("key", sorted(MARKED))
def test_every_table_marks_untuned_diverged_and_failed_runs(key):
    check, rows_of, optimizer, where = MARKED[key]
    cells = [
        " ".join(map(str, row))
        for how in ("untuned", "diverged, failed")
        for row in check(broken(rows_of(), how, optimizer, **where)).rows
    ]
    text = " | ".join(cells)
    assert check(rows_of()).key == key
    assert "untuned" in text, text
    assert "diverged" in text, text
    assert "failed (crashed): seed 9" in text, text


def test_the_time_to_target_table_marks_untuned_diverged_and_failed_runs():
    rows = table(
        run("sgd", SGD, accuracies=[0.5, 0.9, 0.99, 0.99, 0.99]),
        run("shg", scaled(0.5), accuracies=[0.5, 0.9, 0.95, 0.99, 0.99]),
        run("sqn", scaled(0.5), accuracies=[0.5, 0.9, 0.99, 0.99, 0.99]),
    )
    text = " ".join(
        " ".join(map(str, r))
        for how in ("untuned", "diverged, failed")
        for r in wall_time.check(broken(rows, how, "shg")).rows
    )
    assert "untuned" in text and "diverged" in text and "failed (crashed): seed 9" in text, text


# -- the claims of tuning: "hard to tune", "no parameters make SQN work on AlexNet/CIFAR-10"

INF = math.inf


def grid(
    optimizer: str,
    points: list[list[float | None]],
    *,
    method: str | None = None,
    pinned: dict | None = None,
    **setting,
) -> dict:
    """A selection file as rule select writes it: one entry per grid point, each its validation
    loss per tuning seed (inf: diverged, None: failed); the winner the lowest mean of the points
    whose every seed finished."""
    setting = {
        "dataset": "mnist",
        "model": "lenet",
        "activation": "tanh",
        "variant": "standard",
        "batch_size": 100,
        **setting,
    }
    trials = []
    for i, losses in enumerate(points):
        statuses = [
            "failed" if v is None else "finished" if math.isfinite(v) else "diverged"
            for v in losses
        ]
        scores = [v if s == "finished" else None for v, s in zip(losses, statuses, strict=True)]
        excluded = any(s != "finished" for s in statuses)
        trials.append(
            {
                "values": {"lr": i},
                "run_ids": [f"{optimizer}-{i}-s{s}" for s in range(len(losses))],
                "statuses": statuses,
                "seed_scores": scores,
                "score": None if excluded else sum(scores) / len(scores),
            }
        )
    ranked = [t for t in trials if t["score"] is not None]
    winner = min(ranked, key=lambda t: t["score"]) if ranked else None
    return {
        "group": f"{setting['dataset']}-{setting['model']}__{optimizer}__bs{setting['batch_size']}",
        "setting": {**setting, "optimizer": optimizer, "method": method or optimizer},
        "pinned": pinned if pinned is not None else {"line_search": True},
        "search": {"space": {"lr": list(range(len(points)))}, "seeds": list(range(len(points[0])))},
        "points": len(points),
        "trials": trials,
        "status": "selected" if winner else "all_excluded",
        "winner": winner["values"] if winner else None,
        "score": winner["score"] if winner else None,
    }


def per_seed(*losses: float | None, seeds: int = 2) -> list[list[float | None]]:
    """Every grid point with the same loss on each tuning seed."""
    return [[v] * seeds for v in losses]


FORGIVING = per_seed(1.0, 1.02, 1.03, 2.0)  # 3 of 4 points within 5 % of the best
SENSITIVE = per_seed(1.0, 3.0, INF, 5.0)  # 1 of 4


def test_hard_to_tune_three_outcomes():
    f = hard_to_tune.check([grid("sgd", FORGIVING), grid("sqn", SENSITIVE)])
    assert f.verdict == H
    assert f.rows[0][1:5] == ("SQN", "4", "25% (2 seeds)", "75% (2 seeds)")
    assert f.rows[0][5] == "1 of 4 (1 diverged)" and f.rows[0][6] == "none"
    assert hard_to_tune.check([grid("sgd", FORGIVING), grid("sqn", FORGIVING)]).verdict == F
    # One point of 10 fewer near the best (70 % against 80 %): within the margin, ruled out.
    ten = per_seed(*[1.0] * 8, 2.0, 2.0)
    near = per_seed(*[1.0] * 7, 2.0, 2.0, INF)
    assert hard_to_tune.check([grid("sgd", ten), grid("sqn", near)]).verdict == F
    # One point of 4 (50 % against 75 %) on both seeds is beyond it.
    fewer = per_seed(1.0, 1.02, 2.0, 2.0)
    assert hard_to_tune.check([grid("sgd", FORGIVING), grid("sqn", fewer)]).verdict == H
    assert hard_to_tune.check([grid("sgd", FORGIVING)]).summary.startswith(findings.NOT_IN_STUDY)


def test_hard_to_tune_inconclusive_when_seeds_disagree():
    # Mean share 50 % against SGD's 75 % (a gap beyond the margin); seed 1 as forgiving as SGD.
    disagree = [[1.0, 1.0], [3.0, 1.02], [INF, 1.03], [5.0, 2.0]]
    f = hard_to_tune.check([grid("sgd", FORGIVING), grid("sqn", disagree)])
    assert f.verdict == U and f.rows[0][3] == "50% (25-75%, 2 seeds)"


def test_hard_to_tune_with_one_tuning_seed_needs_half_the_grid():
    one = [[v] for v in (1.0, 1.02, 1.03, 2.0)]
    assert (
        hard_to_tune.check([grid("sgd", one), grid("sqn", [[1.0], [3.0], [INF], [5.0]])]).verdict
        == H
    )
    # 2 of 4 against 3 of 4: 25 points apart, beyond SHARE_MARGIN but not decisive.
    half = [[1.0], [1.01], [3.0], [4.0]]
    assert hard_to_tune.check([grid("sgd", one), grid("sqn", half)]).verdict == U
    assert hard_to_tune.check([grid("sgd", half), grid("sqn", one)]).verdict == U


def test_an_untuned_method_is_hard_to_tune():
    never = per_seed(INF, INF, None, INF)
    f = hard_to_tune.check([grid("sgd", FORGIVING), grid("sqn", never)])
    assert f.verdict == H and f.rows[0][3] == "untuned (every point excluded)"
    assert f.rows[0][5] == "4 of 4 (3 diverged, 1 failed)"
    # It turns a does-not-hold into holds: one setting each way is no majority, a third decides.
    cifar = {"dataset": "cifar10"}
    level = [grid("sgd", FORGIVING), grid("sqn", FORGIVING)]
    other = [grid("sgd", FORGIVING, **cifar), grid("sqn", FORGIVING, **cifar)]
    assert hard_to_tune.check([*level, *other]).verdict == F
    stuck = [grid("sgd", FORGIVING, **cifar), grid("sqn", never, **cifar)]
    assert hard_to_tune.check([*level, *stuck]).verdict == U
    alex = {"model": "alexnet"}
    stuck_too = [grid("sgd", FORGIVING, **alex), grid("sr1", never, method="lsr1", **alex)]
    assert hard_to_tune.check([*level, *stuck, *stuck_too]).verdict == H
    # Untuned on fewer chances than SGD's, or beside an untuned SGD: inconclusive.
    assert hard_to_tune.check([grid("sgd", FORGIVING), grid("sqn", never[:2])]).verdict == U
    assert hard_to_tune.check([grid("sgd", never), grid("sqn", never)]).verdict == U


def test_hard_to_tune_compares_grids_of_one_size_only():
    six = per_seed(1.0, 3.0, INF, 5.0, 6.0, 7.0)
    f = hard_to_tune.check([grid("sgd", FORGIVING), grid("sqn", six)])
    assert f.verdict == U and f.rows[0][2] == "6 vs SGD 4: not compared"
    # A point that an edge extension added beyond SGD's grid is not part of its grid.
    extended = grid("sgd", [*FORGIVING, [0.5, 0.5]])
    extended["trials"][-1]["extended"] = True
    f = hard_to_tune.check([extended, grid("sqn", SENSITIVE)])
    assert f.verdict == H and f.rows[0][2:5] == ("4", "25% (2 seeds)", "75% (2 seeds)")


def test_hard_to_tune_counts_the_papers_line_search_methods_only():
    sgd_grid = grid("sgd", FORGIVING)
    fixed = grid("sqn-fixed", SENSITIVE, method="sqn", pinned={"line_search": False})
    beyond = grid("shg-gn", SENSITIVE, method="shg", pinned={"curvature": "gauss-newton"})
    adam = grid("adam", SENSITIVE)
    for selections in ([sgd_grid, fixed], [sgd_grid, beyond], [sgd_grid, adam]):
        f = hard_to_tune.check(selections)
        assert f.summary.startswith(findings.NOT_IN_STUDY), selections[1]["group"]


SQN_ON = {"dataset": "cifar10", "model": "alexnet"}


def sqn_finals(factors: list[float]) -> pd.DataFrame:
    """SGD's and SQN's final runs on AlexNet/CIFAR-10, SQN at the factors of SGD's curve."""
    return table(sgd(**SQN_ON), seeds("sqn", factors, **SQN_ON))


def sqn_grid(*losses: float | None) -> dict:
    return grid("sqn", per_seed(*losses, seeds=1), **SQN_ON)


SGD_GRID = grid("sgd", per_seed(1.0, 1.1, 2.0, seeds=1), **SQN_ON)


def test_sqn_on_alexnet_cifar10_three_outcomes():
    tuned = [SGD_GRID, sqn_grid(1.2, 1.5, INF)]
    f = sqn_alexnet.check(sqn_finals(spread(3.0)), tuned)
    assert f.verdict == H and f.rows[0][0] == "CIFAR-10 / AlexNet, tanh, bs 100"
    assert f.rows[0][1] == "selected lr=0; excluded: 1 of 3 (1 diverged)"
    assert sqn_alexnet.check(sqn_finals(spread(1.05)), tuned).verdict == F  # it works
    assert sqn_alexnet.check(sqn_finals(spread(0.5)), tuned).verdict == F
    # Worse but not 2x, and its best tuning point close to SGD's: inconclusive.
    assert sqn_alexnet.check(sqn_finals(spread(1.5)), tuned).verdict == U
    lenet = grid("sqn", per_seed(INF, INF, INF, seeds=1), dataset="cifar10")
    assert sqn_alexnet.check(table(sgd()), [lenet]).summary.startswith(findings.NOT_IN_STUDY)


def test_sqn_untuned_on_alexnet_cifar10_holds():
    never = sqn_grid(INF, None, INF)
    rows = table(sgd(**SQN_ON), untuned("sqn", **SQN_ON))
    f = sqn_alexnet.check(rows, [SGD_GRID, never])
    assert f.verdict == H
    assert f.rows[0][1] == "untuned: every point of 3 excluded (3 of 3 (2 diverged, 1 failed))"
    assert f.rows[0][5] == "untuned (3 seeds)"
    # The same SQN tuned, its finals level with SGD's: the untuned outcome changed the verdict.
    assert (
        sqn_alexnet.check(sqn_finals(spread(1.0)), [SGD_GRID, sqn_grid(1.0, 2.0, INF)]).verdict == F
    )


def test_sqn_on_alexnet_cifar10_inconclusive_when_seeds_disagree():
    # Mean 2.6 x SGD's loss, one seed below it; its best tuning point only 1.2 x SGD's.
    tuned = [SGD_GRID, sqn_grid(1.2, 1.5, INF)]
    assert sqn_alexnet.check(sqn_finals([0.9, 3.0, 4.0]), tuned).verdict == U


def test_sqn_best_tuning_point_far_above_sgd_decides_without_final_runs():
    sgd_two = grid("sgd", [[1.0, 1.05], [2.0, 2.0]], **SQN_ON)
    far = grid("sqn", [[3.0, 3.2], [5.0, 5.0]], **SQN_ON)
    f = sqn_alexnet.check(table(sgd(**SQN_ON)), [sgd_two, far])
    assert f.verdict == H and f.rows[0][5] == "no final runs"
    # Seeds disagree on the ratio (1.5x and 3x): inconclusive.
    split = grid("sqn", [[1.5, 3.2], [5.0, 5.0]], **SQN_ON)
    assert sqn_alexnet.check(table(sgd(**SQN_ON)), [sgd_two, split]).verdict == U


def test_the_claims_of_tuning_read_real_selection_files():
    """Selections that rule select made (study.tuning.select) from tuning runs' summaries."""
    checked = study.load_config(
        {
            "seeds": [0, 1],
            "run": {"batch_size": 50, "epochs": 1, "train_subset": 300, "test_subset": 200},
            "optimizers": {
                "sgd": {"method": "sgd", "lr": {"search": [0.01, 0.1, 1.0]}},
                "sqn": {"method": "sqn", "memory": {"search": [5, 10, 20]}},
            },
            "search": {"epochs": 1, "validation": 100, "seeds": [0, 1]},
            "artifacts": {
                "fig": {
                    "kind": "loss_curves",
                    "datasets": ["cifar10"],
                    "models": ["alexnet"],
                    "optimizers": ["sgd", "sqn"],
                }
            },
        }
    )
    specs = {s.optimizer: s for s in study.expand(checked).values() if s.search is not None}

    def select(optimizer: str, losses: list[float]) -> dict:
        summaries = {}
        for (_point, runs), loss in zip(tuning.trial_specs(specs[optimizer]), losses, strict=True):
            for run in runs:
                status = "finished" if math.isfinite(loss) else "diverged"
                summaries[run.run_id] = {
                    "spec": run.to_dict(),
                    "status": status,
                    "final": {"validation_loss": loss if math.isfinite(loss) else None},
                }
        return json.loads(json.dumps(tuning.select(specs[optimizer], summaries)))

    sgd_grid = select("sgd", [1.0, 1.02, 1.03])
    sensitive = [sgd_grid, select("sqn", [1.0, INF, 3.0])]
    assert hard_to_tune.check(sensitive).verdict == H
    assert hard_to_tune.check([sgd_grid, select("sqn", [1.0, 1.01, 1.04])]).verdict == F
    never = select("sqn", [INF, INF, INF])
    assert sqn_alexnet.check(table(sgd(**SQN_ON)), [sgd_grid, never]).verdict == H
    far = select("sqn", [30.0, INF, 40.0])
    assert sqn_alexnet.check(table(sgd(**SQN_ON)), [sgd_grid, far]).verdict == H
    level = select("sqn", [1.0, INF, 3.0])
    assert sqn_alexnet.check(table(sgd(**SQN_ON)), [sgd_grid, level]).verdict == U


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


def test_table1_an_untuned_sgd_did_not_reach_it():
    good = run("sgd", SGD, accuracies=[0.5, 0.9, 0.95, 0.991, 0.96])
    f = table1.check(table(good, run("sgd", [2.3], seed=1, status="untuned")))
    assert f.verdict == F and "1 untuned" in f.rows[0][1]


# -- every finding, failures


def test_check_all_lists_every_finding_once():
    keys = [f.key for f in findings.check_all(table(sgd(), seeds("shg", spread(0.5))))]
    assert keys == [
        "f1",
        "f1-mnist",
        "f1-cifar10",
        "fig1-gradient",
        "f2",
        "f3",
        "f3-shg-time",
        "f4",
        "abstract1-large-batch",
        "fig6-sqn-batch",
        "fig7-sr1-batch",
        "f4-sgd-400",
        "f5",
        "fig10-relu",
        "f5-fig9",
        "f5-fig11",
        "f5-drn-qn",
        "drn-qn-lower",
        "f6",
        "byrd-step",
        "hard-to-tune",
        "sqn-alexnet-cifar10",
        "t1",
    ]


def test_a_failed_run_is_listed_not_counted():
    """A crashed SHG seed: listed in finding 1's table as failed, not evidence (the two other
    seeds decide)."""
    rows = table(sgd(), seeds("shg", spread(0.5))[:2], run("shg", [2.3], seed=2, status="failed"))
    f = per_epoch.check(rows)
    assert f.verdict == H and "1 failed run not counted" in f.summary
    assert f.rows[-1][:3] == ("MNIST / LeNet, bs 100", "SHG", "failed (crashed): seed 2")
    assert f.rows[-1][-1] == "not counted" and "2 seeds" in f.rows[0][4]


def test_failed_and_empty_studies_are_inconclusive_not_errors():
    failed = run("shg", scaled(0.5), status="failed")
    checked = findings.check_all(table(run("sgd", SGD), failed))
    assert [f.verdict for f in checked][:2] == [U, U]
    assert checked[0].summary.startswith(findings.NOT_IN_STUDY)  # the failed run is left out
    assert checked[0].rows[0][2] == "failed (crashed): seed 0"
    no_metrics = pd.DataFrame({"run_id": ["r"], "status": ["failed"], "epoch": [math.nan]})
    for rows in (no_metrics, no_metrics.iloc[0:0], table(failed)):
        assert {f.verdict for f in findings.check_all(rows)} == {U}
