"""A prepared dataset: the validated raw files of :mod:`secondorder.data.sources`, written once
per machine as a compact uint8 *bundle* (``torch.save`` of a dict of tensors plus JSON-able
``meta``), with its content digest beside it.

The digest (``meta["bundle_sha256"]``, the sha256 of the tensors) is computed at prepare time
and checked on every read: a flipped bit in the file must not train unnoticed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from secondorder import atomic
from secondorder.data.sources import brief, read_source
from secondorder.errors import ConfigError, DataError
from secondorder.spec import DATASETS

BUNDLE_FORMAT = 2  # 2: meta carries bundle_sha256
_TENSOR_KEYS = ("x_train", "y_train", "x_test", "y_test")
_BUNDLE_KEYS = (*_TENSOR_KEYS, "meta")
_REPREPARE = "delete it and re-run prepare (the data rule, or `secondorder prepare-data`)"


def prepare(
    name: str, root: str | os.PathLike, out: str | os.PathLike, *, download: bool = True
) -> dict:
    """Validate dataset ``name`` under ``root`` and write its uint8 bundle to ``out``; return meta.

    Missing files are downloaded into ``root`` through torchvision when ``download`` is true and
    the root is writable (see :func:`~secondorder.data.sources.read_source`); nothing is written
    into ``root`` otherwise. The bundle is written atomically (temporary file in the same
    directory, then ``os.replace``), and its digest beside it (:func:`digest_path`).
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    root = Path(root)
    arrays, meta = read_source(name, root, download=download)
    x_train = arrays["x_train"]
    channels = [x_train[:, c] for c in range(x_train.shape[1])]
    meta.update(
        name=name,
        format=BUNDLE_FORMAT,
        source_dir=str(root.resolve()),
        num_classes=DATASETS[name].classes,
        num_train=int(x_train.shape[0]),
        num_test=int(arrays["x_test"].shape[0]),
        train_mean=[float(c.mean(dtype=np.float64) / 255) for c in channels],
        train_std=[float(c.std(dtype=np.float64) / 255) for c in channels],
    )
    meta["original_md5"] = all(meta["original"].values())
    # np.require copies only read-only (np.frombuffer) or non-contiguous arrays.
    bundle = {k: torch.from_numpy(np.require(a, requirements="CW")) for k, a in arrays.items()}
    meta["bundle_sha256"] = tensors_sha256(bundle)
    bundle["meta"] = meta
    atomic.save_torch(bundle, Path(out))
    atomic.write_text(digest_path(out), meta["bundle_sha256"] + "\n")
    return meta


def digest_path(bundle: str | os.PathLike) -> Path:
    """The file beside a bundle that holds its content digest (``mnist.pt`` -> ``mnist.sha256``).

    It is small, so Snakemake can compare it by checksum: training jobs depend on it rather than
    on the bundle's modification time, and a re-prepared bundle with the same content (``dvc
    checkout``, ``prepare-data`` again) retrains nothing.
    """
    return Path(bundle).with_suffix(".sha256")


def bundle_digest(bundle: str | os.PathLike) -> str | None:
    """The content digest written beside ``bundle`` by :func:`prepare` (None when absent)."""
    try:
        return digest_path(bundle).read_text().strip() or None
    except OSError:
        return None


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of a bundle's tensors: for each of x/y train/test its name, dtype, shape and bytes.

    It identifies the data content independently of the file (torch.save's zip layout) and of
    where the raw files lay, so two machines with the same data get the same digest.
    """
    digest = hashlib.sha256()
    for key in _TENSOR_KEYS:
        tensor = tensors[key].contiguous()
        digest.update(f"{key} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().data)
    return digest.hexdigest()


def read_bundle(bundle: Path) -> dict[str, Any]:
    """The tensors and ``meta`` of a bundle file, checked: its keys, dtypes, shapes, labels,
    normalisation statistics and content digest. Anything else is a one-line
    :class:`DataError` that names the file and says to prepare it again."""
    if not bundle.is_file():
        raise DataError(f"bundle {bundle} not found; create it with prepare (prepare-data)")
    try:
        obj = torch.load(bundle, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _bad_bundle(bundle, f"torch.load failed: {brief(exc, 120)}") from exc
    _check_bundle(bundle, obj)
    return obj


def _bad_bundle(bundle: Path, detail: str) -> DataError:
    return DataError(f"corrupt bundle {bundle} ({detail}); {_REPREPARE}")


def _check_bundle(bundle: Path, obj: Any) -> None:
    if not isinstance(obj, dict) or set(obj) != set(_BUNDLE_KEYS):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise _bad_bundle(bundle, f"keys {keys}, expected {sorted(_BUNDLE_KEYS)}")
    meta = obj["meta"]
    if not isinstance(meta, dict) or meta.get("name") not in DATASETS:
        raise _bad_bundle(bundle, "missing or invalid meta")
    num_classes = meta.get("num_classes")
    for split in ("train", "test"):
        x, y = obj[f"x_{split}"], obj[f"y_{split}"]
        if not (
            isinstance(x, torch.Tensor)
            and x.dtype == torch.uint8
            and x.dim() == 4
            and x.shape[1] in (1, 3)
            and x.shape[2] == x.shape[3]
            and x.shape[0] > 0
        ):
            raise _bad_bundle(bundle, f"x_{split} is not a uint8 (N, C, H, H) tensor")
        if not (
            isinstance(y, torch.Tensor) and y.dtype == torch.int64 and y.shape == (x.shape[0],)
        ):
            raise _bad_bundle(bundle, f"y_{split} is not an int64 tensor of {x.shape[0]} labels")
        if not isinstance(num_classes, int) or y.min() < 0 or y.max() >= num_classes:
            raise _bad_bundle(bundle, f"y_{split} has labels outside 0..{num_classes}")
    channels = obj["x_train"].shape[1]
    if obj["x_test"].shape[1:] != obj["x_train"].shape[1:]:
        raise _bad_bundle(bundle, "train and test images differ in shape")
    for key in ("train_mean", "train_std"):
        vals = meta.get(key)
        if not (
            isinstance(vals, list)
            and len(vals) == channels
            and all(isinstance(v, float) and v > 0 for v in vals)
        ):
            raise _bad_bundle(bundle, f"meta[{key!r}] is not {channels} positive floats")
    recorded = meta.get("bundle_sha256")
    if not isinstance(recorded, str):
        raise DataError(
            f"bundle {bundle} has no content digest (written by an older version); {_REPREPARE}"
        )
    actual = tensors_sha256(obj)
    if actual != recorded:
        detail = f"its tensors' sha256 {actual[:12]}... differs from {recorded[:12]}... of prepare"
        raise _bad_bundle(bundle, detail)
