"""What a run computes on: the training device, exclusive leases of GPUs between concurrent
runs, and torch's CPU threads.

Snakemake assigns no GPU ids: on a machine with several GPUs, each training process must pick
one that no other run uses. :func:`device_lease` takes an exclusive ``flock`` on a lock file of
a free GPU for the duration of a ``with`` block (one run) and releases it at the end, so that a
process that trains many runs one after another never waits for itself.

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


@contextlib.contextmanager
def device_lease(requested: str = "auto") -> Iterator[torch.device]:
    """The training device for the ``with`` block: ``cpu``, ``cuda[:N]``, or ``auto``.

    ``auto`` means CUDA when present, else the CPU. For ``auto`` and ``cuda`` the block holds an
    exclusive lock of the first visible GPU that no other process holds (waiting, with one log
    message, while all are taken); the lock is released when the block ends. An explicit
    ``cuda:N`` is the caller's choice and takes no lock. Under SLURM, each job sees only its own
    GPU, whose lock no other job holds.
    """
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
    index, handle = _lock_a_free_gpu()
    try:
        yield torch.device(f"cuda:{index}")
    finally:
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


def _lock_a_free_gpu() -> tuple[int, int]:
    """(visible index, open lock file descriptor holding its flock); waits while all are taken."""
    folder = lock_dir()
    paths = [folder / f"{physical_id(index)}.lock" for index in range(torch.cuda.device_count())]
    if not paths:
        raise DeviceError("CUDA is available but shows no GPU (check CUDA_VISIBLE_DEVICES)")
    told = False
    while True:
        for index, path in enumerate(paths):
            handle = _open_lock_file(path)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            if told:
                log.info("got GPU %d (%s) after waiting", index, path.name)
            return index, handle
        if not told:
            log.warning(
                "waiting for a free GPU: all %d locked (lock files %s); retrying every %gs",
                len(paths),
                ", ".join(map(str, paths)),
                POLL_INTERVAL_S,
            )
            told = True
        time.sleep(POLL_INTERVAL_S)


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
