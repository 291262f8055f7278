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
on purpose and is not found. Windows has no sessions of this kind: there the runner's own
exit path is what ends its children.

Pid reuse: Linux never reuses a pid while a process group or session still carries it as
its id, so while anything of the runner's tree remains, its pid cannot belong to another
process. Once the runner has exited and nothing remains, the pid is free again; a process
that now has it (say, a new runner leading a session of its own) must not be taken for the
old one. So when the caller knows the runner has exited (``leader_exited``), a live
process with its pid means the pid was reused, and nothing is signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

__all__ = ["end_group", "end_session", "session_members"]


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


def _reused(leader: int, leader_exited: bool) -> bool:
    """Whether ``leader``'s pid now belongs to another process (see the module docstring)."""
    if not leader_exited:
        return False
    try:
        os.kill(leader, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _never_ours(leader: int) -> bool:
    """A pid that names this process, its group or its session (or init): never ended."""
    return leader <= 1 or leader in {os.getpid(), os.getpgid(0), os.getsid(0)}


def end_group(leader: int, *, leader_exited: bool) -> bool:
    """SIGKILL the process group ``leader`` leads; whether a signal was sent. Never for a
    reused pid, nor for this process's own group."""
    if sys.platform == "win32" or _never_ours(leader) or _reused(leader, leader_exited):
        return False
    try:
        os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_session(leader: int, *, leader_exited: bool) -> int:
    """SIGKILL the process group and (Linux) the session that ``leader`` leads; returns
    how many signals were sent (best effort: never raises for a gone process)."""
    if sys.platform == "win32" or _never_ours(leader) or _reused(leader, leader_exited):
        return 0
    killed = int(end_group(leader, leader_exited=False))
    own = {os.getpid()}
    for pid in session_members(leader):
        if pid in own:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed
