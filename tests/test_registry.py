"""The optimizer registry: methods, defaults, resolution and validation, construction, the step
contract, and a toy method added through exactly the places a new method needs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from secondorder.cost import OPERATIONS, StepWork
from secondorder.curvature import Batch, Objective
from secondorder.errors import ConfigError
from secondorder.optim import METHODS, build_optimizer, method_defaults, resolve_hparams
from secondorder.optim.base import FlatOptimizer, StepContract
from secondorder.optim.first_order import GD, LBFGS, SGD, Adam
from secondorder.optim.hparams import DATA_HPARAMS
from secondorder.optim.lsr1 import LSR1
from secondorder.optim.shg import SHG
from secondorder.optim.sqn import SQN
from secondorder.study import calibrate, expand, load_config, plan
from secondorder.training.loop import train_run

from problems import logistic_problem


def test_methods_and_data_hyperparameters() -> None:
    expected = {
        "sgd": SGD,
        "gd": GD,
        "shg": SHG,
        "sqn": SQN,
        "lsr1": LSR1,
        "adam": Adam,
        "lbfgs": LBFGS,
    }
    assert dict(METHODS) == expected
    assert set(DATA_HPARAMS) == {"gradient_fraction", "curvature_batch_size"}


def test_defaults_come_from_the_constructors_plus_the_data_plan() -> None:
    assert method_defaults("sgd") == {"lr": 0.01}
    assert method_defaults("gd") == {"lr": 0.01, "gradient_fraction": 0.2}
    assert method_defaults("shg")["gradient_fraction"] == 0.2
    sqn = method_defaults("sqn")
    assert sqn["curvature_batch_size"] == 1000
    assert {k: sqn[k] for k in ("lr", "memory", "update_interval", "curvature")} == {
        "lr": 1.0,
        "memory": 10,
        "update_interval": 20,
        "curvature": "hessian",
    }
    assert "curvature_batch_size" not in method_defaults("lsr1")
    assert method_defaults("lsr1")["skip_threshold"] == 1e-8
    assert method_defaults("adam") == {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8}
    assert method_defaults("lbfgs")["line_search_fn"] == "strong_wolfe"


@pytest.mark.parametrize("method", list(METHODS))
def test_resolved_hyperparameters_survive_a_json_round_trip(method: str) -> None:
    resolved = resolve_hparams(method, {})
    assert resolved == method_defaults(method)
    assert json.loads(json.dumps(resolved)) == resolved


def test_resolve_merges_and_normalises() -> None:
    resolved = resolve_hparams("sqn", {"lr": 1, "memory": 5, "curvature": "gauss-newton"})
    assert resolved["lr"] == 1.0 and isinstance(resolved["lr"], float)
    assert resolved["memory"] == 5
    assert resolved["curvature"] == "gauss-newton"
    assert resolved["update_interval"] == 20
    assert resolve_hparams("adam", {"betas": (0.8, 0.9)})["betas"] == [0.8, 0.9]
    assert resolve_hparams("lbfgs", {"line_search_fn": None})["line_search_fn"] is None


def test_unknown_method_names_the_allowed_methods() -> None:
    with pytest.raises(ConfigError, match="'newton'") as info:
        resolve_hparams("newton", {})
    assert all(method in str(info.value) for method in METHODS)
    with pytest.raises(ConfigError, match="allowed"):
        method_defaults("newton")


def test_unknown_key_names_the_key_and_the_allowed_keys() -> None:
    with pytest.raises(ConfigError, match="'momentum'") as info:
        resolve_hparams("sgd", {"momentum": 0.9})
    assert "allowed: lr" in str(info.value)
    with pytest.raises(ConfigError, match="'curvature_batch_size'") as info:
        resolve_hparams("shg", {"curvature_batch_size": 100})
    assert "gradient_fraction" in str(info.value)


@pytest.mark.parametrize(
    ("method", "hparams", "key"),
    [
        ("gd", {"gradient_fraction": 0.0}, "gradient_fraction"),
        ("gd", {"gradient_fraction": 1.5}, "gradient_fraction"),
        ("shg", {"gradient_fraction": -0.1}, "gradient_fraction"),
        ("sgd", {"lr": 0.0}, "lr"),
        ("sqn", {"lr": -1.0}, "lr"),
        ("sgd", {"lr": "fast"}, "lr"),
        ("sgd", {"lr": float("nan")}, "lr"),
        ("sqn", {"memory": 0}, "memory"),
        ("lsr1", {"memory": 2.5}, "memory"),
        ("sqn", {"update_interval": 0}, "update_interval"),
        ("sqn", {"curvature_batch_size": 0}, "curvature_batch_size"),
        ("sqn", {"curvature": "fisher"}, "curvature"),
        ("shg", {"curvature": "ggn"}, "curvature"),
        ("lsr1", {"line_search": "yes"}, "line_search"),
        ("lsr1", {"ls_c": 1.0}, "ls_c"),
        ("sqn", {"ls_backtrack": 0.0}, "ls_backtrack"),
        ("adam", {"betas": [0.9]}, "betas"),
        ("lbfgs", {"line_search_fn": "armijo"}, "line_search_fn"),
        ("shg", {"adapt_damping": True}, "damping"),  # rejected by the constructor
    ],
)
def test_bad_values_are_rejected(method: str, hparams: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        resolve_hparams(method, hparams)
    with pytest.raises(ConfigError, match=key):
        build_optimizer(method, [nn.Parameter(torch.zeros(2))], hparams)


def test_build_optimizer_passes_only_constructor_hyperparameters() -> None:
    params = [nn.Parameter(torch.zeros(3))]
    opt = build_optimizer("sqn", params, {"curvature_batch_size": 500, "memory": 4})
    assert isinstance(opt, SQN)
    assert opt.param_groups[0]["memory"] == 4
    assert not DATA_HPARAMS & set(opt.param_groups[0])
    gd = build_optimizer("gd", params, {"gradient_fraction": 0.5, "lr": 0.2})
    assert type(gd) is GD and gd.param_groups[0]["lr"] == 0.2
    # what the runner does: the data hyperparameters stripped off before building
    resolved = resolve_hparams("shg", {})
    shg = build_optimizer(
        "shg", params, {k: v for k, v in resolved.items() if k != "gradient_fraction"}
    )
    assert isinstance(shg, SHG)
    for method in METHODS:
        assert isinstance(
            build_optimizer(method, [nn.Parameter(torch.zeros(3))], {}), METHODS[method]
        )


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_satisfies_the_step_contract(method: str) -> None:
    cls = METHODS[method]
    assert issubclass(cls, StepContract)
    assert set(cls.data_defaults) <= DATA_HPARAMS
    work = cls.work_per_step(resolve_hparams(method, {}), batch=10, gradient=20, curvature=30)
    assert work and set(work) <= set(OPERATIONS)
    opt = build_optimizer(method, [nn.Parameter(torch.zeros(3))], {})
    assert opt.needs_curvature_batch() is (method != "sqn")  # SQN: only when it forms a pair


class SignSGD(FlatOptimizer):
    """A toy method: w <- w - lr * sign(g) on the mini-batch."""

    def __init__(self, params: Iterable[Tensor], *, lr: float = 0.001) -> None:
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, objective: Objective, batch: Batch, curvature_batch: Batch | None = None
    ) -> Tensor:
        objective.counters.optimizer_steps += 1
        loss, g = objective.loss_and_grad(batch)
        objective.set_flat_params(objective.flat_params() - self.hparams["lr"] * g.sign())
        return loss

    @classmethod
    def work_per_step(
        cls, hparams: Mapping[str, Any], *, batch: int, gradient: int, curvature: int
    ) -> StepWork:
        return {"gradient": (1, gradient)}


def test_a_new_method_is_its_class_plus_one_registry_line(monkeypatch, mnist_bundle, tmp_path):
    """The class and its registry line are all it takes: its hyperparameters resolve and are
    checked, it builds and steps exactly as written, a study config can name it, the runner
    trains it and the cost plan prices it."""
    monkeypatch.setitem(METHODS, "signsgd", SignSGD)  # the registry line

    assert resolve_hparams("signsgd", {"lr": 1}) == {"lr": 1.0}
    with pytest.raises(ConfigError, match="lr"):
        resolve_hparams("signsgd", {"lr": -1.0})
    objective, batch, _ = logistic_problem()
    opt = build_optimizer("signsgd", objective.params, {"lr": 0.01})
    assert isinstance(opt, SignSGD)
    before = objective.flat_params().clone()
    _, gradient = objective.loss_and_grad(batch)
    loss = opt.step(objective, batch)
    assert torch.equal(objective.flat_params(), before - 0.01 * gradient.sign())
    assert float(objective.loss(batch)) < float(loss)

    config = {
        "seeds": [0],
        "run": {"epochs": 1, "batch_size": 50, "train_subset": 300, "test_subset": 200},
        "search": {"validation": 100},
        "optimizers": {"sign": {"method": "signsgd", "lr": {"search": [0.001, 0.01]}}},
        "artifacts": {
            "toy": {"kind": "loss_curves", "datasets": ["mnist"], "models": ["lenet"],
                    "optimizers": ["sign"]},
        },
    }  # fmt: skip
    runs = expand(load_config(config))
    final = next(s for s in runs.values() if s.search is not None)
    trial = next(s for s in runs.values() if s.evaluate_on == "validation")
    assert final.method == "signsgd" and final.search["space"] == {"lr": [0.001, 0.01]}
    summary = train_run(trial, mnist_bundle, tmp_path / "run", device="cpu", progress=False)
    assert summary["status"] == "finished" and summary["counters"]["optimizer_steps"] > 0

    work = plan.expected_work(trial)
    assert work.calls["gradient"] == work.steps == summary["counters"]["optimizer_steps"]
    shipped = calibrate.load_calibration(calibrate.DEFAULT_CALIBRATION)
    assert plan.estimate_seconds(trial, shipped) > shipped["startup_s"]
