"""Shared fixtures: where the real datasets are, prepared bundles (once per session and
pytest-xdist worker) and a finished test study (once per session), and how tests share the CPU
cores when `make test` runs them in parallel workers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from secondorder import data

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker's torch uses its share of the cores (more threads than
    cores makes torch's thread pool spin against the other workers)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


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
    (real MNIST, trained once per session: the first pytest-xdist worker that needs it builds
    it under a lock in the session's shared temporary folder, the others wait and reuse it).

    Shared by test_workflow, test_rerun and test_tuning_dag: treat it as read-only (dry runs
    are fine: Snakemake does not lock for them); a test that changes anything works on a copy
    (``shutil.copytree(..., symlinks=True)``).
    """
    from filelock import FileLock
    from test_workflow import copy_workflow, snakemake

    if not (data_root / "MNIST").exists():
        pytest.skip(f"no MNIST under {data_root}")
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    home = root / "finished_test_study"
    workdir, done = home / "repo", home / "finished"
    with FileLock(str(root / "finished_test_study.lock")):
        if not done.exists():
            shutil.rmtree(home, ignore_errors=True)  # a failed attempt of another worker
            copy_workflow(workdir)
            result = snakemake(
                workdir,
                *("--configfile", "config/test.yaml", "--cores", "2"),
                timeout=900,
                data=data_root,
            )
            assert result.returncode == 0, result.stderr[-5000:]
            done.touch()
    return workdir
