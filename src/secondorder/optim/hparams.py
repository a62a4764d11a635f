"""Hyperparameters of an optimizer class: its defaults and the checks of given values.

A method's hyperparameters are the keyword arguments of its constructor plus the "data"
hyperparameters of its :attr:`~secondorder.optim.base.StepContract.data_defaults`, which the
runner reads to choose the data of each step (:data:`DATA_HPARAMS`):

- ``gradient_fraction`` (GD, SHG): the gradient (and line search) batch is a random sample of
  this fraction of the training set instead of the mini-batch (the paper: 20 %); 1.0 is the
  whole training set, ``"minibatch"`` the mini-batch itself (the batch of the curvature).
- ``curvature_batch_size`` (SQN): size of the separate curvature sample.

The registry (:mod:`secondorder.optim`) applies these to a method by name.
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

DATA_HPARAMS = frozenset({"gradient_fraction", "curvature_batch_size"})
MINIBATCH = "minibatch"  # gradient_fraction: the gradient on the mini-batch itself
_MAX_INT = 2**31 - 1


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


def _plain(value: Any) -> Any:
    """Tuples as lists, so resolved hyperparameters equal their YAML/JSON round trip."""
    return list(value) if isinstance(value, tuple) else value


@functools.cache  # inspecting the signature is most of a study expansion's time otherwise
def class_defaults(cls: type) -> dict[str, Any]:
    """All hyperparameters of optimizer class ``cls`` with their defaults: the keyword arguments
    of its constructor, then its data hyperparameters. The caller must not modify it."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    defaults = {
        p.name: _plain(p.default) for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    return {**defaults, **getattr(cls, "data_defaults", {})}


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


def resolve(method: str, cls: type, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults of ``cls`` (registered as ``method``, the name errors give) updated with
    ``hparams``, checked.

    Raises :class:`ConfigError` for an unknown key (naming the allowed ones), a value of the
    wrong type or out of range, or a combination the constructor rejects.
    """
    defaults = class_defaults(cls)
    unknown = [key for key in hparams if key not in defaults]
    if unknown:
        raise ConfigError(
            f"optimizer {method!r}: unknown hyperparameter(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(defaults)}"
        )
    resolved = {**defaults, **{key: _plain(value) for key, value in hparams.items()}}
    resolved = {key: _checked(method, key, value, defaults[key]) for key, value in resolved.items()}
    refusal = _constructor_refusal(cls, json.dumps(resolved, sort_keys=True))
    if refusal is not None:
        raise ConfigError(f"optimizer {method!r}: {refusal}")
    return resolved


@functools.cache  # a study resolves the same presets thousands of times while Snakemake parses
def _constructor_refusal(cls: type, resolved_json: str) -> str | None:
    """The constructor's own checks, e.g. of combinations (a dry run on a dummy parameter):
    its ValueError's message, or None when it accepts ``resolved_json``."""
    try:
        construct(cls, [torch.zeros(1)], json.loads(resolved_json))
    except ValueError as error:
        return str(error)
    return None


def construct(
    cls: type[torch.optim.Optimizer], params: Iterable[torch.Tensor], resolved: Mapping[str, Any]
) -> torch.optim.Optimizer:
    """``cls`` on ``params`` with the constructor's share of ``resolved`` (no data
    hyperparameters)."""
    return cls(params, **{key: value for key, value in resolved.items() if key not in DATA_HPARAMS})
