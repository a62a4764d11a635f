"""Tests of secondorder.data on the real MNIST and CIFAR-10 files (and damaged copies of them)."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from secondorder import data
from secondorder.data import sources
from secondorder.errors import ConfigError, DataError
from secondorder.spec import DATASETS

# Per-class counts from shared/data/SOURCES.md.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR_BATCH1_COUNTS = [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
CIFAR_LOCAL_MD5 = {
    "data_batch_1": "7b97b7a258706f5de80f10991d3abd44",
    "data_batch_2": "16b586207c1c8defc22adc537735930b",
    "data_batch_3": "a7db3428034111cdf1aae3a2d4384d13",
    "data_batch_4": "688dbba21d2be56c73538b8ea198070a",
    "data_batch_5": "8b21a37c85355abac5e4a62be24836d9",
    "test_batch": "c1ae096a46397aba0f54cbb4c1252e6b",
    "batches.meta": "56a2023d12d9afdf5284508eeb834c17",
}
# sha256 of the bundles' tensors (data.tensors_sha256) of the shared copies; fixed by the data.
MNIST_BUNDLE_SHA256 = "8c9ff3c29663d84f5c23e5fb03222c718f6576fb6d3837df27a927b1d2a71f60"
CIFAR_BUNDLE_SHA256 = "5a30d170231c8487e10085436a793c23f4cef843e09d7756711330576d5e5f8f"
MNIST_GZ = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _mnist_copy(data_root: Path, tmp_path: Path) -> Path:
    """A writable copy of MNIST/raw under tmp_path/root; returns its raw folder."""
    raw = tmp_path / "root" / "MNIST" / "raw"
    shutil.copytree(data_root / "MNIST" / "raw", raw)
    return raw


def _cifar_links(data_root: Path, tmp_path: Path, damaged: str) -> Path:
    """tmp_path/root with CIFAR-10 files linked from data_root, except ``damaged`` (returned)."""
    base = tmp_path / "root" / "cifar-10-batches-py"
    base.mkdir(parents=True)
    for name in CIFAR_LOCAL_MD5:
        if name != damaged:
            (base / name).symlink_to(data_root / "cifar-10-batches-py" / name)
    return base / damaged


# ---------------------------------------------------------------------------------- MNIST


def test_mnist_bundle_contents(mnist_bundle: Path) -> None:
    raw = torch.load(mnist_bundle, weights_only=True)
    assert raw["x_train"].shape == (60_000, 1, 28, 28) and raw["x_train"].dtype == torch.uint8
    assert raw["x_test"].shape == (10_000, 1, 28, 28)
    assert raw["y_train"].dtype == torch.int64
    assert raw["y_train"].bincount().tolist() == MNIST_TRAIN_COUNTS
    assert raw["y_test"].bincount().tolist() == MNIST_TEST_COUNTS
    assert raw["x_train"].double().mean().item() / 255 == pytest.approx(0.1307, abs=1e-4)
    assert raw["x_test"].double().mean().item() / 255 == pytest.approx(0.1325, abs=1e-4)
    meta = raw["meta"]
    assert meta["name"] == "mnist" and meta["original_md5"] is True
    assert sorted(meta["files"]) == sorted(MNIST_GZ)
    assert meta["train_mean"] == [pytest.approx(0.1307, abs=1e-4)]
    assert meta["train_std"] == [pytest.approx(0.3081, abs=1e-4)]
    assert meta["bundle_sha256"] == MNIST_BUNDLE_SHA256


def test_mnist_load_normalised(mnist_bundle: Path) -> None:
    d = data.load(mnist_bundle, "cpu")
    assert (d.name, d.num_classes, d.in_channels, d.image_size) == ("mnist", 10, 1, 28)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.x_train.shape == (60_000, 1, 28, 28) and d.y_test.shape == (10_000,)
    assert d.x_train.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert d.x_train.std().item() == pytest.approx(1.0, abs=1e-4)
    # test set: normalised with the training statistics, not its own
    assert d.x_test.mean().item() == pytest.approx((0.1325 - 0.1307) / 0.3081, abs=2e-3)


def test_prepare_never_writes_into_root(data_root: Path, tmp_path: Path) -> None:
    before = _snapshot(data_root)
    meta = data.prepare("mnist", data_root, tmp_path / "sub" / "mnist.pt", download=False)
    assert _snapshot(data_root) == before
    assert meta["source_dir"] == str(data_root.resolve())
    # the bundle and its digest, no temp file left
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["mnist.pt", "mnist.sha256"]
    assert data.bundle_digest(tmp_path / "sub" / "mnist.pt") == meta["bundle_sha256"]


def test_mnist_uncompressed_files(data_root: Path, tmp_path: Path) -> None:
    raw = _mnist_copy(data_root, tmp_path)
    for gz in MNIST_GZ:
        (raw / gz.removesuffix(".gz")).write_bytes(gzip.decompress((raw / gz).read_bytes()))
        (raw / gz).unlink()
    meta = data.prepare("mnist", tmp_path / "root", tmp_path / "m.pt", download=False)
    assert meta["original_md5"] is True
    assert sorted(meta["files"]) == sorted(g.removesuffix(".gz") for g in MNIST_GZ)
    assert meta["files"]["t10k-labels-idx1-ubyte"] == "27ae3e4e09519cfbb04c329615203637"


@pytest.mark.parametrize(
    ("fname", "damage"),
    [
        ("train-labels-idx1-ubyte.gz", "truncate"),
        ("train-images-idx3-ubyte.gz", "truncate"),
        ("train-images-idx3-ubyte.gz", "flip"),
        ("t10k-labels-idx1-ubyte", "flip"),  # uncompressed: flipped label byte, header intact
        ("t10k-images-idx3-ubyte", "truncate"),  # uncompressed: header ok, too short
    ],
)
def test_mnist_damaged_file(data_root: Path, tmp_path: Path, fname: str, damage: str) -> None:
    raw = _mnist_copy(data_root, tmp_path)
    path = raw / fname
    if not fname.endswith(".gz"):
        path.write_bytes(gzip.decompress((raw / f"{fname}.gz").read_bytes()))
        (raw / f"{fname}.gz").unlink()
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    else:
        blob[len(blob) // 2] ^= 0x55
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        data.prepare("mnist", tmp_path / "root", tmp_path / "m.pt", download=False)
    assert str(path) in str(info.value)
    assert not (tmp_path / "m.pt").exists()


def test_mnist_recompressed_copy_is_accepted(data_root: Path, tmp_path: Path) -> None:
    raw = _mnist_copy(data_root, tmp_path)
    path = raw / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), mtime=0))
    meta = data.prepare("mnist", tmp_path / "root", tmp_path / "m.pt", download=False)
    assert meta["original"]["t10k-labels-idx1-ubyte.gz"] is False
    assert meta["original_md5"] is False


# ---------------------------------------------------------------------------------- missing files


@pytest.mark.parametrize(
    ("name", "subdir", "files"),
    [
        ("mnist", "MNIST/raw", MNIST_GZ),
        ("cifar10", "cifar-10-batches-py", list(CIFAR_LOCAL_MD5)),
    ],
)
def test_missing_files_message(tmp_path: Path, name: str, subdir: str, files: list[str]) -> None:
    with pytest.raises(DataError) as info:
        data.prepare(name, tmp_path, tmp_path / "out.pt", download=False)
    msg = str(info.value)
    assert str((tmp_path / subdir).resolve()) in msg
    assert all(f in msg for f in files)
    assert "SECONDORDER_DATA" in msg and "data_root" in msg
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", DATASETS)
def test_failed_download_is_quick_and_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Offline (simulated, so that the test also holds with internet): a fast, clear DataError."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise socket.gaierror("offline (test)")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    timeout_before = socket.getdefaulttimeout()
    root = tmp_path / "new" / "root"
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"Download attempt: failed \(.*offline") as info:
        data.prepare(name, root, tmp_path / "out.pt")
    assert time.perf_counter() - start < 30
    assert str(root.resolve()) in str(info.value)
    assert socket.getdefaulttimeout() == timeout_before
    assert not (tmp_path / "new").exists()  # folders made for the download are removed again


def test_no_download_into_a_read_only_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources.os, "access", lambda path, mode: False)  # as if read-only
    with pytest.raises(DataError, match=r"Download attempt: skipped, .* is not writable"):
        data.prepare("mnist", tmp_path, tmp_path / "out.pt")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- CIFAR-10


def test_cifar10_bundle(cifar10_bundle: Path) -> None:
    raw = torch.load(cifar10_bundle, weights_only=True)
    meta = raw["meta"]
    assert meta["original_md5"] is False
    assert meta["files"] == CIFAR_LOCAL_MD5
    assert not any(meta["original"].values())
    assert meta["classes"][:3] == ["airplane", "automobile", "bird"]
    assert raw["x_train"].shape == (50_000, 3, 32, 32) and raw["x_test"].shape == (
        10_000,
        3,
        32,
        32,
    )
    assert raw["y_train"].bincount().tolist() == [5000] * 10
    assert raw["y_test"].bincount().tolist() == [1000] * 10
    assert raw["y_train"][:10_000].bincount().tolist() == CIFAR_BATCH1_COUNTS
    assert raw["y_train"][:5].tolist() == [6, 9, 9, 4, 1]
    assert raw["y_test"][:5].tolist() == [3, 8, 8, 0, 6]
    assert meta["train_mean"] == pytest.approx([0.4913, 0.4821, 0.4465], abs=2e-4)
    assert meta["train_std"] == pytest.approx([0.2452, 0.2428, 0.2606], abs=2e-4)
    # channel planes: R plane first (SOURCES.md: image 0 starts with R 59, 43, 50 in the
    # original; the JPEG copy is within a few grey levels)
    assert (raw["x_train"][0, 0, 0, :3].int() - torch.tensor([59, 43, 50])).abs().max() < 20
    d = data.load(cifar10_bundle, "cpu", train_subset=2000, test_subset=1000)
    assert d.meta["bundle_sha256"] == CIFAR_BUNDLE_SHA256
    assert (d.in_channels, d.image_size, d.num_classes) == (3, 32, 10)
    assert d.x_train.shape == (2000, 3, 32, 32)
    assert d.y_train.bincount().tolist() == [200] * 10


def test_cifar10_truncated_batch(data_root: Path, tmp_path: Path) -> None:
    path = _cifar_links(data_root, tmp_path, "data_batch_1")
    blob = (data_root / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    path.write_bytes(blob[: len(blob) - 1000])
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        data.prepare("cifar10", tmp_path / "root", tmp_path / "c.pt", download=False)
    assert str(path) in str(info.value)


def _batch(data: object, labels: object) -> bytes:
    return pickle.dumps({"data": data, "labels": labels}, protocol=2)


BAD_PICKLES = {  # built lazily: some are large
    "cut": lambda: b"\x80\x02}q\x00(U\x04data",
    "wrong-shape": lambda: _batch(np.zeros((10, 3072), np.uint8), [0] * 10),
    "bad-labels": lambda: _batch(np.zeros((10_000, 3072), np.uint8), [10] * 10_000),
    "wrong-dtype": lambda: _batch(np.zeros((10_000, 3072), np.float32), [0] * 10_000),
    "missing-labels": lambda: pickle.dumps({"data": np.zeros((10_000, 3072), np.uint8)}),
    "not-a-dict": lambda: pickle.dumps([1, 2, 3]),
}


@pytest.mark.parametrize("case", BAD_PICKLES)
def test_cifar10_bad_pickle(data_root: Path, tmp_path: Path, case: str) -> None:
    path = _cifar_links(data_root, tmp_path, "data_batch_1")
    path.write_bytes(BAD_PICKLES[case]())
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        data.prepare("cifar10", tmp_path / "root", tmp_path / "c.pt", download=False)
    assert str(path) in str(info.value)


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar10_unpickling_is_restricted(data_root: Path, tmp_path: Path) -> None:
    path = _cifar_links(data_root, tmp_path, "data_batch_1")
    path.write_bytes(pickle.dumps({"data": _Evil(), "labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"refusing to load global (posix|os|nt)\.system"):
        data.prepare("cifar10", tmp_path / "root", tmp_path / "c.pt", download=False)


def test_known_md5s_match_torchvision() -> None:
    tvd = pytest.importorskip("torchvision.datasets")
    cifar = {n: m for n, m in tvd.CIFAR10.train_list + tvd.CIFAR10.test_list}
    cifar[tvd.CIFAR10.meta["filename"]] = tvd.CIFAR10.meta["md5"]
    assert cifar == sources.CIFAR_FILES
    mnist = {f.removesuffix(".gz"): m for f, m in tvd.MNIST.resources}
    assert mnist == {k: gz for k, (gz, _) in sources.MNIST_FILES.items()}


# ---------------------------------------------------------------------------------- bundles


def test_corrupt_bundles(mnist_bundle: Path, tmp_path: Path) -> None:
    good = torch.load(mnist_bundle, weights_only=True)
    cases = {
        "garbage.pt": b"not a torch file",
        "truncated.pt": mnist_bundle.read_bytes()[:100_000],
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    torch.save(dict(good, x_train=good["x_train"].float()), tmp_path / "dtype.pt")
    torch.save({k: v for k, v in good.items() if k != "y_test"}, tmp_path / "keys.pt")
    torch.save(dict(good, y_train=good["y_train"][:-1]), tmp_path / "shape.pt")
    torch.save(dict(good, meta={"name": "mnist"}), tmp_path / "meta.pt")
    for name in ("garbage.pt", "truncated.pt", "dtype.pt", "keys.pt", "shape.pt", "meta.pt"):
        with pytest.raises(DataError, match=r"corrupt bundle.*delete it and re-run prepare"):
            data.load(tmp_path / name, "cpu")
    with pytest.raises(DataError, match="not found"):
        data.load(tmp_path / "missing.pt", "cpu")


def test_flipped_byte_in_a_bundle_is_refused(mnist_bundle: Path, tmp_path: Path) -> None:
    """One inverted pixel byte inside the file: load names the file and says to re-prepare."""
    blob = bytearray(mnist_bundle.read_bytes())
    image = torch.load(mnist_bundle, weights_only=True)["x_train"][0].numpy().tobytes()
    offset = blob.find(image) + 14 * 28 + 14  # a pixel in the middle of the first image
    assert blob.count(image) == 1 and blob[offset] != 0
    blob[offset] ^= 0xFF
    flipped = tmp_path / "mnist.pt"
    flipped.write_bytes(bytes(blob))
    before = flipped.read_bytes()
    pattern = r"corrupt bundle .*mnist\.pt \(its tensors' sha256 .* differs .*\); delete it and"
    with pytest.raises(DataError, match=pattern) as info:
        data.load(flipped, "cpu")
    assert "secondorder prepare-data" in str(info.value) and "\n" not in str(info.value)
    assert flipped.read_bytes() == before  # refused, not repaired or deleted


def test_bundle_without_digest_is_refused(mnist_bundle: Path, tmp_path: Path) -> None:
    """A bundle of an older version (no bundle_sha256) cannot be verified: re-prepare it."""
    good = torch.load(mnist_bundle, weights_only=True)
    old_meta = {k: v for k, v in good["meta"].items() if k != "bundle_sha256"}
    torch.save(dict(good, meta=old_meta), tmp_path / "old.pt")
    with pytest.raises(DataError, match=r"old\.pt has no content digest.*re-run prepare"):
        data.load(tmp_path / "old.pt", "cpu")


# ---------------------------------------------------------------------------------- subsets


def test_stratified_indices(mnist_bundle: Path) -> None:
    labels = torch.load(mnist_bundle, weights_only=True)["y_train"]
    counts = torch.tensor(MNIST_TRAIN_COUNTS, dtype=torch.float64)
    for n in (1, 10, 999, 1000, 12_345):
        idx = data.stratified_indices(labels, n, seed=0)
        assert idx.numel() == n == idx.unique().numel()
        got = labels[idx].bincount(minlength=10).double()
        assert ((got - counts * n / 60_000).abs() < 1).all(), (n, got)
    a = data.stratified_indices(labels, 1000, seed=3)
    assert torch.equal(a, data.stratified_indices(labels, 1000, seed=3))
    assert not torch.equal(a, data.stratified_indices(labels, 1000, seed=4))
    assert torch.equal(data.stratified_indices(labels, 60_000, seed=0), torch.arange(60_000))
    for bad in (0, 60_001):
        with pytest.raises(ConfigError):
            data.stratified_indices(labels, bad, seed=0)


def test_subset_keeps_full_normalisation(mnist_bundle: Path) -> None:
    full = data.load(mnist_bundle, "cpu")
    sub = data.load(mnist_bundle, "cpu", train_subset=500, test_subset=200, seed=7)
    idx = data.stratified_indices(full.y_train, 500, seed=7)
    assert torch.equal(sub.x_train, full.x_train[idx])
    assert torch.equal(sub.y_train, full.y_train[idx])
    assert sub.x_test.shape == (200, 1, 28, 28)
    assert sub.meta["train_subset"] == 500 and sub.meta["subset_seed"] == 7
    with pytest.raises(ConfigError, match="train_subset"):
        data.load(mnist_bundle, "cpu", train_subset=70_000)


# ---------------------------------------------------------------------------------- sampling


def test_sample_indices_and_permutation() -> None:
    g = torch.Generator().manual_seed(0)
    idx = data.sample_indices(1000, 200, g, "cpu")
    assert idx.numel() == 200 == idx.unique().numel()
    assert idx.min() >= 0 and idx.max() < 1000
    perm = data.epoch_permutation(1000, g, "cpu")
    assert torch.equal(perm.sort().values, torch.arange(1000))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(
        data.sample_indices(100, 10, g1, "cpu"), data.sample_indices(100, 10, g2, "cpu")
    )
    with pytest.raises(ValueError):
        data.sample_indices(10, 11, g, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_generator_must_be_on_the_device() -> None:
    with pytest.raises(ValueError, match="generator lives on cpu"):
        data.epoch_permutation(10, torch.Generator(), "cuda")
    idx = data.sample_indices(100, 10, torch.Generator("cuda").manual_seed(0), "cuda")
    assert idx.device.type == "cuda"


# ---------------------------------------------------------------------------------- config


def test_resolve_data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECONDORDER_DATA", raising=False)
    assert data.resolve_data_root(None) == Path("data/raw")
    assert data.resolve_data_root("/x/y") == Path("/x/y")
    monkeypatch.setenv("SECONDORDER_DATA", "/from/env")
    assert data.resolve_data_root("/x/y") == Path("/from/env")
    assert data.resolve_data_root("/x/y", command_line="/typed") == Path("/typed")


def test_cli_root_wins_over_the_environment(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`prepare-data --root DIR` with SECONDORDER_DATA set reads DIR, not the env's root."""
    from secondorder import cli

    monkeypatch.setenv("SECONDORDER_DATA", str(data_root))  # intact data, must not be read
    monkeypatch.setattr(sources.os, "access", lambda path, mode: False)  # no download attempt
    empty = tmp_path / "typed"
    empty.mkdir()
    out = tmp_path / "mnist.pt"
    argv = ["prepare-data", "--dataset", "mnist", "--root", str(empty), "--out", str(out)]
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("secondorder prepare-data: error: MNIST files not found in")
    assert str(empty / "MNIST" / "raw") in line
    assert not out.exists()


def test_every_dataset_has_a_reader_and_its_bundle_has_the_registered_shape(
    mnist_bundle: Path, cifar10_bundle: Path
) -> None:
    """spec.DATASETS and the readers of data.sources name the same datasets, and what a reader
    gives is what the registry says (sizes, image shape, classes)."""
    assert list(sources.SOURCES) == list(DATASETS)
    for name, bundle in (("mnist", mnist_bundle), ("cifar10", cifar10_bundle)):
        facts, raw = DATASETS[name], torch.load(bundle, weights_only=True)
        image = (facts.channels, facts.image_size, facts.image_size)
        assert raw["x_train"].shape == (facts.train_size, *image)
        assert raw["x_test"].shape == (facts.test_size, *image)
        assert raw["meta"]["num_classes"] == len(raw["meta"]["classes"]) == facts.classes


def test_the_default_data_root_is_the_configs() -> None:
    from secondorder.study.config import TOP_LEVEL_DEFAULTS

    assert Path(TOP_LEVEL_DEFAULTS["data_root"]) == sources.DEFAULT_DATA_ROOT


def test_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'svhn'; allowed: mnist, cifar10"):
        data.prepare("svhn", tmp_path, tmp_path / "o.pt")
