"""Ending every process a runner left behind: its session.

Every runner is started as the leader of a new session (spawned with
``start_new_session``; forked ones call ``setsid``), so its pid is the id of its session and
of its process group. Children its handlers start stay in that session: plain children in
the runner's process group, tools started through ``ActionContext.run_process`` in process
groups of their own (``corral_runner.processes``). :func:`end_session` kills them all once
the runner is gone or being killed: the runner's process group, and on Linux every other
process whose session is the runner's (found in ``/proc``), which reaches even the tool
groups of a runner that was SIGKILLed before it could end them itself.

A process that made a session of its own (``setsid``, a daemon) has left the runner's tree
on purpose and is not found. Linux never reuses a pid while a process group or session
still carries it as its id, so the sweep cannot reach an unrelated process. Windows has no
sessions of this kind: there the runner's own exit path is what ends its children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

__all__ = ["end_session", "session_members"]


def session_members(session: int) -> list[int]:
    """Pids of the live processes in ``session`` (Linux; elsewhere an empty list)."""
    proc = Path("/proc")
    if not sys.platform.startswith("linux") or not proc.is_dir():
        return []
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def end_session(leader: int) -> int:
    """SIGKILL the process group and (Linux) the session that ``leader`` leads; returns
    how many processes were signalled (best effort: never raises for a gone process)."""
    if sys.platform == "win32" or leader <= 1:
        return 0
    own = {os.getpid(), os.getpgid(0), os.getsid(0)}
    if leader in own:  # never our own group or session
        return 0
    killed = 0
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)
        killed += 1
    for pid in session_members(leader):
        if pid in own:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed
