"""A lock on one region's data folder, so two runs never work on one region at once.

Two runs of one region at once would race on the staging folders and the
snapshots, and both could find a message missing from the mail ledger and
send it. Runs of different regions work in different folders and take
different locks, so they run side by side. The lock is an advisory
``flock`` on ``<data root>/<region>/.lock``: it holds across processes on
one machine, and on network file systems only where they support
``flock``. It is re-entrant within a process, so a step called from
``run_all`` does not wait for its own caller.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_held = threading.local()


class LockTimeoutError(TimeoutError):
    """Another run held the folder for longer than the wait allows."""


@contextlib.contextmanager
def folder_lock(data_dir: Path, timeout: float = 3600.0, poll: float = 0.5) -> Iterator[None]:
    """Hold the lock of ``data_dir`` for the block; wait up to ``timeout`` seconds for it."""
    key = str(data_dir.resolve())
    depth = getattr(_held, "depth", {})
    _held.depth = depth
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return

    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(descriptor, data_dir, timeout, poll)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _acquire(descriptor: int, data_dir: Path, timeout: float, poll: float) -> None:
    deadline = time.monotonic() + timeout
    waiting_logged = False
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not waiting_logged:
                log.info("Waiting for another run to release the data folder %s", data_dir)
                waiting_logged = True
            if time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"another run has held the data folder {data_dir} for over {timeout:.0f} s; "
                    "wait for it to finish, or stop it, and rerun"
                ) from None
            time.sleep(poll)
