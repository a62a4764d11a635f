"""One training run's identity: :class:`RunSpec` (everything that determines a run and its
record), its stable run id, its tuning group, and the facts every layer shares about a run: the
datasets and their sizes, the grid axes, the run defaults. Torch-free: the DAG, the study
expansion and the analysis read it without importing torch."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any

from secondorder.errors import ConfigError


@dataclass(frozen=True)
class Dataset:
    """What every layer knows of a dataset without reading it: the sizes of its standard splits
    (subsets and batches must fit them) and its image shape (models, cost estimates)."""

    train_size: int
    test_size: int
    channels: int
    image_size: int  # height = width
    classes: int = 10


# The datasets of the study. Adding one is an entry here plus its reader, an entry of
# secondorder.data.sources.SOURCES.
DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(train_size=60_000, test_size=10_000, channels=1, image_size=28),
    "cifar10": Dataset(train_size=50_000, test_size=10_000, channels=3, image_size=32),
}

# Where the raw datasets are read from unless the config (data_root), $SECONDORDER_DATA or
# --root says otherwise: relative to the project root.
DEFAULT_DATA_ROOT = "data/raw"

# The axes of the study's grid besides the optimizer: one setting of a comparison holds them
# fixed. Figures, tables, tuning groups and findings group runs by (a prefix of) these.
GRID_AXES = ("dataset", "model", "activation", "variant", "batch_size")

# The run settings of a study config and their defaults (the config's `run`, `model_defaults`
# and an artifact's `run` set them); RunSpec's defaults and the config schema's are these.
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

# RunSpec fields added after the first records: left out of a spec's dict at their default
# (see RunSpec.to_dict).
LATER_FIELDS = ("eval_every", "holdout", "evaluate_on", "search")

# Hyperparameters added to a method after the first records, with their defaults: left out of a
# spec's dict while they hold the default (as LATER_FIELDS), so earlier runs keep their ids.
# tests/test_sqn.py holds these defaults equal to the methods' own.
LATER_HPARAMS: dict[str, dict[str, Any]] = {"sqn": {"step_schedule": "constant"}}

EVALUATION_SETS = ("test", "validation")


def holdout_size(holdout: int | float, total: int) -> int:
    """Samples a run's ``holdout`` holds out of ``total`` training samples: a count as it is, a
    fraction of ``total`` rounded (at least 1)."""
    return max(1, round(holdout * total)) if isinstance(holdout, float) else holdout


def spec_digest(values: Mapping[str, Any]) -> str:
    """Six hex digits of sha256 over the canonical JSON of a spec's values: the hash in run ids
    and selection group ids."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:6]


def setting_name(dataset: str, model: str, activation: str, variant: str) -> str:
    """A setting as run ids spell it: ``mnist-lenet-tanh``, the variant after the activation
    unless it is standard (``mnist-alexnet-tanh-residual``)."""
    setting = f"{dataset}-{model}-{activation}"
    return setting if variant == "standard" else f"{setting}-{variant}"


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
    train_subset: int | None = RUN_DEFAULTS["train_subset"]
    test_subset: int | None = RUN_DEFAULTS["test_subset"]
    logs_per_epoch: int = RUN_DEFAULTS["logs_per_epoch"]
    eval_train_loss: bool = RUN_DEFAULTS["eval_train_loss"]
    chunk_size: int | None = RUN_DEFAULTS["chunk_size"]
    divergence_factor: float = RUN_DEFAULTS["divergence_factor"]  # loss x initial = diverged
    eval_every: int | None = RUN_DEFAULTS["eval_every"]  # extra logging point every N iterations
    holdout: int | float | None = None  # validation split held out of the training set
    evaluate_on: str = "test"  # test | validation (a tuning run: the held-out split)
    search: dict[str, Any] | None = field(default=None, hash=False)  # see secondorder.study.tuning

    def to_dict(self) -> dict[str, Any]:
        """All fields, except fields added later while they hold their default: a spec then
        keeps its dict (and so its run id and the match with its saved records)."""
        values = asdict(self)
        for spec_field in fields(self):
            if spec_field.name in LATER_FIELDS and values[spec_field.name] == spec_field.default:
                del values[spec_field.name]
        values["hparams"] = self._identity_hparams()
        return values

    def _identity_hparams(self, leave_out: Mapping[str, Any] = MappingProxyType({})) -> dict:
        """The hyperparameters that identify the run: all but later ones at their default
        (:data:`LATER_HPARAMS`) and the keys of ``leave_out``."""
        later = LATER_HPARAMS.get(self.method, {})
        return {
            key: value
            for key, value in self.hparams.items()
            if key not in leave_out and not (key in later and value == later[key])
        }

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
        return setting_name(self.dataset, self.model, self.activation, self.variant)

    @functools.cached_property  # a frozen spec: computed once (thousands of calls per DAG)
    def run_id(self) -> str:
        """Readable and stable: the setting, the optimizer preset, batch size, seed and a hash
        of the whole spec (so a changed hyperparameter, epoch count or subset gives a new id).

        A tuning run says ``val`` before the hash. A run with a search hashes its search, not
        the searched values: its id is the same before and after tuning fills them in."""
        values = self.to_dict()
        if self.search is not None:
            values["hparams"] = self._identity_hparams(self.search["space"])
        role = "__val" if self.evaluate_on == "validation" else ""
        return (
            f"{self.setting}__{self.optimizer}__bs{self.batch_size}__s{self.seed}{role}__"
            + spec_digest(values)
        )

    @functools.cached_property
    def tuning_group(self) -> str:
        """Name of the selection shared by a final run's seeds: its setting, preset, batch size
        and a hash of its spec without the seed and the searched values."""
        if self.search is None:
            raise ValueError(f"run {self.run_id} searches no hyperparameter")
        values = self.to_dict()
        del values["seed"]
        values["hparams"] = self._identity_hparams(self.search["space"])
        return f"{self.setting}__{self.optimizer}__bs{self.batch_size}__{spec_digest(values)}"
