"""Reading the aggregated rows (the columns of :func:`secondorder.analysis.records.aggregate`),
once: the columns that name a run's setting, which loss a curve is made of, the x axis, a run's
hyperparameters and how runs ended. Figures, tables, metrics and findings read the rows through
here, so that a figure and a verdict on the same runs read the same numbers."""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd

from secondorder.analysis.style import is_missing
from secondorder.spec import GRID_AXES
from secondorder.training.record import Status

# Every figure panel and table row names the dataset and model; the other axes show only where
# they vary.
OTHER_AXES = tuple(axis for axis in GRID_AXES if axis not in ("dataset", "model"))


def _with_preset(after: str) -> tuple[str, ...]:
    at = GRID_AXES.index(after) + 1
    return (*GRID_AXES[:at], "optimizer", *GRID_AXES[at:])


# A run's setting: the grid axes and its optimizer preset, the preset before the batch size
# (the order of metrics.json's keys, "mnist-lenet-tanh-standard-sgd-bs100", and of the CG
# diagnostics).
RUN_SETTING = _with_preset(after="variant")
# The same columns, the preset right after dataset and model: the order of Table 2's columns
# and of a figure's line columns.
RUN_SETTING_BY_PRESET = _with_preset(after="model")

# Runs that trained (finished, or stopped when their loss exploded): the findings count these.
TRAINED = (Status.FINISHED, Status.DIVERGED)


def count_runs(statuses: pd.Series, *outcomes: Status) -> int:
    """How many runs (one status each) ended in one of `outcomes`."""
    return int(statuses.isin(outcomes).sum())


def count_failed(statuses: pd.Series) -> int:
    """How many runs neither trained nor were left untuned: they failed, or the record does
    not say how they ended."""
    return len(statuses) - count_runs(statuses, *TRAINED, Status.UNTUNED)


def loss_column(rows: pd.DataFrame) -> str:
    """full_train_loss when every run measured it, else the running mean of mini-batch losses
    (train_loss). A run measured it when any of its values is not NaN: an infinite loss (a
    diverged run's) is a measurement, so a diverged run neither switches the other runs to
    another loss nor reads differently in a figure and in a verdict."""
    if "full_train_loss" in rows and len(rows):
        measured = rows["full_train_loss"].astype(float).notna().groupby(rows["run_id"]).any()
        if bool(measured.all()):
            return "full_train_loss"
    return "train_loss"


X_AXES = ("epoch", "time", "work")

# A Hessian- or Gauss-Newton-vector product in gradients (per sample): the authors' reply in the
# review thread ("one Hessian-vector product costs about 2 gradients"; forward-over-reverse,
# Pearlmutter 1994). The Gauss-Newton product is assumed to cost the same.
CURVATURE_PRODUCT_GRADIENTS = 2.0
# A forward pass alone (a line-search trial, a loss evaluation) in gradients: a backward pass
# costs about two forwards (e.g. Kaplan et al. 2020, Sec. 2.1), so a gradient about three.
FORWARD_GRADIENTS = 1.0 / 3.0
# Model forwards that one product counts in forward_samples, by the run's `curvature`
# hyperparameter (secondorder.curvature.Objective.hvp: one, ggnvp: two).
PRODUCT_FORWARDS = {"hessian": 1, "gauss-newton": 2}


def _counter(rows: pd.DataFrame, name: str) -> pd.Series:
    """A cost counter of each row (NaN where the record lacks it)."""
    if name not in rows:
        return pd.Series(np.nan, index=rows.index)
    return rows[name].astype(float)


def _forwards_per_product(hparams: object) -> int:
    """PRODUCT_FORWARDS of a run's resolved hyperparameters (JSON; Hessian where unsaid)."""
    kind = ({} if is_missing(hparams) else json.loads(str(hparams))).get("curvature", "hessian")
    return PRODUCT_FORWARDS.get(kind, 1)


def gradient_equivalent_samples(rows: pd.DataFrame) -> pd.Series:
    """The work done up to each row, in samples through a gradient (a forward and a backward
    pass): gradient samples + CURVATURE_PRODUCT_GRADIENTS x curvature-product samples +
    FORWARD_GRADIENTS x samples through a forward pass alone (forward_samples less those of the
    gradients and products). The step-cost table and the figures' work axis read this one
    definition."""
    gradient = _counter(rows, "gradient_samples")
    curvature = _counter(rows, "curvature_samples")
    per_product = rows["hparams"].map(_forwards_per_product) if "hparams" in rows else 1
    forward_only = _counter(rows, "forward_samples") - gradient - per_product * curvature
    return gradient + CURVATURE_PRODUCT_GRADIENTS * curvature + FORWARD_GRADIENTS * forward_only


def x_values(runs: pd.DataFrame, x: str) -> pd.Series:
    """The x of each row: epochs, training wall time (s), or work done in passes over the
    training set in gradient-equivalents (:func:`gradient_equivalent_samples` / N)."""
    if x == "epoch":
        return runs["epoch"].astype(float)
    if x == "time":
        return runs["train_time_s"].astype(float)
    if x == "work":
        return gradient_equivalent_samples(runs) / runs["train_size"].astype(float)
    raise ValueError(f"x must be one of {X_AXES}, got {x!r}")


def hparams_of(row: pd.Series) -> dict:
    """The run's resolved hyperparameters ({} where the table has none)."""
    value = row.get("hparams")
    return {} if is_missing(value) else json.loads(value)


def varying(table: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """The columns of `columns` in the table that hold more than one value."""
    return [c for c in columns if c in table and table[c].nunique() > 1]
