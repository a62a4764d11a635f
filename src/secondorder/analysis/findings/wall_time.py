"""Finding 3: in wall time SGD reaches the target test accuracy first, and SQN is the fastest
second-order method (the paper's Table 2, from the same times to target as our Table 2, at our
Table 2's own targets)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.against_sgd import main_rows
from secondorder.analysis.findings.decisions import LOWER, Sample, compare
from secondorder.analysis.findings.failures import NOT_COUNTED, failed_text, not_counted_text
from secondorder.analysis.findings.selection import COUNTED
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import TIME_MARGIN
from secondorder.analysis.findings.verdicts import (
    FAILS,
    HOLDS,
    UNCLEAR,
    Finding,
    all_of,
    count_text,
    majority,
    not_in_study,
)
from secondorder.analysis.style import dataset_label, optimizer_label, sort_key
from secondorder.analysis.time_to_target import run_times
from secondorder.training.record import Status

TIME_COLUMNS = ("dataset", "model", "optimizer", "method", "seed", "time_to_target_s")


def target_times(
    rows: pd.DataFrame, targets: Mapping[str, float] = paper.TABLE2_TARGETS
) -> pd.DataFrame:
    """Per run: training wall time at its first evaluation with test accuracy >= the dataset's
    target (NaN: never reached; an untuned run never trained), extracted as Table 2 does
    (:func:`run_times`), with the run's status and the target."""
    times = run_times(rows, targets)
    columns = [*TIME_COLUMNS, "run_id", "status", "target"]
    if times.empty:
        return pd.DataFrame(columns=columns)
    times = times.rename(columns={"seconds": "time_to_target_s"})[columns]
    times.loc[times["status"] == Status.UNTUNED, "time_to_target_s"] = math.nan
    return times


def first_to_target(times: dict[str, Sample], leader: str, margin: float = TIME_MARGIN) -> str:
    """holds: `leader` reached the target before every other in `times`, beyond the seed
    variation (:func:`compare`; not reached: infinite); does not hold: another reached it
    first the same way; else inconclusive."""
    own = times[leader]
    others = [t for name, t in times.items() if name != leader]
    if not others:
        return UNCLEAR
    if all(compare(own, t, margin) == LOWER for t in others):
        return HOLDS
    if any(compare(t, own, margin) == LOWER for t in others):
        return FAILS
    return UNCLEAR


def _time_text(seconds: np.ndarray, statuses: list[str]) -> str:
    """'2.1 (2-2.2), reached by 2/3 seeds, 1 untuned'; how runs ended where not finished (a
    diverged run may reach the target before its loss explodes)."""
    reached = seconds[~np.isnan(seconds)]
    ended = [f"{statuses.count(s)} {s}" for s in (Status.DIVERGED, Status.UNTUNED) if s in statuses]
    if statuses.count(Status.UNTUNED) == len(seconds) > 0:
        return "untuned"
    if not len(reached):
        text = "not reached"
    else:
        text = f"{reached.mean():.3g}"
        if len(reached) > 1:
            text += f" ({reached.min():.3g}-{reached.max():.3g})"
        if len(reached) < len(seconds):
            text += f", reached by {len(reached)}/{len(seconds)} seeds"
    return text + (f", {', '.join(ended)}" if ended else "")


def _targets(times: pd.DataFrame) -> dict[str, float]:
    """The targets the times were measured at (the study's Table 2), else the paper's."""
    if "target" not in times or times["target"].isna().all():
        return dict(paper.TABLE2_TARGETS)
    return dict(times.dropna(subset=["target"]).groupby("dataset")["target"].first())


def _rule(targets: Mapping[str, float]) -> str:
    ours = ", ".join(f"{dataset_label(d)} {t:.0%}" for d, t in sorted(targets.items()))
    theirs = ", ".join(f"{dataset_label(d)} {t:.0%}" for d, t in paper.TABLE2_TARGETS.items())
    return (
        f"Time to the target test accuracy of this study ({ours}; the paper's: {theirs}) per "
        "seed; a seed that never reaches it, or an untuned run, counts as infinite. Per "
        f"setting: SGD first when it is faster than every second-order method by >"
        f"{TIME_MARGIN:.0%} beyond the seed variation (every seed apart; with one seed, 10x); "
        "does not hold when one is faster than SGD the same way; SQN fastest the same way "
        "among SHG, SQN and SR1. Each part: majority of the settings; the finding: both parts."
    )


def check(rows: pd.DataFrame, times: pd.DataFrame | None = None) -> Finding:
    """From times to target (Table 2), not from time per epoch: every second-order step does at
    least SGD's work, so a per-epoch ratio is above 1 by construction and cannot fail.

    `times`: the Table 2 CSV (columns of :data:`TIME_COLUMNS`, NaN = not reached; with run_id,
    status and target where :func:`target_times` wrote it); by default computed from the rows
    at the paper's targets. Only the main settings of Table 2's models (LeNet, AlexNet) count;
    failed runs are listed, not counted."""
    main = main_rows(rows)
    if times is None:
        times = target_times(main)
    elif "run_id" in times:
        times = times[times["run_id"].isin(set(main["run_id"]))]
    times = times[times["method"].isin(("sgd", *paper.SECOND_ORDER_METHODS))]
    targets = _targets(times)
    finding = Finding(
        key="f3",
        title="In wall time SGD reaches the target accuracy first, and SQN is the fastest "
        "second-order method",
        paper="Section 4.1; Table 2; Figures 4-5",
        rule=_rule(targets),
        verdict=UNCLEAR,
        shown_by=("time_to_target", "loss_curves:time"),
        summary="",
        columns=("Setting", "Time to target, s (mean, min-max)", "SGD first", "SQN fastest"),
    )
    statuses = times["status"] if "status" in times else pd.Series("finished", times.index)
    failed = times[~statuses.isin(COUNTED)]
    times = times[statuses.isin(COUNTED)]
    sgd_first, sqn_fastest, used = [], [], set()
    for (dataset, model), group in times.groupby(["dataset", "model"], sort=True):
        seconds, status, samples = {}, {}, {}
        for preset, runs in group.groupby("optimizer", sort=False):
            values = runs["time_to_target_s"].to_numpy(float)
            seconds[str(preset)], status[str(preset)] = values, list(runs.get("status", []))
            reached = dict(
                zip(runs["seed"], np.where(np.isnan(values), math.inf, values), strict=True)
            )
            samples[str(preset)] = Sample.of(reached)
        methods = dict(zip(group["optimizer"].astype(str), group["method"], strict=False))
        second = {p: t for p, t in samples.items() if methods[p] in paper.SECOND_ORDER_METHODS}
        sgd = [p for p in samples if methods[p] == "sgd"]
        if not sgd or not second:
            continue
        fastest_sgd = min(sgd, key=lambda p: samples[p].mean)
        part_a = first_to_target({**second, fastest_sgd: samples[fastest_sgd]}, fastest_sgd)
        sgd_first.append(part_a)
        sqn = [p for p in second if methods[p] == "sqn"]
        part_b = first_to_target(second, sqn[0]) if len(sqn) == 1 else UNCLEAR
        if len(sqn) == 1 and len(second) > 1:
            sqn_fastest.append(part_b)
        else:
            part_b = "n/a"
        order = sorted(seconds, key=sort_key)
        label = setting_label({"dataset": dataset, "model": model}, ("dataset", "model"))
        target = targets.get(dataset, math.nan)
        finding.rows.append(
            (
                f"{label} (target {target:.0%})",
                "; ".join(
                    f"{optimizer_label(p)} {_time_text(seconds[p], status[p])}" for p in order
                ),
                part_a,
                part_b,
            )
        )
        if "run_id" in group:
            used |= set(group["run_id"])
    for (dataset, model, preset), group in failed.groupby(["dataset", "model", "optimizer"]):
        label = setting_label({"dataset": dataset, "model": model}, ("dataset", "model"))
        text = f"{optimizer_label(preset)} {failed_text(group['seed'])}"
        finding.rows.append((label, text, NOT_COUNTED, NOT_COUNTED))
    if not sgd_first:
        return not_in_study(finding, "no setting with SGD and a second-order method")
    parts = [majority(sgd_first), majority(sqn_fastest)]
    finding.verdict = all_of(parts)
    finding.summary = (
        f"SGD first: {parts[0]} ({count_text(sgd_first, 'settings')}); SQN fastest: "
        + (
            f"{parts[1]} ({count_text(sqn_fastest, 'settings')})"
            if sqn_fastest
            else "inconclusive (no setting with SQN and another second-order method)"
        )
    )
    if len(failed):
        finding.summary += f"; {not_counted_text(len(failed))}"
    finding.run_ids = frozenset(used)
    return finding
