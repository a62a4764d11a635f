"""Finding 3: in wall time SGD reaches the target test accuracy first, and SQN is the fastest
second-order method (the paper's Table 2, from the same times to target as our Table 2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.findings.selection import main_settings
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
from secondorder.analysis.style import optimizer_label, sort_key
from secondorder.analysis.time_to_target import run_times

TIME_COLUMNS = ("dataset", "model", "optimizer", "method", "seed", "time_to_target_s")


def target_times(
    rows: pd.DataFrame, targets: dict[str, float] = paper.TABLE2_TARGETS
) -> pd.DataFrame:
    """Per run: training wall time at its first evaluation with test accuracy >= the dataset's
    target (NaN: never reached), extracted as Table 2 does (:func:`run_times`)."""
    times = run_times(rows, targets)
    if times.empty:
        return pd.DataFrame(columns=[*TIME_COLUMNS, "run_id"])
    return times.rename(columns={"seconds": "time_to_target_s"})[[*TIME_COLUMNS, "run_id"]]


def mean_time(seconds: np.ndarray) -> float:
    """Mean over seeds; infinite when a seed did not reach the target (so "not reached" never
    looks fast)."""
    return math.inf if np.isnan(seconds).any() else float(seconds.mean())


def first_to_target(times: dict[str, float], leader: str, margin: float = TIME_MARGIN) -> str:
    """holds: `leader` reached the target and every other in `times` took > (1 + margin) x its
    time (or never reached it); does not hold: another was faster by the margin, or reached it
    when the leader did not; else inconclusive (nobody reached it, or within the margin)."""
    own = times[leader]
    others = [t for name, t in times.items() if name != leader]
    if not others:
        return UNCLEAR
    if math.isinf(own):
        return FAILS if any(math.isfinite(t) for t in others) else UNCLEAR
    if all(t > own * (1 + margin) for t in others):
        return HOLDS
    if any(t < own * (1 - margin) for t in others):
        return FAILS
    return UNCLEAR


def _time_text(seconds: np.ndarray) -> str:
    reached = seconds[~np.isnan(seconds)]
    if not len(reached):
        return "not reached"
    text = f"{reached.mean():.3g}"
    if len(reached) > 1:
        text += f" ({reached.min():.3g}-{reached.max():.3g})"
    if len(reached) < len(seconds):
        text += f", reached by {len(reached)}/{len(seconds)} seeds"
    return text


def check(rows: pd.DataFrame, times: pd.DataFrame | None = None) -> Finding:
    """From times to target (Table 2), not from time per epoch: every second-order step does at
    least SGD's work, so a per-epoch ratio is above 1 by construction and cannot fail.

    `times`: the Table 2 CSV (columns of :data:`TIME_COLUMNS`, NaN = not reached); by default
    computed from the rows with :func:`target_times`. Only the main settings count."""
    targets = ", ".join(f"{d} {t:.0%}" for d, t in paper.TABLE2_TARGETS.items())
    finding = Finding(
        key="f3",
        title="In wall time SGD reaches the target accuracy first, and SQN is the fastest "
        "second-order method",
        paper="Section 4.1; Table 2; Figures 4-5",
        rule=f"Time to the target test accuracy ({targets}), mean over seeds, a seed that "
        f"never reaches it counts as infinite. Per setting: SGD first when every second-order "
        f"method takes >{TIME_MARGIN:.0%} longer (does not hold when one is faster by that "
        "margin or SGD never reaches the target while one does); SQN fastest the same way "
        "among SHG, SQN and SR1. Each part: majority of the settings; the finding: both parts.",
        verdict=UNCLEAR,
        shown_by=("time_to_target", "loss_curves:time"),
        summary="",
        columns=("Setting", "Time to target, s (mean, min-max)", "SGD first", "SQN fastest"),
    )
    main = main_settings(rows)
    if times is None:
        times = target_times(main)
    elif "run_id" in times:
        times = times[times["run_id"].isin(set(main["run_id"]))]
    times = times[times["method"].isin(("sgd", *paper.SECOND_ORDER_METHODS))]
    sgd_first, sqn_fastest, used = [], [], set()
    for (dataset, model), group in times.groupby(["dataset", "model"], sort=True):
        presets = {
            str(p): g["time_to_target_s"].to_numpy(float)
            for p, g in group.groupby("optimizer", sort=False)
        }
        methods = dict(zip(group["optimizer"].astype(str), group["method"], strict=True))
        mean = {p: mean_time(s) for p, s in presets.items()}
        second = {p: t for p, t in mean.items() if methods[p] in paper.SECOND_ORDER_METHODS}
        sgd = [p for p in mean if methods[p] == "sgd"]
        if not sgd or not second:
            continue
        fastest_sgd = min(sgd, key=lambda p: mean[p])
        part_a = first_to_target({**second, fastest_sgd: mean[fastest_sgd]}, fastest_sgd)
        sgd_first.append(part_a)
        sqn = [p for p in second if methods[p] == "sqn"]
        part_b = first_to_target(second, sqn[0]) if len(sqn) == 1 else UNCLEAR
        if len(sqn) == 1 and len(second) > 1:
            sqn_fastest.append(part_b)
        else:
            part_b = "n/a"
        order = sorted(presets, key=sort_key)
        label = setting_label({"dataset": dataset, "model": model}, ("dataset", "model"))
        finding.rows.append(
            (
                f"{label} (target {paper.TABLE2_TARGETS.get(dataset, math.nan):.0%})",
                "; ".join(f"{optimizer_label(p)} {_time_text(presets[p])}" for p in order),
                part_a,
                part_b,
            )
        )
        if "run_id" in group:
            used |= set(group["run_id"])
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
    finding.run_ids = frozenset(used)
    return finding
