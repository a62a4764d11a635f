"""Headline numbers of every artifact (results/metrics.json, the DVC metrics file).

Each number is keyed by *all* the settings of its row or line
(``dataset-model-activation-variant-optimizer-bs<B>``), so that two presets, batch sizes or
variants in one artifact never overwrite each other, and it says how many of its runs diverged,
were left untuned or failed next to how many there were
(:data:`~secondorder.study.artifacts.HEADLINE_COUNTS`): a diverged preset cannot pass for a
healthy one. A kind with numbers of its own has its function in :data:`KIND_METRICS`; an
artifact of any other kind has the counts alone (:func:`run_counts`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder.analysis.cg_diagnostics import diagnostics_summary, run_diagnostics
from secondorder.analysis.panels import build_panels
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.rows import RUN_SETTING, count_failed, count_runs
from secondorder.analysis.step_cost import cost_summary, run_costs
from secondorder.analysis.tables import accuracy_summary
from secondorder.analysis.time_to_target import run_times, time_summary
from secondorder.study.artifacts import HEADLINE_COUNTS, KINDS
from secondorder.training.record import Status


def setting_key(setting: Mapping[str, Any]) -> str:
    """'mnist-lenet-tanh-standard-sgd-bs100': every setting of a row, in a fixed order."""
    batch = setting["batch_size"]
    batch = int(batch) if isinstance(batch, int | float) else batch
    names = [str(setting[c]) for c in RUN_SETTING if c != "batch_size"]
    return "-".join([*names, f"bs{batch}"])


def _number(value: Any, digits: int) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _entry(**values: Any) -> dict[str, Any]:
    """Drop missing numbers (JSON has no NaN); keep counts."""
    return {k: v for k, v in values.items() if v is not None}


def _counts(row: Mapping[str, Any]) -> dict[str, int]:
    """The counts of HEADLINE_COUNTS from a summary row's n_runs, n_diverged, n_untuned and
    n_failed ("diverged_runs" <- "n_diverged")."""
    return {name: int(row[f"n_{name.removesuffix('_runs')}"]) for name in HEADLINE_COUNTS}


def _status_counts(statuses: pd.Series) -> dict[str, int]:
    """n_runs, n_diverged, n_untuned and n_failed of runs with these statuses (one each)."""
    return {
        "n_runs": len(statuses),
        "n_diverged": count_runs(statuses, Status.DIVERGED),
        "n_untuned": count_runs(statuses, Status.UNTUNED),
        "n_failed": count_failed(statuses),
    }


def run_counts(table: pd.DataFrame, artifact: Mapping[str, Any]) -> dict[str, Any]:
    """Per setting of the artifact's runs: how many there were and how they ended (the
    headline numbers of a kind without numbers of its own)."""
    runs = table.groupby("run_id", sort=True)[[*RUN_SETTING, "status"]].first()
    return {
        setting_key(group.iloc[0]): _counts(_status_counts(group["status"]))
        for _, group in runs.groupby(list(RUN_SETTING), sort=True, dropna=False)
    }


def _loss_curves(table: pd.DataFrame, artifact: Mapping[str, Any]) -> dict[str, Any]:
    panels = build_panels(
        table,
        x=artifact.get("x", "epoch"),
        lines=artifact.get("lines", "optimizer"),
        panels=artifact.get("panels"),
    )
    common = {c: table[c].iloc[0] for c in RUN_SETTING}
    out = {}
    for panel in panels:
        for curve in panel.curves:
            setting = {**common, **panel.key, **dict(zip(curve.columns, curve.key, strict=True))}
            counts = {
                "n_runs": curve.n_runs,
                "n_diverged": curve.n_diverged,
                "n_untuned": curve.n_untuned,
                "n_failed": curve.n_failed,
            }
            out[setting_key(setting)] = _entry(
                final_train_loss=_number(curve.y[-1], 6) if len(curve.y) else None,
                **_counts(counts),
            )
    return out


def _accuracy_table(table: pd.DataFrame, artifact: Mapping[str, Any]) -> dict[str, Any]:
    common = {c: table[c].iloc[0] for c in RUN_SETTING}
    return {
        setting_key({**common, **{c: row[c] for c in RUN_SETTING if c in row}}): _entry(
            best_test_accuracy=_number(row["best_acc_mean"], 4), **_counts(row)
        )
        for row in accuracy_summary(table).to_dict("records")
    }


def _time_to_target(table: pd.DataFrame, artifact: Mapping[str, Any]) -> dict[str, Any]:
    summary = time_summary(run_times(table, artifact.get("targets", {})))
    return {
        setting_key(row): _entry(
            seconds_to_target=_number(row["seconds_mean"], 3),
            reached_runs=int(row["n_reached"]),
            **_counts(row),
        )
        for row in summary.to_dict("records")
    }


def _cg_diagnostics(table: pd.DataFrame, artifact: Mapping[str, Any]) -> dict[str, Any]:
    summary = diagnostics_summary(run_diagnostics(table))
    return {
        setting_key(row): _entry(
            cg_iterations_per_step=_number(row["cg_iterations_per_step"], 4),
            negative_curvature_share=_number(row["cg_negative_curvature_stops_share"], 4),
            **_counts(row),
        )
        for row in summary.to_dict("records")
    }


def _step_cost(table: pd.DataFrame, artifact: Mapping[str, Any]) -> dict[str, Any]:
    summary = cost_summary(run_costs(table))
    return {
        setting_key(row): _entry(
            gradient_equivalents_per_step=_number(row["gradient_equivalents_per_step"], 4),
            data_passes_per_epoch=_number(row["data_passes_per_epoch"], 4),
            seconds_per_step=_number(row["seconds_per_step"], 6),
            **_counts(row),
        )
        for row in summary.to_dict("records")
    }


# The kinds with headline numbers of their own (KINDS[kind].headline) beside the counts, and
# the function that reads them from the artifact's rows and settings; any other kind has
# run_counts.
KIND_METRICS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any]], dict[str, Any]]] = {
    "loss_curves": _loss_curves,
    "accuracy_table": _accuracy_table,
    "time_to_target": _time_to_target,
    "cg_diagnostics": _cg_diagnostics,
    "step_cost": _step_cost,
}


def headline_metrics(artifacts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Artifact name -> setting key -> its headline numbers (see the module docstring).

    Each artifact is a mapping with name, kind (one of secondorder.study.artifacts.KINDS),
    aggregated (CSV path) and the kind's options (x, lines, panels for loss curves; targets
    for time to target).
    """
    metrics: dict[str, Any] = {}
    for artifact in artifacts:
        kind = artifact["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown artifact kind {kind!r} for {artifact['name']}")
        table = read_aggregated(Path(artifact["aggregated"]))
        if table.empty or "epoch" not in table:
            metrics[artifact["name"]] = {}
        else:
            metrics[artifact["name"]] = KIND_METRICS.get(kind, run_counts)(table, artifact)
    return metrics
