"""Labels, colours and ordering shared by the figures, tables, claims and the report, so that
an optimizer, model or dataset is named, coloured and sorted the same way everywhere."""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

# One colour per optimizer preset, the same in every figure (Okabe-Ito, colour-blind safe).
PALETTE = {
    "sgd": "#000000",
    "gd": "#999999",
    "shg": "#D55E00",
    "sqn": "#0072B2",
    "sr1": "#009E73",
    "lsr1": "#009E73",
    "adam": "#CC79A7",
    "lbfgs": "#E69F00",
}
_EXTRA_COLOURS = ("#56B4E9", "#F0E442", "#882255", "#44AA99", "#AA4499", "#117733", "#DDCC77")

DATASET_LABELS = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
MODEL_LABELS = {"lenet": "LeNet", "alexnet": "AlexNet", "resnet18": "DRN (ResNet-18)"}
MODEL_ORDER = ("lenet", "alexnet", "resnet18")


def optimizer_colour(name: str) -> str:
    """The fixed colour of an optimizer preset (unknown names: a stable pick by name hash)."""
    if name in PALETTE:
        return PALETTE[name]
    return _EXTRA_COLOURS[zlib.crc32(name.encode()) % len(_EXTRA_COLOURS)]


def optimizer_label(name: str) -> str:
    """Display name of an optimizer preset: the paper's spelling for the known ones."""
    return name.upper() if name in PALETTE else name


def dataset_label(name: str) -> str:
    """Display name of a dataset (the paper's spelling for the known ones)."""
    return DATASET_LABELS.get(name, name)


def model_label(name: str) -> str:
    """Display name of a model (the paper's spelling for the known ones)."""
    return MODEL_LABELS.get(name, name)


def is_missing(value: Any) -> bool:
    """None or NaN: a value that tables and claims show as absent."""
    return value is None or (isinstance(value, float) and math.isnan(value))


_ORDER = {name: i for i, name in enumerate((*MODEL_ORDER, *DATASET_LABELS, *PALETTE))}


def sort_key(value: Any) -> tuple:
    """Paper order for known names, numeric order for numbers, then alphabetical."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return (len(_ORDER), float(value), "")
    return (_ORDER.get(value, len(_ORDER)), 0.0, str(value))
