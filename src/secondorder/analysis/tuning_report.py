"""The tuning stage's report: every point tried with its score, the winners, and how sensitive
each method is to its hyperparameters (the paper's "hard to tune" remark, in numbers).

Reads the selection files of rule select (:func:`secondorder.study.tuning.select`); the table
has one row per point of every search group, with its grid's size, the winner's place in the
grid (a winner on an edge flagged, :data:`~secondorder.study.tuning.EDGE_RULE`) and whether the
methods of its setting had grids of one size (:func:`~secondorder.study.tuning.grid_budgets`).
The figure has one panel per searched hyperparameter of a preset, the score (validation loss at
the tuning budget) against the value, one line per setting, the best over the other searched
values at each value (a profile), excluded points (diverged, failed) marked at the top of the
panel, the winner starred.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from secondorder import atomic
from secondorder.analysis.figures import save_figure
from secondorder.analysis.findings.thresholds import LOSS_MARGIN
from secondorder.analysis.style import (
    dataset_label,
    model_label,
    optimizer_label,
    preset_ranks,
    preset_style,
)
from secondorder.spec import GRID_AXES
from secondorder.study.grids import EDGE_RULE, EDGES, EXTENSION_RULE, tried_space, winner_positions
from secondorder.study.tuning import BUDGET_RULE, SELECTION_RULE, grid_budgets
from secondorder.training.record import Status

# A point "near the best": validation loss within the findings' loss margin of the group's
# best, the margin by which the hard-to-tune rule counts the same share.
NEAR_BEST = LOSS_MARGIN
_EXCLUDED = {"marker": "x", "color": "#D55E00", "ms": 9, "mew": 2}
# The columns that name a search group's setting, in the order of the table's columns.
SETTING = (*GRID_AXES, "optimizer", "method")
EDGE_MARK = "†"  # after a winner on the edge of its grid
ADDED_MARK = "(beyond the grid)"  # after a point that an edge extension added


def trials_table(selections: Sequence[Path]) -> pd.DataFrame:
    """One row per point of every selection: its setting, group, ``value:<key>`` columns, the
    worst status of its seeds, each seed's score (``seed_scores``, text) and their spread
    (``seed_spread``: max - min, NaN without two finite scores), its score, whether it won,
    whether an edge extension added it (``extended``), the group's grid size (``grid_points``,
    added points not counted) and whether the methods of its setting had grids of one size
    (``budget_equal``); on the winner's row, where it sits among the values tried
    (``position``, e.g. ``lr: highest``) and whether that is an edge (``on_edge``).

    The places are computed from the selection's own space, points and winner, as rule select
    records them: a selection file written before select recorded them reads the same.
    """
    loaded = [json.loads(Path(path).read_text()) for path in selections]
    budgets = grid_budgets(
        (selection["setting"], selection["setting"]["optimizer"], _grid_points(selection))
        for selection in loaded
    )
    equal = {tuple(b["setting"].values()): b["equal"] for b in budgets}
    rows = []
    for selection in loaded:
        tried = tried_space(
            selection["search"]["space"], [t["values"] for t in selection["trials"]]
        )
        positions = winner_positions(tried, selection["winner"])
        setting = selection["setting"]
        for rank, trial in enumerate(selection["trials"]):
            won = trial["values"] == selection["winner"]
            rows.append(
                {
                    **_point_row(selection, rank, trial),
                    "grid_points": _grid_points(selection),
                    "budget_equal": equal[tuple(setting[axis] for axis in GRID_AXES)],
                    "position": "; ".join(f"{k}: {v}" for k, v in positions.items()) if won else "",
                    "on_edge": won and any(v in EDGES for v in positions.values()),
                }
            )
    return pd.DataFrame(rows)


def _grid_points(selection: Mapping[str, Any]) -> int:
    """The grid's size (points added beyond an edge not counted)."""
    return sum(not trial.get("extended", False) for trial in selection["trials"])


def _point_row(selection: Mapping[str, Any], rank: int, trial: Mapping[str, Any]) -> dict:
    statuses = trial["statuses"]
    finite = [score for score in trial["seed_scores"] if score is not None]
    return {
        "group": selection["group"],
        **{key: selection["setting"][key] for key in SETTING},
        "point": ", ".join(f"{k}={v}" for k, v in trial["values"].items()),
        **{f"value:{k}": v for k, v in trial["values"].items()},
        "grid_index": rank,
        "status": next((s for s in statuses if s != Status.FINISHED), Status.FINISHED),
        "seed_scores": ", ".join(_number(score) for score in trial["seed_scores"]),
        "seed_spread": max(finite) - min(finite) if len(finite) > 1 else math.nan,
        "score": trial["score"],
        "winner": trial["values"] == selection["winner"],
        "extended": bool(trial.get("extended", False)),
    }


def read_trials_table(path: Path) -> pd.DataFrame:
    """The CSV that :func:`write_tuning_report` wrote, with its text columns as text."""
    text = {"position": str, "seed_scores": str}
    return pd.read_csv(path, dtype=text).fillna({"position": "", "seed_scores": ""})


def edge_winners(table: pd.DataFrame) -> pd.DataFrame:
    """The winner rows of ``table`` that sit on an edge of their grid (:data:`EDGE_RULE`)."""
    if table.empty:
        return table
    return table[table["winner"] & table["on_edge"]]


def budget_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting of ``table``: the grid points of each preset tuned in it (``points``: text
    such as ``SGD 4, SQN 18``) and whether they are equal."""
    if table.empty:
        return pd.DataFrame(columns=[*GRID_AXES, "points", "equal"])
    groups = table.drop_duplicates("group")
    budgets = grid_budgets(
        (row, row["optimizer"], int(row["grid_points"])) for _, row in groups.iterrows()
    )
    return pd.DataFrame(
        [{**b["setting"], "points": points_text(b["points"]), "equal": b["equal"]} for b in budgets]
    )


def points_text(points: Mapping[str, Sequence[int]], unit: str = "") -> str:
    """Grid points per preset, fewest first: ``SGD 4, SQN 18`` (with ``unit``: ``SGD 4 points``)."""
    order = sorted(points, key=lambda preset: (max(points[preset]), preset))
    return ", ".join(
        f"{optimizer_label(preset)} {'/'.join(map(str, points[preset]))}{unit}" for preset in order
    )


def sensitivity(table: pd.DataFrame) -> pd.DataFrame:
    """Per search group: grid points, points added beyond an edge (``added``), points excluded,
    best score, the winner (with where it sits, and whether on an edge), the largest seed
    spread of a point (``seed_spread``) and the share of the grid's points whose score is
    within :data:`NEAR_BEST` of the grid's best (small: hard to tune; added points left out, so
    that grids of one size compare)."""
    rows = []
    for group, trials in table.groupby("group", sort=False):
        grid = trials[~trials["extended"]]
        scores = grid["score"].dropna()
        best = scores.min() if len(scores) else math.nan
        near = int((scores <= best * (1 + NEAR_BEST)).sum()) if len(scores) else 0
        first = trials.iloc[0]
        won = trials[trials["winner"]]
        rows.append(
            {
                "group": group,
                **{key: first[key] for key in SETTING},
                "points": len(grid),
                "added": len(trials) - len(grid),
                "budget_equal": bool(first["budget_equal"]),
                "excluded": int((trials["status"] != Status.FINISHED).sum()),
                "best_score": trials["score"].min(),
                "seed_spread": trials["seed_spread"].max(),
                "winner": won["point"].iloc[0] if len(won) else "none (all excluded)",
                "position": won["position"].iloc[0] if len(won) else "",
                "on_edge": bool(won["on_edge"].iloc[0]) if len(won) else False,
                "near_best_share": near / len(grid),
            }
        )
    return pd.DataFrame(rows)


def write_tuning_report(
    selections: Sequence[Path],
    out_csv: Path,
    out_md: Path,
    figures: Mapping[str, tuple[Path, Path]],
    presets: Mapping[str, str],
) -> pd.DataFrame:
    """The table (CSV: every point; Markdown: per group, with the sensitivity summary) and one
    figure per preset in ``figures`` (preset -> (png, pdf)); returns the table."""
    table = trials_table(selections)
    atomic.write_text(Path(out_csv), table.to_csv(index=False))
    lines = ["# Tuning: every point tried", "", *tuning_markdown(table)]
    atomic.write_text(Path(out_md), "\n".join(lines) + "\n")
    ranks = preset_ranks(presets)
    for preset, (png, pdf) in figures.items():
        style = preset_style(presets[preset], ranks.get(preset, 0))
        plot_sensitivity(table[table["optimizer"] == preset], preset, style["color"], png, pdf)
    return table


def _setting_text(row: Mapping[str, Any]) -> str:
    text = f"{dataset_label(row['dataset'])}, {model_label(row['model'])} ({row['activation']}"
    if row["variant"] != "standard":
        text += f", {row['variant']}"
    return text + f"), batch {row['batch_size']}"


def tuning_markdown(table: pd.DataFrame, *, standalone: bool = True) -> list[str]:
    """The tuning table in Markdown lines: the summary per group (grid points, budget, winner
    with its edge flag, sensitivity) and every point per group; ``standalone`` (the table's own
    file) adds the selection, budget and edge rules first and the grid points per setting after
    the summary, which the claims report states itself, with the config's numbers."""
    if table.empty:
        return ["Nothing was tuned."]
    summary = sensitivity(table)
    lines = (
        [
            f"Selection rule: {SELECTION_RULE}.",
            "",
            f"Budget rule: {BUDGET_RULE}.",
            "",
            f"Edge rule ({EDGE_MARK}): {EDGE_RULE}.",
            "",
            f"Edge extension, points marked {ADDED_MARK}: {EXTENSION_RULE}.",
            "",
        ]
        if standalone
        else []
    )
    lines += [
        f"Near best: validation loss within {NEAR_BEST:.0%} of the group's best; "
        f"{EDGE_MARK}: a winner on the edge of its grid; seed spread: the largest difference "
        "between the tuning seeds' scores of one point.",
        "",
        "| preset | setting | grid points | budget | excluded | winner | edge | "
        "best validation loss | seed spread | near best |",
        "|:---|:---|---:|:---|---:|:---|:---|---:|---:|---:|",
    ]
    for _, row in summary.iterrows():
        edge = row["position"] if row["on_edge"] else ""
        mark = f" {EDGE_MARK}" if row["on_edge"] else ""
        points = f"{row['points']} (+{row['added']})" if row["added"] else f"{row['points']}"
        lines.append(
            f"| {optimizer_label(row['optimizer'])} | {_setting_text(row)} | {points} | "
            f"{'equal' if row['budget_equal'] else 'unequal'} | {row['excluded']} | "
            f"{row['winner']}{mark} | {edge} | {_number(row['best_score'])} | "
            f"{_number(row['seed_spread'])} | {row['near_best_share']:.0%} |"
        )
    if standalone:
        lines += [
            "",
            "## Grid points per setting",
            "",
            "| setting | grid points per preset | budgets |",
            "|:---|:---|:---|",
        ]
        for _, row in budget_table(table).iterrows():
            equal = "equal" if row["equal"] else "unequal"
            lines.append(f"| {_setting_text(row)} | {row['points']} | {equal} |")
    for group, trials in table.groupby("group", sort=False):
        first = trials.iloc[0]
        lines += [
            "",
            f"## {optimizer_label(first['optimizer'])}: {_setting_text(first)} (`{group}`)",
            "",
            "| point | status | validation loss | per seed | |",
            "|:---|:---|---:|:---|:---|",
        ]
        for _, row in trials.iterrows():
            mark = "winner" if row["winner"] else ""
            point = f"{row['point']} {ADDED_MARK}" if row["extended"] else row["point"]
            point = f"{point} {EDGE_MARK}" if row["on_edge"] else point
            lines.append(
                f"| {point} | {row['status']} | {_number(row['score'])} | "
                f"{row['seed_scores']} | {mark} |"
            )
    return lines


def _number(value: Any) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"
    )


def _positions(values: Sequence[Any]) -> tuple[np.ndarray, bool, list[str] | None]:
    """x positions of searched values: numbers as they are (log axis when positive and
    spanning 10x or more), anything else as categories in the order given."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric:
        array = np.asarray(values, dtype=float)
        log = bool((array > 0).all() and array.max() >= 10 * array.min())
        return array, log, None
    labels = list(dict.fromkeys(map(str, values)))
    return np.asarray([labels.index(str(v)) for v in values], dtype=float), False, labels


def plot_sensitivity(table: pd.DataFrame, preset: str, colour: str, png: Path, pdf: Path) -> None:
    """One panel per searched hyperparameter of ``preset``: per setting, the best score at
    each value (over the other searched values), excluded points as x at the top, the winner
    as a star."""
    keys = [c.removeprefix("value:") for c in table.columns if c.startswith("value:")]
    keys = [k for k in keys if table[f"value:{k}"].notna().any()]
    fig = Figure(figsize=(4.2 * max(len(keys), 1), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(keys), 1), squeeze=False)[0])
    scores = table["score"].dropna()
    any_excluded = bool(table["score"].isna().any())
    top = (scores.max() * (1.15 if any_excluded else 1.02)) if len(scores) else 1.0
    markers = ("o", "s", "^", "D", "v", "P")
    dashes = ("-", "--", ":", "-.")
    for ax, key in zip(axes, keys, strict=False):
        column = f"value:{key}"
        log_values: set[float] = set()
        for i, (_, trials) in enumerate(table.groupby("group", sort=False)):
            trials = trials[trials[column].notna()]
            x, log, labels = _positions(list(trials[column]))
            trials = trials.assign(x=x)
            label = _setting_text(trials.iloc[0])
            kept = trials.dropna(subset=["score"]).groupby("x")["score"].min().sort_index()
            ax.plot(
                kept.index,
                kept.to_numpy(),
                marker=markers[i % len(markers)],
                linestyle=dashes[i % len(dashes)],
                color=colour,
                label=label,
            )
            excluded = trials[trials["score"].isna()]["x"].unique()
            ax.plot(excluded, np.full(len(excluded), top), ls="", **_EXCLUDED, clip_on=False)
            won = trials[trials["winner"]]
            ax.plot(
                won["x"],
                won["score"],
                "*",
                color="black",
                ms=13,
                zorder=5,
                label="winner" if i == 0 else None,
            )
            if log:
                ax.set_xscale("log")
                log_values.update(trials["x"])
            if labels is not None:
                ax.set_xticks(range(len(labels)), labels)
        if log_values:  # ticks at the grids' values (at most 8): minor log labels would overlap
            ticks = sorted(log_values)[:: max(1, math.ceil(len(log_values) / 8))]
            ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(key)
        ax.set_ylabel("validation loss at the tuning budget")
        ax.set_ylim(top=top * 1.05)
        ax.grid(True, alpha=0.3)
    if not keys:
        axes[0].text(0.5, 0.5, "nothing searched", ha="center", va="center")
        axes[0].set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "winner")  # winner last
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    if any_excluded:
        handles.append(Line2D([], [], ls="", **_EXCLUDED))
        labels.append("excluded (diverged or failed; drawn at the top)")
    if handles:
        axes[-1].legend(handles, labels, fontsize=7, loc="best")
    title = (
        f"Tuning {optimizer_label(preset)}: validation loss against each searched value "
        "(at each value the best over the others)"
    )
    width = fig.get_size_inches()[0]
    fig.suptitle(textwrap.fill(title, width=int(13 * width)), fontsize=9)
    save_figure(fig, Path(png), "png")
    save_figure(fig, Path(pdf), "pdf")
