"""Checks of run settings shared by study configs and ``secondorder train --spec``
(:func:`check_spec`): known keys, names and choices, sizes that fit the dataset (a validation
split too), hyperparameters that resolve for their method, every point of a search space."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from typing import Any

from secondorder.errors import ConfigError
from secondorder.spec import DATASETS, EVALUATION_SETS, RUN_DEFAULTS, RunSpec, holdout_size
from secondorder.study.checks import (
    MAX_SEED,
    as_mapping,
    check_choice,
    check_int,
    check_keys,
    check_name,
    check_seeds,
    is_real,
    key_path,
    quoted_number_hint,
)

# Fewer images per class in a validation split: its loss there is a handful of images' noise.
# Checked on average (5 x the classes in all): the stratified split gives each class its share of
# the split, rounded, so an uneven class may get one image fewer.
MIN_VALIDATION_PER_CLASS = 5


def check_spec(values: Any) -> RunSpec:
    """A run spec from outside the config (``secondorder train --spec``), checked like a
    config: known keys, names and choices, integers in range, hyperparameters that resolve.

    Returns the spec with its hyperparameters resolved (defaults filled in). Errors name the
    key, so a spec whose names hold a path (``../``) never reaches the file system.
    """
    from secondorder.models import ACTIVATIONS, MODELS, model_variants
    from secondorder.optim import METHODS

    values = as_mapping(values, "run spec")
    names = [f.name for f in fields(RunSpec)]
    check_keys(values, tuple(names), "run spec")
    required = [f.name for f in fields(RunSpec) if f.default is MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise ConfigError(
            f"run spec: missing key(s) {', '.join(missing)}; required: {', '.join(required)}"
        )
    dataset = check_choice(values["dataset"], DATASETS, "dataset")
    model = check_choice(values["model"], MODELS, "model")
    check_choice(values["activation"], ACTIVATIONS, "activation")
    check_choice(values["variant"], model_variants(model), f"variant (model {model})")
    check_name(values["optimizer"], "optimizer")
    method = check_choice(values["method"], tuple(METHODS), "method")
    hparams = as_mapping(values["hparams"], "hparams")
    run = check_run({key: values[key] for key in RUN_DEFAULTS if key in values}, "")
    check_int(values["seed"], "seed", minimum=0, maximum=MAX_SEED)
    check_sizes(run, dataset, {key: key for key in run}, "the run")
    holdout = values.get("holdout")
    if holdout is not None and not (isinstance(holdout, float) and 0 < holdout < 1):
        check_int(holdout, "holdout", optional=True)
    evaluate_on = check_choice(values.get("evaluate_on", "test"), EVALUATION_SETS, "evaluate_on")
    if evaluate_on == "validation" and holdout is None:
        raise ConfigError("evaluate_on: 'validation' needs a holdout (the validation split)")
    search = values.get("search")
    space: dict[str, list[Any]] = {}
    if search is not None:
        search = as_mapping(search, "search")
        check_keys(search, ("space", "epochs", "validation", "seeds", "extend_edges"), "search")
        if search.get("extend_edges", True) is not True:
            raise ConfigError("search.extend_edges: true when present (absent: off)")
        space = as_mapping(search.get("space"), "search.space")
        if not space or not all(isinstance(v, list) and len(v) > 1 for v in space.values()):
            raise ConfigError("search.space: expected hyperparameter -> list of 2+ values")
        for key in space:
            if key in hparams:
                raise ConfigError(f"hparams.{key}: a searched key is not pinned in hparams")
        check_int(search.get("epochs"), "search.epochs")
        check_seeds(search.get("seeds"))
    check_space(
        method, {**hparams, **{k: {"search": v} for k, v in space.items()}}, hparams, "hparams"
    )
    first = {key: values[0] for key, values in space.items()}
    resolved = check_hparams(method, {**hparams, **first}, hparams, "hparams")
    resolved = {k: v for k, v in resolved.items() if k not in space}
    return RunSpec(**{**values, **run, "hparams": resolved})


def check_run(run: dict[str, Any], where: str) -> dict[str, Any]:
    """Check (and normalise) run settings in place; ``where`` is the key path of ``run``."""
    from secondorder.models import ACTIVATIONS

    check_keys(run, tuple(RUN_DEFAULTS), where)
    for key in ("batch_size", "epochs", "logs_per_epoch"):
        if key in run:
            check_int(run[key], key_path(where, key))
    for key in ("train_subset", "test_subset", "chunk_size", "eval_every"):
        if key in run:
            check_int(run[key], key_path(where, key), optional=True)
    if "activation" in run:
        check_choice(run["activation"], ACTIVATIONS, key_path(where, "activation"))
    if "variant" in run and not isinstance(run["variant"], str):
        raise ConfigError(
            f"{key_path(where, 'variant')}: expected a string, got {run['variant']!r}"
        )
    if "divergence_factor" in run:
        factor = run["divergence_factor"]
        if not is_real(factor) or factor <= 1:
            raise ConfigError(
                f"{key_path(where, 'divergence_factor')}: expected a finite number > 1, got "
                f"{factor!r}{quoted_number_hint(factor)}"
            )
        run["divergence_factor"] = float(factor)  # 1000 and 1000.0 give the same run id
    if "eval_train_loss" in run and not isinstance(run["eval_train_loss"], bool):
        flag = run["eval_train_loss"]
        raise ConfigError(
            f"{key_path(where, 'eval_train_loss')}: expected true or false, got {flag!r}"
        )
    return run


def check_sizes(run: Mapping[str, Any], dataset: str, origin: Mapping[str, str], what: str) -> None:
    """Subsets fit the dataset, and a batch fits the (subset) training set; ``origin`` maps a
    setting to the key path it comes from."""
    facts = DATASETS[dataset]
    for key, size in (("train_subset", facts.train_size), ("test_subset", facts.test_size)):
        subset = run.get(key)
        if subset is not None and subset > size:
            raise ConfigError(
                f"{origin[key]}: {subset} is larger than the {dataset} set "
                f"({size} samples); allowed: 1 to {size}, or null for all"
            )
    subset = run.get("train_subset")
    if subset is not None and subset < run["batch_size"]:
        raise ConfigError(
            f"{origin['train_subset']}: {subset} is smaller than the batch size "
            f"{run['batch_size']} (from {origin['batch_size']}) of {what}; allowed: a train "
            "subset of at least the batch size, or null for the whole training set"
        )
    if run["batch_size"] > facts.train_size:
        raise ConfigError(
            f"{origin['batch_size']}: batch size {run['batch_size']} of {what} is larger than "
            f"the {dataset} training set ({facts.train_size} samples); allowed: 1 to "
            f"{facts.train_size}"
        )


def check_validation_split(spec: RunSpec, validation: int | float, what: str) -> None:
    """A search's ``validation`` split of the training (sub)set of ``spec``: at least one batch
    and :data:`MIN_VALIDATION_PER_CLASS` images per class on average (the split is stratified:
    each class gets its share, rounded), and at least one batch left to train on; ``what``
    names the run's entry."""
    facts = DATASETS[spec.dataset]
    n_train = spec.train_subset or facts.train_size
    held = holdout_size(validation, n_train)
    lowest = max(spec.batch_size, MIN_VALIDATION_PER_CLASS * facts.classes)
    highest = n_train - spec.batch_size
    where = (
        f"search.validation: holding out {held} of the {n_train} training images of "
        f"{spec.run_id} ({what})"
    )
    too_few = (
        f"scores the search on fewer images than one batch ({spec.batch_size}) or "
        f"{MIN_VALIDATION_PER_CLASS} images per class on average over its {facts.classes} "
        f"classes ({MIN_VALIDATION_PER_CLASS * facts.classes})"
    )
    if lowest > highest:
        problem = too_few if held < lowest else "leaves fewer than one batch to train on"
        raise ConfigError(
            f"{where} {problem}; allowed: no split of {n_train} images, a train_subset of at "
            f"least {lowest + spec.batch_size} has room for one"
        )
    if held > highest:
        raise ConfigError(
            f"{where} leaves fewer than its batch size {spec.batch_size} to train on; allowed: "
            "a smaller split"
        )
    if held < lowest:
        raise ConfigError(
            f"{where} {too_few}; allowed: {lowest} to {highest} images, or a fraction that "
            "holds out as many"
        )


def check_hparams(
    method: str, hparams: Mapping[str, Any], blame: Iterable[str], where: str, context: str = ""
) -> dict[str, Any]:
    """``hparams`` resolved for ``method``; an error names the key of ``blame`` (those the user
    wrote at ``where``) that causes it, else ``where`` itself."""
    from secondorder.optim import method_defaults, resolve_hparams

    defaults = method_defaults(method)
    blame = list(blame)
    for key in blame:
        if key not in defaults:
            raise ConfigError(
                f"{key_path(where, key)}: unknown hyperparameter of method {method!r}{context}; "
                f"allowed: {', '.join(defaults)}"
            )
    try:
        return resolve_hparams(method, hparams)
    except ConfigError as error:
        message = str(error)
    for key in blame:
        try:
            resolve_hparams(method, {key: hparams[key]})
        except ConfigError as error:
            hint = quoted_number_hint(hparams[key])
            raise ConfigError(f"{key_path(where, key)}: {error}{context}{hint}") from None
    raise ConfigError(f"{where}: {message}{context}")


def check_space(
    method: str, entry: Mapping[str, Any], blame: Iterable[str], where: str, context: str = ""
) -> None:
    """Hyperparameters that may hold search spaces: every point of the grid must resolve."""
    from secondorder.study.space import grid, split_space

    pinned, space = split_space(entry, where)
    for point in grid(space):
        check_hparams(method, {**pinned, **point}, blame, where, context)
