"""Study expansion: config -> unique run specs with stable ids; config errors name the key."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from secondorder.errors import ConfigError
from secondorder.study import RunSpec, artifact_runs, expand, load_config

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "seeds": [0, 1],
    "run": {"batch_size": 100, "epochs": 2, "train_subset": 500},
    "optimizers": {
        "sgd": {"method": "sgd", "lr": 0.1},
        "shg": {"method": "shg", "gradient_fraction": 0.2, "cg_max_iter": 5},
    },
    "tuning": [{"match": {"dataset": "cifar10", "optimizer": "sgd"}, "set": {"lr": 0.01}}],
    "artifacts": {
        "table1": {
            "kind": "accuracy_table",
            "datasets": ["mnist", "cifar10"],
            "models": ["lenet"],
            "optimizers": ["sgd"],
        },
        "fig2": {
            "kind": "loss_curves",
            "x": "epoch",
            "datasets": ["mnist"],
            "models": ["lenet"],
            "optimizers": ["sgd", "shg"],
        },
        "fig4": {
            "kind": "loss_curves",
            "x": "time",
            "datasets": ["mnist"],
            "models": ["lenet"],
            "optimizers": ["sgd", "shg"],
        },
    },
}


def config(**changes):
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return load_config(raw)


def test_expansion_deduplicates_runs_shared_by_artifacts():
    cfg = config()
    runs = expand(cfg)
    # table1: 2 datasets x sgd x 2 seeds; fig2 = fig4: mnist x {sgd, shg} x 2 seeds;
    # mnist-sgd runs are shared by all three artifacts.
    assert len(runs) == 6  # cifar sgd (2 seeds) + mnist sgd (2) + mnist shg (2)
    per_artifact = artifact_runs(cfg)
    assert per_artifact["fig2"] == per_artifact["fig4"]
    assert set(per_artifact["table1"]) & set(per_artifact["fig2"])  # mnist sgd shared
    assert set().union(*per_artifact.values()) == set(runs)


def test_run_ids_are_readable_stable_and_spec_sensitive():
    runs = expand(config())
    for run_id, spec in runs.items():
        assert re.fullmatch(r"[a-z0-9._-]+", run_id)
        assert run_id == spec.run_id == RunSpec.from_dict(spec.to_dict()).run_id
    ids = sorted(runs)
    assert ids == sorted(expand(config()))  # same config, same ids
    assert any(i.startswith("mnist-lenet-tanh__shg__bs100__s0__") for i in ids)
    # a changed hyperparameter, epoch count or subset makes new ids
    changed = copy.deepcopy(BASE)
    changed["optimizers"]["shg"]["cg_max_iter"] = 6
    new_ids = set(expand(load_config(changed)))
    assert {i for i in ids if "__shg__" in i}.isdisjoint(new_ids)
    assert {i for i in ids if "__sgd__" in i} <= new_ids
    assert set(expand(config(run={"epochs": 3}))).isdisjoint(ids)


def test_hyperparameters_resolved_with_defaults_and_tuning():
    runs = expand(config())
    shg = next(s for s in runs.values() if s.method == "shg")
    assert shg.hparams["cg_max_iter"] == 5 and "warm_start_decay" in shg.hparams
    lrs = {(s.dataset, s.hparams["lr"]) for s in runs.values() if s.method == "sgd"}
    assert lrs == {("mnist", 0.1), ("cifar10", 0.01)}


def test_artifact_grid_axes_and_run_overrides():
    raw = copy.deepcopy(BASE)
    raw["artifacts"] = {
        "fig8": {
            "kind": "loss_curves",
            "lines": "batch_size",
            "datasets": ["mnist"],
            "models": ["alexnet"],
            "optimizers": ["shg"],
            "batch_sizes": [100, 400],
            "variants": ["standard", "residual"],
            "run": {"epochs": 1},
        }
    }
    runs = expand(load_config(raw))
    assert len(runs) == 2 * 2 * 2  # batch sizes x variants x seeds
    assert {s.epochs for s in runs.values()} == {1}
    assert any("-residual__" in i for i in runs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimizers": {"x": {"method": "newton"}}}, "optimizers.x"),
        ({"optimizers": {"x": {"method": "sgd", "learning_rate": 1}}}, "learning_rate"),
        ({"optimizers": {"x": {"method": "shg", "gradient_fraction": 1.5}}}, "gradient_fraction"),
        ({"run": {"batch_size": 0}}, "run.batch_size"),
        ({"run": {"epochs": -1}}, "run.epochs"),
        ({"run": {"activation": "sigmoid"}}, "run.activation"),
        ({"run": {"bacth_size": 10}}, "bacth_size"),
        ({"seeds": []}, "seeds"),
        ({"device": "tpu"}, "device"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_config_errors_name_the_key(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config(**change)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("datasets", ["imagenet"], "datasets"),
        ("models", ["vgg"], "models"),
        ("optimizers", ["adamw"], "optimizers"),
        ("kind", "histogram", "kind"),
        ("x", "iterations", ".x"),
    ],
)
def test_artifact_errors_name_the_key_and_allowed_values(field, value, message):
    raw = copy.deepcopy(BASE)
    raw["artifacts"]["fig2"][field] = value
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        load_config(raw)
    assert "choose one of" in str(error.value)


def test_variant_must_exist_for_the_model():
    raw = copy.deepcopy(BASE)
    raw["artifacts"]["fig2"]["variants"] = ["residual"]  # lenet has no residual variant
    with pytest.raises(ConfigError, match="variants"):
        load_config(raw)


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("seeds: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


@pytest.mark.parametrize("name", ["quick.yaml", "config.yaml", "test.yaml"])
def test_shipped_configs_load(name):
    cfg = load_config(REPO / "config" / name)
    assert expand(cfg)


def test_model_defaults_apply_between_run_defaults_and_artifact_overrides():
    raw = copy.deepcopy(BASE)
    raw["model_defaults"] = {"resnet18": {"activation": "relu", "epochs": 5}}
    raw["artifacts"]["table1"]["models"] = ["lenet", "resnet18"]
    raw["artifacts"]["table1"]["run"] = {"epochs": 3}
    runs = expand(load_config(raw))
    table = {(s.model, s.activation, s.epochs) for s in runs.values() if s.method == "sgd"}
    assert table == {("lenet", "tanh", 2), ("lenet", "tanh", 3), ("resnet18", "relu", 3)}
    raw["model_defaults"] = {"vgg": {"activation": "relu"}}
    with pytest.raises(ConfigError, match="model_defaults"):
        load_config(raw)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "time_to_target"}, "artifacts.fig2.targets: no test-accuracy target for 'mnist'"),
        (
            {"kind": "time_to_target", "targets": {"mnist": 98}},
            "artifacts.fig2.targets.mnist: expected a test accuracy in (0, 1], got 98",
        ),
        (
            {"kind": "time_to_target", "targets": {"mnist": 0.9, "cifar10": 0.7}},
            "artifacts.fig2.targets: 'cifar10' is not allowed",
        ),
        ({"targets": {"mnist": 0.9}}, "only time_to_target artifacts have targets"),
        ({"panels": ["dataset", "speed"]}, "artifacts.fig2.panels: 'speed' is not allowed"),
        (
            {"panels": ["dataset", "batch_size"], "lines": "batch_size"},
            "artifacts.fig2.panels: 'batch_size' is already what the lines stand for",
        ),
        ({"beyond_paper": "yes"}, "artifacts.fig2.beyond_paper: expected true or false"),
    ],
)
def test_artifact_options_are_checked(changes, message):
    raw = copy.deepcopy(BASE)
    raw["artifacts"]["fig2"].update(changes)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(raw)


def test_artifact_options_defaults_and_values():
    raw = copy.deepcopy(BASE)
    raw["artifacts"]["table2"] = {
        **raw["artifacts"]["fig2"],
        "kind": "time_to_target",
        "targets": {"mnist": 0.98},
        "beyond_paper": True,
    }
    raw["artifacts"]["fig2"].update(panels=["dataset", "optimizer"], lines="batch_size")
    artifacts = load_config(raw)["artifacts"]
    assert artifacts["table2"]["targets"] == {"mnist": 0.98}
    assert artifacts["table2"]["beyond_paper"] is True
    assert artifacts["fig2"]["panels"] == ["dataset", "optimizer"]
    assert artifacts["fig4"]["panels"] is None and artifacts["fig4"]["beyond_paper"] is False
    assert artifacts["fig4"]["targets"] == {}
