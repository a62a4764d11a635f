"""Study expansion: a study config (YAML) -> the set of unique training runs, with stable ids.

The Snakefile calls these functions; they are plain Python so the grid can be unit-tested.
Every artifact (table or figure) names a grid of datasets x models x optimizer presets (x
activations, variants, batch sizes) x seeds; each point becomes a :class:`RunSpec`. Runs with
the same spec are shared between artifacts: Figure 2 and Figure 4 plot the same runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from secondorder.errors import ConfigError

DATASETS = ("mnist", "cifar10")
ARTIFACT_KINDS = ("accuracy_table", "loss_curves", "time_to_target", "cg_diagnostics")
X_AXES = ("epoch", "time", "work")
LINE_KEYS = ("optimizer", "batch_size", "activation", "variant")
PANEL_KEYS = ("dataset", "model", "optimizer", "activation", "variant", "batch_size")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

TOP_LEVEL_KEYS = (
    "data_root",
    "device",
    "seeds",
    "run",
    "model_defaults",
    "optimizers",
    "tuning",
    "artifacts",
)
RUN_DEFAULTS: dict[str, Any] = {
    "batch_size": 100,
    "epochs": 10,
    "activation": "tanh",
    "variant": "standard",
    "train_subset": None,
    "test_subset": None,
    "logs_per_epoch": 4,
    "eval_train_loss": False,
    "chunk_size": 4096,
    "divergence_factor": 1000.0,
}
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
TUNING_MATCH_KEYS = ("dataset", "model", "optimizer", "activation", "variant", "batch_size")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run (and hence its record)."""

    dataset: str
    model: str
    activation: str
    variant: str
    optimizer: str  # preset name in the config: the label of the run in figures
    method: str
    hparams: dict[str, Any] = field(hash=False)
    batch_size: int
    epochs: int
    seed: int
    train_subset: int | None = None
    test_subset: int | None = None
    logs_per_epoch: int = 4
    eval_train_loss: bool = False
    chunk_size: int | None = 4096
    divergence_factor: float = 1000.0  # loss above this multiple of the initial loss = diverged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunSpec:
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        required = {f.name for f in fields(cls) if f.default is MISSING}
        missing = required - set(values)
        if unknown or missing:
            raise ConfigError(
                f"run spec: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
            )
        return cls(**dict(values))

    @property
    def run_id(self) -> str:
        """Readable and stable: the setting, the optimizer preset, batch size, seed and a hash
        of the whole spec (so a changed hyperparameter, epoch count or subset gives a new id)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:6]
        setting = f"{self.dataset}-{self.model}-{self.activation}"
        if self.variant != "standard":
            setting += f"-{self.variant}"
        return f"{setting}__{self.optimizer}__bs{self.batch_size}__s{self.seed}__{digest}"


def load_config(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read (safe YAML) and check a study config; return it with defaults filled in.

    Raises :class:`ConfigError` naming the offending key and the allowed values.
    """
    if isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
    else:
        path = Path(source)
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a mapping at the top level")
    _check_keys(raw, TOP_LEVEL_KEYS, "config")

    config: dict[str, Any] = {
        "data_root": raw.get("data_root", "data/raw"),
        "device": _check_device(raw.get("device", "auto")),
        "seeds": _check_seeds(raw.get("seeds", [0])),
        "run": _check_run({**RUN_DEFAULTS, **_mapping(raw.get("run", {}), "run")}, "run"),
    }
    config["model_defaults"] = _check_model_defaults(raw.get("model_defaults"))
    if not isinstance(config["data_root"], str) or not config["data_root"]:
        raise ConfigError("data_root: expected a non-empty path string")
    config["optimizers"] = _check_optimizers(raw.get("optimizers"))
    config["tuning"] = _check_tuning(raw.get("tuning", []) or [], config["optimizers"])
    config["artifacts"] = _check_artifacts(raw.get("artifacts"), config)
    return config


def expand(config: Mapping[str, Any]) -> dict[str, RunSpec]:
    """All unique runs of the study, keyed by run id (sorted, so the order is stable)."""
    runs: dict[str, RunSpec] = {}
    for name in config["artifacts"]:
        for spec in _artifact_specs(config, name):
            runs[spec.run_id] = spec
    return dict(sorted(runs.items()))


def artifact_runs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Artifact name -> the ids of the runs it shows (sorted, unique)."""
    return {
        name: sorted({spec.run_id for spec in _artifact_specs(config, name)})
        for name in config["artifacts"]
    }


def artifact(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The (checked, defaulted) config entry of one artifact."""
    try:
        return config["artifacts"][name]
    except KeyError:
        allowed = ", ".join(config["artifacts"])
        raise ConfigError(f"unknown artifact '{name}'; the config has: {allowed}") from None


def run_settings(config: Mapping[str, Any], artifact_name: str, model: str) -> dict[str, Any]:
    """The run settings of one model in one artifact: the run defaults, then the model's
    defaults (e.g. ReLU for ResNet-18), then the artifact's own ``run`` overrides."""
    return {
        **config["run"],
        **config["model_defaults"].get(model, {}),
        **config["artifacts"][artifact_name]["run"],
    }


def _artifact_specs(config: Mapping[str, Any], name: str) -> list[RunSpec]:
    entry = config["artifacts"][name]
    specs = []
    for model in entry["models"]:
        specs += _model_specs(config, entry, model, run_settings(config, name, model))
    return specs


def _model_specs(
    config: Mapping[str, Any], entry: Mapping[str, Any], model: str, run: Mapping[str, Any]
) -> list[RunSpec]:
    grid = itertools.product(
        entry["datasets"],
        entry["optimizers"],
        entry["activations"] or [run["activation"]],
        entry["variants"] or [run["variant"]],
        entry["batch_sizes"] or [run["batch_size"]],
        config["seeds"],
    )
    specs = []
    for dataset, preset, activation, variant, batch_size, seed in grid:
        method, hparams = _preset_hparams(
            config,
            preset,
            {
                "dataset": dataset,
                "model": model,
                "optimizer": preset,
                "activation": activation,
                "variant": variant,
                "batch_size": batch_size,
            },
        )
        specs.append(
            RunSpec(
                dataset=dataset,
                model=model,
                activation=activation,
                variant=variant,
                optimizer=preset,
                method=method,
                hparams=hparams,
                batch_size=batch_size,
                epochs=run["epochs"],
                seed=seed,
                train_subset=run["train_subset"],
                test_subset=run["test_subset"],
                logs_per_epoch=run["logs_per_epoch"],
                eval_train_loss=run["eval_train_loss"],
                chunk_size=run["chunk_size"],
                divergence_factor=run["divergence_factor"],
            )
        )
    return specs


def _preset_hparams(
    config: Mapping[str, Any], preset: str, setting: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The method and fully resolved hyperparameters of a preset in one setting (tuning
    entries that match the setting apply in order; later entries win)."""
    from secondorder.optim import resolve_hparams

    entry = dict(config["optimizers"][preset])
    method = entry.pop("method")
    for rule in config["tuning"]:
        if all(setting.get(key) == value for key, value in rule["match"].items()):
            entry.update(rule["set"])
    return method, resolve_hparams(method, entry)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return dict(value)


def _check_keys(values: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in values:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key '{key}'; allowed keys: {', '.join(allowed)}")


def _check_choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{where}: '{value}' is not allowed; choose one of: {', '.join(allowed)}")
    return value


def _check_int(value: Any, where: str, *, minimum: int = 1, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _check_list(value: Any, where: str, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
    if len(set(map(str, value))) != len(value):
        raise ConfigError(f"{where}: the list {value!r} repeats a value")
    return value


def _check_device(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise ConfigError(f"device: '{value}' is not allowed; choose auto, cpu, cuda or cuda:N")
    return value


def _check_seeds(value: Any) -> list[int]:
    seeds = _check_list(value, "seeds")
    for i, seed in enumerate(seeds):
        _check_int(seed, f"seeds[{i}]", minimum=0)
    return seeds


def _check_run(run: dict[str, Any], where: str) -> dict[str, Any]:
    from secondorder.models import ACTIVATIONS

    _check_keys(run, tuple(RUN_DEFAULTS), where)
    for key in ("batch_size", "epochs", "logs_per_epoch"):
        if key in run:
            _check_int(run[key], f"{where}.{key}")
    for key in ("train_subset", "test_subset", "chunk_size"):
        if key in run:
            _check_int(run[key], f"{where}.{key}", optional=True)
    if "activation" in run:
        _check_choice(run["activation"], ACTIVATIONS, f"{where}.activation")
    if "variant" in run and not isinstance(run["variant"], str):
        raise ConfigError(f"{where}.variant: expected a string, got {run['variant']!r}")
    if "divergence_factor" in run:
        factor = run["divergence_factor"]
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 1:
            raise ConfigError(f"{where}.divergence_factor: expected a number > 1, got {factor!r}")
    if "eval_train_loss" in run and not isinstance(run["eval_train_loss"], bool):
        raise ConfigError(f"{where}.eval_train_loss: expected true or false")
    return run


def _check_model_defaults(value: Any) -> dict[str, dict[str, Any]]:
    from secondorder.models import MODELS

    defaults = _mapping(value, "model_defaults")
    for model, run in defaults.items():
        _check_choice(model, MODELS, "model_defaults")
        defaults[model] = _check_run(
            _mapping(run, f"model_defaults.{model}"), f"model_defaults.{model}"
        )
    return defaults


def _check_optimizers(value: Any) -> dict[str, dict[str, Any]]:
    from secondorder.optim import METHODS, resolve_hparams

    presets = _mapping(value, "optimizers")
    if not presets:
        raise ConfigError("optimizers: define at least one optimizer preset")
    for name, preset in presets.items():
        where = f"optimizers.{name}"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ConfigError(f"{where}: preset names use only a-z, 0-9, '.', '_', '-'")
        preset = _mapping(preset, where)
        if "method" not in preset:
            raise ConfigError(f"{where}: missing key 'method'; choose one of: {', '.join(METHODS)}")
        hparams = {k: v for k, v in preset.items() if k != "method"}
        try:
            resolve_hparams(preset["method"], hparams)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        presets[name] = preset
    return presets


def _check_tuning(value: Any, presets: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ConfigError("tuning: expected a list of {match: ..., set: ...} entries")
    rules = []
    for i, rule in enumerate(value):
        where = f"tuning[{i}]"
        rule = _mapping(rule, where)
        _check_keys(rule, ("match", "set"), where)
        match = _mapping(rule.get("match"), f"{where}.match")
        _check_keys(match, TUNING_MATCH_KEYS, f"{where}.match")
        if "optimizer" in match:
            _check_choice(match["optimizer"], tuple(presets), f"{where}.match.optimizer")
        rules.append({"match": match, "set": _mapping(rule.get("set"), f"{where}.set")})
    return rules


def _check_artifacts(value: Any, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from secondorder.models import ACTIVATIONS, MODELS, model_variants

    artifacts = _mapping(value, "artifacts")
    if not artifacts:
        raise ConfigError("artifacts: define at least one table or figure")
    checked = {}
    for name, entry in artifacts.items():
        where = f"artifacts.{name}"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ConfigError(f"{where}: artifact names use only a-z, 0-9, '.', '_', '-'")
        entry = _mapping(entry, where)
        _check_keys(entry, ARTIFACT_KEYS, where)
        if "kind" not in entry:
            raise ConfigError(
                f"{where}: missing key 'kind'; choose one of: {', '.join(ARTIFACT_KINDS)}"
            )
        kind = _check_choice(entry["kind"], ARTIFACT_KINDS, f"{where}.kind")
        out = {
            "kind": kind,
            "title": str(entry.get("title", name)),
            "x": _check_choice(entry.get("x", "epoch"), X_AXES, f"{where}.x"),
            "lines": _check_choice(entry.get("lines", "optimizer"), LINE_KEYS, f"{where}.lines"),
            "run": _check_run(_mapping(entry.get("run"), f"{where}.run"), f"{where}.run"),
            "beyond_paper": entry.get("beyond_paper", False),
        }
        if not isinstance(out["beyond_paper"], bool):
            raise ConfigError(f"{where}.beyond_paper: expected true or false")
        out["panels"] = _check_panels(entry.get("panels"), out["lines"], where)
        for key, allowed in (
            ("datasets", DATASETS),
            ("models", MODELS),
            ("optimizers", tuple(config["optimizers"])),
        ):
            values = _check_list(entry.get(key), f"{where}.{key}")
            for item in values:
                _check_choice(item, allowed, f"{where}.{key}")
            out[key] = values
        out["activations"] = _check_list(
            entry.get("activations"), f"{where}.activations", optional=True
        )
        for item in out["activations"]:
            _check_choice(item, ACTIVATIONS, f"{where}.activations")
        out["variants"] = _check_list(entry.get("variants"), f"{where}.variants", optional=True)
        for model in out["models"]:
            run = {**config["run"], **config["model_defaults"].get(model, {}), **out["run"]}
            for variant in out["variants"] or [run["variant"]]:
                _check_choice(variant, model_variants(model), f"{where}.variants (model {model})")
        out["batch_sizes"] = _check_list(
            entry.get("batch_sizes"), f"{where}.batch_sizes", optional=True
        )
        for item in out["batch_sizes"]:
            _check_int(item, f"{where}.batch_sizes")
        out["targets"] = _check_targets(entry.get("targets"), kind, out["datasets"], where)
        checked[name] = out
    return checked


def _check_panels(value: Any, lines: str, where: str) -> list[str] | None:
    """The grid axes that split a figure into panels (None: dataset, model and whatever else
    varies, decided from the data)."""
    if value is None:
        return None
    panels = _check_list(value, f"{where}.panels")
    for item in panels:
        _check_choice(item, PANEL_KEYS, f"{where}.panels")
    if lines in panels:
        raise ConfigError(f"{where}.panels: '{lines}' is already what the lines stand for")
    return panels


def _check_targets(value: Any, kind: str, datasets: list[str], where: str) -> dict[str, float]:
    """Test-accuracy targets per dataset (fractions), required by time_to_target artifacts."""
    if kind != "time_to_target":
        if value is not None:
            raise ConfigError(f"{where}.targets: only time_to_target artifacts have targets")
        return {}
    targets = _mapping(value, f"{where}.targets")
    for dataset in datasets:
        if dataset not in targets:
            raise ConfigError(f"{where}.targets: no test-accuracy target for '{dataset}'")
    for dataset, target in targets.items():
        _check_choice(dataset, tuple(datasets), f"{where}.targets")
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
            raise ConfigError(
                f"{where}.targets.{dataset}: expected a test accuracy in (0, 1], got {target!r}"
            )
    return {dataset: float(target) for dataset, target in targets.items()}
