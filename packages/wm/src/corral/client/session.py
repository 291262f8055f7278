"""A front end's session with a workspace's WM server (SPEC.md Part II).

:class:`ServerSession` is one connection, initialized, with one coroutine per method of the
client protocol. Notifications are routed to the caller that asked: a run's progress and
output to that run's :class:`~corral.sinks.RunSinks`, env preparation progress to the
caller preparing (or running), runner state changes to subscribers. Cancelling a call (the
task awaiting :meth:`run`, say) sends ``$/cancelRequest``: the server cancels the run.

Errors the server answers become :class:`ServerError` (a
:class:`~corral.errors.CorralError` whose ``user_fault`` says whether the request or a
configuration is at fault) or :class:`~corral.errors.RunCancelledError`.

Imports nothing of the Workspace Manager: this is on every command's path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
from corral_protocol import Connection, ConnectionClosedError, ErrorCode, Router, RpcError
from corral_protocol.client import (
    CLIENT_SUPPORTED_VERSIONS,
    PrepareOutcome,
    PrepareProgress,
    PrepareRequest,
    ReloadResult,
    RestartOutcome,
    RestartRequest,
    RunnerStateParams,
    RunOutputParams,
    RunProgressParams,
    RunReport,
    RunRequest,
    ServerInfo,
    SessionParams,
    SessionResult,
    StatusResult,
    StopRequest,
)
from corral_protocol.connection import connect_unix
from corral_protocol.messages import ClientInfo

from ..errors import USER_FAULT_CODES, CorralError, RunCancelledError
from ..runids import new_run_id
from ..sinks import RunSinks

__all__ = ["ServerError", "ServerGoneError", "ServerSession"]

T = TypeVar("T")

OPEN_TIMEOUT: Final = 10.0
"""Seconds to connect and get the answer to ``initialize``."""


class ServerError(CorralError):
    """The server refused or failed a request: its JSON-RPC ``code``, message and data."""

    def __init__(self, error: RpcError) -> None:
        super().__init__(error.message)
        self.code = error.code
        self.data = error.data
        self.user_fault = error.code in USER_FAULT_CODES


class ServerGoneError(CorralError):
    """The connection to the server closed before the answer came."""


class ServerSession:
    """See the module docstring. Create with :meth:`open`; close with :meth:`aclose`."""

    def __init__(self, conn: Connection, server: ServerInfo) -> None:
        self.conn = conn
        self.server = server
        self._runs: dict[str, RunSinks] = {}
        self._prepare: list[Callable[[PrepareProgress], None]] = []
        self._states: list[Callable[[RunnerStateParams], None]] = []

    @classmethod
    async def open(cls, socket: Path, client: ClientInfo) -> ServerSession:
        """Connect to the server at ``socket`` and initialize (within
        :data:`OPEN_TIMEOUT`); raises OSError (nothing listens), TimeoutError, or
        :class:`ServerError` (the server refused)."""
        router = Router()
        async with asyncio.timeout(OPEN_TIMEOUT):
            conn = await connect_unix(str(socket), router, name="server")
            try:
                answer = await conn.request(
                    "initialize",
                    SessionParams(protocol=list(CLIENT_SUPPORTED_VERSIONS), client=client),
                    result_type=SessionResult,
                )
            except RpcError as exc:
                conn.close()
                raise ServerError(exc) from None
            except BaseException:
                conn.close()
                raise
        session = cls(conn, answer.server)
        router.add_notification("run/progress", session._on_progress, RunProgressParams)
        router.add_notification("run/output", session._on_output, RunOutputParams)
        router.add_notification("envs/progress", session._on_prepare, PrepareProgress)
        router.add_notification("runner/state", session._on_state, RunnerStateParams)
        return session

    async def aclose(self) -> None:
        """Close the connection (the server cancels whatever this session still runs)."""
        await self.conn.aclose(grace=1.0)

    async def _call(self, method: str, params: Any, result_type: type[T]) -> T:
        try:
            return await self.conn.request(method, params, result_type=result_type)
        except RpcError as exc:
            if exc.code == ErrorCode.REQUEST_CANCELLED:
                raise RunCancelledError(str(getattr(params, "run_id", "?"))) from None
            raise ServerError(exc) from None
        except ConnectionClosedError as exc:
            raise ServerGoneError(f"the Corral server went away: {exc.reason}") from None

    # --- notifications ---------------------------------------------------------------------

    def _on_progress(self, params: RunProgressParams) -> None:
        sinks = self._runs.get(params.run_id)
        if sinks is not None and sinks.progress is not None:
            sinks.progress(params)

    def _on_output(self, params: RunOutputParams) -> None:
        sinks = self._runs.get(params.run_id)
        if sinks is not None and sinks.output is not None:
            sinks.output(params)

    def _on_prepare(self, params: PrepareProgress) -> None:
        for listener in list(self._prepare):
            listener(params)

    def _on_state(self, params: RunnerStateParams) -> None:
        for listener in list(self._states):
            listener(params)

    # --- methods ---------------------------------------------------------------------------

    async def run(self, request: RunRequest, sinks: RunSinks | None = None) -> RunReport:
        """``workspace/run``: the report, as ``corral run --format json`` prints it."""
        sinks = sinks or RunSinks()
        if not isinstance(request.run_id, str):
            request = msgspec.structs.replace(request, run_id=new_run_id())
        run_id = str(request.run_id)
        self._runs[run_id] = sinks
        if sinks.prepare is not None:
            self._prepare.append(sinks.prepare)
        try:
            return await self._call("workspace/run", request, RunReport)  # type: ignore[arg-type]
        finally:
            self._runs.pop(run_id, None)
            if sinks.prepare is not None:
                self._prepare.remove(sinks.prepare)

    async def status(self) -> StatusResult:
        """``workspace/status``."""
        return await self._call("workspace/status", msgspec.UNSET, StatusResult)

    async def reload(self) -> ReloadResult:
        """``workspace/reload``."""
        return await self._call("workspace/reload", msgspec.UNSET, ReloadResult)

    async def prepare(
        self,
        request: PrepareRequest,
        progress: Callable[[PrepareProgress], None] | None = None,
    ) -> PrepareOutcome:
        """``envs/prepare``, with ``envs/progress`` to ``progress``."""
        if progress is not None:
            self._prepare.append(progress)
        try:
            return await self._call("envs/prepare", request, PrepareOutcome)
        finally:
            if progress is not None:
                self._prepare.remove(progress)

    async def restart(self, request: RestartRequest) -> RestartOutcome:
        """``runners/restart``."""
        return await self._call("runners/restart", request, RestartOutcome)

    async def subscribe(self, listener: Callable[[RunnerStateParams], None]) -> None:
        """``runners/subscribe``: ``listener`` gets every runner state change from now on."""
        self._states.append(listener)
        await self._call("runners/subscribe", msgspec.UNSET, type(None))

    async def stop(self, *, when_idle: bool = False) -> None:
        """``server/stop``: the server stops (now, or once no run is in flight)."""
        await self._call("server/stop", StopRequest(when_idle=when_idle), type(None))
