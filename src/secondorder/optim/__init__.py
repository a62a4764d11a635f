"""The registry of optimizer methods: a method name -> its class, and what is done by name.

Every class here satisfies the step contract of :class:`~secondorder.optim.base.StepContract`
(``loss = opt.step(objective, batch, curvature_batch)``, its data defaults, its work per step).
Adding a method is its module plus one line in :data:`METHODS`; its hyperparameters, their
checks, the runner's data plan and the cost plan follow from the class
(:mod:`secondorder.optim.hparams`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from secondorder.errors import ConfigError
from secondorder.optim.first_order import GD, LBFGS, SGD, Adam
from secondorder.optim.hparams import class_defaults, construct, resolve
from secondorder.optim.lsr1 import LSR1
from secondorder.optim.shg import SHG
from secondorder.optim.sqn import SQN

__all__ = ["METHODS", "build_optimizer", "method_class", "method_defaults", "resolve_hparams"]

METHODS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": SGD,
    "gd": GD,
    "shg": SHG,
    "sqn": SQN,
    "lsr1": LSR1,
    "adam": Adam,
    "lbfgs": LBFGS,
}


def method_class(method: str) -> type[torch.optim.Optimizer]:
    """The class of ``method``; a :class:`ConfigError` naming the allowed methods if unknown."""
    if method not in METHODS:
        raise ConfigError(f"unknown optimizer method {method!r}; allowed: {', '.join(METHODS)}")
    return METHODS[method]


def method_defaults(method: str) -> dict[str, Any]:
    """All hyperparameters of ``method`` with their defaults (its constructor's keyword
    arguments, then its data hyperparameters)."""
    return dict(class_defaults(method_class(method)))


def resolve_hparams(method: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults of ``method`` updated with ``hparams``, checked (a :class:`ConfigError`
    names an unknown method or key, a bad value, or a combination the constructor rejects)."""
    return resolve(method, method_class(method), hparams)


def build_optimizer(
    method: str, params: Iterable[torch.Tensor], hparams: Mapping[str, Any]
) -> torch.optim.Optimizer:
    """Construct ``method``'s optimizer on ``params``; data hyperparameters are not passed."""
    return construct(method_class(method), params, resolve_hparams(method, hparams))
