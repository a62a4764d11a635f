"""How the findings' tables write a setting and a ratio (a seed sample writes itself:
:meth:`~secondorder.analysis.findings.decisions.Sample.text`)."""

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


def ratio_text(value: float) -> str:
    if is_missing(value):
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.3g}"
