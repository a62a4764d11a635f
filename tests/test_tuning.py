"""The tuning stage (secondorder.study.tuning): search spaces in the config, tuning runs on a
held-out validation split, the selection rule (ties, all excluded, one point), final runs trained
with the winner, and a test set that tuning never reads."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from secondorder import data, glue, study
from secondorder.analysis.report.document import Study
from secondorder.analysis.report.protocol import tuning_section
from secondorder.analysis.tuning_report import (
    budget_table,
    edge_winners,
    read_trials_table,
    sensitivity,
    trials_table,
    write_tuning_report,
)
from secondorder.errors import ConfigError
from secondorder.study import grids, tuning
from secondorder.training import record
from secondorder.training.loop import train_run
from secondorder.training.selection import resolve_selection

BASE = {
    "seeds": [0, 1],
    "run": {"batch_size": 50, "epochs": 1, "train_subset": 300, "test_subset": 200},
    "optimizers": {
        "sgd": {"method": "sgd", "lr": {"search": [0.01, 0.1, 1]}},
        "sr1": {"method": "lsr1", "memory": {"search": [5, 10]}, "skip_threshold": 1e-8},
    },
    "search": {"epochs": 1, "validation": 100},
    "artifacts": {
        "fig": {
            "kind": "loss_curves",
            "datasets": ["mnist"],
            "models": ["lenet"],
            "optimizers": ["sgd", "sr1"],
        }
    },
}


def config(**changes):
    raw = copy.deepcopy(BASE)
    for key, value in changes.items():
        raw[key] = value
    if "optimizers" in changes:
        raw["artifacts"]["fig"]["optimizers"] = list(changes["optimizers"])
    return study.load_config(raw)


def finals(checked):
    return [spec for spec in study.expand(checked).values() if spec.evaluate_on == "test"]


def test_a_searched_value_expands_into_tuning_runs_on_the_validation_split():
    checked = config()
    runs = study.expand(checked)
    trials = [spec for spec in runs.values() if spec.evaluate_on == "validation"]
    # sgd: 3 points, sr1: 2 points; one tuning seed each (search.seeds defaults to [0])
    assert len(trials) == 5 and {t.seed for t in trials} == {0}
    assert all(t.holdout == 100 and t.search is None and t.epochs == 1 for t in trials)
    assert sorted(t.hparams["lr"] for t in trials if t.optimizer == "sgd") == [0.01, 0.1, 1.0]
    assert all("__val__" in t.run_id for t in trials)
    final = [spec for spec in finals(checked) if spec.optimizer == "sgd"]
    assert len(final) == 2  # one per study seed, both read one selection
    assert all("lr" not in spec.hparams for spec in final)
    assert all(spec.search["space"] == {"lr": [0.01, 0.1, 1.0]} for spec in final)
    assert all(spec.holdout is None for spec in final)  # final_training: all
    assert len(study.searches(checked)) == 2  # sgd and sr1 groups
    assert final[0].tuning_group == final[1].tuning_group


def test_final_training_rest_holds_out_the_same_split():
    checked = config(search={"epochs": 2, "validation": 0.25, "final_training": "rest"})
    final = finals(checked)
    assert all(spec.holdout == 0.25 for spec in final)
    trials = [spec for spec in study.expand(checked).values() if spec.evaluate_on != "test"]
    assert all(spec.holdout == 0.25 and spec.epochs == 2 for spec in trials)


def test_a_pinned_value_bypasses_tuning_for_that_setting():
    raw = copy.deepcopy(BASE)
    raw["artifacts"]["fig"]["batch_sizes"] = [50, 100]
    raw["tuning"] = [{"match": {"optimizer": "sgd", "batch_size": 100}, "set": {"lr": 0.05}}]
    checked = study.load_config(raw)
    sgd = [spec for spec in finals(checked) if spec.optimizer == "sgd"]
    pinned = [spec for spec in sgd if spec.batch_size == 100]
    searched = [spec for spec in sgd if spec.batch_size == 50]
    assert all(spec.search is None and spec.hparams["lr"] == 0.05 for spec in pinned)
    assert all(spec.search is not None for spec in searched)
    trials = [s for s in study.expand(checked).values() if s.evaluate_on == "validation"]
    assert {t.batch_size for t in trials if t.optimizer == "sgd"} == {50}


def test_a_single_point_space_is_that_value_pinned():
    one = config(optimizers={"sgd": {"method": "sgd", "lr": {"search": [0.3]}}})
    plain = config(optimizers={"sgd": {"method": "sgd", "lr": 0.3}})
    assert study.expand(one) == study.expand(plain)
    assert study.searches(one) == {}


@pytest.mark.parametrize(
    ("optimizers", "search", "message"),
    [
        ({"sgd": {"method": "sgd", "lr": {"search": []}}}, None, "optimizers.sgd.lr.search"),
        ({"sgd": {"method": "sgd", "lr": {"grid": [1]}}}, None, "optimizers.sgd.lr"),
        ({"sgd": {"method": "sgd", "lr": {"search": [0.1, -1]}}}, None, "optimizers.sgd.lr"),
        ({"sgd": {"method": "sgd", "lr": {"search": [1, 1]}}}, None, "repeats"),
        ({"sgd": {"method": "sgd", "lrr": {"search": [1, 2]}}}, None, "optimizers.sgd.lrr"),
        (None, {"validation": 260}, "search.validation"),
        (None, {"validation": 1.5}, "search.validation"),
        (None, {"final_training": "some"}, "search.final_training"),
        (None, {"budget": 3}, "search.budget"),
        (None, {"seeds": []}, "search.seeds"),
    ],
)
def test_malformed_searches_name_the_key(optimizers, search, message):
    changes = {}
    if optimizers is not None:
        changes["optimizers"] = optimizers
    if search is not None:
        changes["search"] = search
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        config(**changes)


def test_a_final_run_keeps_its_id_when_tuning_fills_in_the_winner():
    spec = next(spec for spec in finals(config()) if spec.optimizer == "sgd")
    selection = {"group": spec.tuning_group, "winner": {"lr": 0.1}}
    resolved = resolve_selection(spec, selection)
    assert resolved.hparams["lr"] == 0.1 and resolved.run_id == spec.run_id
    with pytest.raises(ConfigError, match="group"):
        resolve_selection(spec, {**selection, "group": "another"})
    with pytest.raises(ConfigError, match="search space"):
        resolve_selection(spec, {**selection, "winner": {"momentum": 0.9}})


def test_changing_the_space_changes_the_final_runs_and_only_the_new_points():
    before = config()
    raw = copy.deepcopy(BASE)
    raw["optimizers"]["sgd"]["lr"] = {"search": [0.01, 0.1, 0.5]}
    after = study.load_config(raw)
    old, new = set(study.expand(before)), set(study.expand(after))
    added = new - old
    # one new tuning point and the two sgd final runs (their search changed); sr1 untouched
    assert len(added) == 3
    assert sum("__val__" in run_id for run_id in added) == 1
    assert all("__sgd__" in run_id for run_id in added)


# -- the selection rule ----------------------------------------------------------------------


def summary_of(run, status="finished", loss=1.0):
    return {
        "run_id": run.run_id,
        "spec": run.to_dict(),
        "status": status,
        "final": {"validation_loss": loss},
    }


def selection_with(spec, outcomes):
    """The selection when the tuning runs of ``spec`` end as ``outcomes`` (point -> list of
    (status, loss) per seed)."""
    summaries = {}
    for (_point, runs), results in zip(tuning.trial_specs(spec), outcomes, strict=True):
        for run, (status, loss) in zip(runs, results, strict=True):
            summaries[run.run_id] = summary_of(run, status, loss)
    return tuning.select(spec, summaries)


@pytest.fixture
def sgd_final():
    checked = config(search={"validation": 100, "seeds": [0, 1]})
    return next(spec for spec in finals(checked) if spec.optimizer == "sgd")


def test_the_lowest_mean_validation_loss_wins(sgd_final):
    selection = selection_with(
        sgd_final,
        [
            [("finished", 2.0), ("finished", 2.2)],
            [("finished", 1.0), ("finished", 1.4)],
            [("finished", 0.9), ("finished", 1.6)],
        ],
    )
    assert selection["status"] == "selected"
    assert selection["winner"] == {"lr": 0.1}  # mean 1.2 beats 1.25
    assert selection["score"] == pytest.approx(1.2)
    assert [t["score"] for t in selection["trials"]] == pytest.approx([2.1, 1.2, 1.25])


def test_a_tie_goes_to_the_point_listed_first(sgd_final):
    selection = selection_with(
        sgd_final,
        [[("finished", 1.5)] * 2, [("finished", 1.0)] * 2, [("finished", 1.0)] * 2],
    )
    assert selection["winner"] == {"lr": 0.1}


def test_a_point_with_one_diverged_or_non_finite_seed_is_excluded(sgd_final):
    selection = selection_with(
        sgd_final,
        [
            [("finished", 2.0)] * 2,
            [("finished", 0.5), ("diverged", None)],
            [("finished", 1.0), ("finished", float("nan"))],
        ],
    )
    assert selection["winner"] == {"lr": 0.01}
    assert selection["trials"][1]["statuses"] == ["finished", "diverged"]
    assert selection["trials"][2]["statuses"] == ["finished", "non-finite"]
    assert selection["trials"][1]["score"] is None and selection["trials"][2]["score"] is None


def test_an_all_excluded_space_selects_nothing(sgd_final):
    selection = selection_with(sgd_final, [[("diverged", None)] * 2] * 3)
    assert selection["status"] == "all_excluded" and selection["winner"] is None
    assert resolve_selection(sgd_final, selection) == sgd_final


def test_a_summary_of_another_spec_is_refused(sgd_final):
    (_point, runs), *_ = tuning.trial_specs(sgd_final)
    summaries = {
        run.run_id: summary_of(run) for _, runs_ in tuning.trial_specs(sgd_final) for run in runs_
    }
    summaries[runs[0].run_id]["spec"] = {**runs[0].to_dict(), "epochs": 7}
    with pytest.raises(ConfigError, match="another spec"):
        tuning.select(sgd_final, summaries)


def test_the_tuning_report_lists_every_point_and_marks_exclusions(sgd_final, tmp_path):
    selection = selection_with(
        sgd_final,
        [[("finished", 2.0)] * 2, [("finished", 1.0)] * 2, [("diverged", None)] * 2],
    )
    path = tmp_path / "group.json"
    path.write_text(json.dumps(selection))
    table = write_tuning_report(
        [path],
        tmp_path / "tuning.csv",
        tmp_path / "tuning.md",
        {"sgd": (tmp_path / "tuning_sgd.png", tmp_path / "tuning_sgd.pdf")},
        {"sgd": "sgd"},
    )
    assert list(table["status"]) == ["finished", "finished", "diverged"]
    assert list(table["winner"]) == [False, True, False]
    summary = sensitivity(trials_table([path]))
    assert summary.loc[0, "excluded"] == 1 and summary.loc[0, "near_best_share"] == 1 / 3
    markdown = (tmp_path / "tuning.md").read_text()
    assert "| lr=1.0 | diverged | - | -, - |  |" in markdown
    assert "| lr=0.1 | finished | 1 | 1, 1 | winner |" in markdown
    assert (tmp_path / "tuning_sgd.png").stat().st_size > 10_000


# -- grid sizes, edge winners, budgets -------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "value", "position"),
    [
        ([0.01, 0.1, 1.0], 0.01, grids.LOWEST),
        ([0.01, 0.1, 1.0], 1.0, grids.HIGHEST),
        ([0.01, 0.1, 1.0], 0.1, grids.INSIDE),
        ([1.0, 0.01, 0.1], 1.0, grids.HIGHEST),  # the largest value, wherever it is written
        ([10, 20], 20, grids.TWO_VALUES),  # no inside: not flagged
        (["minibatch", 0.2, 0.5], 0.5, grids.UNORDERED),
        ([True, False, 1], True, grids.UNORDERED),
    ],
)
def test_where_a_value_sits_in_its_grid(values, value, position):
    assert grids.grid_position(values, value) == position


def finished(*losses):
    """Outcomes of a two-seed search whose points finish with these losses (both seeds)."""
    return [[("finished", loss)] * 2 for loss in losses]


def test_the_selection_file_has_the_grid_size_and_flags_a_winner_on_the_edge(sgd_final):
    at_edge = selection_with(sgd_final, finished(1.0, 2.0, 3.0))
    assert at_edge["points"] == 3 and at_edge["winner"] == {"lr": 0.01}
    assert at_edge["positions"] == {"lr": grids.LOWEST} and at_edge["on_edge"] == ["lr"]
    inside = selection_with(sgd_final, finished(2.0, 1.0, 3.0))
    assert inside["positions"] == {"lr": grids.INSIDE} and inside["on_edge"] == []
    nothing = selection_with(sgd_final, [[("diverged", None)] * 2] * 3)
    assert nothing["points"] == 3 and nothing["positions"] == {} and nothing["on_edge"] == []


def sr1_final():
    checked = config(search={"validation": 100, "seeds": [0, 1]})
    return next(spec for spec in finals(checked) if spec.optimizer == "sr1")


def tuning_table_of_two_groups(sgd_final, tmp_path):
    """The tuning table of one setting: SGD (3 points, the winner on the highest) and SR1 (2
    points, the winner on a 2-value grid)."""
    selections = [
        selection_with(sgd_final, finished(3.0, 2.0, 1.0)),
        selection_with(sr1_final(), finished(1.0, 2.0)),
    ]
    paths = []
    for i, selection in enumerate(selections):
        path = tmp_path / f"group{i}.json"
        path.write_text(json.dumps(selection))
        paths.append(path)
    write_tuning_report(paths, tmp_path / "tuning.csv", tmp_path / "tuning.md", {}, {})
    return tmp_path / "tuning.csv"


def test_the_tuning_table_shows_grid_sizes_budgets_and_edge_winners(sgd_final, tmp_path):
    table = read_trials_table(tuning_table_of_two_groups(sgd_final, tmp_path))
    assert list(table["grid_points"]) == [3, 3, 3, 2, 2]
    assert not table["budget_equal"].any()  # SGD 3 points, SR1 2 in one setting
    (edge,) = edge_winners(table).itertuples()
    assert edge.optimizer == "sgd" and edge.point == "lr=1.0" and edge.position == "lr: highest"
    sr1_winner = table[(table["optimizer"] == "sr1") & table["winner"]].iloc[0]
    assert sr1_winner["position"] == "memory: two values" and not sr1_winner["on_edge"]
    summary = sensitivity(table)
    assert list(summary["points"]) == [3, 2] and list(summary["on_edge"]) == [True, False]
    (budget,) = budget_table(table).itertuples()
    assert budget.points == "SR1 2, SGD 3" and not budget.equal
    markdown = (tmp_path / "tuning.md").read_text()
    assert "| grid points | budget |" in markdown
    assert "| 3 | unequal | 0 | lr=1.0 † | lr: highest |" in markdown
    assert "| 2 | unequal | 0 | memory=5 |  |" in markdown
    assert "| lr=1.0 † | finished | 1 | 1, 1 | winner |" in markdown
    assert "| SR1 2, SGD 3 | unequal |" in markdown


def test_the_budget_check_compares_grid_sizes_per_setting():
    raw = copy.deepcopy(BASE)
    raw["artifacts"]["fig"]["batch_sizes"] = [50, 100]
    raw["tuning"] = [
        {"match": {"optimizer": "sgd", "batch_size": 100}, "set": {"lr": {"search": [0.1, 1]}}}
    ]
    budgets = tuning.budget_check(study.searches(study.load_config(raw)))
    by_label = {b["label"]: b for b in budgets}
    assert set(by_label) == {"mnist-lenet-tanh bs50", "mnist-lenet-tanh bs100"}
    assert by_label["mnist-lenet-tanh bs50"]["points"] == {"sgd": [3], "sr1": [2]}
    assert not by_label["mnist-lenet-tanh bs50"]["equal"]
    assert by_label["mnist-lenet-tanh bs100"]["points"] == {"sgd": [2], "sr1": [2]}
    assert by_label["mnist-lenet-tanh bs100"]["equal"]
    assert by_label["mnist-lenet-tanh bs100"]["setting"]["batch_size"] == 100


def test_the_report_states_the_budget_rule_the_unequal_budgets_and_the_edge_winners(
    sgd_final, tmp_path
):
    csv = tuning_table_of_two_groups(sgd_final, tmp_path)
    checked = config(search={"validation": 100, "seeds": [0, 1], "epochs": 2})
    section = tuning.report_section(checked, study.searches(checked))
    section["table"] = str(csv)
    report = Study(
        artifacts=[],
        tables={},
        rows=pd.DataFrame(),
        findings=[],
        base=tmp_path,
        settings={},
        summaries=[],
        tuning=section,
    )
    text = "\n".join(tuning_section(report))
    assert f"**Budget rule**: {tuning.BUDGET_RULE}" in text
    assert "a point costs 2 epoch(s) x 2 tuning seed(s)" in text
    assert "grids of one size in 0 of 1 settings." in text
    assert "- unequal budgets: SR1 2 points, SGD 3 points in mnist-lenet-tanh bs50" in text
    assert "**Winners on an edge of their grid**: 1 of 2" in text
    assert "- SGD, mnist-lenet-tanh bs50: lr=1.0 (lr: highest)" in text
    assert "1 winner(s) have a 2-value grid" in text
    assert "| lr=1.0 † | finished | 1 | 1, 1 | winner |" in text
    assert text.count("Selection rule") == 1


PAPER = Path(__file__).parents[1] / "config"


def paper_config(*beyond: str):
    return study.load_config_files([PAPER / "config.yaml", *(PAPER / name for name in beyond)])[1]


def test_sgd_learning_rate_grid_moves_up_with_the_batch_size_in_the_paper_config():
    """The authors searched SGD's rate from 1e-3 upward by decades until it diverged; the
    paper's config gives SGD 6 half-decade values per batch size, from 1e-3 at batch 100, whose
    top is the first at or above 3x the linearly scaled rate (0.1 x B / 100)."""
    grids = {}
    for spec in study.searches(paper_config()).values():
        if spec.optimizer == "sgd" and spec.model == "lenet":
            grids.setdefault(spec.batch_size, set()).add(tuple(spec.search["space"]["lr"]))
    assert all(len(spaces) == 1 for spaces in grids.values())  # one grid per batch size
    grid_of = {batch: next(iter(spaces)) for batch, spaces in grids.items()}
    assert grid_of[100] == (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
    for batch, values in grid_of.items():
        diverging = 0.3 * batch / 100 * (1 - 1e-9)  # 3x the scaled rate, less rounding
        assert len(values) == 6 and values[-2] < diverging <= values[-1]
    assert len(set(grid_of.values())) == 4  # 100, 200, 400-800, 1600-3200


@pytest.mark.parametrize("beyond", [(), ("beyond.yaml",)])
def test_the_paper_config_gives_every_tuned_preset_of_a_setting_one_budget(beyond):
    checked = paper_config(*beyond)
    assert checked["search"]["equal_budget"] and checked["search"]["extend_edges"]
    assert checked["search"]["seeds"] == [0, 1]
    budgets = tuning.budget_check(study.searches(checked))
    assert len(budgets) == (24 if beyond else 20)
    assert [b["label"] for b in budgets if not b["equal"]] == []
    assert {n for b in budgets for sizes in b["points"].values() for n in sizes} == {6}
    fig12 = next(b for b in budgets if b["label"] == "mnist-lenet-tanh bs100")["points"]
    for fixed, twin in (("shg-fixed", "shg"), ("sqn-fixed", "sqn"), ("sr1-fixed", "sr1")):
        assert fig12[fixed] == fig12[twin]
    assert fig12["sqn-byrd"] == fig12["sqn"]


def test_an_unequal_budget_is_refused_naming_the_setting_and_the_sizes():
    raw = copy.deepcopy(BASE)  # sgd 3 points, sr1 2 in mnist-lenet-tanh bs50
    raw["search"] = {**raw["search"], "equal_budget": True}
    with pytest.raises(ConfigError) as error:
        study.load_config(raw)
    assert str(error.value) == (
        "search.equal_budget: the presets tuned in mnist-lenet-tanh bs50 have grids of "
        "different sizes (sgd 3, sr1 2 points); give each the same number of points, or set "
        "search.equal_budget: false"
    )
    raw["optimizers"]["sr1"]["memory"] = {"search": [5, 10, 20]}
    assert study.load_config(raw)["search"]["equal_budget"]


# -- seeds, edges and the points added beyond them ------------------------------------------


def test_two_seed_scores_and_their_spread_are_in_the_table(sgd_final, tmp_path):
    selection = selection_with(
        sgd_final,
        [
            [("finished", 2.0), ("finished", 2.5)],
            [("finished", 1.0), ("finished", 1.25)],
            [("finished", 0.5), ("diverged", None)],
        ],
    )
    assert [t["seed_scores"] for t in selection["trials"]] == [[2.0, 2.5], [1.0, 1.25], [0.5, None]]
    assert [t["score"] for t in selection["trials"]] == [2.25, 1.125, None]
    assert selection["winner"] == {"lr": 0.1}  # the diverged seed excludes lr=1 (0.5 alone)
    path = tmp_path / "group.json"
    path.write_text(json.dumps(selection))
    table = write_tuning_report([path], tmp_path / "t.csv", tmp_path / "t.md", {}, {})
    assert list(table["seed_scores"]) == ["2, 2.5", "1, 1.25", "0.5, -"]
    assert table["seed_spread"].tolist()[:2] == [0.5, 0.25] and math.isnan(table["seed_spread"][2])
    assert sensitivity(read_trials_table(tmp_path / "t.csv")).loc[0, "seed_spread"] == 0.5
    assert "| lr=0.1 | finished | 1.125 | 1, 1.25 | winner |" in (tmp_path / "t.md").read_text()


@pytest.mark.parametrize(
    ("values", "edge", "beyond"),
    [
        ([0.01, 0.1, 1.0], grids.HIGHEST, 10.0),
        ([0.01, 0.1, 1.0], grids.LOWEST, 0.001),
        ([0.001, 0.003, 0.01, 0.03, 0.1, 0.3], grids.HIGHEST, 0.9),  # the nearest two's ratio
        ([0.01, 0.03, 0.1, 0.3, 1.0, 3.0], grids.HIGHEST, 9.0),
        ([0.0, 0.01, 0.1], grids.LOWEST, -0.01),  # by the difference: the method refuses it
        ([0.0, 0.01, 0.1], grids.HIGHEST, 1.0),
        ([5, 10, 20], grids.HIGHEST, 40),
        ([5, 10, 20], grids.LOWEST, 2),  # 2.5, rounded: an integer hyperparameter
        ([1, 2, 3], grids.HIGHEST, 4),  # 3 x 3/2 = 4.5, rounded half to even
        ([10, 20], grids.HIGHEST, None),  # two values: no edge
        (["a", "b", "c"], grids.HIGHEST, None),
    ],
)
def test_the_value_beyond_an_edge_continues_the_grid(values, edge, beyond):
    assert grids.beyond(values, edge) == beyond


def extending(**search):
    return config(search={"validation": 100, "seeds": [0, 1], "extend_edges": True, **search})


def test_extension_is_part_of_the_final_runs_search_and_off_changes_no_id():
    plain, off = config(), config(search={"validation": 100, "extend_edges": False})
    assert study.expand(plain).keys() == study.expand(off).keys()
    assert tuning.extension_runs(study.searches(off)) == {}
    on = config(search={"validation": 100, "extend_edges": True})
    plain_ids, on_ids = set(study.expand(plain)), set(study.expand(on))
    assert {i for i in plain_ids if "__val__" in i} == {i for i in on_ids if "__val__" in i}
    assert all("__val__" not in run_id for run_id in plain_ids ^ on_ids)  # finals moved only
    assert all(spec.search["extend_edges"] for spec in finals(on) if spec.search)


def test_every_point_an_extension_may_add_is_built_before_tuning_and_not_planned():
    checked = extending()
    searches = study.searches(checked)
    extra = tuning.extension_runs(searches)
    sgd = next(spec for spec in searches.values() if spec.optimizer == "sgd")
    # SGD's lr grid 0.01, 0.1, 1: 0.001 and 10, two tuning seeds each; SR1's 2-value grid: none
    assert sorted(run.hparams["lr"] for run in extra.values()) == [0.001, 0.001, 10.0, 10.0]
    assert all(
        run.optimizer == "sgd" and run.evaluate_on == "validation" and run.seed in (0, 1)
        for run in extra.values()
    )
    added = tuning.extension_specs(sgd, [{"lr": 10.0}])
    assert {run.run_id for _, runs in added for run in runs} <= set(extra)
    assert not set(extra) & set(study.expand(checked))


def extended_selection(spec, grid_losses, added_losses, *, grid_only=False):
    """The selection when the grid's points end with ``grid_losses`` and the added points with
    ``added_losses`` (both seeds alike)."""
    summaries = {}
    for (_point, runs), loss in zip(tuning.trial_specs(spec), grid_losses, strict=True):
        summaries.update((run.run_id, summary_of(run, "finished", loss)) for run in runs)
    first = tuning.select(spec, summaries, grid_only=True)
    if grid_only:
        return first
    added = tuning.extension_specs(spec, first["extensions"])
    for (_point, runs), loss in zip(added, added_losses, strict=True):
        summaries.update((run.run_id, summary_of(run, "finished", loss)) for run in runs)
    return tuning.select(spec, summaries)


def test_an_edge_winner_adds_the_point_beyond_and_the_selection_is_redone():
    spec = next(spec for spec in finals(extending()) if spec.optimizer == "sgd")
    first = extended_selection(spec, [3.0, 2.0, 1.0], [], grid_only=True)
    assert first["extensions"] == [{"lr": 10.0}] and len(first["trials"]) == 3
    assert first["winner"] == {"lr": 1.0} and first["on_edge"] == ["lr"]
    better = extended_selection(spec, [3.0, 2.0, 1.0], [0.5])
    assert better["points"] == 3 and len(better["trials"]) == 4
    assert better["trials"][3]["extended"] and better["trials"][3]["values"] == {"lr": 10.0}
    assert better["winner"] == {"lr": 10.0} and better["score"] == 0.5
    assert better["positions"] == {"lr": grids.HIGHEST}  # on the new edge: still flagged
    worse = extended_selection(spec, [3.0, 2.0, 1.0], [4.0])
    assert worse["winner"] == {"lr": 1.0} and worse["positions"] == {"lr": grids.INSIDE}
    assert worse["on_edge"] == []
    inside = extended_selection(spec, [3.0, 1.0, 2.0], [])
    assert inside["extensions"] == [] and len(inside["trials"]) == 3
    assert len(tuning.selection_summaries(spec, None)) == 6  # 3 points x 2 seeds


def test_the_table_marks_the_added_point_and_counts_only_the_grid(tmp_path):
    spec = next(spec for spec in finals(extending()) if spec.optimizer == "sgd")
    path = tmp_path / "group.json"
    path.write_text(json.dumps(extended_selection(spec, [3.0, 2.0, 1.0], [0.5])))
    table = write_tuning_report([path], tmp_path / "t.csv", tmp_path / "t.md", {}, {})
    assert list(table["extended"]) == [False, False, False, True]
    assert set(table["grid_points"]) == {3}
    (summary,) = sensitivity(table).itertuples()
    assert summary.points == 3 and summary.added == 1 and summary.on_edge
    markdown = (tmp_path / "t.md").read_text()
    assert "| 3 (+1) | equal | 0 | lr=10.0 † | lr: highest |" in markdown
    assert "| lr=10.0 (beyond the grid) † | finished | 0.5 | 0.5, 0.5 | winner |" in markdown


def test_a_value_the_method_refuses_is_not_added():
    raw = copy.deepcopy(BASE)
    raw["optimizers"]["sr1"]["memory"] = {"search": [1, 2, 4]}  # below 1: 0.5 -> 0, refused
    raw["search"] = {**raw["search"], "extend_edges": True}
    spec = next(s for s in finals(study.load_config(raw)) if s.optimizer == "sr1")
    first = extended_selection(spec, [1.0, 2.0, 3.0], [], grid_only=True)
    assert first["on_edge"] == ["memory"] and first["extensions"] == []
    extra = tuning.extension_runs({spec.tuning_group: spec})
    assert {run.hparams["memory"] for run in extra.values()} == {8}


# -- training with a selection; the test set is never read by tuning ---------------------------


def tiny(spec, **changes):
    return replace(spec, train_subset=200, test_subset=100, batch_size=50, **changes)


def test_the_final_run_trains_with_the_winner_or_is_recorded_untuned(mnist_bundle, tmp_path):
    checked = config(run={**BASE["run"], "train_subset": 200, "test_subset": 100})
    spec = next(spec for spec in finals(checked) if spec.optimizer == "sgd" and spec.seed == 0)
    selection = {
        "group": spec.tuning_group,
        "status": "selected",
        "winner": {"lr": 0.1},
        "score": 1.0,
        "rule": tuning.SELECTION_RULE,
    }
    summary = train_run(spec, mnist_bundle, tmp_path / "tuned", device="cpu", selection=selection)
    assert summary["status"] == "finished" and summary["spec"]["hparams"]["lr"] == 0.1
    assert summary["tuning"]["winner"] == {"lr": 0.1} and summary["run_id"] == spec.run_id

    nothing = {**selection, "status": "all_excluded", "winner": None, "score": None}
    untuned = train_run(spec, mnist_bundle, tmp_path / "untuned", device="cpu", selection=nothing)
    assert untuned["status"] == "untuned" and untuned["iterations"] == 0
    assert "not trained" in untuned["error"]
    rows = (tmp_path / "untuned" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2  # the header and the initial evaluation
    with pytest.raises(ConfigError, match="selection"):
        train_run(spec, mnist_bundle, tmp_path / "none", device="cpu")


def test_a_failed_tuning_run_is_its_record_and_a_failed_final_run_fails(mnist_bundle, tmp_path):
    """Rule train's job (secondorder.glue.train_job) on a point that fails for real: SGD cannot
    scale float32 weights by a learning rate of 1e300, torch raises in the step. A tuning run
    records the failure as its outputs, and select excludes the point; a final run raises and
    leaves only failed.json, as before."""
    checked = config(
        run={**BASE["run"], "train_subset": 200, "test_subset": 100},
        optimizers={"sgd": {"method": "sgd", "lr": {"search": [0.1, 1e300]}}},
    )
    spec = next(spec for spec in finals(checked) if spec.seed == 0)
    summaries = {}
    for trial in tuning.trial_runs(spec):
        run_dir = tmp_path / trial.run_id
        summary = glue.train_job(trial, mnist_bundle, run_dir, device="cpu", threads=1)
        assert json.loads((run_dir / "summary.json").read_text()) == summary
        summaries[trial.run_id] = summary
    failed = summaries[tuning.trial_runs(spec)[1].run_id]
    assert failed["status"] == "failed" and "overflow" in failed["error"]
    assert (tmp_path / failed["run_id"] / "failed.json").exists()
    header = (tmp_path / failed["run_id"] / "metrics.csv").read_text().splitlines()
    assert header == [",".join(record.METRIC_COLUMNS)]
    selection = tuning.select(spec, summaries)
    assert [t["statuses"] for t in selection["trials"]] == [["finished"], ["failed"]]
    assert selection["status"] == "selected" and selection["winner"] == {"lr": 0.1}

    final = replace(tuning.trial_runs(spec)[1], holdout=None, evaluate_on="test")
    with pytest.raises(RuntimeError, match="overflow"):
        glue.train_job(final, mnist_bundle, tmp_path / "final", device="cpu", threads=1)
    assert [p.name for p in (tmp_path / "final").iterdir()] == ["failed.json"]

    # an attempt that Snakemake's --retries will repeat fails its job, so the retry happens
    trial = tuning.trial_runs(spec)[1]
    with pytest.raises(RuntimeError, match="overflow"):
        glue.train_job(
            trial, mnist_bundle, tmp_path / "retried", device="cpu", threads=1, record_failure=False
        )
    assert [p.name for p in (tmp_path / "retried").iterdir()] == ["failed.json"]


def poisoned_copy(bundle: Path, out: Path) -> Path:
    """The bundle with its test images and labels replaced by noise (digest recomputed)."""
    obj = torch.load(bundle, weights_only=True)
    generator = torch.Generator().manual_seed(123)
    obj["x_test"] = torch.randint(
        0, 256, obj["x_test"].shape, dtype=torch.uint8, generator=generator
    )
    obj["y_test"] = torch.randint(0, 10, obj["y_test"].shape, generator=generator)
    obj["meta"]["bundle_sha256"] = data.tensors_sha256(obj)
    torch.save(obj, out)
    data.digest_path(out).write_text(obj["meta"]["bundle_sha256"] + "\n")
    return out


def test_tuning_runs_never_read_the_test_set(mnist_bundle, tmp_path):
    checked = config(run={**BASE["run"], "train_subset": 200, "test_subset": 100})
    trial = next(s for s in study.expand(checked).values() if s.evaluate_on == "validation")
    final = next(s for s in finals(checked) if s.optimizer == "sgd")
    poisoned = poisoned_copy(mnist_bundle, tmp_path / "poisoned.pt")

    clean_run = train_run(trial, mnist_bundle, tmp_path / "clean", device="cpu")
    train_run(trial, poisoned, tmp_path / "poisoned", device="cpu")
    assert clean_run["evaluated_on"] == "validation"
    assert "validation_loss" in clean_run["final"] and "test_loss" not in clean_run["final"]
    # the same metrics to the last bit (but the clock): no test image reached the tuning run
    clean = pd.read_csv(tmp_path / "clean" / "metrics.csv").drop(columns="train_time_s")
    dirty = pd.read_csv(tmp_path / "poisoned" / "metrics.csv").drop(columns="train_time_s")
    pd.testing.assert_frame_equal(clean, dirty, check_exact=True)
    # ...while the same data does reach a run evaluated on the test set
    pinned = replace(final, search=None, hparams={**final.hparams, "lr": 0.1})
    clean_final = train_run(pinned, mnist_bundle, tmp_path / "clean-final", device="cpu")
    poisoned_final = train_run(pinned, poisoned, tmp_path / "poisoned-final", device="cpu")
    assert clean_final["final"]["test_loss"] != poisoned_final["final"]["test_loss"]


def test_the_validation_split_is_stratified_disjoint_and_fixed(mnist_small):
    labels = mnist_small.y_train
    train, validation = data.split_validation(labels, 0.2)
    assert len(validation) == 200 and len(train) == 800
    assert not set(train.tolist()) & set(validation.tolist())
    assert torch.bincount(labels[validation], minlength=10).tolist() == pytest.approx(
        (torch.bincount(labels, minlength=10) * 0.2).tolist(), abs=1
    )
    again, _ = data.split_validation(labels, 0.2)
    assert torch.equal(train, again)
    with pytest.raises(ConfigError, match="holdout"):
        data.split_validation(labels, 1000)
