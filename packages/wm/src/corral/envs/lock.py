"""A cross-process, per-environment lock, so two preparations never build one env at once.

An advisory lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
``<project>/.corral/envs/.<name>.lock``, acquired by polling so the event loop never blocks.
The lock file is left in place (it is empty and git-ignored); the OS releases the lock if
the holder dies.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class LockTimeoutError(Exception):
    """The lock was held by someone else for longer than the timeout."""


@asynccontextmanager
async def env_lock(
    path: Path,
    *,
    timeout: float,  # noqa: ASYNC109  (fails with LockTimeoutError, not a cancellation)
) -> AsyncIterator[None]:
    """Hold the exclusive lock on ``path`` (created if missing) for the ``async with`` body.

    Polls with a backoff from 10 ms up to 250 ms; raises :class:`LockTimeoutError` after
    ``timeout`` seconds. Two holders in the same process exclude each other too.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(f"{path} is held by another preparation")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
