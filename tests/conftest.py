"""Shared fixtures: where the real datasets are, prepared bundles and a finished test study
(each built once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secondorder import data

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Root of the raw datasets: env SECONDORDER_DATA, else ``<repo>/../shared/data``."""
    return Path(os.environ.get("SECONDORDER_DATA") or REPO_ROOT.parent / "shared" / "data")


def _bundle(name: str, subdir: str, root: Path, factory: pytest.TempPathFactory) -> Path:
    if not (root / subdir).is_dir():
        pytest.skip(f"{name} not found in {root / subdir} (set SECONDORDER_DATA)")
    out = factory.mktemp("bundles") / f"{name}.pt"
    data.prepare(name, root, out, download=False)
    return out


@pytest.fixture(scope="session")
def mnist_bundle(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of an MNIST bundle prepared from the real files (once per test session)."""
    return _bundle("mnist", "MNIST/raw", data_root, tmp_path_factory)


@pytest.fixture(scope="session")
def cifar10_bundle(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a CIFAR-10 bundle prepared from the real files (once per session; ~3 s)."""
    return _bundle("cifar10", "cifar-10-batches-py", data_root, tmp_path_factory)


@pytest.fixture(scope="session")
def mnist_small(mnist_bundle: Path) -> data.InMemoryData:
    """A stratified MNIST subset on CPU (1,000 train / 500 test, seed 0) for quick training.

    Shared by the whole session: do not modify its tensors in place.
    """
    return data.load(mnist_bundle, "cpu", train_subset=1000, test_subset=500, seed=0)


@pytest.fixture(scope="session")
def finished_test_study(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the workflow in which the whole DAG of config/test.yaml has run to the end
    (real MNIST, trained once per session).

    Shared by test_workflow and test_rerun: treat it as read-only (dry runs are fine); a test
    that changes anything works on a copy (``shutil.copytree(..., symlinks=True)``).
    """
    from test_workflow import copy_workflow, snakemake

    if not (data_root / "MNIST").exists():
        pytest.skip(f"no MNIST under {data_root}")
    workdir = copy_workflow(tmp_path_factory.mktemp("finished_test_study") / "repo")
    result = snakemake(
        workdir, "--configfile", "config/test.yaml", "--cores", "2", timeout=900, data=data_root
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
