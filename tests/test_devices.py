"""GPU leases without a GPU: torch.cuda is monkeypatched to show fake GPUs with physical ids."""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from secondorder.errors import DeviceError
from secondorder.training import devices
from secondorder.training import loop as train_module
from secondorder.training.devices import device_lease

UUIDS = ["GPU-aaaa-0001", "GPU-bbbb-0002", "GPU-cccc-0003"]


@pytest.fixture
def fake_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Visible GPUs as CUDA_VISIBLE_DEVICES would order them: set ``visible`` to a uuid list."""
    visible = list(UUIDS)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(visible))
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda i: SimpleNamespace(uuid=visible[i])
    )
    monkeypatch.setattr(devices.tempfile, "gettempdir", lambda: str(tmp_path))
    return visible


def _lock_path(tmp_path: Path, uuid: str, slot: int = 0) -> Path:
    return tmp_path / devices.LOCK_DIR_NAME / f"{uuid}.slot{slot}.lock"


@pytest.fixture
def holder(tmp_path: Path):
    """Start another process that holds every slot of the given GPUs until it is killed."""
    processes = []

    def hold(*uuids: str) -> subprocess.Popen:
        paths = [
            str(_lock_path(tmp_path, uuid, slot))
            for uuid in uuids
            for slot in range(devices.SLOTS_PER_GPU)
        ]
        (tmp_path / devices.LOCK_DIR_NAME).mkdir(exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, os, sys, time\n"
             "for p in sys.argv[1:]:\n"
             "    fcntl.flock(os.open(p, os.O_RDONLY | os.O_CREAT), fcntl.LOCK_EX)\n"
             "print('locked', flush=True); time.sleep(120)", *paths],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def _is_locked(path: Path) -> bool:
    handle = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


def test_concurrent_runs_take_different_gpus(fake_gpus, holder, tmp_path):
    """Snakemake assigns no GPU ids: each run locks a GPU that no other process holds."""
    holder(UUIDS[0])
    with device_lease("auto") as first, device_lease("cuda") as second:
        assert (first, second) == (torch.device("cuda:1"), torch.device("cuda:2"))
        with device_lease("cuda:0") as explicit, device_lease("cpu") as cpu:  # no lock taken
            assert (explicit, cpu) == (torch.device("cuda:0"), torch.device("cpu"))


def test_locks_are_keyed_by_the_physical_gpu(fake_gpus, holder, tmp_path):
    """Another study with another CUDA_VISIBLE_DEVICES sees the held GPU under another index."""
    holder(UUIDS[0])
    fake_gpus[:] = [UUIDS[0], UUIDS[2]]  # e.g. CUDA_VISIBLE_DEVICES=0,2
    with device_lease("auto") as device:
        assert device == torch.device("cuda:1")  # visible 0 is the held physical GPU
        assert _is_locked(_lock_path(tmp_path, UUIDS[2]))
    fake_gpus[:] = [UUIDS[1], UUIDS[0]]  # CUDA_VISIBLE_DEVICES=1,0
    with device_lease("auto") as device:
        assert device == torch.device("cuda:0")


def test_a_lease_ends_with_its_run(fake_gpus, tmp_path, monkeypatch):
    """A library user training more runs than GPUs in a loop never waits for itself."""
    fake_gpus[:] = UUIDS[:2]
    used = []

    def fake_train(spec, bundle, out_dir, device, progress, tuned):
        used.append(device)
        if len(used) == 2:
            raise RuntimeError("a failing run releases its GPU too")
        return {"status": "finished"}

    def no_waiting(seconds):
        raise AssertionError("waited for a GPU that this process holds")

    monkeypatch.setattr(train_module, "_train", fake_train)
    monkeypatch.setattr(devices.time, "sleep", no_waiting)
    spec = SimpleNamespace(run_id="r", to_dict=dict, search=None)
    for attempt in range(3):
        if attempt == 1:
            with pytest.raises(RuntimeError, match="releases its GPU"):
                train_module.train_run(spec, tmp_path / "b.pt", tmp_path / "run", device="auto")
        else:
            train_module.train_run(spec, tmp_path / "b.pt", tmp_path / "run", device="auto")
    assert used == [torch.device("cuda:0")] * 3
    assert not _is_locked(_lock_path(tmp_path, UUIDS[0]))


def test_waiting_says_once_what_it_waits_for(fake_gpus, holder, tmp_path, monkeypatch, caplog):
    fake_gpus[:] = UUIDS[:2]
    other = holder(*UUIDS[:2])
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the other run ends
            other.kill()
            other.wait()

    monkeypatch.setattr(devices.time, "sleep", sleep)
    with (
        caplog.at_level(logging.WARNING, "secondorder.training.devices"),
        device_lease("auto") as device,
    ):
        assert device == torch.device("cuda:0") and len(sleeps) == 3
    waiting = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting")]
    assert len(waiting) == 1
    assert waiting[0].startswith("waiting for 4 free slot(s) of one GPU: all 2 GPU(s) have ")
    assert str(_lock_path(tmp_path, UUIDS[1], 3)) in waiting[0]


def test_lock_files_are_shared_between_users(fake_gpus, tmp_path):
    """Created 0666 in a sticky 1777 folder whatever the umask; existing files are not truncated."""
    fake_gpus[:] = UUIDS[:2]
    umask = os.umask(0o077)
    try:
        with device_lease("auto"):
            pass
    finally:
        os.umask(umask)
    folder = tmp_path / devices.LOCK_DIR_NAME
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777
    lock = _lock_path(tmp_path, UUIDS[0])
    assert stat.S_IMODE(lock.stat().st_mode) == 0o666
    lock.write_text("another user's file")
    lock.chmod(0o444)  # as if read-only for us: flock needs no write access
    with device_lease("auto") as device:
        assert device == torch.device("cuda:0")
    assert lock.read_text() == "another user's file"


def test_unusable_lock_file_gives_one_clear_line(fake_gpus, tmp_path, monkeypatch):
    def denied(path, flags, mode=0o777):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(devices.os, "open", denied)
    with pytest.raises(DeviceError) as info, device_lease("auto"):
        pass
    message = str(info.value)
    assert message.startswith(f"cannot open the GPU lock file {_lock_path(tmp_path, UUIDS[0])}")
    assert "TMPDIR" in message and "\n" not in message


def test_unusable_device_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    spec = SimpleNamespace(run_id="r", to_dict=dict, search=None)
    for device, message in [("gpu0", "unknown device 'gpu0'"), ("cuda", "CUDA is not available")]:
        with pytest.raises(DeviceError, match=message):
            train_module.train_run(spec, tmp_path / "b.pt", tmp_path / "run", device=device)
    assert list(tmp_path.iterdir()) == []


def test_physical_id_falls_back_to_the_pci_address(monkeypatch):
    monkeypatch.setattr(
        torch.cuda,
        "get_device_properties",
        lambda i: SimpleNamespace(uuid="", pci_domain_id=0, pci_bus_id=0x41, pci_device_id=0),
    )
    assert devices.physical_id(0) == "pci-0000-41-00"


# A run in its own process, on fake GPUs: takes SLOTS slots, says which GPU, holds them until
# its stdin closes.
LEASE_SCRIPT = """
import os, sys
from types import SimpleNamespace
import torch
from secondorder.training import devices
visible = os.environ["FAKE_GPUS"].split(",")
torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: len(visible)
torch.cuda.get_device_properties = lambda i: SimpleNamespace(uuid=visible[i])
devices.POLL_INTERVAL_S = 0.05
with devices.device_lease("auto", int(sys.argv[1])) as device:
    print(device, flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def run_in_process(tmp_path: Path):
    """Start a process that leases ``slots`` of the fake GPUs ``gpus`` (see LEASE_SCRIPT)."""
    processes = []

    def start(slots: int, gpus: list[str]) -> subprocess.Popen:
        env = {**os.environ, "FAKE_GPUS": ",".join(gpus), "TMPDIR": str(tmp_path)}
        process = subprocess.Popen(
            [sys.executable, "-c", LEASE_SCRIPT, str(slots)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait()


def _device_of(process: subprocess.Popen) -> str:
    return process.stdout.readline().strip()


def _end(process: subprocess.Popen) -> None:
    process.stdin.close()
    assert process.wait(timeout=60) == 0


@pytest.mark.slow
def test_small_runs_share_a_gpu_and_a_large_one_waits_for_all_its_slots(run_in_process):
    """Concurrent processes: four 1-slot runs hold one GPU together; a fifth, and a run of
    every slot, wait; the large one starts when the last small one ends."""
    one_gpu = UUIDS[:1]
    small = [run_in_process(1, one_gpu) for _ in range(devices.SLOTS_PER_GPU)]
    assert [_device_of(p) for p in small] == ["cuda:0"] * devices.SLOTS_PER_GPU
    fifth, large = run_in_process(1, one_gpu), run_in_process(devices.SLOTS_PER_GPU, one_gpu)
    with pytest.raises(subprocess.TimeoutExpired):
        large.wait(timeout=1.0)  # still waiting (it prints nothing and does not end)
    _end(small[0])
    assert _device_of(fifth) == "cuda:0"  # the freed slot: exactly one waiter gets it
    for process in [*small[1:], fifth]:
        _end(process)
    assert _device_of(large) == "cuda:0"
    _end(large)


@pytest.mark.slow
def test_runs_spread_over_gpus_by_free_slots(run_in_process):
    """A 1-slot run goes to the GPU with the most free slots; two 2-slot runs share one."""
    two = UUIDS[:2]
    first, second = run_in_process(1, two), None
    assert _device_of(first) == "cuda:0"
    second = run_in_process(1, two)
    assert _device_of(second) == "cuda:1"
    half = run_in_process(devices.SLOTS_PER_GPU // 2, two)
    assert _device_of(half) in ("cuda:0", "cuda:1")
    for process in (first, second, half):
        _end(process)


def test_slots_out_of_range_are_refused(fake_gpus):
    for slots in (0, devices.SLOTS_PER_GPU + 1, True):
        with (
            pytest.raises(DeviceError, match="slots must be an integer from 1 to 4"),
            device_lease("auto", slots),
        ):
            pass
