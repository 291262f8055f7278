"""Shared by the process-tree tests (issue 17 item 9): a spawner that starts ``sleep 77``
as its own child, and a liveness check on Linux's /proc.

``SPAWNER`` is a ``python -c`` program: ``python -c SPAWNER PIDFILE`` starts ``sleep 77``,
writes its pid to PIDFILE and waits for it. Run by a handler, the sleep is a grandchild of
the runner: killing only the process the handler started would leave it running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["SPAWNER", "alive", "kill_leftovers", "wait_for", "wait_until"]

SPAWNER = (
    "import subprocess, sys\n"
    "p = subprocess.Popen(['sleep', '77'])\n"
    "open(sys.argv[1], 'w').write(str(p.pid))\n"
    "p.wait()\n"
)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_until(condition: Callable[[], object], what: str, within: float = 10.0) -> None:
    """Poll ``condition`` until true; AssertionError naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def wait_for(condition: Callable[[], object], what: str, within: float = 10.0) -> None:
    """:func:`wait_until` for a coroutine (sleeps without blocking the loop)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def kill_leftovers(pidfiles: Iterable[Path]) -> None:
    """Teardown: SIGKILL the processes named in ``pidfiles`` that still run."""
    for pidfile in pidfiles:
        text = pidfile.read_text() if pidfile.exists() else ""
        if text.strip() and alive(int(text)):
            os.kill(int(text), signal.SIGKILL)
