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
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from secondorder.errors import ConfigError

DATASETS = ("mnist", "cifar10")
TRAIN_SIZES = {"mnist": 60_000, "cifar10": 50_000}  # full training sets (subsets must fit)
TEST_SIZES = {"mnist": 10_000, "cifar10": 10_000}
MAX_SEED = 2**32 - 1  # what every seeded generator accepts (numpy's is the narrowest)
MAX_COUNT = 2**31 - 1  # sizes and counts: anything larger is a typo, and would overflow later
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
    "search",
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
    "eval_every": None,
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
DEFAULT_CONFIG = "config/quick.yaml"  # the Snakefile's study when no --configfile is given
# RunSpec fields -> default, see to_dict
_LATER_FIELDS: dict[str, Any] = {
    "eval_every": None,
    "holdout": None,
    "evaluate_on": "test",
    "search": None,
}
EVALUATION_SETS = ("test", "validation")


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
    eval_every: int | None = None  # extra logging point every this many iterations
    holdout: int | float | None = None  # validation split held out of the training set
    evaluate_on: str = "test"  # test | validation (a tuning run: the held-out split)
    search: dict[str, Any] | None = field(default=None, hash=False)  # see secondorder.tuning

    def to_dict(self) -> dict[str, Any]:
        """All fields, except fields added later while they hold their default: a spec then
        keeps its dict (and so its run id and the match with its saved records)."""
        values = asdict(self)
        for name, default in _LATER_FIELDS.items():
            if values[name] == default:
                del values[name]
        return values

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
    def setting(self) -> str:
        """Dataset, model, activation and (unless standard) variant: ``mnist-lenet-tanh``."""
        setting = f"{self.dataset}-{self.model}-{self.activation}"
        return setting if self.variant == "standard" else f"{setting}-{self.variant}"

    @property
    def run_id(self) -> str:
        """Readable and stable: the setting, the optimizer preset, batch size, seed and a hash
        of the whole spec (so a changed hyperparameter, epoch count or subset gives a new id).

        A tuning run says ``val`` before the hash. A run with a search hashes its search, not
        the searched values: its id is the same before and after tuning fills them in."""
        values = self.to_dict()
        if self.search is not None:
            space = self.search["space"]
            values["hparams"] = {k: v for k, v in self.hparams.items() if k not in space}
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:6]
        role = "__val" if self.evaluate_on == "validation" else ""
        return (
            f"{self.setting}__{self.optimizer}__bs{self.batch_size}__s{self.seed}{role}__{digest}"
        )


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
            raise ConfigError(f"{path}: expected a mapping at the top level, got {_kind(content)}")
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


def read_config_file(path: str | Path) -> Any:
    """Parse a YAML (or JSON) file strictly: a key twice in one mapping, a file that is not
    UTF-8, a directory or an unreadable file are errors that name the file (and line).

    Numbers in exponent notation without a dot or a signed exponent (``1e-3``, ``2E5``) are
    floats, as in YAML 1.2; PyYAML's YAML 1.1 rules would read them as strings.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; expected a YAML config file") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start}); save the file as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_unique_keys(node, path, "")
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(filter(None, [error.context, error.problem]))
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    finally:
        loader.dispose()


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2's exponent floats (``1e-3``); see :func:`read_config_file`."""


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def _check_unique_keys(node: yaml.Node, path: str | Path, where: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            here = f"{where}.{key}" if where else str(key)
            line = key_node.start_mark.line + 1
            if key is not None and key != "<<":
                if key in seen:
                    raise ConfigError(
                        f"{path}:{line}: {here}: duplicate key (first on line {seen[key]}); "
                        "each key may appear once in a mapping"
                    )
                seen[key] = line
            _check_unique_keys(value_node, path, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_unique_keys(item, path, f"{where}[{i}]")


def _check_config(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {_kind(raw)}")
    _check_keys(raw, TOP_LEVEL_KEYS, "")

    config: dict[str, Any] = {
        "data_root": raw.get("data_root", "data/raw"),
        "device": _check_device(raw.get("device", "auto")),
        "seeds": _check_seeds(raw.get("seeds", [0])),
        "run": _check_run({**RUN_DEFAULTS, **_mapping(raw.get("run", {}), "run")}, "run"),
    }
    config["model_defaults"] = _check_model_defaults(raw.get("model_defaults"))
    if not isinstance(config["data_root"], str) or not config["data_root"]:
        raise ConfigError(f"data_root: expected a non-empty path, got {config['data_root']!r}")
    config["optimizers"] = _check_optimizers(raw.get("optimizers"))
    config["artifacts"] = _check_artifacts(raw.get("artifacts"), config)
    config["tuning"] = _check_tuning(raw.get("tuning", []), config)
    config["search"] = _check_search(raw.get("search"), config)
    return config


def expand(config: Mapping[str, Any]) -> dict[str, RunSpec]:
    """All unique runs of the study, tuning runs included, keyed by run id (sorted, so the
    order is stable)."""
    from secondorder.tuning import trial_specs

    runs: dict[str, RunSpec] = {}
    for name in config["artifacts"]:
        for spec in _artifact_specs(config, name):
            runs[spec.run_id] = spec
            for _, trials in trial_specs(spec):
                runs.update((trial.run_id, trial) for trial in trials)
    return dict(sorted(runs.items()))


def searches(config: Mapping[str, Any]) -> dict[str, RunSpec]:
    """Selection group -> one final run of it (the group's seeds share the selection)."""
    from secondorder.tuning import group_id

    groups: dict[str, RunSpec] = {}
    for name in config["artifacts"]:
        for spec in _artifact_specs(config, name):
            if spec.search is not None:
                groups.setdefault(group_id(spec), spec)
    return dict(sorted(groups.items()))


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
        method, hparams, space = _preset_hparams(
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
                eval_every=run["eval_every"],
                **_search_fields(config["search"], space),
            )
        )
    return specs


def _search_fields(search: Mapping[str, Any], space: Mapping[str, list[Any]]) -> dict[str, Any]:
    """The RunSpec fields of a final run whose preset searches ``space`` (none if empty)."""
    if not space:
        return {}
    holdout = search["validation"] if search["final_training"] == "rest" else None
    return {
        "holdout": holdout,
        "search": {
            "space": dict(space),
            "epochs": search["epochs"],
            "validation": search["validation"],
            "seeds": list(search["seeds"]),
        },
    }


def _preset_hparams(
    config: Mapping[str, Any], preset: str, setting: Mapping[str, Any]
) -> tuple[str, dict[str, Any], dict[str, list[Any]]]:
    """The method, the resolved pinned hyperparameters and the search space of a preset in
    one setting (tuning entries that match the setting apply in order; later entries win).

    Searched keys are left out of the pinned hyperparameters; their values are checked and
    normalised like pinned ones (``1`` for a float becomes ``1.0``)."""
    from secondorder.optim import resolve_hparams
    from secondorder.tuning import split_space

    entry = dict(config["optimizers"][preset])
    method = entry.pop("method")
    for rule in config["tuning"]:
        if all(setting.get(key) == value for key, value in rule["match"].items()):
            entry.update(rule["set"])
    pinned, space = split_space(entry, f"optimizers.{preset}")
    first = {key: values[0] for key, values in space.items()}
    hparams = resolve_hparams(method, {**pinned, **first})
    space = {
        key: [resolve_hparams(method, {**pinned, key: value})[key] for value in values]
        for key, values in space.items()
    }
    return method, {k: v for k, v in hparams.items() if k not in space}, space


def check_spec(values: Any) -> RunSpec:
    """A run spec from outside the config (``secondorder train --spec``), checked like a
    config: known keys, names and choices, integers in range, hyperparameters that resolve.

    Returns the spec with its hyperparameters resolved (defaults filled in). Errors name the
    key, so a spec whose names hold a path (``../``) never reaches the file system.
    """
    from secondorder.models import ACTIVATIONS, MODELS, model_variants
    from secondorder.optim import METHODS

    values = _mapping(values, "run spec")
    names = [f.name for f in fields(RunSpec)]
    _check_keys(values, tuple(names), "run spec")
    required = [f.name for f in fields(RunSpec) if f.default is MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise ConfigError(
            f"run spec: missing key(s) {', '.join(missing)}; required: {', '.join(required)}"
        )
    dataset = _check_choice(values["dataset"], DATASETS, "dataset")
    model = _check_choice(values["model"], MODELS, "model")
    _check_choice(values["activation"], ACTIVATIONS, "activation")
    _check_choice(values["variant"], model_variants(model), f"variant (model {model})")
    _check_name(values["optimizer"], "optimizer")
    method = _check_choice(values["method"], tuple(METHODS), "method")
    hparams = _mapping(values["hparams"], "hparams")
    run = _check_run({key: values[key] for key in RUN_DEFAULTS if key in values}, "")
    _check_int(values["seed"], "seed", minimum=0, maximum=MAX_SEED)
    _check_sizes(run, dataset, {key: key for key in run}, "the run")
    holdout = values.get("holdout")
    if holdout is not None and not (isinstance(holdout, float) and 0 < holdout < 1):
        _check_int(holdout, "holdout", optional=True)
    evaluate_on = _check_choice(values.get("evaluate_on", "test"), EVALUATION_SETS, "evaluate_on")
    if evaluate_on == "validation" and holdout is None:
        raise ConfigError("evaluate_on: 'validation' needs a holdout (the validation split)")
    search = values.get("search")
    space: dict[str, list[Any]] = {}
    if search is not None:
        search = _mapping(search, "search")
        _check_keys(search, ("space", "epochs", "validation", "seeds"), "search")
        space = _mapping(search.get("space"), "search.space")
        if not space or not all(isinstance(v, list) and len(v) > 1 for v in space.values()):
            raise ConfigError("search.space: expected hyperparameter -> list of 2+ values")
        for key in space:
            if key in hparams:
                raise ConfigError(f"hparams.{key}: a searched key is not pinned in hparams")
        _check_int(search.get("epochs"), "search.epochs")
        _check_seeds(search.get("seeds"))
    _check_space(
        method, {**hparams, **{k: {"search": v} for k, v in space.items()}}, hparams, "hparams"
    )
    first = {key: values[0] for key, values in space.items()}
    resolved = _check_hparams(method, {**hparams, **first}, hparams, "hparams")
    resolved = {k: v for k, v in resolved.items() if k not in space}
    return RunSpec(**{**values, **run, "hparams": resolved})


def _at(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _kind(value: Any) -> str:
    return "nothing (an empty file?)" if value is None else type(value).__name__


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {_kind(value)} {value!r}")
    return dict(value)


def _check_keys(values: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in values:
        if key not in allowed:
            of = f" of {where}" if where else ""
            raise ConfigError(
                f"{_at(where, key)}: unknown key; allowed keys{of}: {', '.join(allowed)}"
            )


def _check_choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if isinstance(value, bool | int | float) or value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not allowed; choose one of: {', '.join(allowed)}")
    return value


def _check_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ConfigError(
            f"{where}: {value!r} is not a valid name; names start with a-z or 0-9 and use only "
            "a-z, 0-9, '.', '_', '-'"
        )
    return value


def _check_int(
    value: Any,
    where: str,
    *,
    minimum: int = 1,
    maximum: int = MAX_COUNT,
    optional: bool = False,
) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        null = " (or null)" if optional else ""
        raise ConfigError(
            f"{where}: expected an integer from {minimum} to {maximum}{null}, got {value!r}"
        )
    return value


def _check_list(value: Any, where: str, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
    if len(set(map(repr, value))) != len(value):
        raise ConfigError(f"{where}: the list {value!r} repeats a value")
    return value


def _check_device(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise ConfigError(f"device: {value!r} is not allowed; choose auto, cpu, cuda or cuda:N")
    return value


def _check_seeds(value: Any) -> list[int]:
    seeds = _check_list(value, "seeds")
    for i, seed in enumerate(seeds):
        _check_int(seed, f"seeds[{i}]", minimum=0, maximum=MAX_SEED)
    return seeds


def _check_run(run: dict[str, Any], where: str) -> dict[str, Any]:
    """Check (and normalise) run settings in place; ``where`` is the key path of ``run``."""
    from secondorder.models import ACTIVATIONS

    _check_keys(run, tuple(RUN_DEFAULTS), where)
    for key in ("batch_size", "epochs", "logs_per_epoch"):
        if key in run:
            _check_int(run[key], _at(where, key))
    for key in ("train_subset", "test_subset", "chunk_size", "eval_every"):
        if key in run:
            _check_int(run[key], _at(where, key), optional=True)
    if "activation" in run:
        _check_choice(run["activation"], ACTIVATIONS, _at(where, "activation"))
    if "variant" in run and not isinstance(run["variant"], str):
        raise ConfigError(f"{_at(where, 'variant')}: expected a string, got {run['variant']!r}")
    if "divergence_factor" in run:
        factor = run["divergence_factor"]
        if not _is_real(factor) or factor <= 1:
            raise ConfigError(
                f"{_at(where, 'divergence_factor')}: expected a finite number > 1, got "
                f"{factor!r}{_quoted_number_hint(factor)}"
            )
        run["divergence_factor"] = float(factor)  # 1000 and 1000.0 give the same run id
    if "eval_train_loss" in run and not isinstance(run["eval_train_loss"], bool):
        flag = run["eval_train_loss"]
        raise ConfigError(f"{_at(where, 'eval_train_loss')}: expected true or false, got {flag!r}")
    return run


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _quoted_number_hint(value: Any) -> str:
    """For '1e-3' written in quotes: say that it is text and how to write the number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return ""
        if math.isfinite(number):
            return f" (text, not a number: write {number!r} without quotes)"
    return ""


def _check_sizes(
    run: Mapping[str, Any], dataset: str, origin: Mapping[str, str], what: str
) -> None:
    """Subsets fit the dataset, and a batch fits the (subset) training set; ``origin`` maps a
    setting to the key path it comes from."""
    for key, sizes in (("train_subset", TRAIN_SIZES), ("test_subset", TEST_SIZES)):
        subset = run.get(key)
        if subset is not None and subset > sizes[dataset]:
            raise ConfigError(
                f"{origin[key]}: {subset} is larger than the {dataset} set "
                f"({sizes[dataset]} samples); allowed: 1 to {sizes[dataset]}, or null for all"
            )
    subset = run.get("train_subset")
    if subset is not None and subset < run["batch_size"]:
        raise ConfigError(
            f"{origin['train_subset']}: {subset} is smaller than the batch size "
            f"{run['batch_size']} (from {origin['batch_size']}) of {what}; allowed: a train "
            "subset of at least the batch size, or null for the whole training set"
        )
    if run["batch_size"] > TRAIN_SIZES[dataset]:
        raise ConfigError(
            f"{origin['batch_size']}: batch size {run['batch_size']} of {what} is larger than "
            f"the {dataset} training set ({TRAIN_SIZES[dataset]} samples); allowed: 1 to "
            f"{TRAIN_SIZES[dataset]}"
        )


def _check_hparams(
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
                f"{_at(where, key)}: unknown hyperparameter of method {method!r}{context}; "
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
            hint = _quoted_number_hint(hparams[key])
            raise ConfigError(f"{_at(where, key)}: {error}{context}{hint}") from None
    raise ConfigError(f"{where}: {message}{context}")


def _check_space(
    method: str, entry: Mapping[str, Any], blame: Iterable[str], where: str, context: str = ""
) -> None:
    """Hyperparameters that may hold search spaces: every point of the grid must resolve."""
    from secondorder.tuning import grid, split_space

    pinned, space = split_space(entry, where)
    for point in grid(space):
        _check_hparams(method, {**pinned, **point}, blame, where, context)


def _check_search(value: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """The tuning stage's settings (see secondorder.tuning), checked against every run that
    searches: the validation split must leave at least one batch to train on."""
    from secondorder.data import holdout_size
    from secondorder.tuning import FINAL_TRAINING, SEARCH_DEFAULTS

    raw = _mapping(value, "search")
    _check_keys(raw, tuple(SEARCH_DEFAULTS), "search")
    search = {**SEARCH_DEFAULTS, **raw}
    _check_int(search["epochs"], "search.epochs")
    validation = search["validation"]
    if isinstance(validation, float):
        if not 0 < validation < 1:
            raise ConfigError(
                f"search.validation: expected a fraction in (0, 1) or a number of images, got "
                f"{validation!r}"
            )
    else:
        _check_int(validation, "search.validation")
    _check_choice(search["final_training"], FINAL_TRAINING, "search.final_training")
    seeds = _check_list(search["seeds"], "search.seeds")
    for i, seed in enumerate(seeds):
        _check_int(seed, f"search.seeds[{i}]", minimum=0, maximum=MAX_SEED)
    checked = {**config, "search": search}
    for name in config["artifacts"]:
        for spec in _artifact_specs(checked, name):
            if spec.search is None:
                continue
            n_train = spec.train_subset or TRAIN_SIZES[spec.dataset]
            held = holdout_size(validation, n_train)
            if held >= n_train or n_train - held < spec.batch_size:
                raise ConfigError(
                    f"search.validation: holding out {held} of the {n_train} training images "
                    f"of {spec.run_id} (artifacts.{name}) leaves fewer than its batch size "
                    f"{spec.batch_size} to train on; allowed: a smaller split"
                )
    return search


def _check_model_defaults(value: Any) -> dict[str, dict[str, Any]]:
    from secondorder.models import MODELS

    defaults = _mapping(value, "model_defaults")
    for model, run in defaults.items():
        _check_choice(model, MODELS, f"model_defaults.{model}")
        defaults[model] = _check_run(
            _mapping(run, f"model_defaults.{model}"), f"model_defaults.{model}"
        )
    return defaults


def _check_optimizers(value: Any) -> dict[str, dict[str, Any]]:
    from secondorder.optim import METHODS

    presets = _mapping(value, "optimizers")
    if not presets:
        raise ConfigError("optimizers: define at least one optimizer preset")
    for name, preset in presets.items():
        where = f"optimizers.{name}"
        _check_name(name, where)
        preset = _mapping(preset, where)
        if "method" not in preset:
            raise ConfigError(f"{where}: missing key 'method'; choose one of: {', '.join(METHODS)}")
        method = _check_choice(preset["method"], tuple(METHODS), f"{where}.method")
        hparams = {k: v for k, v in preset.items() if k != "method"}
        _check_space(method, hparams, hparams, where)
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
                setting = dict(zip(TUNING_MATCH_KEYS, values, strict=True))
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
        rule = _mapping(rule, where)
        _check_keys(rule, ("match", "set"), where)
        for key in ("match", "set"):
            if key not in rule:
                raise ConfigError(
                    f"{where}: missing key '{key}'; an entry is {{match: ..., set: ...}}"
                )
        match = _mapping(rule["match"], f"{where}.match")
        _check_keys(match, TUNING_MATCH_KEYS, f"{where}.match")
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
        changes = _mapping(rule["set"], f"{where}.set")
        if not changes:
            raise ConfigError(f"{where}.set: expected at least one hyperparameter")
        for preset in dict.fromkeys(setting["optimizer"] for setting in matched):
            entry = dict(config["optimizers"][preset])
            method = entry.pop("method")
            context = f" (preset {preset!r}, which this rule matches)"
            _check_space(method, {**entry, **changes}, changes, f"{where}.set", context)
        rules.append({"match": match, "set": changes})
    checked = {**config, "tuning": rules}
    for setting in settings:  # rules that apply together must also fit together
        try:
            _preset_hparams(checked, setting["optimizer"], setting)
        except ConfigError as error:
            where = ", ".join(f"{k}={v}" for k, v in setting.items())
            raise ConfigError(f"tuning: the rules that match {where} give: {error}") from None
    return rules


def _check_artifacts(value: Any, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from secondorder.models import ACTIVATIONS, MODELS, model_variants

    artifacts = _mapping(value, "artifacts")
    if not artifacts:
        raise ConfigError("artifacts: define at least one table or figure")
    checked = {}
    for name, entry in artifacts.items():
        where = f"artifacts.{name}"
        _check_name(name, where)
        entry = _mapping(entry, where)
        _check_keys(entry, ARTIFACT_KEYS, where)
        if "kind" not in entry:
            raise ConfigError(
                f"{where}: missing key 'kind'; choose one of: {', '.join(ARTIFACT_KINDS)}"
            )
        kind = _check_choice(entry["kind"], ARTIFACT_KINDS, f"{where}.kind")
        title = entry.get("title", name)
        if not isinstance(title, str):
            raise ConfigError(f"{where}.title: expected a string, got {title!r}")
        out = {
            "kind": kind,
            "title": title,
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
        out["batch_sizes"] = _check_list(
            entry.get("batch_sizes"), f"{where}.batch_sizes", optional=True
        )
        for item in out["batch_sizes"]:
            _check_int(item, f"{where}.batch_sizes")
        out["targets"] = _check_targets(entry.get("targets"), kind, out["datasets"], where)
        for model in out["models"]:
            defaults = config["model_defaults"].get(model, {})
            run = {**config["run"], **defaults, **out["run"]}
            for variant in out["variants"] or [run["variant"]]:
                _check_choice(variant, model_variants(model), f"{where}.variants (model {model})")
            origin = {
                key: f"{where}.run.{key}"
                if key in out["run"]
                else f"model_defaults.{model}.{key}"
                if key in defaults
                else f"run.{key}"
                for key in run
            }
            if out["batch_sizes"]:
                origin["batch_size"] = f"{where}.batch_sizes"
            for dataset, batch_size in itertools.product(
                out["datasets"], out["batch_sizes"] or [run["batch_size"]]
            ):
                what = f"{where} (model {model}, dataset {dataset})"
                _check_sizes({**run, "batch_size": batch_size}, dataset, origin, what)
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
