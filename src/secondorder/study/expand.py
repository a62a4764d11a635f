"""Study expansion: a checked study config -> the set of unique training runs, with stable ids.

The Snakefile calls these functions; they are plain Python so the grid can be unit-tested.
Every artifact (table or figure) names a grid of datasets x models x optimizer presets (x
activations, variants, batch sizes) x seeds; each point becomes a :class:`RunSpec`. Runs with
the same spec are shared between artifacts: Figure 2 and Figure 4 plot the same runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from secondorder.errors import ConfigError
from secondorder.spec import RUN_DEFAULTS, RunSpec


def expand(config: Mapping[str, Any]) -> dict[str, RunSpec]:
    """All unique runs of the study, tuning runs included, keyed by run id (sorted, so the
    order is stable)."""
    from secondorder.study.tuning import trial_specs

    runs: dict[str, RunSpec] = {}
    for name in config["artifacts"]:
        for spec in artifact_specs(config, name):
            runs[spec.run_id] = spec
            for _, trials in trial_specs(spec):
                runs.update((trial.run_id, trial) for trial in trials)
    return dict(sorted(runs.items()))


def searches(config: Mapping[str, Any]) -> dict[str, RunSpec]:
    """Selection group -> one final run of it (the group's seeds share the selection)."""

    groups: dict[str, RunSpec] = {}
    for name in config["artifacts"]:
        for spec in artifact_specs(config, name):
            if spec.search is not None:
                groups.setdefault(spec.tuning_group, spec)
    return dict(sorted(groups.items()))


def artifact_runs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Artifact name -> the ids of the runs it shows (sorted, unique)."""
    return {
        name: sorted({spec.run_id for spec in artifact_specs(config, name)})
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
    """The run settings of one model in one artifact (see :func:`layered_run_settings`)."""
    return layered_run_settings(config, artifact_name, model)[0]


def layered_run_settings(
    config: Mapping[str, Any], artifact_name: str, model: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The config's tiers of run settings merged for one model in one artifact, later wins: the
    run defaults (``run``, filled in from :data:`~secondorder.spec.RUN_DEFAULTS`), the model's
    defaults (``model_defaults``, e.g. ReLU for ResNet-18), the artifact's own ``run``.

    Returns the settings and the key path each one comes from (for errors). The last tier, the
    ``tuning`` rules, sets hyperparameters per setting: :func:`preset_hparams`."""
    tiers = (
        ("run", config["run"]),
        (f"model_defaults.{model}", config["model_defaults"].get(model, {})),
        (f"artifacts.{artifact_name}.run", config["artifacts"][artifact_name]["run"]),
    )
    settings: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for where, values in tiers:
        for key, value in values.items():
            settings[key], origin[key] = value, f"{where}.{key}"
    return settings, origin


def artifact_specs(config: Mapping[str, Any], name: str) -> list[RunSpec]:
    """The runs of one artifact, in grid order (seeds of a setting together)."""
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
        setting = {
            "dataset": dataset,
            "model": model,
            "optimizer": preset,
            "activation": activation,
            "variant": variant,
            "batch_size": batch_size,
        }
        method, hparams, space = preset_hparams(config, preset, setting)
        settings = {key: run[key] for key in RUN_DEFAULTS if key not in setting}
        specs.append(
            RunSpec(
                **setting,
                method=method,
                hparams=hparams,
                seed=seed,
                **settings,
                **_search_fields(config["search"], space),
            )
        )
    return specs


def _search_fields(search: Mapping[str, Any], space: Mapping[str, list[Any]]) -> dict[str, Any]:
    """The RunSpec fields of a final run whose preset searches ``space`` (none if empty): its
    search holds what selects its values (``extend_edges`` too: an extension may change the
    winner), not ``equal_budget``, a check of the config."""
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
            # only when on, so that the ids of studies without it stay as they were
            **({"extend_edges": True} if search["extend_edges"] else {}),
        },
    }


def preset_hparams(
    config: Mapping[str, Any], preset: str, setting: Mapping[str, Any]
) -> tuple[str, dict[str, Any], dict[str, list[Any]]]:
    """The method, the resolved pinned hyperparameters and the search space of a preset in
    one setting (tuning entries that match the setting apply in order; later entries win).

    Searched keys are left out of the pinned hyperparameters; their values are checked and
    normalised like pinned ones (``1`` for a float becomes ``1.0``)."""
    from secondorder.optim import resolve_hparams
    from secondorder.study.space import split_space

    entry = dict(config["optimizers"][preset])
    method = entry.pop("method")
    for rule in config["tuning"]:
        if all(setting.get(key) == value for key, value in rule["match"].items()):
            entry.update(rule["set"])
    pinned, space = split_space(entry, f"optimizers.{preset}")
    first = {key: values[0] for key, values in space.items()}
    hparams = resolve_hparams(method, {**pinned, **first})
    space = {  # each value resolved beside the other keys' first values (they may depend)
        key: [resolve_hparams(method, {**pinned, **first, key: value})[key] for value in values]
        for key, values in space.items()
    }
    return method, {k: v for k, v in hparams.items() if k not in space}, space
