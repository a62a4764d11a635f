"""Which runs a finding speaks about: the paper's methods and variants (not those beyond the
paper), one row per run, the paper's main comparison, fixed-step runs and their presets'
differences."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.rows import hparams_of
from secondorder.spec import GRID_AXES

# Hyperparameters that set only the step length: a fixed-step preset and its line-search twin
# differ in these alone.
STEP_KEYS = frozenset({"line_search", "lr", "ls_backtrack", "ls_c", "ls_max_trials"})


def is_fixed_step(row: pd.Series) -> bool:
    """A second-order run with its line search switched off (the paper's Figure 12)."""
    return (
        row["method"] in paper.SECOND_ORDER_METHODS and hparams_of(row).get("line_search") is False
    )


def is_beyond_paper(row: pd.Series) -> bool:
    """A run the paper's findings do not speak about: a method the paper does not compare
    (Adam, ...) or a variant it does not run (Gauss-Newton curvature, Levenberg-Marquardt
    adaptive damping; a fixed damping is part of Hessian-free's own tuning)."""
    if row["method"] not in paper.METHODS:
        return True
    hparams = hparams_of(row)
    return hparams.get("curvature", "hessian") != "hessian" or bool(hparams.get("adapt_damping"))


def paper_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs the paper's findings speak about (not :func:`is_beyond_paper`)."""
    if rows.empty:
        return rows
    keys = rows[["method", "hparams"]].drop_duplicates()
    beyond = keys[keys.apply(is_beyond_paper, axis=1)]
    if beyond.empty:
        return rows
    marked = rows.merge(beyond.assign(_beyond=True), on=["method", "hparams"], how="left")
    return rows[marked["_beyond"].isna().to_numpy()]


def differing_hparams(a: dict, b: dict) -> list[str]:
    """The hyperparameters besides the step length's in which two presets differ, sorted."""
    keys = (set(a) | set(b)) - STEP_KEYS
    return sorted(k for k in keys if a.get(k) != b.get(k))


def runs_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its setting, optimizer, method, seed, status and whether fixed-step."""
    if rows.empty:
        return pd.DataFrame(columns=["run_id", *GRID_AXES, "optimizer", "method", "seed"])
    columns = ["run_id", *GRID_AXES, "optimizer", "method", "seed", "status", "hparams"]
    runs = rows[[c for c in columns if c in rows]].groupby("run_id", sort=True).first()
    runs = runs.reset_index()
    runs["fixed_step"] = runs.apply(is_fixed_step, axis=1) if len(runs) else []
    return runs


def main_settings(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of the paper's main comparison: the model's paper activation, the standard variant,
    the smallest batch size run for that dataset and model, line search on."""
    runs = runs_table(rows)
    if runs.empty:
        return rows.iloc[0:0]
    paper_act = runs["model"].map(paper.ACTIVATION).fillna(runs["activation"])
    runs = runs[(runs["activation"] == paper_act) & (runs["variant"] == "standard")]
    runs = runs[~runs["fixed_step"]]
    smallest = runs.groupby(["dataset", "model"])["batch_size"].transform("min")
    keep = set(runs.loc[runs["batch_size"] == smallest, "run_id"])
    return rows[rows["run_id"].isin(keep)]
