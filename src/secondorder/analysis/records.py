"""Run records -> one aggregated CSV per artifact, and reading it back.

A run record is a directory written by :mod:`secondorder.training.loop` (``metrics.csv`` and
``summary.json``). :func:`aggregate` joins the metrics rows of an artifact's runs with their spec
columns; figures, tables and claims all read that one table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder import atomic
from secondorder.spec import DATASETS
from secondorder.training.record import METRICS, SUMMARY

# Spec columns that every aggregated row carries (contract), then extra context columns.
SPEC_COLUMNS = (
    "run_id",
    "dataset",
    "model",
    "activation",
    "variant",
    "optimizer",
    "method",
    "batch_size",
    "seed",
    "status",
)
CONTEXT_COLUMNS = (
    "epochs",
    "train_subset",
    "test_subset",
    "train_size",
    "hparams",
    "device",
    "data_files",
    "data_original_md5",
    "final_train_accuracy",  # the final model on the training set (NaN: not recorded)
    "final_full_train_loss",
)


def _train_size(spec: Mapping[str, Any], metrics: pd.DataFrame, data: Mapping[str, Any]) -> float:
    """N, the number of training samples one epoch passes over."""
    if spec.get("train_subset"):
        return float(spec["train_subset"])
    if data.get("num_train"):
        return float(data["num_train"])
    if spec.get("dataset") in DATASETS:
        return float(DATASETS[spec["dataset"]].train_size)
    if {"epoch", "iteration"} <= set(metrics) and spec.get("batch_size"):
        rows = metrics[metrics["epoch"] > 0]
        if len(rows):  # epoch = iterations * batch_size / N
            last = rows.iloc[-1]
            return float(round(last["iteration"] * spec["batch_size"] / last["epoch"]))
    return float("nan")


def _run_rows(run_dir: Path) -> pd.DataFrame:
    summary_path = run_dir / SUMMARY
    if not summary_path.exists():
        raise FileNotFoundError(f"run record incomplete: {summary_path} is missing")
    summary = json.loads(summary_path.read_text())
    spec = summary.get("spec", {})
    metrics_path = run_dir / METRICS
    exists = metrics_path.exists() and metrics_path.stat().st_size > 0
    metrics = pd.read_csv(metrics_path) if exists else pd.DataFrame()
    if metrics.empty:  # keep the run visible (e.g. failed before its first log point)
        metrics = pd.DataFrame({"epoch": [float("nan")]})
    environment = summary.get("environment") or {}
    data = environment.get("data") or {}
    final = summary.get("final") or {}
    context = {
        "run_id": summary.get("run_id", run_dir.name),
        **{key: spec.get(key) for key in SPEC_COLUMNS[1:-1]},
        "status": summary.get("status", "unknown"),
        "epochs": spec.get("epochs"),
        "train_subset": spec.get("train_subset"),
        "test_subset": spec.get("test_subset"),
        "train_size": _train_size(spec, metrics, data),
        "hparams": json.dumps(spec.get("hparams", {}), sort_keys=True),
        "device": environment.get("device_name") or environment.get("device"),
        "data_files": json.dumps(data.get("files", {}), sort_keys=True),
        "data_original_md5": data.get("original_md5"),
        "final_train_accuracy": final.get("train_accuracy"),
        "final_full_train_loss": final.get("full_train_loss"),
    }
    context_frame = pd.DataFrame({key: [value] * len(metrics) for key, value in context.items()})
    return pd.concat([context_frame, metrics.reset_index(drop=True)], axis=1)


def aggregate(run_dirs: Iterable[Path], out_csv: Path) -> pd.DataFrame:
    """Join the metrics rows of each run with its spec columns and status; write ``out_csv``.

    Columns: the spec columns of the contract (run_id, dataset, model, activation, variant,
    optimizer, method, batch_size, seed, status), context (epochs, subsets, N, hparams, device,
    data checksums, the final model's training accuracy and loss), then the metrics columns. Rows
    keep each run's logging order.
    """
    frames = [_run_rows(Path(run_dir)) for run_dir in sorted(map(Path, run_dirs))]
    if frames:
        table = pd.concat(frames, ignore_index=True)
    else:
        table = pd.DataFrame(columns=[*SPEC_COLUMNS, *CONTEXT_COLUMNS])
    atomic.write_text(Path(out_csv), table.to_csv(index=False))
    return table


def read_aggregated(path: Path) -> pd.DataFrame:
    """An aggregated CSV as written by :func:`aggregate`, name columns as strings."""
    table = pd.read_csv(path, keep_default_na=True)
    for column in ("activation", "variant", "optimizer", "method", "dataset", "model", "status"):
        if column in table:
            table[column] = table[column].astype(str)
    return table
