"""What every finding shares: the verdict object, the selection of runs, losses on a shared
epoch grid, seed statistics and the thresholds that the rules state.

Conventions of every rule:

- a run that diverged has an infinite loss from the point where its record ends (the paper's
  Figure 12 depends on counting an explosion as a failure, not as a shorter curve);
- seeds are summarised by their mean and min-max range, and a difference counts only beyond a
  relative margin;
- a setting with no runs for a finding is "inconclusive: not in this study", listed, not hidden.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from secondorder.analysis.style import dataset_label, is_missing, model_label, optimizer_label
from secondorder.analysis.tables import PAPER_ACTIVATION

HOLDS, FAILS, UNCLEAR = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, FAILS, UNCLEAR)
NOT_IN_STUDY = "not in this study"

# The paper's second-order methods (L-BFGS and Adam baselines are beyond the paper).
SECOND_ORDER = ("shg", "sqn", "lsr1")
PAPER_METHODS = ("sgd", "gd", *SECOND_ORDER)
METHOD_LABELS = {"sgd": "SGD", "gd": "GD", "shg": "SHG", "sqn": "SQN", "lsr1": "SR1"}
# Hyperparameters that set only the step length: a fixed-step preset and its line-search twin
# differ in these alone.
STEP_KEYS = frozenset({"line_search", "lr", "ls_backtrack", "ls_c", "ls_max_trials"})
# A loss (or loss ratio) differs only beyond this relative margin.
LOSS_MARGIN = 0.05
# Curves are compared at this many evenly spaced epochs of their common range.
GRID_POINTS = 20
# "Lower along the curve": lower by the margin at this share of the grid points (at least).
MOST_OF_CURVE = 0.75

SETTING_COLUMNS = ("dataset", "model", "activation", "variant", "batch_size")


@dataclass
class Finding:
    """One finding of the paper, its verdict on this study and the numbers behind it."""

    key: str  # "f1" ... ; also the anchor of its report section
    title: str  # the paper's statement
    paper: str  # where the paper says it
    rule: str  # one sentence, with the thresholds
    verdict: str  # one of VERDICTS
    summary: str  # why this verdict, in one line
    columns: tuple[str, ...] = ()
    rows: list[tuple[str, ...]] = field(default_factory=list)
    run_ids: frozenset[str] = frozenset()
    # Artifact kinds that show it ("kind" or "kind:x"); the report links those with its runs.
    shown_by: tuple[str, ...] = ("loss_curves:epoch",)


def not_in_study(finding: Finding, what: str) -> Finding:
    """The finding as inconclusive because the study has no runs for it."""
    finding.verdict = UNCLEAR
    finding.summary = f"{NOT_IN_STUDY}: {what}"
    return finding


def majority(verdicts: Sequence[str]) -> str:
    """holds / does not hold when more than half of the parts say so, else inconclusive."""
    for verdict in (HOLDS, FAILS):
        if sum(v == verdict for v in verdicts) * 2 > len(verdicts) > 0:
            return verdict
    return UNCLEAR


def all_of(verdicts: Sequence[str]) -> str:
    """The verdict of a statement made of parts: any part fails -> fails; all hold -> holds."""
    if FAILS in verdicts:
        return FAILS
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return UNCLEAR


def count_text(verdicts: Sequence[str], what: str) -> str:
    """'holds in 2 of 3 <what>, does not hold in 1, inconclusive in 0'."""
    return (
        f"holds in {sum(v == HOLDS for v in verdicts)} of {len(verdicts)} {what}, does not "
        f"hold in {sum(v == FAILS for v in verdicts)}, inconclusive in "
        f"{sum(v == UNCLEAR for v in verdicts)}"
    )


# -- selecting runs


def hparams_of(row: pd.Series) -> dict:
    """The run's resolved hyperparameters ({} where the table has none)."""
    value = row.get("hparams")
    return {} if is_missing(value) else json.loads(value)


def is_fixed_step(row: pd.Series) -> bool:
    """A second-order run with its line search switched off (the paper's Figure 12)."""
    return row["method"] in SECOND_ORDER and hparams_of(row).get("line_search") is False


def is_beyond_paper(row: pd.Series) -> bool:
    """A run the paper's findings do not speak about: a method the paper does not compare
    (Adam, ...) or a variant it does not run (Gauss-Newton curvature, Levenberg-Marquardt
    adaptive damping; a fixed damping is part of Hessian-free's own tuning)."""
    if row["method"] not in PAPER_METHODS:
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
        return pd.DataFrame(columns=["run_id", *SETTING_COLUMNS, "optimizer", "method", "seed"])
    columns = ["run_id", *SETTING_COLUMNS, "optimizer", "method", "seed", "status", "hparams"]
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
    paper_act = runs["model"].map(PAPER_ACTIVATION).fillna(runs["activation"])
    runs = runs[(runs["activation"] == paper_act) & (runs["variant"] == "standard")]
    runs = runs[~runs["fixed_step"]]
    smallest = runs.groupby(["dataset", "model"])["batch_size"].transform("min")
    keep = set(runs.loc[runs["batch_size"] == smallest, "run_id"])
    return rows[rows["run_id"].isin(keep)]


def setting_label(key: dict | pd.Series, columns: Iterable[str] = SETTING_COLUMNS) -> str:
    """'MNIST / LeNet, tanh, bs 100' (only the columns given)."""
    parts = [f"{dataset_label(key['dataset'])} / {model_label(key['model'])}"]
    for column in columns:
        if column in ("dataset", "model") or column not in key:
            continue
        value = key[column]
        if column == "batch_size":
            parts.append(f"bs {int(value)}")
        elif column != "variant" or value != "standard":
            parts.append(str(value))
    return ", ".join(parts)


# -- losses per run on shared epochs


def loss_column(rows: pd.DataFrame) -> str:
    """full_train_loss when every run has it, else the running mean of mini-batch losses."""
    if "full_train_loss" in rows and len(rows):
        has = rows.groupby("run_id")["full_train_loss"].apply(lambda s: s.notna().any())
        if bool(has.all()):
            return "full_train_loss"
    return "train_loss"


@dataclass
class RunCurve:
    epoch: np.ndarray  # finite logging points, epoch > 0, in order
    loss: np.ndarray
    diverged: bool


def run_curves(rows: pd.DataFrame, loss: str) -> dict[str, RunCurve]:
    """Each run's training loss at its logging points after the first (epoch > 0)."""
    curves = {}
    for run_id, run in rows.groupby("run_id", sort=True):
        run = run.sort_values("epoch")
        epoch, value = run["epoch"].to_numpy(float), run[loss].to_numpy(float)
        ok = np.isfinite(epoch) & np.isfinite(value) & (epoch > 0)
        curves[str(run_id)] = RunCurve(
            epoch[ok], value[ok], bool((run["status"] == "diverged").any())
        )
    return curves


def common_range(curves: Iterable[RunCurve]) -> tuple[float, float] | None:
    """Epochs that every run covers: from the latest first point to the earliest last point of
    the runs that did not diverge (a diverged run's loss is infinite after its end)."""
    curves = [c for c in curves if len(c.epoch)]
    if not curves:
        return None
    start = max(c.epoch[0] for c in curves)
    ends = [c.epoch[-1] for c in curves if not c.diverged] or [c.epoch[-1] for c in curves]
    end = min(ends)
    return (start, end) if end >= start else None


def loss_at(curve: RunCurve, epochs: np.ndarray) -> np.ndarray:
    """Linear interpolation; infinite after the end of a diverged run (and for a diverged run
    without finite points), NaN outside a finished run's range."""
    if not len(curve.epoch):
        return np.full(len(epochs), math.inf if curve.diverged else math.nan)
    values = np.interp(epochs, curve.epoch, curve.loss, left=math.nan, right=math.nan)
    beyond = epochs > curve.epoch[-1] + 1e-9
    values[beyond] = math.inf if curve.diverged else math.nan
    return values


def epoch_grid(start: float, end: float, points: int = GRID_POINTS) -> np.ndarray:
    return np.linspace(start, end, points) if end > start else np.array([end])


@dataclass
class Stats:
    """Seed statistics of a loss at one or more epochs: mean, min and max over runs."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int

    def text(self, i: int = -1) -> str:
        return stats_text(self.mean[i], self.low[i], self.high[i], self.n)


def seed_stats(curves: Sequence[RunCurve], epochs: np.ndarray) -> Stats:
    values = np.array([loss_at(c, epochs) for c in curves])
    with np.errstate(invalid="ignore"):
        return Stats(values.mean(axis=0), values.min(axis=0), values.max(axis=0), len(curves))


def stats_text(mean: float, low: float, high: float, n: int) -> str:
    """'0.123 (0.12-0.13, 3 seeds)', 'diverged' for infinite means."""
    if is_missing(mean):
        return "n/a"
    if math.isinf(mean):
        return "diverged" if n == 1 or math.isinf(low) else f"diverged ({n} seeds, some)"
    if n == 1:
        return f"{mean:.4g}"
    return f"{mean:.4g} ({low:.4g}-{high:.4g}, {n} seeds)"


def ratio(a: float, b: float) -> float:
    """a / b with inf/inf and 0/0 undefined (NaN)."""
    if (math.isinf(a) and math.isinf(b)) or b == 0 or is_missing(a) or is_missing(b):
        return math.nan
    return a / b


def direction(value: float, margin: float = LOSS_MARGIN) -> str:
    """'up' / 'down' beyond the relative margin around 1, 'flat' within it, 'n/a' if undefined."""
    if is_missing(value):
        return "n/a"
    if value > 1 + margin:
        return "up"
    if value < 1 - margin:
        return "down"
    return "flat"


def ratio_text(value: float) -> str:
    if is_missing(value):
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.3g}"


# -- one curve against a reference curve


@dataclass
class CurveComparison:
    """A method's seed-mean loss against a reference's at shared epochs."""

    epochs: np.ndarray
    method: Stats
    reference: Stats
    share_lower: float  # grid points where the method is lower by the margin
    separated: bool  # at the last point: lower by the margin, and seed ranges apart
    outcome: str  # "lower" / "not lower" / "unclear"


def compare_curves(
    method: Sequence[RunCurve], reference: Sequence[RunCurve], margin: float = LOSS_MARGIN
) -> CurveComparison | None:
    """ "lower": lower by the margin at >= MOST_OF_CURVE of the grid and, at the last point,
    by the margin with the seeds' ranges apart; "not lower": not lower by the margin at more
    than half of the grid; else "unclear". None when the runs share no epochs."""
    span = common_range([*method, *reference])
    if span is None:
        return None
    epochs = epoch_grid(*span)
    ours, ref = seed_stats(method, epochs), seed_stats(reference, epochs)
    with np.errstate(invalid="ignore"):
        lower = ours.mean < ref.mean * (1 - margin)
    share = float(lower.mean())
    separated = bool(lower[-1] and ours.high[-1] < ref.low[-1])
    if share >= MOST_OF_CURVE and separated:
        outcome = "lower"
    elif share < 0.5:
        outcome = "not lower"
    else:
        outcome = "unclear"
    return CurveComparison(epochs, ours, ref, share, separated, outcome)


def reference_curves(
    curves: dict[str, RunCurve], runs: pd.DataFrame, method: str
) -> tuple[str, list[RunCurve]] | None:
    """The runs of one preset of `method` in a setting (the best at the common end when the
    study tuned several presets of it), with the preset's name."""
    presets = sorted(runs.loc[runs["method"] == method, "optimizer"].unique())
    if not presets:
        return None
    groups = {p: [curves[r] for r in runs.loc[runs["optimizer"] == p, "run_id"]] for p in presets}
    if len(groups) == 1:
        return presets[0], groups[presets[0]]
    span = common_range([c for g in groups.values() for c in g])
    if span is None:
        return presets[0], groups[presets[0]]
    end = np.array([span[1]])
    best = min(presets, key=lambda p: float(seed_stats(groups[p], end).mean[0]))
    return best, groups[best]


@dataclass
class SettingComparison:
    """One optimizer preset against SGD in one setting."""

    setting: str
    preset: str
    method: str
    comparison: CurveComparison
    run_ids: list[str]

    def row(self, verdict: str) -> tuple[str, ...]:
        c = self.comparison
        return (
            self.setting,
            optimizer_label(self.preset),
            f"{c.share_lower:.0%}",
            f"{c.epochs[-1]:.3g}",
            c.method.text(),
            c.reference.text(),
            verdict,
        )


COMPARISON_COLUMNS = (
    "Setting",
    "Method",
    "Epochs lower",
    "At epoch",
    "Loss (method)",
    "Loss (SGD)",
    "Verdict",
)


def compare_with_sgd(rows: pd.DataFrame, methods: Sequence[str]) -> list[SettingComparison]:
    """Each preset of `methods` against SGD along the training-loss curve, in every main
    setting (see :func:`main_settings`) that has both."""
    main = main_settings(rows)
    runs = runs_table(main)
    curves = run_curves(main, loss_column(main))
    out = []
    for key, group in runs.groupby(list(SETTING_COLUMNS), sort=True):
        reference = reference_curves(curves, group, "sgd")
        if reference is None:
            continue
        sgd_preset, sgd_curves = reference
        sgd_ids = list(group.loc[group["optimizer"] == sgd_preset, "run_id"])
        label = setting_label(dict(zip(SETTING_COLUMNS, key, strict=True)), ("batch_size",))
        for preset, own in group[group["method"].isin(methods)].groupby("optimizer", sort=True):
            ids = list(own["run_id"])
            comparison = compare_curves([curves[r] for r in ids], sgd_curves)
            if comparison is not None:
                method = str(own["method"].iloc[0])
                out.append(SettingComparison(label, str(preset), method, comparison, ids + sgd_ids))
    return out
