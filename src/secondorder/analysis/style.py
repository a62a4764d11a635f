"""Labels, colours and ordering shared by the figures, tables, claims and the report, so that
an optimizer, model or dataset is named, coloured and sorted the same way everywhere."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.colors import to_rgb

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
ACTIVATION_LABELS = {"tanh": "tanh", "relu": "ReLU"}
VARIANT_LABELS = {"standard": "standard", "residual": "last conv -> residual block"}


def setting_label(column: str, value: Any) -> str:
    """A grid value as a reader names it, e.g. batch_size 400 -> "batch 400"."""
    if column == "dataset":
        return dataset_label(value)
    if column == "model":
        return model_label(value)
    if column == "optimizer":
        return optimizer_label(str(value))
    if column == "activation":
        return ACTIVATION_LABELS.get(value, str(value))
    if column == "variant":
        return VARIANT_LABELS.get(value, str(value))
    if column == "batch_size":
        return f"batch {int(value)}"
    return f"{column}={value}"


def optimizer_colour(name: str) -> str:
    """The fixed colour of an optimizer preset (unknown names: a stable pick by name hash)."""
    if name in PALETTE:
        return PALETTE[name]
    return _EXTRA_COLOURS[zlib.crc32(name.encode()) % len(_EXTRA_COLOURS)]


def preset_ranks(methods: Mapping[str, str]) -> dict[str, int]:
    """Preset name -> its rank among the presets of the same method, in the given (study)
    order: 0 for the first preset of each method, which gets the method's own colour."""
    seen: dict[str, int] = {}
    ranks = {}
    for name, method in methods.items():
        ranks[name] = seen.get(method, 0)
        seen[method] = ranks[name] + 1
    return ranks


# Dashes of further (line-search) presets: dots and dash-dots, never plain dashes ('--': fixed
# step).
_VARIANT_DASHES = (":", "-.", (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2, 1, 2)))
# Shade of the k-th further preset of a method: mix with white (> 0) or black (< 0).
_SHADES = (0.0, -0.3, 0.35, -0.55, 0.55, -0.15, 0.2, -0.7, 0.7)


def preset_style(method: str, rank: int, *, fixed_step: bool = False) -> dict[str, Any]:
    """Colour and dash of a preset: the hue of its method (so presets of different methods
    never share a colour), a shade by its rank among that method's presets, dashed ('--') for
    a fixed-step variant of a line-search method, other dashes for further variants."""
    base = to_rgb(PALETTE.get(method, optimizer_colour(method)))
    shade = _SHADES[rank % len(_SHADES)]
    if max(base) < 0.25:  # black or near: only lighter shades are visible
        shade = abs(shade) * 1.4
    target = 1.0 if shade > 0 else 0.0
    colour = tuple(c + (target - c) * abs(shade) for c in base)
    if fixed_step:
        dash: Any = "--"
    elif rank == 0:
        dash = "-"
    else:
        dash = _VARIANT_DASHES[(rank - 1) % len(_VARIANT_DASHES)]
    return {"color": colour, "linestyle": dash}


def optimizer_label(name: str) -> str:
    """Display name of an optimizer preset: the paper's spelling for the known ones, and for
    the method prefix of their variants ("shg-gn" -> "SHG-gn")."""
    if name in PALETTE:
        return _SPELLING.get(name, name.upper())
    prefix, _, rest = name.partition("-")
    if rest and prefix in PALETTE:
        return f"{_SPELLING.get(prefix, prefix.upper())}-{rest}"
    return name


_SPELLING = {"adam": "Adam", "lbfgs": "L-BFGS"}  # not acronyms: as their authors write them


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
