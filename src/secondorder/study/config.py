"""A study config: read strictly (:mod:`secondorder.study.configfile`), merged across
``--configfile`` files, checked section by section with one-line errors that name the key, and
returned with defaults filled in. :mod:`secondorder.study.expand` turns it into runs; the
checks of the tuning stage expand it too (a validation split must fit every searching run).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from secondorder.errors import ConfigError
from secondorder.spec import DATASETS, DEFAULT_DATA_ROOT, GRID_AXES, RUN_DEFAULTS
from secondorder.study.artifacts import KINDS
from secondorder.study.checks import (
    as_mapping,
    check_choice,
    check_device,
    check_int,
    check_keys,
    check_list,
    check_name,
    check_presets_defined,
    check_seeds,
    type_name,
)
from secondorder.study.configfile import read_config_file
from secondorder.study.expand import (
    layered_run_settings,
    preset_hparams,
    run_settings,
)
from secondorder.study.run_checks import check_run, check_sizes, check_space
from secondorder.study.search_checks import check_search

ARTIFACT_KINDS = tuple(KINDS)  # the registry of secondorder.study.artifacts

X_AXES = ("epoch", "time", "work")

# The axes of one setting of an optimizer preset, in the order that errors list them: the grid
# axes with the preset after the network. A tuning rule matches them, figure panels split by them.
SETTING_AXES = (*GRID_AXES[:2], "optimizer", *GRID_AXES[2:])

LINE_KEYS = ("optimizer", "batch_size", "activation", "variant")  # setting axes; default first

ARTIFACT_KEYS = (
    "kind",
    "title",
    "x",
    "lines",
    "datasets",
    "models",
    "optimizers",
    "activations",
    "variants",
    "batch_sizes",
    "run",
    "panels",
    "targets",
    "beyond_paper",
)

# Defaults of the top-level keys and of an artifact's options (`run` has RUN_DEFAULTS, `search`
# tuning.SEARCH_DEFAULTS; the config schema states the same, tests/test_study.py holds them equal).
TOP_LEVEL_DEFAULTS = {"data_root": DEFAULT_DATA_ROOT, "device": "auto", "seeds": [0]}
ARTIFACT_DEFAULTS: dict[str, Any] = {"x": "epoch", "lines": "optimizer", "beyond_paper": False}

TOP_LEVEL_KEYS = (
    *TOP_LEVEL_DEFAULTS,
    "run",
    "model_defaults",
    "optimizers",
    "tuning",
    "search",
    "artifacts",
)

DEFAULT_CONFIG = "config/quick.yaml"  # the Snakefile's study when no --configfile is given


def load_config(
    source: str | Path | Mapping[str, Any], *, source_name: str | None = None
) -> dict[str, Any]:
    """Read (strict YAML, see :func:`read_config_file`) and check a study config; return it
    with defaults filled in.

    Raises :class:`ConfigError` with one line: the file (``source_name`` for a mapping), the
    offending key and what is allowed.
    """
    if isinstance(source, Mapping):
        raw: Any = copy.deepcopy(dict(source))
    else:
        source_name = str(source)
        raw = read_config_file(source)
    try:
        return _check_config(raw)
    except ConfigError as error:
        if source_name is None:
            raise
        raise ConfigError(f"{source_name}: {error}") from None


def load_config_files(
    paths: Sequence[str | Path], overrides: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The study of Snakemake's ``--configfile`` files (merged in order, nested mappings key
    by key, as Snakemake does) and ``--config key=value`` overrides: (raw, checked).

    The files are read again with :func:`read_config_file` because Snakemake's own reader lets
    a duplicate key win silently and reads ``1e-3`` as a string.
    """
    merged: dict[str, Any] = {}
    for path in paths:
        content = read_config_file(path)
        if not isinstance(content, dict):
            raise ConfigError(
                f"{path}: expected a mapping at the top level, got {type_name(content)}"
            )
        _merge(merged, content)
    _merge(merged, dict(overrides or {}))
    name = ", ".join(map(str, paths))
    if overrides:
        name += f" (with --config {', '.join(map(str, overrides))})"
    return merged, load_config(merged, source_name=name)


def _merge(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _check_config(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {type_name(raw)}")
    check_keys(raw, TOP_LEVEL_KEYS, "")

    top = {**copy.deepcopy(TOP_LEVEL_DEFAULTS), **raw}
    config: dict[str, Any] = {
        "data_root": top["data_root"],
        "device": check_device(top["device"]),
        "seeds": check_seeds(top["seeds"]),
        "run": check_run({**RUN_DEFAULTS, **as_mapping(raw.get("run", {}), "run")}, "run"),
    }
    config["model_defaults"] = _check_model_defaults(raw.get("model_defaults"))
    if not isinstance(config["data_root"], str) or not config["data_root"]:
        raise ConfigError(f"data_root: expected a non-empty path, got {config['data_root']!r}")
    config["optimizers"] = _check_optimizers(raw.get("optimizers"))
    config["artifacts"] = _check_artifacts(raw.get("artifacts"), config)
    config["tuning"] = _check_tuning(raw.get("tuning", []), config)
    config["search"] = check_search(raw.get("search"), config)
    return config


def _check_model_defaults(value: Any) -> dict[str, dict[str, Any]]:
    from secondorder.models import MODELS

    defaults = as_mapping(value, "model_defaults")
    for model, run in defaults.items():
        check_choice(model, MODELS, f"model_defaults.{model}")
        defaults[model] = check_run(
            as_mapping(run, f"model_defaults.{model}"), f"model_defaults.{model}"
        )
    return defaults


def _check_optimizers(value: Any) -> dict[str, dict[str, Any]]:
    from secondorder.optim import METHODS

    presets = as_mapping(value, "optimizers")
    if not presets:
        raise ConfigError("optimizers: define at least one optimizer preset")
    for name, preset in presets.items():
        where = f"optimizers.{name}"
        check_name(name, where)
        preset = as_mapping(preset, where)
        if "method" not in preset:
            raise ConfigError(f"{where}: missing key 'method'; choose one of: {', '.join(METHODS)}")
        method = check_choice(preset["method"], tuple(METHODS), f"{where}.method")
        hparams = {k: v for k, v in preset.items() if k != "method"}
        check_space(method, hparams, hparams, where)
        presets[name] = preset
    return presets


def _study_settings(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every setting (dataset, model, optimizer preset, activation, variant, batch size) that
    some artifact trains: what a tuning rule can match."""
    settings = []
    for name, entry in config["artifacts"].items():
        for model in entry["models"]:
            run = run_settings(config, name, model)
            for values in itertools.product(
                entry["datasets"],
                [model],
                entry["optimizers"],
                entry["activations"] or [run["activation"]],
                entry["variants"] or [run["variant"]],
                entry["batch_sizes"] or [run["batch_size"]],
            ):
                setting = dict(zip(SETTING_AXES, values, strict=True))
                if setting not in settings:
                    settings.append(setting)
    return settings


def _check_tuning(value: Any, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(
            f"tuning: expected a list of {{match: ..., set: ...}} entries, got {value!r}"
        )
    settings = _study_settings(config)
    rules = []
    for i, rule in enumerate(value):
        where = f"tuning[{i}]"
        rule = as_mapping(rule, where)
        check_keys(rule, ("match", "set"), where)
        for key in ("match", "set"):
            if key not in rule:
                raise ConfigError(
                    f"{where}: missing key '{key}'; an entry is {{match: ..., set: ...}}"
                )
        match = as_mapping(rule["match"], f"{where}.match")
        check_keys(match, SETTING_AXES, f"{where}.match")
        for key, wanted in match.items():
            used = sorted({setting[key] for setting in settings}, key=str)
            if isinstance(wanted, bool) or wanted not in used:
                raise ConfigError(
                    f"{where}.match.{key}: {wanted!r} names no {key.replace('_', ' ')} of the "
                    "study (the rule would never apply); the study has: "
                    + ", ".join(map(str, used))
                )
        matched = [s for s in settings if all(s[k] == v for k, v in match.items())]
        if not matched:
            wanted = ", ".join(f"{k}={v}" for k, v in match.items())
            raise ConfigError(
                f"{where}.match: no run of the study has {wanted} (the rule would never apply)"
            )
        changes = as_mapping(rule["set"], f"{where}.set")
        if not changes:
            raise ConfigError(f"{where}.set: expected at least one hyperparameter")
        for preset in dict.fromkeys(setting["optimizer"] for setting in matched):
            entry = dict(config["optimizers"][preset])
            method = entry.pop("method")
            context = f" (preset {preset!r}, which this rule matches)"
            check_space(method, {**entry, **changes}, changes, f"{where}.set", context)
        rules.append({"match": match, "set": changes})
    checked = {**config, "tuning": rules}
    for setting in settings:  # rules that apply together must also fit together
        try:
            preset_hparams(checked, setting["optimizer"], setting)
        except ConfigError as error:
            where = ", ".join(f"{k}={v}" for k, v in setting.items())
            raise ConfigError(f"tuning: the rules that match {where} give: {error}") from None
    return rules


def _check_artifacts(value: Any, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from secondorder.models import ACTIVATIONS, MODELS, model_variants

    artifacts = as_mapping(value, "artifacts")
    if not artifacts:
        raise ConfigError("artifacts: define at least one table or figure")
    checked = {}
    for name, entry in artifacts.items():
        where = f"artifacts.{name}"
        check_name(name, where)
        entry = as_mapping(entry, where)
        check_keys(entry, ARTIFACT_KEYS, where)
        if "kind" not in entry:
            raise ConfigError(
                f"{where}: missing key 'kind'; choose one of: {', '.join(ARTIFACT_KINDS)}"
            )
        kind = check_choice(entry["kind"], ARTIFACT_KINDS, f"{where}.kind")
        title = entry.get("title", name)
        if not isinstance(title, str):
            raise ConfigError(f"{where}.title: expected a string, got {title!r}")
        options = {**ARTIFACT_DEFAULTS, **entry}
        out = {
            "kind": kind,
            "title": title,
            "x": check_choice(options["x"], X_AXES, f"{where}.x"),
            "lines": check_choice(options["lines"], LINE_KEYS, f"{where}.lines"),
            "run": check_run(as_mapping(entry.get("run"), f"{where}.run"), f"{where}.run"),
            "beyond_paper": options["beyond_paper"],
        }
        if not isinstance(out["beyond_paper"], bool):
            raise ConfigError(f"{where}.beyond_paper: expected true or false")
        out["panels"] = _check_panels(entry.get("panels"), out["lines"], where)
        check_presets_defined(entry.get("optimizers"), config["optimizers"], f"{where}.optimizers")
        for key, allowed in (
            ("datasets", DATASETS),
            ("models", MODELS),
            ("optimizers", tuple(config["optimizers"])),
        ):
            values = check_list(entry.get(key), f"{where}.{key}")
            for item in values:
                check_choice(item, allowed, f"{where}.{key}")
            out[key] = values
        out["activations"] = check_list(
            entry.get("activations"), f"{where}.activations", optional=True
        )
        for item in out["activations"]:
            check_choice(item, ACTIVATIONS, f"{where}.activations")
        out["variants"] = check_list(entry.get("variants"), f"{where}.variants", optional=True)
        out["batch_sizes"] = check_list(
            entry.get("batch_sizes"), f"{where}.batch_sizes", optional=True
        )
        for item in out["batch_sizes"]:
            check_int(item, f"{where}.batch_sizes")
        out["targets"] = _check_targets(entry.get("targets"), kind, out["datasets"], where)
        for model in out["models"]:
            run, origin = layered_run_settings({**config, "artifacts": {name: out}}, name, model)
            for variant in out["variants"] or [run["variant"]]:
                check_choice(variant, model_variants(model), f"{where}.variants (model {model})")
            if out["batch_sizes"]:
                origin["batch_size"] = f"{where}.batch_sizes"
            for dataset, batch_size in itertools.product(
                out["datasets"], out["batch_sizes"] or [run["batch_size"]]
            ):
                what = f"{where} (model {model}, dataset {dataset})"
                check_sizes({**run, "batch_size": batch_size}, dataset, origin, what)
        checked[name] = out
    return checked


def _check_panels(value: Any, lines: str, where: str) -> list[str] | None:
    """The grid axes that split a figure into panels (None: dataset, model and whatever else
    varies, decided from the data)."""
    if value is None:
        return None
    panels = check_list(value, f"{where}.panels")
    for item in panels:
        check_choice(item, SETTING_AXES, f"{where}.panels")
    if lines in panels:
        raise ConfigError(f"{where}.panels: '{lines}' is already what the lines stand for")
    return panels


def _check_targets(value: Any, kind: str, datasets: list[str], where: str) -> dict[str, float]:
    """Test-accuracy targets per dataset (fractions), required by time_to_target artifacts."""
    if kind != "time_to_target":
        if value is not None:
            raise ConfigError(f"{where}.targets: only time_to_target artifacts have targets")
        return {}
    targets = as_mapping(value, f"{where}.targets")
    for dataset in datasets:
        if dataset not in targets:
            raise ConfigError(f"{where}.targets: no test-accuracy target for '{dataset}'")
    for dataset, target in targets.items():
        check_choice(dataset, tuple(datasets), f"{where}.targets")
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
            raise ConfigError(
                f"{where}.targets.{dataset}: expected a test accuracy in (0, 1], got {target!r}"
            )
    return {dataset: float(target) for dataset, target in targets.items()}
