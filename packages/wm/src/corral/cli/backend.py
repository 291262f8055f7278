"""Where a command's Workspace Manager is: the workspace's server, or embedded for the command.

Both backends answer the same client-protocol requests with the same result types, so the
commands and their output do not depend on the choice (:mod:`corral.cli.app` makes it):

* :func:`served`: a session with the workspace's WM server (started when none runs, with
  one line saying so): runners stay warm between commands.
* :func:`embedded`: a Workspace Manager in this process for this command only; its runners
  stop when the command ends (``--no-server``, ``CORRAL_SERVER=0``, and by default on CI).

Only :func:`embedded` imports the Workspace Manager (lazily): the server path's start-up
is on every command.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

from corral_protocol.client import (
    PrepareOutcome,
    PrepareProgress,
    PrepareRequest,
    ReloadResult,
    RestartOutcome,
    RestartRequest,
    RunReport,
    RunRequest,
    ServerStatus,
    StatusResult,
)
from corral_protocol.messages import ClientInfo

from ..forkhint import EarlyServer
from ..sinks import RunSinks

__all__ = ["Backend", "embedded", "served", "session_backend"]


class Backend(Protocol):
    """What commands ask of a Workspace Manager (the client protocol's methods)."""

    async def run(self, request: RunRequest, sinks: RunSinks) -> RunReport: ...

    async def status(self) -> StatusResult: ...

    async def prepare(
        self, request: PrepareRequest, progress: Callable[[PrepareProgress], None]
    ) -> PrepareOutcome: ...

    async def restart(self, request: RestartRequest) -> RestartOutcome: ...

    async def reload(self) -> ReloadResult: ...


class _Embedded:
    def __init__(self, service: Any) -> None:
        self.service = service

    async def run(self, request: RunRequest, sinks: RunSinks) -> RunReport:
        report: RunReport = await self.service.run(request, sinks)
        return report

    async def status(self) -> StatusResult:
        status: StatusResult = await self.service.status(None)
        return status

    async def prepare(
        self, request: PrepareRequest, progress: Callable[[PrepareProgress], None]
    ) -> PrepareOutcome:
        outcome: PrepareOutcome = await self.service.prepare(request, progress)
        return outcome

    async def restart(self, request: RestartRequest) -> RestartOutcome:
        outcome: RestartOutcome = await self.service.restart(request)
        return outcome

    async def reload(self) -> ReloadResult:
        result: ReloadResult = await self.service.reload()
        return result


@contextlib.asynccontextmanager
async def embedded(
    root: Path, *, jobs: int | None = None, fork_server: EarlyServer | None = None
) -> AsyncIterator[Backend]:
    """A Workspace Manager in this process for the ``with`` body."""
    from ..execute import Limits  # noqa: PLC0415  (the WM only when it runs here)
    from ..service import WorkspaceService  # noqa: PLC0415
    from ..workspace import WorkspaceManager  # noqa: PLC0415

    limits = None if jobs is None else Limits(jobs=jobs)
    async with await WorkspaceManager.open(root, limits=limits, fork_server=fork_server) as wm:
        yield _Embedded(WorkspaceService(wm))


class _Served:
    def __init__(self, session: Any) -> None:
        self.session = session

    async def run(self, request: RunRequest, sinks: RunSinks) -> RunReport:
        report: RunReport = await self.session.run(request, sinks)
        return report

    async def status(self) -> StatusResult:
        status: StatusResult = await self.session.status()
        return status

    async def prepare(
        self, request: PrepareRequest, progress: Callable[[PrepareProgress], None]
    ) -> PrepareOutcome:
        outcome: PrepareOutcome = await self.session.prepare(request, progress)
        return outcome

    async def restart(self, request: RestartRequest) -> RestartOutcome:
        outcome: RestartOutcome = await self.session.restart(request)
        return outcome

    async def reload(self) -> ReloadResult:
        result: ReloadResult = await self.session.reload()
        return result


def session_backend(session: Any) -> Backend:
    """A :class:`~corral.client.ServerSession` as a :class:`Backend` (its caller owns it)."""
    return _Served(session)


def _notice(text: str) -> None:
    sys.stderr.write(f"corral: {text}\n")


@contextlib.asynccontextmanager
async def served(root: Path, *, version: str) -> AsyncIterator[Backend]:
    """A session with ``root``'s server for the ``with`` body (started when none runs)."""
    from ..client.connect import connect  # noqa: PLC0415

    session = await connect(
        root, client=ClientInfo(name="corral-cli", version=version), notice=_notice
    )
    try:
        yield _Served(session)
    finally:
        await session.aclose()


def server_lines(server: ServerStatus | None) -> list[str]:
    """``corral status``'s lines about the server (none when embedded)."""
    if server is None:
        return []
    lines = [
        f"server: pid {server.pid}, up {server.uptime:.0f} s, version {server.version}, "
        f"{server.endpoint}, stops after {server.idle_timeout:.0f} s idle",
    ]
    for client in server.clients:
        lines.append(
            f"client: {client.name} {client.version}, connected {client.connected:.0f} s, "
            f"{client.runs} run{'s' if client.runs != 1 else ''}"
        )
    return lines
