"""The raw datasets in their standard on-disk formats, read by validated parsers of our own.

``root/MNIST/raw/*-ubyte[.gz]`` (IDX files, gzip or not) and ``root/cifar-10-batches-py/*``
(pickles of numpy arrays) are read directly, with gzip + ``numpy.frombuffer`` and a restricted
unpickler, instead of through ``torchvision.datasets``: torchvision wants uncompressed MNIST
files and would extract them into the root, and it rejects the local lossy CIFAR-10 copy by MD5.
Reading directly never writes into the root, which may be read-only. torchvision is used only to
download missing files.

:data:`SOURCES` is the reader registry, keyed by the names of :data:`secondorder.spec.DATASETS`:
adding a dataset is its entry there plus its :class:`Source` here.
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

from secondorder import spec
from secondorder.errors import DataError
from secondorder.spec import DATASETS

DEFAULT_DATA_ROOT = Path(spec.DEFAULT_DATA_ROOT)
DOWNLOAD_TIMEOUT_S = 15.0
"""Socket timeout during a download attempt, so that an offline machine fails in seconds."""

Arrays = dict[str, np.ndarray]  # x_train, y_train, x_test, y_test (images uint8 (N, C, H, W))


@dataclass(frozen=True)
class Source:
    """Where a dataset's raw files lie under a data root, how to read them, how to get them."""

    title: str
    subdir: str
    needed: tuple[str, ...]
    hint: str
    find: Callable[[Path], dict[str, Path] | None]  # the files' paths, None if any is missing
    read: Callable[[dict[str, Path]], tuple[Arrays, dict]]  # arrays and meta (files, classes)
    torchvision: str  # the torchvision.datasets class that downloads the files

    def missing_message(self, root: Path, reason: str) -> str:
        where = (root / self.subdir).resolve()
        return (
            f"{self.title} files not found in {where}: needs {', '.join(self.needed)}"
            f" ({self.hint}). Download attempt: {reason}. Put the files there, or set the"
            f" environment variable SECONDORDER_DATA (or the config key data_root) to a"
            f" directory that contains {self.subdir}/."
        )


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


def read_source(name: str, root: Path, *, download: bool) -> tuple[Arrays, dict]:
    """The validated arrays and meta of dataset ``name`` under ``root``.

    Missing files are downloaded into ``root`` through torchvision when ``download`` is true and
    the root is writable; if that fails (e.g. offline) a :class:`DataError` names the directory,
    the files it needs and how to provide them. Nothing is written into ``root`` otherwise.
    """
    source = SOURCES[name]
    found = source.find(root)
    if found is None:
        reason = "automatic download disabled"
        if download:
            reason = _try_download(source, root)
            found = source.find(root)
        if found is None:
            raise DataError(source.missing_message(root, reason))
    return source.read(found)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def brief(exc: BaseException, limit: int) -> str:
    """``Type: message`` of an exception on one line, at most ``limit`` characters of message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:limit]}"


def _corrupt(path: Path, detail: str) -> DataError:
    return DataError(
        f"{path} is corrupt or truncated ({detail}); replace it with an intact copy"
        f" (delete it to let the download fetch it again)."
    )


# ---------------------------------------------------------------------------------- MNIST

# name -> (published MD5 of the .gz, published MD5 of the uncompressed IDX file). The .gz MD5s
# are torchvision's (= LeCun's archives); the IDX MD5s are the widely published ones.
MNIST_FILES = {
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
_MNIST = DATASETS["mnist"]
_MNIST_COUNTS = {"train": _MNIST.train_size, "t10k": _MNIST.test_size}  # file prefix -> images


def _find_mnist(root: Path) -> dict[str, Path] | None:
    raw = root / "MNIST" / "raw"
    found = {}
    for stem in MNIST_FILES:
        for cand in (raw / f"{stem}.gz", raw / stem):
            if cand.is_file():
                found[stem] = cand
                break
        else:
            return None
    return found


def _read_mnist_file(stem: str, path: Path) -> tuple[np.ndarray, str, bool]:
    """Return (array, MD5 of the file, file equals the published original)."""
    gz_md5, raw_md5 = MNIST_FILES[stem]
    blob = path.read_bytes()
    file_md5 = _md5(blob)
    if path.suffix == ".gz":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as exc:
            raise _corrupt(path, f"gzip: {brief(exc, 200)}") from exc
        original = file_md5 == gz_md5
    else:
        original = file_md5 == raw_md5
    count = _MNIST_COUNTS[stem.split("-")[0]]
    is_images = "images" in stem
    size = _MNIST.image_size
    magic, dims = (2051, (count, size, size)) if is_images else (2049, (count,))
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
    if not is_images and arr.max() >= _MNIST.classes:
        raise _corrupt(path, f"label {int(arr.max())} outside 0..{_MNIST.classes - 1}")
    return arr, file_md5, original


def _read_mnist(found: dict[str, Path]) -> tuple[Arrays, dict]:
    arrays, files, original = {}, {}, {}
    for stem, path in found.items():
        arr, file_md5, is_original = _read_mnist_file(stem, path)
        files[path.name], original[path.name] = file_md5, is_original
        split = "train" if stem.startswith("train") else "test"
        if "images" in stem:
            arrays[f"x_{split}"] = arr[:, None]
        else:
            arrays[f"y_{split}"] = arr.astype(np.int64)
    classes = [str(c) for c in range(_MNIST.classes)]
    meta = {"files": files, "original": original, "classes": classes}
    return {k: arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")}, meta


# ---------------------------------------------------------------------------------- CIFAR-10

# The python version's files: torchvision's MD5 list of the originals.
CIFAR_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
_CIFAR = DATASETS["cifar10"]
_CIFAR_TRAIN = tuple(f"data_batch_{k}" for k in range(1, 6))
_CIFAR_BATCH = _CIFAR.test_size  # images per batch file: the test batch, a fifth of training
_CIFAR_PIXELS = _CIFAR.channels * _CIFAR.image_size**2  # one image's bytes, channel planes


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
        raise _corrupt(path, f"unpickling failed: {brief(exc, 200)}") from exc
    if not isinstance(obj, dict):
        raise _corrupt(path, f"expected a dict, found {type(obj).__name__}")
    obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    return obj, _md5(blob)


def _find_cifar(root: Path) -> dict[str, Path] | None:
    base = root / "cifar-10-batches-py"
    paths = {name: base / name for name in CIFAR_FILES}
    return paths if all(p.is_file() for p in paths.values()) else None


def _read_cifar_batch(path: Path, obj: dict) -> tuple[np.ndarray, np.ndarray]:
    data, labels = obj.get("data"), obj.get("labels")
    shape = (_CIFAR_BATCH, _CIFAR_PIXELS)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape == shape):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise _corrupt(path, f"'data' is {desc}, expected uint8 {shape}")
    top = _CIFAR.classes - 1
    if not (
        isinstance(labels, list)
        and len(labels) == _CIFAR_BATCH
        and all(isinstance(v, int) and 0 <= v <= top for v in labels)
    ):
        raise _corrupt(path, f"'labels' is not a list of {_CIFAR_BATCH} ints in 0..{top}")
    size = _CIFAR.image_size
    return data.reshape(-1, _CIFAR.channels, size, size), np.asarray(labels, dtype=np.int64)


def _read_cifar(found: dict[str, Path]) -> tuple[Arrays, dict]:
    files, original, xs, ys = {}, {}, {}, {}
    for name, path in found.items():
        obj, file_md5 = _unpickle(path)
        files[name], original[name] = file_md5, file_md5 == CIFAR_FILES[name]
        if name == "batches.meta":
            classes = obj.get("label_names")
            if not (isinstance(classes, list) and len(classes) == _CIFAR.classes):
                raise _corrupt(path, f"'label_names' is not a list of {_CIFAR.classes} names")
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


# ---------------------------------------------------------------------------------- registry

SOURCES: dict[str, Source] = {
    "mnist": Source(
        title="MNIST",
        subdir="MNIST/raw",
        needed=tuple(f"{stem}.gz" for stem in MNIST_FILES),
        hint="or the same files uncompressed, without .gz",
        find=_find_mnist,
        read=_read_mnist,
        torchvision="MNIST",
    ),
    "cifar10": Source(
        title="CIFAR-10",
        subdir="cifar-10-batches-py",
        needed=tuple(CIFAR_FILES),
        hint="the contents of cifar-10-python.tar.gz",
        find=_find_cifar,
        read=_read_cifar,
        torchvision="CIFAR10",
    ),
}


# ---------------------------------------------------------------------------------- download


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Temporarily set the process-wide default socket timeout (urllib has no other hook)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _try_download(source: Source, root: Path) -> str:
    """Download ``source`` into ``root`` with torchvision; return a one-line outcome."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return f"skipped, {existing.resolve()} is not writable"
    subdir = root / source.subdir
    created = [d for d in (subdir, *subdir.parents) if not d.exists()]
    import torchvision.datasets  # slow import; only needed here

    dataset_class = getattr(torchvision.datasets, source.torchvision)
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            dataset_class(str(root), train=True, download=True)
    except Exception as exc:  # network, HTTP, integrity or archive errors: report them all
        for d in created:  # deepest first; leave no empty folders behind
            with contextlib.suppress(OSError):
                d.rmdir()
        return f"failed ({brief(exc, 300)})"
    return "succeeded, but the files are still incomplete"
