"""Which runs a finding speaks about: the paper's methods and variants (not those beyond the
paper), one row per run, the runs most findings compare, the paper's main comparison, the
DRN's settings, fixed-step runs and their presets' differences, and which runs count (failed
ones do not)."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.rows import TRAINED, hparams_of
from secondorder.spec import GRID_AXES
from secondorder.training.record import Status

# Hyperparameters that set only the step length: a fixed-step preset and its line-search twin
# differ in these alone.
STEP_KEYS = frozenset({"line_search", "lr", "ls_backtrack", "ls_c", "ls_max_trials"})
# Section 3.3: SHG computes its gradient on 20 % of the data; Figure 1's other fractions are
# that figure's own claim, not the method's.
MAIN_GRADIENT_FRACTION = 0.2
# The models of Figures 2-5 (the main comparison); the DRN has claims of its own (Figure 9).
CURVE_MODELS = ("lenet", "alexnet")
DRN_MODEL = "resnet18"
# The DRN as the authors' reply describes it (ResNet-20), not as the paper's text does: shown
# beyond the paper, never counted for its claims.
BEYOND_PAPER_VARIANTS = ("resnet20",)
# Runs that are evidence: trained (finished, diverged) or left untuned (the method could not
# be tuned: an outcome). A failed (crashed) run says nothing about its optimizer.
COUNTED = (*TRAINED, Status.UNTUNED)


def is_fixed_step(row: pd.Series) -> bool:
    """A second-order run with its line search switched off (the paper's Figure 12)."""
    return (
        row["method"] in paper.SECOND_ORDER_METHODS and hparams_of(row).get("line_search") is False
    )


def is_inverse_step(row: pd.Series) -> bool:
    """A fixed-step run whose step decays as 1/k (Byrd et al. 2016, Section 3.4's own claim):
    not a fixed learning rate."""
    return is_fixed_step(row) and hparams_of(row).get("step_schedule") == "inverse"


def is_gradient_variant(row: pd.Series) -> bool:
    """An SHG run whose gradient is not on 20 % of the data (Figure 1's other curves)."""
    fraction = hparams_of(row).get("gradient_fraction", MAIN_GRADIENT_FRACTION)
    return row["method"] == "shg" and fraction != MAIN_GRADIENT_FRACTION


def is_beyond_paper(row: pd.Series) -> bool:
    """A run the paper's findings do not speak about: a method the paper does not compare
    (Adam, ...) or a variant it does not run (Gauss-Newton curvature, Levenberg-Marquardt
    adaptive damping; a fixed damping is part of Hessian-free's own tuning)."""
    if row["method"] not in paper.METHODS:
        return True
    hparams = hparams_of(row)
    return hparams.get("curvature", "hessian") != "hessian" or bool(hparams.get("adapt_damping"))


def paper_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs the paper's findings speak about: not :func:`is_beyond_paper`, and not
    a model variant beyond the paper's text (:data:`BEYOND_PAPER_VARIANTS`)."""
    if rows.empty:
        return rows
    rows = rows[~rows["variant"].isin(BEYOND_PAPER_VARIANTS)] if "variant" in rows else rows
    keys = rows[["method", "hparams"]].drop_duplicates()
    beyond = keys[keys.apply(is_beyond_paper, axis=1)]
    if beyond.empty:
        return rows
    marked = rows.merge(beyond.assign(_beyond=True), on=["method", "hparams"], how="left")
    return rows[marked["_beyond"].isna().to_numpy()]


def split_failed(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of the runs that count, rows of those that failed or whose end is unknown)."""
    if "status" not in rows:
        return rows, rows.iloc[0:0]
    counted = rows["status"].isin(COUNTED)
    return rows[counted], rows[~counted]


def compared_runs(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(rows of the runs that count, one row per such run (:func:`runs_table`) without the
    fixed-step runs and Figure 1's gradient variants, rows of the failed runs): what the
    findings on the line-search methods and SHG's main gradient compare."""
    counted, failed = split_failed(rows)
    runs = runs_table(counted)
    runs = runs[~runs["fixed_step"].astype(bool) & ~runs["gradient_variant"].astype(bool)]
    return counted, runs, failed


def differing_hparams(a: dict, b: dict) -> list[str]:
    """The hyperparameters besides the step length's in which two presets differ, sorted."""
    keys = (set(a) | set(b)) - STEP_KEYS
    return sorted(k for k in keys if a.get(k) != b.get(k))


def runs_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its setting, optimizer, method, seed, status, whether fixed-step and
    whether one of Figure 1's gradient variants."""
    columns = ["run_id", *GRID_AXES, "optimizer", "method", "seed", "status", "hparams"]
    if rows.empty:
        return pd.DataFrame(columns=[*columns, "fixed_step", "gradient_variant"])
    runs = rows[[c for c in columns if c in rows]].groupby("run_id", sort=True).first()
    runs = runs.reset_index()
    runs["fixed_step"] = runs.apply(is_fixed_step, axis=1)
    runs["gradient_variant"] = runs.apply(is_gradient_variant, axis=1)
    return runs


def _smallest_batch(runs: pd.DataFrame, by: list[str]) -> set[str]:
    smallest = runs.groupby(by)["batch_size"].transform("min")
    return set(runs.loc[runs["batch_size"] == smallest, "run_id"])


def main_settings(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of the paper's main comparison: the model's paper activation, the standard variant,
    the smallest batch size run for that dataset and model, line search on, SHG's gradient on
    20 % of the data."""
    runs = runs_table(rows)
    if runs.empty:
        return rows.iloc[0:0]
    paper_act = runs["model"].map(paper.ACTIVATION).fillna(runs["activation"])
    runs = runs[(runs["activation"] == paper_act) & (runs["variant"] == "standard")]
    runs = runs[~runs["fixed_step"] & ~runs["gradient_variant"]]
    return rows[rows["run_id"].isin(_smallest_batch(runs, ["dataset", "model"]))]


def drn_settings(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of the DRN with ReLU (Figure 9): ResNet-18 in each of its variants run (the
    paper's; a narrow one at CPU scale), the smallest batch size run for each, line search on,
    SHG's gradient on 20 % of the data."""
    runs = runs_table(rows)
    if runs.empty:
        return rows.iloc[0:0]
    runs = runs[(runs["model"] == DRN_MODEL) & (runs["activation"] == "relu")]
    runs = runs[~runs["fixed_step"] & ~runs["gradient_variant"]]
    return rows[rows["run_id"].isin(_smallest_batch(runs, ["dataset", "variant"]))]
