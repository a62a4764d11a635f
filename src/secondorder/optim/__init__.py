"""The optimizers and the registry that builds them from a method name and hyperparameters.

Every optimizer takes one step per call, ``loss = opt.step(objective, batch, curvature_batch)``.
Its hyperparameters are the keyword arguments of its constructor plus "data" hyperparameters
that the runner reads to choose the data of each step (:data:`DATA_HPARAMS`):

- ``gradient_fraction`` (GD, SHG): the gradient (and line search) batch is a random sample of
  this fraction of the training set instead of the mini-batch (the paper: 20 %); 1.0 is the
  whole training set, ``"minibatch"`` the mini-batch itself (the batch of the curvature).
- ``curvature_batch_size`` (SQN): size of the separate curvature sample b_H. Byrd et al. use b_H
  10-20 times the gradient batch; the default 1000 is 10 x the paper's batch size of 100.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from secondorder.curvature import CURVATURES
from secondorder.errors import ConfigError
from secondorder.optim.first_order import LBFGS, SGD, Adam
from secondorder.optim.lsr1 import LSR1
from secondorder.optim.shg import SHG
from secondorder.optim.sqn import SQN

__all__ = [
    "DATA_HPARAMS",
    "LBFGS",
    "LSR1",
    "METHODS",
    "MINIBATCH",
    "SGD",
    "SHG",
    "SQN",
    "Adam",
    "build_optimizer",
    "method_defaults",
    "resolve_hparams",
]

METHODS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": SGD,
    "gd": SGD,
    "shg": SHG,
    "sqn": SQN,
    "lsr1": LSR1,
    "adam": Adam,
    "lbfgs": LBFGS,
}
_MAX_INT = 2**31 - 1
DATA_HPARAMS = frozenset({"gradient_fraction", "curvature_batch_size"})
MINIBATCH = "minibatch"  # gradient_fraction: the gradient on the mini-batch itself
_DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "gd": {"gradient_fraction": 0.2},
    "shg": {"gradient_fraction": 0.2},
    "sqn": {"curvature_batch_size": 1000},
}


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return value > 0


def _fraction(value: Any) -> bool:
    return 0 < value <= 1


def _open_unit(value: Any) -> bool:
    return 0 < value < 1


def _non_negative(value: Any) -> bool:
    return value >= 0


def _betas(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(_is_real(b) and 0 <= b < 1 for b in value)
    )


# Range checks by hyperparameter name (any method that has the key); types are checked against
# the default's type.
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lr": (_positive, "a positive number"),
    "memory": (_positive, "a positive integer"),
    "update_interval": (_positive, "a positive integer"),
    "curvature_batch_size": (_positive, "a positive integer"),
    "gradient_fraction": (_fraction, f"a number in (0, 1] or {MINIBATCH!r}"),
    "curvature": (lambda v: v in CURVATURES, f"one of {', '.join(CURVATURES)}"),
    "min_curvature": (_non_negative, "a non-negative number"),
    "skip_threshold": (_non_negative, "a non-negative number"),
    "ls_c": (_open_unit, "a number in (0, 1)"),
    "ls_backtrack": (_open_unit, "a number in (0, 1)"),
    "ls_max_trials": (_positive, "a positive integer"),
    "cg_max_iter": (_positive, "a positive integer"),
    "cg_tol": (_positive, "a positive number"),
    "warm_start_decay": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "damping": (_non_negative, "a non-negative number"),
    "eps": (_positive, "a positive number"),
    "betas": (_betas, "two numbers in [0, 1)"),
    "history_size": (_positive, "a positive integer"),
    "max_iter": (_positive, "a positive integer"),
    "line_search_fn": (lambda v: v in (None, "strong_wolfe"), "null or strong_wolfe"),
}
_WORDS: dict[str, tuple[str, ...]] = {"gradient_fraction": (MINIBATCH,)}  # besides numbers


def _check_method(method: str) -> type[torch.optim.Optimizer]:
    if method not in METHODS:
        raise ConfigError(f"unknown optimizer method {method!r}; allowed: {', '.join(METHODS)}")
    return METHODS[method]


def _plain(value: Any) -> Any:
    """Tuples as lists, so resolved hyperparameters equal their YAML/JSON round trip."""
    return list(value) if isinstance(value, tuple) else value


def method_defaults(method: str) -> dict[str, Any]:
    """All hyperparameters of ``method`` with their defaults: the keyword arguments of the
    class's constructor, then the data hyperparameters of its data plan."""
    return dict(_defaults(_check_method(method), method))


@functools.cache  # inspecting the signature is most of a study expansion's time otherwise
def _defaults(cls: type, method: str) -> dict[str, Any]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    defaults = {
        p.name: _plain(p.default) for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    return {**defaults, **_DATA_DEFAULTS.get(method, {})}


def _checked(method: str, key: str, value: Any, default: Any) -> Any:
    """``value`` checked against the default's type and the key's range (ints given for a float
    default become floats, so equal settings give equal run ids)."""
    where = f"optimizer {method!r}: {key}={value!r}"
    if key in _WORDS:
        if isinstance(value, str) and value in _WORDS[key]:
            return value
        if not _is_real(value):
            raise ConfigError(f"{where} must be {_CHECKS[key][1]}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
    elif isinstance(default, int):
        if not (isinstance(value, int) and not isinstance(value, bool)):
            raise ConfigError(f"{where} must be an integer")
        if abs(value) > _MAX_INT:  # a typo; it would overflow in C code (deque, torch)
            raise ConfigError(f"{where} must be an integer of at most {_MAX_INT}")
    elif isinstance(default, float):
        if not _is_real(value):
            raise ConfigError(f"{where} must be a finite number")
        value = float(value)
    check = _CHECKS.get(key)
    if check is not None and not check[0](value):
        raise ConfigError(f"{where} must be {check[1]}")
    return value


def resolve_hparams(method: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults of ``method`` updated with ``hparams``, checked.

    Raises :class:`ConfigError` for an unknown method or key (naming the allowed ones), a
    value of the wrong type or out of range, or a combination the constructor rejects.
    """
    defaults = method_defaults(method)
    unknown = [key for key in hparams if key not in defaults]
    if unknown:
        raise ConfigError(
            f"optimizer {method!r}: unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(defaults)}"
        )
    resolved = {**defaults, **{key: _plain(value) for key, value in hparams.items()}}
    resolved = {key: _checked(method, key, value, defaults[key]) for key, value in resolved.items()}
    refusal = _constructor_refusal(method, json.dumps(resolved, sort_keys=True))
    if refusal is not None:
        raise ConfigError(f"optimizer {method!r}: {refusal}")
    return resolved


@functools.cache  # a study resolves the same presets thousands of times while Snakemake parses
def _constructor_refusal(method: str, resolved_json: str) -> str | None:
    """The constructor's own checks, e.g. of combinations (a dry run on a dummy parameter):
    its ValueError's message, or None when it accepts ``resolved_json``."""
    try:
        _construct(method, [torch.zeros(1)], json.loads(resolved_json))
    except ValueError as error:
        return str(error)
    return None


def _construct(
    method: str, params: Iterable[torch.Tensor], resolved: Mapping[str, Any]
) -> torch.optim.Optimizer:
    kwargs = {key: value for key, value in resolved.items() if key not in DATA_HPARAMS}
    return METHODS[method](params, **kwargs)


def build_optimizer(
    method: str, params: Iterable[torch.Tensor], hparams: Mapping[str, Any]
) -> torch.optim.Optimizer:
    """Construct ``method``'s optimizer on ``params``; data hyperparameters are not passed."""
    return _construct(method, params, resolve_hparams(method, hparams))
