"""One GPU per job: machine-wide device slots held with file locks.

Snakemake's ``--resources gpu=N`` only counts: it lets N GPU jobs run at once but does not
say which device each should use. :func:`gpu_slot` gives each job its own device: it takes
an exclusive ``flock`` on one lock file per device (``<lock_dir>/<host>-gpu<i>.lock``),
trying the devices in order, and waits while all are held. The kernel drops a lock when
its holder exits for any reason (SIGKILL included), so a crashed job never keeps a device.
With more concurrent jobs than devices the extra jobs queue; with no GPU at all the job
runs on the CPU.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["default_lock_dir", "gpu_slot", "visible_gpus"]

log = logging.getLogger(__name__)


def default_lock_dir() -> Path:
    """``$TSGD_GPU_LOCK_DIR``, else ``<tmp>/tsgd-gpu-locks`` (machine-wide, per host name)."""
    env = os.environ.get("TSGD_GPU_LOCK_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "tsgd-gpu-locks"


def visible_gpus() -> list[int]:
    """Indices of the CUDA devices this process can use (after ``CUDA_VISIBLE_DEVICES``)."""
    import torch  # lazy

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _claim(paths: dict[int, Path]) -> tuple[int, int] | None:
    """The first free device and its locked file descriptor, or None if all are held."""
    for device, path in paths.items():
        fd = _try_lock(path)
        if fd is not None:
            return device, fd
    return None


@contextlib.contextmanager
def gpu_slot(
    devices: Sequence[int] | None = None,
    *,
    lock_dir: str | os.PathLike[str] | None = None,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
) -> Iterator[int | None]:
    """Hold one device for the duration of the block.

    Args:
        devices: device indices to choose from (default: :func:`visible_gpus`); an empty
            list means no GPU, and the block runs with ``None``.
        lock_dir: where the lock files live (default: :func:`default_lock_dir`); every job
            that shares these devices must use the same folder.
        poll_s: how often to retry while every device is held.
        timeout_s: give up waiting after this long (TimeoutError); None waits for ever.

    Yields:
        The device index held (the caller selects it, e.g. ``torch.cuda.set_device``), or
        None when there is no device.
    """
    devices = visible_gpus() if devices is None else list(devices)
    if not devices:
        yield None
        return
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    paths = {d: folder / f"{host}-gpu{d}.lock" for d in devices}
    start = time.monotonic()
    waiting_logged = False
    while (claimed := _claim(paths)) is None:
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no free GPU among {devices} after {timeout_s} s")
        if not waiting_logged:
            log.info("all %d GPUs %s are held by other jobs; waiting", len(devices), devices)
            waiting_logged = True
        time.sleep(poll_s)
    device, fd = claimed
    log.info("holding GPU %d (waited %.1f s)", device, time.monotonic() - start)
    try:
        yield device
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
