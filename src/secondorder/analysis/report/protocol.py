"""How the study was run, in the report: its scale (runs, datasets, epochs, subsets, seeds),
the settings we chose (config, thresholds of the verdict rules) and the tuning stage (its
budget per method and setting, the winners on an edge of their grid, every point tried)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder.analysis import findings, paper
from secondorder.analysis.report.document import Study, md_table
from secondorder.analysis.style import dataset_label, is_missing, optimizer_label, sort_key
from secondorder.analysis.tuning_report import (
    edge_winners,
    points_text,
    read_trials_table,
    tuning_markdown,
)
from secondorder.study.tuning import TWO_VALUES, setting_label


def _distinct(runs: pd.DataFrame, column: str, missing: str) -> str:
    if column not in runs:
        return "n/a"
    items = set()
    for value in runs[column]:
        if is_missing(value):
            items.add(missing)
        elif isinstance(value, float) and value.is_integer():
            items.add(str(int(value)))
        else:
            items.add(str(value))
    return ", ".join(sorted(items, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else v)))


def scale_section(study: Study) -> list[str]:
    if study.rows.empty:
        return ["- No runs."]
    runs = study.rows.groupby("run_id").first()
    status = runs["status"].value_counts().to_dict()
    datasets = sorted(runs["dataset"].unique(), key=sort_key)
    lines = [
        f"- Runs: {len(runs)} ({', '.join(f'{v} {k}' for k, v in sorted(status.items()))})",
        f"- Datasets: {', '.join(dataset_label(d) for d in datasets)}",
        f"- Epochs: {_distinct(runs, 'epochs', 'n/a')}",
        f"- Training subset (images): {_distinct(runs, 'train_subset', 'full set')}; "
        f"test subset: {_distinct(runs, 'test_subset', 'full set')}",
        f"- Batch sizes: {_distinct(runs, 'batch_size', 'n/a')}; "
        f"seeds: {_distinct(runs, 'seed', 'n/a')}",
    ]
    reduced = runs[["train_subset", "test_subset"]].notna().to_numpy().any()
    if reduced or runs["seed"].nunique() < 2:
        lines.append(
            "- **Scale**: "
            + ("subsets of the data, not the paper's full sets; " if reduced else "")
            + ("one seed, so no seed ranges; " if runs["seed"].nunique() < 2 else "")
            + "the verdicts describe these runs, not the paper's setting."
        )
    return lines


def _hparam_text(value: Any) -> str:
    """A pinned value as it is; a search space as 'tuned over {a, b, c}'."""
    if isinstance(value, Mapping) and "search" in value:
        return "tuned over {" + ", ".join(map(str, value["search"])) + "}"
    return str(value)


def _thresholds() -> str:
    targets = ", ".join(f"{dataset_label(d)} {t:.0%}" for d, t in paper.TABLE2_TARGETS.items())
    tolerance = ", ".join(
        f"{dataset_label(d)} ±{t:g}" for d, t in findings.TABLE1_TOLERANCE_PP.items()
    )
    return (
        "Thresholds of the verdict rules: loss margin "
        f"{findings.LOSS_MARGIN:.0%}; curves compared at {findings.GRID_POINTS} epochs, "
        f"lower at >= {findings.MOST_OF_CURVE:.0%} of them; time margin "
        f"{findings.TIME_MARGIN:.0%}; time-to-target accuracies {targets}; Table 1 tolerance "
        f"{tolerance} points."
    )


def settings_section(study: Study) -> list[str]:
    settings = study.settings
    if not settings:
        return ["Not given."]
    run = settings.get("run", {})
    lines = [
        f"- Seeds: {', '.join(map(str, settings.get('seeds', [])))}; device: "
        f"{settings.get('device', 'n/a')}",
        "- Run defaults: " + ", ".join(f"{k} {v}" for k, v in run.items()),
    ]
    for model, values in (settings.get("model_defaults") or {}).items():
        lines.append(
            f"- Model default, {model}: " + ", ".join(f"{k} {v}" for k, v in values.items())
        )
    for rule in settings.get("tuning") or []:
        changes = ", ".join(f"{k} {_hparam_text(v)}" for k, v in rule.get("set", {}).items())
        lines.append(f"- Per setting: where {rule.get('match')}, set {changes}")
    presets = settings.get("optimizers") or {}
    rows = [
        (
            name,
            entry.get("method", ""),
            ", ".join(f"{k} {_hparam_text(v)}" for k, v in entry.items() if k != "method"),
        )
        for name, entry in presets.items()
    ]
    lines += ["", *md_table(("Preset", "Method", "Hyperparameters"), rows)] if rows else []
    return [*lines, "", _thresholds()]


def tuning_section(study: Study) -> list[str]:
    """The tuning stage: how it searched, the budget of each method per setting (and where they
    differ), the winners on an edge of their grid, every point with its score, the
    sensitivity."""
    tuning = study.tuning
    if not tuning or not tuning.get("table"):
        return [
            "Nothing was tuned: every hyperparameter is pinned in the config (see the settings "
            "above), so the comparison measures those values."
        ]
    search = tuning["search"]
    final = (
        "on the whole training set (the validation split included)"
        if search["final_training"] == "all"
        else "on the training set without the validation split"
    )
    lines = [
        f"Every point of each search space was trained for {search['epochs']} epoch(s) per "
        f"tuning seed ({', '.join(map(str, search['seeds']))}) on the training set minus a "
        f"held-out validation split of {search['validation']} "
        f"{'of the training images' if isinstance(search['validation'], float) else 'images'}"
        f", and scored on that split; the test set is never read by tuning. Selection rule: "
        f"{tuning['rule']}. The final runs train with the winner {final}.",
        "",
        *budget_lines(search, tuning["budget_rule"], tuning["budgets"]),
        "",
    ]
    table = read_trials_table(Path(tuning["table"]))
    lines += [*edge_lines(table, tuning["edge_rule"]), ""]
    for png in tuning.get("figures", []):
        lines += [f"![Sensitivity of {Path(png).stem}]({study.rel(Path(png))})", ""]
    text = tuning_markdown(table, standalone=False)
    return [*lines, *("#" + line if line.startswith("## ") else line for line in text)]


def budget_lines(
    search: Mapping[str, Any], rule: str, budgets: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The budget rule with the search block's numbers, and the budget check: settings whose
    methods had grids of one size, and each setting where they did not."""
    seeds = len(search["seeds"])
    lines = [
        f"**Budget rule**: {rule}. Here a point costs {search['epochs']} epoch(s) x {seeds} "
        f"tuning seed(s); a method with n grid points trains n x {seeds} tuning run(s). "
        "Presets with every hyperparameter pinned are not tuned and not counted."
    ]
    equal = [f"{b['label']} ({points_text(b['points'])})" for b in budgets if b["equal"]]
    check = f"- Budget check: grids of one size in {len(equal)} of {len(budgets)} settings"
    lines.append(check + (": " + "; ".join(equal) if equal else "") + ".")
    lines += [
        f"- unequal budgets: {points_text(b['points'], ' points')} in {b['label']}"
        for b in budgets
        if not b["equal"]
    ]
    return lines


def edge_lines(table: pd.DataFrame, rule: str) -> list[str]:
    """The winners on an edge of their grid, one line each, after the edge rule."""
    edges = edge_winners(table)
    two = int(table["position"].str.contains(TWO_VALUES).sum()) if len(table) else 0
    winners = int(table["winner"].sum()) if len(table) else 0
    lines = [
        f"**Winners on an edge of their grid**: {len(edges)} of {winners}. Rule: {rule}. "
        f"{two} winner(s) have a 2-value grid among their searched values (not flagged)."
    ]
    for _, row in edges.iterrows():
        lines.append(
            f"- {optimizer_label(row['optimizer'])}, {setting_label(row)}: {row['point']} "
            f"({row['position']})"
        )
    return lines
