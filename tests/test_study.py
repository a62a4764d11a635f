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


def test_eval_every_is_a_checked_run_setting_that_keeps_existing_run_ids():
    spec = RunSpec(
        dataset="mnist",
        model="lenet",
        activation="tanh",
        variant="standard",
        optimizer="sgd",
        method="sgd",
        hparams={"lr": 0.1},
        batch_size=100,
        epochs=2,
        seed=0,
    )
    assert "eval_every" not in spec.to_dict()  # the id of a spec from before eval_every existed
    assert spec.run_id == "mnist-lenet-tanh__sgd__bs100__s0__1b88e8"  # as before eval_every
    assert RunSpec.from_dict({**spec.to_dict(), "eval_every": None}) == spec
    finer = RunSpec.from_dict({**spec.to_dict(), "eval_every": 10})
    assert finer.to_dict()["eval_every"] == 10 and finer.run_id != spec.run_id
    assert RunSpec.from_dict(finer.to_dict()) == finer

    runs = expand(config(run={**BASE["run"], "eval_every": 25}))
    assert {spec.eval_every for spec in runs.values()} == {25}
    assert load_config(BASE)["run"]["eval_every"] is None
    for bad in (0, -5, 2.5, "10", True):
        with pytest.raises(ConfigError, match=r"^run\.eval_every: expected an integer >= 1"):
            config(run={"eval_every": bad})
