"""How a runner's OS process comes to be: a small interface, two implementations.

A :class:`Spawner` starts a runner command with pipes on its stdin, stdout and stderr and
returns the process handle; :class:`~corral.supervisor.process.RunnerProcess` does the rest
(launch record, hello, output tails). Spawners:

* :class:`PlainSpawner`: ``exec`` of the argv (never a shell), in a session of its own so
  that a terminal's Ctrl-C reaches the WM only and the runner's whole process tree can be
  signalled as one group.
* :class:`ForkSpawner`: Python runners forked from a fork server that has already imported
  the runner (:mod:`corral.supervisor.forkserver`), falling back to :class:`PlainSpawner`
  for any command a server will not fork.

The Workspace Manager picks one (:func:`default_spawner`) and hands it to every runner; the
rest of the supervisor knows nothing of fork servers.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..forkhint import EarlyServer, fork_server_enabled
from .forkserver import ForkedProcess, ForkServers

__all__ = ["ForkSpawner", "PlainSpawner", "ProcessHandle", "Spawner", "default_spawner"]

ProcessHandle = asyncio.subprocess.Process | ForkedProcess
"""A started runner: ``pid``, ``returncode``, ``wait()``, ``send_signal()``, ``kill()`` and
the ``stdin``/``stdout``/``stderr`` streams."""


class Spawner(Protocol):
    """Starts runner processes (see the module docstring)."""

    async def start(
        self, argv: Sequence[str], *, cwd: Path, limit: int, preload: Sequence[str] = ()
    ) -> ProcessHandle:
        """Start ``argv`` in ``cwd`` with piped standard streams; ``limit`` bounds one line of
        its stdout (the hello), ``preload`` names its handler modules (a hint). Raises
        OSError when the command cannot be started."""
        ...

    async def retire(self) -> None:
        """Environments are about to change: nothing started from now on may reuse what was
        prepared from the old ones."""
        ...

    async def aclose(self) -> None:
        """Release everything (processes started are the runners' own to stop)."""
        ...


class PlainSpawner:
    """``exec`` of the argv in a new session (see the module docstring)."""

    async def start(
        self, argv: Sequence[str], *, cwd: Path, limit: int, preload: Sequence[str] = ()
    ) -> ProcessHandle:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            limit=limit,
            start_new_session=sys.platform != "win32",  # the WM's Ctrl-C is its own
        )

    async def retire(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class ForkSpawner:
    """Forks Python runners from fork servers when it can, else spawns plainly."""

    def __init__(self, servers: ForkServers, fallback: PlainSpawner | None = None) -> None:
        self.servers = servers
        self._fallback = fallback or PlainSpawner()

    async def start(
        self, argv: Sequence[str], *, cwd: Path, limit: int, preload: Sequence[str] = ()
    ) -> ProcessHandle:
        forked = await self.servers.spawn(argv, cwd, limit=limit, preload=preload)
        if forked is not None:
            return forked
        return await self._fallback.start(argv, cwd=cwd, limit=limit)

    async def retire(self) -> None:
        await self.servers.retire()

    async def aclose(self) -> None:
        await self.servers.aclose()


def default_spawner(root: Path, early: EarlyServer | None = None) -> Spawner:
    """A :class:`ForkSpawner` where fork servers work (Linux, not turned off with
    ``CORRAL_FORK_SERVER=0``), else a :class:`PlainSpawner`. ``early``: a fork server the
    command started before the WM existed (:func:`corral.forkhint.prestart`)."""
    if fork_server_enabled():
        return ForkSpawner(ForkServers(root=root, early=early))
    if early is not None:
        early.close()
    return PlainSpawner()
