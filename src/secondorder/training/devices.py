"""What a run computes on: the training device, leases of GPU slots between concurrent runs,
and torch's CPU threads.

Snakemake assigns no GPU ids: on a machine with several GPUs, each training process must pick
one whose capacity no other run uses. A GPU offers :data:`SLOTS_PER_GPU` slots, one lock file
each; :func:`device_lease` takes an exclusive ``flock`` on ``slots`` free slot files of one GPU
for the duration of a ``with`` block (one run) and releases them at the end, so that small runs
(one slot) share a GPU, a large one (every slot) has it alone, and a process that trains many
runs one after another never waits for itself.

Lock files are keyed by the physical GPU (its UUID, else its PCI address), not by the visible
index: two studies with different ``CUDA_VISIBLE_DEVICES`` see the same GPU under different
indices and must still exclude each other. They live in one world-writable, sticky folder under
the temporary directory (``$TMPDIR``), shared by every user of the machine; a lock file that
exists is opened read-only and without ``O_CREAT`` (``flock`` needs neither write access nor
ownership), so another user's lock file never gives a permission error.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from secondorder.errors import DeviceError

log = logging.getLogger("secondorder.training.devices")

DEFAULT_THREADS = 1
"""CPU threads of a run unless the caller says otherwise: the same for the CLI, Snakemake jobs
(``threads: 1``, several jobs side by side) and library calls, so that one run id gives one
result (float sums in another thread count differ in the last bits)."""
LOCK_DIR_NAME = "secondorder-gpu-locks"
POLL_INTERVAL_S = 5.0
"""How often a process whose GPUs are all taken tries again."""
SLOTS_PER_GPU = 4
"""Slots of one GPU (Snakemake's resource ``gpu_slots``: ``--resources gpu_slots=4`` per GPU).
A run takes 1 to all of them (:func:`secondorder.study.packing.gpu_slots`)."""


@contextlib.contextmanager
def device_lease(requested: str = "auto", slots: int = SLOTS_PER_GPU) -> Iterator[torch.device]:
    """The training device for the ``with`` block: ``cpu``, ``cuda[:N]``, or ``auto``.

    ``auto`` means CUDA when present, else the CPU. For ``auto`` and ``cuda`` the block holds
    exclusive locks of ``slots`` of the :data:`SLOTS_PER_GPU` slots of one visible GPU, the one
    with the most free slots (waiting, with one log message, while no GPU has enough); they are
    released when the block ends. An explicit ``cuda:N`` is the caller's choice and takes no
    lock. Under SLURM, each job sees only its own GPU, whose slots only its runs take.
    """
    if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= SLOTS_PER_GPU:
        raise DeviceError(f"slots must be an integer from 1 to {SLOTS_PER_GPU}, got {slots!r}")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        yield torch.device("cpu")
        return
    if requested not in ("auto", "cuda") and not re.fullmatch(r"cuda:\d+", requested):
        raise DeviceError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {requested!r} requested but CUDA is not available")
    if requested.startswith("cuda:"):
        yield torch.device(requested)
        return
    index, handles = _lock_free_slots(slots)
    try:
        yield torch.device(f"cuda:{index}")
    finally:
        for handle in handles:
            os.close(handle)  # releases the flock


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``threads`` inside the block, restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA; a no-op on the CPU), so a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def physical_id(index: int) -> str:
    """A name of visible GPU ``index`` that is the same whatever ``CUDA_VISIBLE_DEVICES`` is."""
    properties = torch.cuda.get_device_properties(index)
    uuid = str(getattr(properties, "uuid", "") or "")
    if uuid:
        name = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
    else:
        domain, bus, device = (
            getattr(properties, key, None)
            for key in ("pci_domain_id", "pci_bus_id", "pci_device_id")
        )
        if bus is None:  # no physical identity known: fall back to the visible index
            return f"visible-{index}"
        name = f"pci-{domain or 0:04x}-{bus:02x}-{device or 0:02x}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def lock_dir() -> Path:
    """The shared folder of GPU lock files (created world-writable and sticky, like /tmp)."""
    path = Path(tempfile.gettempdir()) / LOCK_DIR_NAME
    try:
        path.mkdir()
    except FileExistsError:
        return path
    except OSError as error:
        raise DeviceError(
            f"cannot create the GPU lock folder {path} ({error.strerror}); set TMPDIR to a"
            " writable folder shared by the runs of this machine"
        ) from None
    os.chmod(path, 0o1777)  # mkdir applies the umask; every user's runs need to create files
    return path


def slot_paths(index: int) -> list[Path]:
    """The lock files of the slots of visible GPU ``index`` (keyed by its physical id)."""
    name = physical_id(index)
    return [lock_dir() / f"{name}.slot{slot}.lock" for slot in range(SLOTS_PER_GPU)]


def _lock_free_slots(slots: int) -> tuple[int, list[int]]:
    """(visible index, open descriptors holding the flocks of ``slots`` of its slots): the GPU
    with the most free slots that has enough; waits while none has."""
    gpus = [slot_paths(index) for index in range(torch.cuda.device_count())]
    if not gpus:
        raise DeviceError("CUDA is available but shows no GPU (check CUDA_VISIBLE_DEVICES)")
    told = False
    while True:
        free = [sum(not _held(path) for path in paths) for paths in gpus]
        for index in sorted(range(len(gpus)), key=lambda i: -free[i]):
            handles = _take(gpus[index], slots)
            if handles:
                if told:
                    log.info("got %d slot(s) of GPU %d after waiting", slots, index)
                return index, handles
        if not told:
            log.warning(
                "waiting for %d free slot(s) of one GPU: all %d GPU(s) have fewer (lock files "
                "%s); retrying every %gs",
                slots,
                len(gpus),
                ", ".join(str(path) for paths in gpus for path in paths),
                POLL_INTERVAL_S,
            )
            told = True
        time.sleep(POLL_INTERVAL_S)


def _take(paths: list[Path], slots: int) -> list[int]:
    """Descriptors holding ``slots`` of the flocks of ``paths``, or [] (none kept) when fewer
    are free."""
    handles = []
    for path in paths:
        handle = _open_lock_file(path)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue
        handles.append(handle)
        if len(handles) == slots:
            return handles
    for handle in handles:
        os.close(handle)
    return []


def _held(path: Path) -> bool:
    """Whether another descriptor holds ``path``'s flock (a probe: taken and released at once)."""
    handle = _open_lock_file(path)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


def _open_lock_file(path: Path) -> int:
    """A read-only descriptor of ``path``, created (mode 0666) if missing; never truncated."""
    while True:
        try:
            return os.open(path, os.O_RDONLY)  # no O_CREAT: fs.protected_regular allows it
        except FileNotFoundError:
            pass
        except PermissionError:
            raise DeviceError(_permission_message(path)) from None
        try:
            handle = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # another process created it meanwhile: open that one
            continue
        except PermissionError:
            raise DeviceError(_permission_message(path)) from None
        os.fchmod(handle, 0o666)  # the umask narrowed the mode; other users must open it too
        return handle


def _permission_message(path: Path) -> str:
    return (
        f"cannot open the GPU lock file {path} ({os.strerror(errno.EACCES)}); it or its folder"
        f" belongs to another user: ask them (or root) to `chmod 1777 {path.parent}` and"
        f" `chmod 666 {path}`, or set TMPDIR to another folder shared by this machine's runs"
    )
