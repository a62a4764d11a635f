"""Study expansion: config -> unique run specs with stable ids; config errors name the key."""

from __future__ import annotations

import copy
import re
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import yaml

from secondorder.errors import ConfigError
from secondorder.spec import GRID_AXES, LATER_FIELDS, RUN_DEFAULTS, RunSpec
from secondorder.study import artifact_runs, expand, load_config
from secondorder.study.checks import MAX_SEED
from secondorder.study.config import (
    ARTIFACT_DEFAULTS,
    LINE_KEYS,
    SETTING_AXES,
    TOP_LEVEL_DEFAULTS,
)
from secondorder.study.configfile import read_config_file
from secondorder.study.run_checks import check_spec
from secondorder.study.tuning import SEARCH_DEFAULTS

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
    raw["tuning"] = []  # BASE's rule tunes cifar10, which this study does not train
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


def test_exponent_numbers_are_floats_and_duplicate_keys_are_refused(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("a: 1e-3\nb: 2E5\nc: .5e1\nd: -1e-2\ne: 100\nf: 1_000\ng: 1e3x\n")
    assert read_config_file(path) == {
        "a": 0.001, "b": 200000.0, "c": 5.0, "d": -0.01, "e": 100, "f": 1000, "g": "1e3x"
    }  # fmt: skip
    raw = copy.deepcopy(BASE)
    raw["optimizers"]["sgd"]["lr"] = 0.001
    path.write_text(yaml.safe_dump(raw).replace("lr: 0.001", "lr: 1e-3"))
    assert "lr: 1e-3" in path.read_text()
    assert expand(load_config(path)) == expand(load_config(raw))
    path.write_text("seeds: [0]\nrun:\n  epochs: 1\n  epochs: 2\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"{path}:4: run.epochs: duplicate key (first on line 3); each key may appear once in a "
        "mapping"
    )


def test_seed_bound_and_divergence_factor():
    assert config(seeds=[MAX_SEED])["seeds"] == [MAX_SEED]
    with pytest.raises(ConfigError, match=r"^seeds\[0\]: expected an integer from 0 to 4294967295"):
        config(seeds=[MAX_SEED + 1])
    for factor in (float("nan"), float("inf"), 1):
        with pytest.raises(ConfigError, match=r"^run\.divergence_factor: expected a finite number"):
            config(run={**BASE["run"], "divergence_factor": factor})
    as_int = expand(config(run={**BASE["run"], "divergence_factor": 1000}))
    assert as_int == expand(config())  # 1000 is the default 1000.0: the same runs and ids


@pytest.mark.parametrize("name", ["quick.yaml", "config.yaml", "test.yaml"])
def test_expanded_specs_pass_the_spec_check_unchanged(name):
    for spec in expand(load_config(REPO / "config" / name)).values():
        assert check_spec(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimizer": "../../x"}, "optimizer: '../../x' is not a valid name"),
        ({"optimizer": "sgd\n"}, "optimizer: 'sgd\\n' is not a valid name"),
        ({"dataset": "../mnist"}, "dataset: '../mnist' is not allowed"),
        ({"variant": "residual"}, "variant (model lenet): 'residual' is not allowed"),
        ({"method": "newton"}, "method: 'newton' is not allowed"),
        ({"hparams": {"lrr": 1}}, "hparams.lrr: unknown hyperparameter of method 'sgd'"),
        ({"hparams": {"lr": "1e-3"}}, "hparams.lr: optimizer 'sgd': lr='1e-3' must be a finite"),
        ({"seed": 2**70}, "seed: expected an integer from 0 to 4294967295"),
        ({"seed": 1.0}, "seed: expected an integer"),
        ({"divergence_factor": float("nan")}, "divergence_factor: expected a finite number"),
        ({"train_subset": 10}, "train_subset: 10 is smaller than the batch size 50"),
        ({"colour": "red"}, "run spec.colour: unknown key"),
        ({"seed": None}, "seed: expected an integer"),
    ],
)
def test_spec_check_names_the_key(change, message):
    spec = {
        "dataset": "mnist",
        "model": "lenet",
        "activation": "tanh",
        "variant": "standard",
        "optimizer": "sgd",
        "method": "sgd",
        "hparams": {"lr": 0.1},
        "batch_size": 50,
        "epochs": 1,
        "seed": 0,
        "train_subset": 200,
    }
    assert check_spec(spec).hparams == {"lr": 0.1}
    with pytest.raises(ConfigError) as error:
        check_spec({**spec, **change})
    assert str(error.value).startswith(message)
    missing = {key: value for key, value in spec.items() if key != "seed"}
    with pytest.raises(ConfigError, match=r"^run spec: missing key"):
        check_spec(missing)


def test_tuning_set_is_checked_against_every_preset_the_rule_matches():
    rule = {"match": {"dataset": "mnist"}, "set": {"cg_max_iter": 3}}  # sgd has no cg_max_iter
    with pytest.raises(ConfigError) as error:
        config(tuning=[rule])
    assert str(error.value).startswith(
        "tuning[0].set.cg_max_iter: unknown hyperparameter of method 'sgd' (preset 'sgd'"
    )
    rule["match"]["optimizer"] = "shg"
    runs = expand(config(tuning=[rule])).values()
    assert {s.hparams.get("cg_max_iter") for s in runs} == {3, None}  # shg tuned, sgd not


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
        with pytest.raises(ConfigError, match=r"^run\.eval_every: expected an integer from 1 to"):
            config(run={"eval_every": bad})


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


# -- one fact, one place ---------------------------------------------------------------------


def test_the_schema_states_the_defaults_of_the_code():
    """The config schema's `default`s are the ones load_config fills in (they are written once,
    in the code; the schema documents them for the user)."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())

    def defaults(properties: dict) -> dict:
        return {key: prop["default"] for key, prop in properties.items() if "default" in prop}

    artifact = schema["properties"]["artifacts"]["additionalProperties"]["properties"]
    assert defaults(schema["$defs"]["run"]["properties"]) == RUN_DEFAULTS
    assert defaults(schema["properties"]) == TOP_LEVEL_DEFAULTS
    assert defaults(schema["properties"]["search"]["properties"]) == SEARCH_DEFAULTS
    assert defaults(artifact) == ARTIFACT_DEFAULTS
    raw = {key: value for key, value in BASE.items() if key not in ("seeds", "run")}
    checked = load_config(raw)
    assert {key: checked[key] for key in TOP_LEVEL_DEFAULTS} == TOP_LEVEL_DEFAULTS
    assert checked["run"] == RUN_DEFAULTS


def test_run_specs_default_to_the_run_defaults():
    shared = {f.name: f.default for f in fields(RunSpec) if f.default is not MISSING}
    shared = {key: value for key, value in shared.items() if key in RUN_DEFAULTS}
    assert shared == {key: RUN_DEFAULTS[key] for key in shared}
    assert set(LATER_FIELDS) <= {f.name for f in fields(RunSpec) if f.default is not MISSING}


def test_the_setting_axes_are_the_grid_axes_and_the_optimizer():
    assert set(SETTING_AXES) == {*GRID_AXES, "optimizer"}
    assert set(LINE_KEYS) == set(SETTING_AXES) - {"dataset", "model"}
