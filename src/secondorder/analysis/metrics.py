"""Headline numbers of every artifact (results/metrics.json, the DVC metrics file).

Each number is keyed by *all* the settings of its row or line
(``dataset-model-activation-variant-optimizer-bs<B>``), so that two presets, batch sizes or
variants in one artifact never overwrite each other, and it says how many of its runs diverged
(or were left untuned, or failed) next to how many there were: a diverged preset cannot pass
for a healthy one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder.analysis.cg_diagnostics import diagnostics_summary, run_diagnostics
from secondorder.analysis.panels import build_panels
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.rows import RUN_SETTING
from secondorder.analysis.tables import accuracy_summary
from secondorder.analysis.time_to_target import run_times, time_summary


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
            out[setting_key(setting)] = _entry(
                final_train_loss=_number(curve.y[-1], 6) if len(curve.y) else None,
                runs=curve.n_runs,
                diverged_runs=curve.n_diverged,
                untuned_runs=curve.n_untuned,
            )
    return out


def _accuracy_table(table: pd.DataFrame) -> dict[str, Any]:
    common = {c: table[c].iloc[0] for c in RUN_SETTING}
    return {
        setting_key({**common, **{c: row[c] for c in RUN_SETTING if c in row}}): _entry(
            best_test_accuracy=_number(row["best_acc_mean"], 4),
            runs=int(row["n_runs"]),
            diverged_runs=int(row["n_diverged"]),
            untuned_runs=int(row["n_untuned"]),
            failed_runs=int(row["n_failed"]),
        )
        for row in accuracy_summary(table).to_dict("records")
    }


def _time_to_target(table: pd.DataFrame, artifact: Mapping[str, Any]) -> dict[str, Any]:
    summary = time_summary(run_times(table, artifact.get("targets", {})))
    return {
        setting_key(row): _entry(
            seconds_to_target=_number(row["seconds_mean"], 3),
            runs=int(row["n_runs"]),
            reached_runs=int(row["n_reached"]),
            diverged_runs=int(row["n_diverged"]),
            untuned_runs=int(row["n_untuned"]),
        )
        for row in summary.to_dict("records")
    }


def _cg_diagnostics(table: pd.DataFrame) -> dict[str, Any]:
    summary = diagnostics_summary(run_diagnostics(table))
    return {
        setting_key(row): _entry(
            cg_iterations_per_step=_number(row["cg_iterations_per_step"], 4),
            negative_curvature_share=_number(row["cg_negative_curvature_stops_share"], 4),
            runs=int(row["n_runs"]),
            diverged_runs=int(row["n_diverged"]),
        )
        for row in summary.to_dict("records")
    }


def headline_metrics(artifacts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Artifact name -> setting key -> its headline numbers (see the module docstring).

    Each artifact is a mapping with name, kind, aggregated (CSV path) and the kind's options
    (x, lines, panels for loss curves; targets for time to target).
    """
    metrics: dict[str, Any] = {}
    for artifact in artifacts:
        table = read_aggregated(Path(artifact["aggregated"]))
        kind = artifact["kind"]
        if table.empty or "epoch" not in table:
            metrics[artifact["name"]] = {}
        elif kind == "loss_curves":
            metrics[artifact["name"]] = _loss_curves(table, artifact)
        elif kind == "accuracy_table":
            metrics[artifact["name"]] = _accuracy_table(table)
        elif kind == "time_to_target":
            metrics[artifact["name"]] = _time_to_target(table, artifact)
        elif kind == "cg_diagnostics":
            metrics[artifact["name"]] = _cg_diagnostics(table)
        else:
            raise ValueError(f"unknown artifact kind {kind!r} for {artifact['name']}")
    return metrics
