"""How the findings' tables write a setting, a seed statistic and a ratio."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from secondorder.analysis.style import dataset_label, is_missing, model_label
from secondorder.spec import GRID_AXES


def setting_label(key: dict | pd.Series, columns: Iterable[str] = GRID_AXES) -> str:
    """'MNIST / LeNet, tanh, bs 100' (only the columns given)."""
    parts = [f"{dataset_label(key['dataset'])} / {model_label(key['model'])}"]
    for column in columns:
        if column in ("dataset", "model") or column not in key:
            continue
        value = key[column]
        if column == "batch_size":
            parts.append(f"bs {int(value)}")
        elif column != "variant" or value != "standard":
            parts.append(str(value))
    return ", ".join(parts)


def stats_text(mean: float, low: float, high: float, n: int) -> str:
    """'0.123 (0.12-0.13, 3 seeds)', 'diverged' for infinite means."""
    if is_missing(mean):
        return "n/a"
    if math.isinf(mean):
        return "diverged" if n == 1 or math.isinf(low) else f"diverged ({n} seeds, some)"
    if n == 1:
        return f"{mean:.4g}"
    return f"{mean:.4g} ({low:.4g}-{high:.4g}, {n} seeds)"


def ratio_text(value: float) -> str:
    if is_missing(value):
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.3g}"
