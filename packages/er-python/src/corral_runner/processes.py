"""Child processes of handlers: started as process groups, ended as whole trees.

A tool a handler runs may start processes of its own (a linter's workers, a shell script's
commands). Killing the tool's pid would leave those running, so
:func:`run_process` (``ActionContext.run_process`` for handlers) starts every process as the
leader of a new **process group** (POSIX ``setpgid``; on Windows a new process group too,
though only the process itself is killed there) and ends it by signalling the whole group:

* when the awaiting code is cancelled (``asyncio.CancelledError``: the run was cancelled);
* when the run that started it is cancelled, even if the handler code is abandoned or is a
  sync handler blocked in :meth:`ActionContext.wait` (:meth:`ProcessGroups.kill_run`);
* when the runner exits (:meth:`ProcessGroups.kill_all`).

The groups stay in the runner's **session**: the WM ends whatever a runner leaves behind by
the runner's session (it leads one), even if the runner itself was killed. A process that
finished normally is forgotten; anything it left running on purpose (a daemon) ends with
the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ProcessGroups", "ProcessResult", "end_own_group", "run_process"]


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """A finished process: its argv, exit status and captured output."""

    argv: list[str]
    returncode: int
    """Negative: killed by that signal (POSIX)."""
    stdout: bytes
    stderr: bytes


def _group_options() -> dict[str, Any]:
    """``create_subprocess_exec`` options that make the child a process group leader."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"process_group": 0}


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL ``process``'s whole group (Windows: the process)."""
    if sys.platform == "win32":
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return
    # The leader is not reaped before run_process returns, so its pid (the group's id)
    # cannot have been reused; a group whose members are all gone is ESRCH.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class ProcessGroups:
    """The process groups started by :func:`run_process` that have not ended, by run.

    Thread-safe: the runner's exit path may call :meth:`kill_all` from a timer thread.
    """

    def __init__(self) -> None:
        self._live: dict[int, tuple[str | None, asyncio.subprocess.Process]] = {}
        self._lock = threading.Lock()

    def add(self, process: asyncio.subprocess.Process, run_id: str | None) -> None:
        with self._lock:
            self._live[process.pid] = (run_id, process)

    def discard(self, process: asyncio.subprocess.Process) -> None:
        with self._lock:
            self._live.pop(process.pid, None)

    def kill_run(self, run_id: str) -> int:
        """Kill the groups started for ``run_id``; returns how many."""
        with self._lock:
            doomed = [p for owner, p in self._live.values() if owner == run_id]
        for process in doomed:
            _kill_group(process)
        return len(doomed)

    def kill_all(self) -> int:
        """Kill every live group; returns how many."""
        with self._lock:
            doomed = [p for _, p in self._live.values()]
        for process in doomed:
            _kill_group(process)
        return len(doomed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    groups: ProcessGroups | None = None,
    run_id: str | None = None,
) -> ProcessResult:
    """Run ``argv`` (no shell) to completion and capture its stdout and stderr.

    ``stdin``: bytes fed to it (default: no input, ``/dev/null``); ``env``: its whole
    environment (default: the runner's). The process leads its own process group, recorded
    in ``groups`` under ``run_id`` while it runs. Cancelling the caller kills the whole
    group and reaps the process before the cancellation propagates. Raises ``OSError``
    when ``argv[0]`` cannot be started (e.g. ``FileNotFoundError``).
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=None if env is None else dict(env),
        **_group_options(),
    )
    if groups is not None:
        groups.add(process, run_id)
    try:
        stdout, stderr = await process.communicate(stdin)
        returncode = await process.wait()  # already exited: communicate() waited for it
    except BaseException:  # cancelled (or anything else): never leave the tree running
        _kill_group(process)
        with contextlib.suppress(BaseException):
            await asyncio.shield(process.wait())
        raise
    finally:
        if groups is not None:
            groups.discard(process)
    return ProcessResult(argv=list(argv), returncode=returncode, stdout=stdout, stderr=stderr)


def end_own_group() -> None:
    """At the runner's exit: SIGTERM the other members of the runner's own process group
    (children handlers started without :func:`run_process`), if the runner leads its group
    (the WM starts it so); never signals a group the runner merely belongs to."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        if os.getpgid(0) != os.getpid():
            return
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            os.killpg(0, signal.SIGTERM)
        finally:
            signal.signal(signal.SIGTERM, previous)
