"""Datasets: find, validate and bundle MNIST and CIFAR-10; load them resident on a device.

Two steps, so that the slow, careful part runs once per machine:

* :func:`prepare` reads the standard on-disk files under a data root
  (``root/MNIST/raw/*-ubyte[.gz]``, ``root/cifar-10-batches-py/*``), validates them and writes a
  compact uint8 *bundle* (``torch.save`` of a dict of tensors plus JSON-able ``meta``). It reads
  the files itself (gzip + ``numpy.frombuffer``, a restricted unpickler) instead of going through
  ``torchvision.datasets``: torchvision wants uncompressed MNIST files and would extract them into
  the root, and it rejects the local lossy CIFAR-10 copy by MD5. Reading directly never writes
  into the root, which may be read-only. torchvision is used only to download missing files.
* :func:`load` reads a bundle, checks its content digest (``meta["bundle_sha256"]``, the sha256
  of its tensors, computed at prepare time: a flipped bit in the file must not train unnoticed),
  takes stratified subsets, normalises with the full training set's
  per-channel mean/std and returns float32 tensors on the training device (:class:`InMemoryData`),
  so training needs no DataLoader.

Batches are then drawn on the device with :func:`epoch_permutation` / :func:`sample_indices`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import pickle
import socket
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from secondorder import atomic
from secondorder.errors import ConfigError, DataError

DATASETS = ("mnist", "cifar10")
BUNDLE_FORMAT = 2  # 2: meta carries bundle_sha256
DEFAULT_DATA_ROOT = Path("data/raw")
DOWNLOAD_TIMEOUT_S = 15.0
"""Socket timeout during a download attempt, so that an offline machine fails in seconds."""

_TENSOR_KEYS = ("x_train", "y_train", "x_test", "y_test")
_BUNDLE_KEYS = (*_TENSOR_KEYS, "meta")

# MNIST: name -> (published MD5 of the .gz, published MD5 of the uncompressed IDX file).
# The .gz MD5s are torchvision's (= LeCun's archives); the IDX MD5s are the widely published ones.
_MNIST_FILES = {
    "train-images-idx3-ubyte": (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "6bbc9ace898e44ae57da46a324031adb",
    ),
    "train-labels-idx1-ubyte": (
        "d53e105ee54ea40749a09fcbcd1e9432",
        "a25bea736e30d166cdddb491f175f624",
    ),
    "t10k-images-idx3-ubyte": (
        "9fb629c4189551a2d022fa330f9573f3",
        "2646ac647ad5339dbf082846283269ea",
    ),
    "t10k-labels-idx1-ubyte": (
        "ec29112dd5afa0611ce80d1b7f02629c",
        "27ae3e4e09519cfbb04c329615203637",
    ),
}
_MNIST_COUNTS = {"train": 60_000, "t10k": 10_000}

# CIFAR-10 (python version): torchvision's MD5 list of the original files.
_CIFAR_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
_CIFAR_TRAIN = tuple(f"data_batch_{k}" for k in range(1, 6))
_CIFAR_BATCH = 10_000


@dataclass
class InMemoryData:
    """A dataset resident on one device: x normalised float32 (N, C, H, W), y int64 (N,)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    in_channels: int
    image_size: int
    meta: dict


def resolve_data_root(
    config_value: str | os.PathLike | None, *, command_line: str | os.PathLike | None = None
) -> Path:
    """The raw-data root: a command-line value, then env ``SECONDORDER_DATA``, then the config
    value, else data/raw. What the user typed for this command wins over the environment."""
    if command_line:
        return Path(command_line).expanduser()
    env = os.environ.get("SECONDORDER_DATA")
    if env:
        return Path(env).expanduser()
    if config_value:
        return Path(config_value).expanduser()
    return DEFAULT_DATA_ROOT


# --------------------------------------------------------------------------------------------
# prepare


def prepare(
    name: str, root: str | os.PathLike, out: str | os.PathLike, *, download: bool = True
) -> dict:
    """Validate dataset ``name`` under ``root`` and write its uint8 bundle to ``out``; return meta.

    Missing files are downloaded into ``root`` through torchvision when ``download`` is true and
    the root is writable; if that fails (e.g. offline) a :class:`DataError` names the directory,
    the files it needs and how to provide them. Nothing is written into ``root`` otherwise. The
    bundle is written atomically (temporary file in the same directory, then ``os.replace``).
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    root = Path(root)
    out = Path(out)
    spec = _SPECS[name]
    found = spec.find(root)
    if found is None:
        reason = "automatic download disabled"
        if download:
            reason = _try_download(name, root)
            found = spec.find(root)
        if found is None:
            raise DataError(spec.missing_message(root, reason))
    arrays, meta = spec.read(found)
    x_train = arrays["x_train"]
    channels = [x_train[:, c] for c in range(x_train.shape[1])]
    meta.update(
        name=name,
        format=BUNDLE_FORMAT,
        source_dir=str(root.resolve()),
        num_classes=10,
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
    atomic.save_torch(bundle, out)
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


@dataclass(frozen=True)
class _Spec:
    title: str
    subdir: str
    needed: tuple[str, ...]
    hint: str
    find: Callable[[Path], dict[str, Path] | None]
    read: Callable[[dict[str, Path]], tuple[dict[str, np.ndarray], dict]]

    def missing_message(self, root: Path, reason: str) -> str:
        where = (root / self.subdir).resolve()
        return (
            f"{self.title} files not found in {where}: needs {', '.join(self.needed)}"
            f" ({self.hint}). Download attempt: {reason}. Put the files there, or set the"
            f" environment variable SECONDORDER_DATA (or the config key data_root) to a"
            f" directory that contains {self.subdir}/."
        )


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


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _brief(exc: BaseException, limit: int) -> str:
    """``Type: message`` of an exception on one line, at most ``limit`` characters of message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:limit]}"


def _corrupt(path: Path, detail: str) -> DataError:
    return DataError(
        f"{path} is corrupt or truncated ({detail}); replace it with an intact copy"
        f" (delete it to let the download fetch it again)."
    )


def _find_mnist(root: Path) -> dict[str, Path] | None:
    raw = root / "MNIST" / "raw"
    found = {}
    for stem in _MNIST_FILES:
        for cand in (raw / f"{stem}.gz", raw / stem):
            if cand.is_file():
                found[stem] = cand
                break
        else:
            return None
    return found


def _read_mnist_file(stem: str, path: Path) -> tuple[np.ndarray, str, bool]:
    """Return (array, MD5 of the file, file equals the published original)."""
    gz_md5, raw_md5 = _MNIST_FILES[stem]
    blob = path.read_bytes()
    file_md5 = _md5(blob)
    if path.suffix == ".gz":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as exc:
            raise _corrupt(path, f"gzip: {_brief(exc, 200)}") from exc
        original = file_md5 == gz_md5
    else:
        original = file_md5 == raw_md5
    count = _MNIST_COUNTS[stem.split("-")[0]]
    is_images = "images" in stem
    magic, dims = (2051, (count, 28, 28)) if is_images else (2049, (count,))
    header = 4 * (1 + len(dims))
    if len(blob) < header:
        raise _corrupt(path, f"{len(blob)} bytes, shorter than the IDX header")
    got = tuple(int(v) for v in np.frombuffer(blob[:header], dtype=">u4"))
    if got != (magic, *dims):
        raise _corrupt(path, f"IDX header {got}, expected {(magic, *dims)}")
    expected_len = header + int(np.prod(dims))
    if len(blob) != expected_len:
        raise _corrupt(path, f"{len(blob)} bytes of IDX data, expected {expected_len}")
    content_md5 = raw_md5 if original else _md5(blob)
    if content_md5 != raw_md5:
        # Structure is fine but the content differs from the one true MNIST (a flipped byte).
        # A re-compressed copy of the original content passes (with original=False).
        raise _corrupt(path, f"content MD5 {content_md5} differs from the original {raw_md5}")
    arr = np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(dims)
    if not is_images and arr.max() > 9:
        raise _corrupt(path, f"label {int(arr.max())} outside 0..9")
    return arr, file_md5, original


def _read_mnist(found: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict]:
    arrays, files, original = {}, {}, {}
    for stem, path in found.items():
        arr, md5, is_original = _read_mnist_file(stem, path)
        files[path.name], original[path.name] = md5, is_original
        split = "train" if stem.startswith("train") else "test"
        if "images" in stem:
            arrays[f"x_{split}"] = arr[:, None]
        else:
            arrays[f"y_{split}"] = arr.astype(np.int64)
    meta = {"files": files, "original": original, "classes": [str(c) for c in range(10)]}
    return {k: arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")}, meta


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array-reconstruction globals (no arbitrary code)."""

    _RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy.(_)core.multiarray._reconstruct
    _ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _unpickle(path: Path) -> tuple[dict, str]:
    """Load a CIFAR-10 pickle safely; return (dict with str keys, MD5 of the file)."""
    blob = path.read_bytes()
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except Exception as exc:  # any unpickling failure means a damaged file
        raise _corrupt(path, f"unpickling failed: {_brief(exc, 200)}") from exc
    if not isinstance(obj, dict):
        raise _corrupt(path, f"expected a dict, found {type(obj).__name__}")
    obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    return obj, _md5(blob)


def _find_cifar(root: Path) -> dict[str, Path] | None:
    base = root / "cifar-10-batches-py"
    paths = {name: base / name for name in _CIFAR_FILES}
    return paths if all(p.is_file() for p in paths.values()) else None


def _read_cifar_batch(path: Path, obj: dict) -> tuple[np.ndarray, np.ndarray]:
    data, labels = obj.get("data"), obj.get("labels")
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.shape == (_CIFAR_BATCH, 3072)
    ):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise _corrupt(path, f"'data' is {desc}, expected uint8 ({_CIFAR_BATCH}, 3072)")
    if not (
        isinstance(labels, list)
        and len(labels) == _CIFAR_BATCH
        and all(isinstance(v, int) and 0 <= v <= 9 for v in labels)
    ):
        raise _corrupt(path, f"'labels' is not a list of {_CIFAR_BATCH} ints in 0..9")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _read_cifar(found: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict]:
    files, original, xs, ys = {}, {}, {}, {}
    for name, path in found.items():
        obj, md5 = _unpickle(path)
        files[name], original[name] = md5, md5 == _CIFAR_FILES[name]
        if name == "batches.meta":
            classes = obj.get("label_names")
            if not (isinstance(classes, list) and len(classes) == 10):
                raise _corrupt(path, "'label_names' is not a list of 10 names")
            classes = [c.decode("latin1") if isinstance(c, bytes) else str(c) for c in classes]
        else:
            xs[name], ys[name] = _read_cifar_batch(path, obj)
    arrays = {
        "x_train": np.concatenate([xs[n] for n in _CIFAR_TRAIN]),
        "y_train": np.concatenate([ys[n] for n in _CIFAR_TRAIN]),
        "x_test": xs["test_batch"],
        "y_test": ys["test_batch"],
    }
    return arrays, {"files": files, "original": original, "classes": classes}


_SPECS = {
    "mnist": _Spec(
        title="MNIST",
        subdir="MNIST/raw",
        needed=tuple(f"{stem}.gz" for stem in _MNIST_FILES),
        hint="or the same files uncompressed, without .gz",
        find=_find_mnist,
        read=_read_mnist,
    ),
    "cifar10": _Spec(
        title="CIFAR-10",
        subdir="cifar-10-batches-py",
        needed=tuple(_CIFAR_FILES),
        hint="the contents of cifar-10-python.tar.gz",
        find=_find_cifar,
        read=_read_cifar,
    ),
}


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Temporarily set the process-wide default socket timeout (urllib has no other hook)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _try_download(name: str, root: Path) -> str:
    """Download ``name`` into ``root`` with torchvision; return a one-line outcome."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return f"skipped, {existing.resolve()} is not writable"
    subdir = root / _SPECS[name].subdir
    created = [d for d in (subdir, *subdir.parents) if not d.exists()]
    import torchvision.datasets as tvd  # slow import; only needed here

    cls = {"mnist": tvd.MNIST, "cifar10": tvd.CIFAR10}[name]
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            cls(str(root), train=True, download=True)
    except Exception as exc:  # network, HTTP, integrity or archive errors: report them all
        for d in created:  # deepest first; leave no empty folders behind
            with contextlib.suppress(OSError):
                d.rmdir()
        return f"failed ({_brief(exc, 300)})"
    return "succeeded, but the files are still incomplete"


# --------------------------------------------------------------------------------------------
# load


def load(
    bundle: str | os.PathLike,
    device: str | torch.device,
    *,
    train_subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
    holdout: int | float | None = None,
    evaluate_on: str = "test",
) -> InMemoryData:
    """Load a bundle onto ``device`` as normalised float32, optionally stratified subsets.

    Subsets are :func:`stratified_indices` with ``seed`` (the same seed for train and test).
    Normalisation always uses the per-channel mean/std of the *full* training set, so a subset
    does not change the input scaling.

    ``holdout`` (a count, or a fraction of the training subset) carves a stratified validation
    split out of the training subset (:func:`split_validation`); the training tensors are the
    rest. With ``evaluate_on="validation"`` the split takes the place of the test set (``x_test``,
    ``y_test``) and the bundle's test set is dropped unread: a tuning run never sees it.
    """
    bundle = Path(bundle)
    if not bundle.is_file():
        raise DataError(f"bundle {bundle} not found; create it with prepare (prepare-data)")
    try:
        obj = torch.load(bundle, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _bad_bundle(bundle, f"torch.load failed: {_brief(exc, 120)}") from exc
    meta = _check_bundle(bundle, obj)
    x_train, y_train = _subset(obj["x_train"], obj["y_train"], train_subset, seed, "train_subset")
    if evaluate_on not in ("test", "validation"):
        raise ConfigError(f"evaluate_on must be 'test' or 'validation', got {evaluate_on!r}")
    if evaluate_on == "validation" and holdout is None:
        raise ConfigError("evaluate_on='validation' needs a holdout (the validation split)")
    if holdout is not None:
        train_idx, validation_idx = split_validation(y_train, holdout)
        x_val, y_val = x_train[validation_idx], y_train[validation_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    if evaluate_on == "validation":
        x_test, y_test = x_val, y_val
        del obj["x_test"], obj["y_test"]
    else:
        x_test, y_test = _subset(obj["x_test"], obj["y_test"], test_subset, seed, "test_subset")
    channels = x_train.shape[1]
    mean = torch.tensor(meta["train_mean"], dtype=torch.float32, device=device)
    std = torch.tensor(meta["train_std"], dtype=torch.float32, device=device)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device=device, dtype=torch.float32).div_(255.0)
        return x.sub_(mean.view(1, channels, 1, 1)).div_(std.view(1, channels, 1, 1))

    meta = dict(
        meta,
        bundle=str(bundle),
        train_subset=train_subset,
        test_subset=None if evaluate_on == "validation" else test_subset,
        subset_seed=seed,
        holdout=holdout,
        evaluated_on=evaluate_on,
    )
    return InMemoryData(
        name=meta["name"],
        x_train=normalise(x_train),
        y_train=y_train.to(device),
        x_test=normalise(x_test),
        y_test=y_test.to(device),
        num_classes=int(meta["num_classes"]),
        in_channels=int(channels),
        image_size=int(x_train.shape[2]),
        meta=meta,
    )


_REPREPARE = "delete it and re-run prepare (the data rule, or `secondorder prepare-data`)"


def _bad_bundle(bundle: Path, detail: str) -> DataError:
    return DataError(f"corrupt bundle {bundle} ({detail}); {_REPREPARE}")


def _check_bundle(bundle: Path, obj: Any) -> dict:
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
    return meta


def _subset(
    x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None:
        return x, y
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= y.numel():
        raise ConfigError(f"{what} must be an integer in 1..{y.numel()} (or null), got {n!r}")
    idx = stratified_indices(y, n, seed)
    return x[idx], y[idx]


VALIDATION_SEED = 1  # the validation split's draw; subsets use seed 0


def holdout_size(holdout: int | float, total: int) -> int:
    """Samples held out: a count as it is, a fraction of ``total`` rounded (at least 1)."""
    return max(1, round(holdout * total)) if isinstance(holdout, float) else holdout


def split_validation(
    labels: torch.Tensor, holdout: int | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, validation indices) of a training set with ``labels``: a stratified
    validation split of ``holdout`` samples (or that fraction of them, rounded, at least 1),
    the same for every run, and the rest for training (both sorted)."""
    total = labels.numel()
    holdout = holdout_size(holdout, total)
    if isinstance(holdout, bool) or not isinstance(holdout, int) or not 0 < holdout < total:
        raise ConfigError(f"holdout must leave training samples: 1..{total - 1}, got {holdout!r}")
    validation = stratified_indices(labels, holdout, VALIDATION_SEED)
    keep = torch.ones(total, dtype=torch.bool)
    keep[validation] = False
    return torch.nonzero(keep).squeeze(1), validation


def stratified_indices(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` sorted indices into ``labels``, each class in proportion to its share (within 1).

    Per-class quotas use the largest-remainder rule (ties go to the smaller class id); which
    samples of a class are taken is random but fixed by ``seed`` (CPU generator).
    """
    labels = labels.detach().cpu()
    total = labels.numel()
    if not 0 < n <= total:
        raise ConfigError(f"subset size must be in 1..{total}, got {n}")
    counts = torch.bincount(labels).tolist()  # labels are class ids 0..K-1
    members = torch.argsort(labels, stable=True).split(counts)
    take = [c * n // total for c in counts]
    remainders = [c * n % total for c in counts]
    order = sorted(range(len(counts)), key=lambda i: (-remainders[i], i))
    for i in order[: n - sum(take)]:
        take[i] += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = [
        idx[torch.randperm(idx.numel(), generator=generator)[:k]]
        for idx, k in zip(members, take, strict=True)
    ]
    return torch.sort(torch.cat(chosen)).values


def _check_generator(generator: torch.Generator, device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if generator.device.type != device.type:
        raise ValueError(
            f"generator lives on {generator.device} but indices are drawn on {device};"
            f" create it with torch.Generator(device={str(device)!r})"
        )
    return device


def sample_indices(
    n_total: int, k: int, generator: torch.Generator, device: str | torch.device
) -> torch.Tensor:
    """``k`` distinct random indices in ``0..n_total-1``, drawn on ``device``.

    ``generator`` must live on the same device (``torch.Generator(device=device)``), so that no
    host-device transfer or sync happens; the stream of indices then depends on the device type.
    """
    if not 0 <= k <= n_total:
        raise ValueError(f"cannot draw {k} distinct indices out of {n_total}")
    device = _check_generator(generator, device)
    return torch.randperm(n_total, generator=generator, device=device)[:k]


def epoch_permutation(
    n_total: int, generator: torch.Generator, device: str | torch.device
) -> torch.Tensor:
    """A random permutation of ``0..n_total-1`` on ``device`` (generator on the same device)."""
    device = _check_generator(generator, device)
    return torch.randperm(n_total, generator=generator, device=device)
