"""Section 4.1: "SHG takes hundred to thousand times more to finish the training" than SGD, in
wall time of the whole run (Figures 4-5)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.against_sgd import main_rows
from secondorder.analysis.findings.decisions import Sample, claim_at_least, ratio_of
from secondorder.analysis.findings.failures import NOT_COUNTED, conclude
from secondorder.analysis.findings.selection import runs_table, split_failed
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import DECISIVE_FACTOR, SHG_TIME_RATIO
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
)
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES
from secondorder.training.record import Status


def run_seconds(rows: pd.DataFrame) -> pd.Series:
    """Each run's training wall time at its last logging point (evaluation excluded)."""
    timed = rows.dropna(subset=["train_time_s"]).sort_values("iteration")
    return timed.groupby("run_id")["train_time_s"].last().astype(float)


def _sample(runs: pd.DataFrame, seconds: pd.Series) -> Sample:
    return Sample.of(
        {s: seconds.get(r, float("nan")) for r, s in zip(runs["run_id"], runs["seed"], strict=True)}
    )


def check(rows: pd.DataFrame) -> Finding:
    """Per main setting of Figures 4-5: SHG's whole-run training time against SGD's, per seed
    (paired where both ran the same seeds). Only finished runs count: a diverged run did not
    finish its training and an untuned one never trained (both listed, not counted)."""
    finding = Finding(
        key="f3-shg-time",
        title="SHG takes hundreds to thousands of times longer than SGD to finish training",
        paper="Section 4.1; Figures 4-5",
        rule="Main settings of Figures 4-5 (as finding 1): training wall time of the whole run, "
        f"SHG (gradient on 20 %) against SGD, per seed. SHG above {SHG_TIME_RATIO:g}x SGD "
        "beyond the seed variation (every seed apart; with one seed, "
        f"{SHG_TIME_RATIO * DECISIVE_FACTOR:g}x) -> holds; below it the same way (one seed: "
        f"{SHG_TIME_RATIO / DECISIVE_FACTOR:g}x) -> does not hold; else inconclusive. Finished "
        "runs only. The finding: majority of the settings.",
        verdict=UNCLEAR,
        shown_by=("loss_curves:time",),
        summary="",
        columns=("Setting", "SHG, s", "SGD, s", "SHG / SGD", "Verdict"),
    )
    counted, failed = split_failed(main_rows(rows))
    failed = failed[failed["method"].isin(("sgd", "shg"))]
    runs = runs_table(counted)
    runs = runs[runs["method"].isin(("sgd", "shg"))] if len(runs) else runs
    seconds = run_seconds(counted) if len(counted) else pd.Series(dtype=float)
    verdicts, used = [], set()
    for key, group in runs.groupby(list(GRID_AXES), sort=True):
        label = setting_label(dict(zip(GRID_AXES, key, strict=True)), ("batch_size",))
        finished = group[group["status"] == Status.FINISHED]
        for preset, unfinished in group[group["status"] != Status.FINISHED].groupby("optimizer"):
            ended = ", ".join(sorted(set(unfinished["status"])))
            cells = (label, f"{optimizer_label(preset)}: {ended} ({len(unfinished)} runs)")
            finding.rows.append((*cells, "", "", NOT_COUNTED))
        shg, sgd = (finished[finished["method"] == m] for m in ("shg", "sgd"))
        if shg.empty or sgd.empty:
            continue
        ours, theirs = _sample(shg, seconds), _sample(sgd, seconds)
        verdicts.append(claim_at_least(ours, theirs, SHG_TIME_RATIO))
        ratio = ratio_of(ours, theirs)
        finding.rows.append((label, ours.text(), theirs.text(), ratio.text(), verdicts[-1]))
        used |= set(shg["run_id"]) | set(sgd["run_id"])
    return conclude(finding, verdicts, used, failed, "no setting with finished SHG and SGD runs")
