"""One client of the WM server: its connection, its session, its runs (SPEC.md Part II).

A :class:`Session` serves one connection: ``initialize`` first (-32002 before it, -32003
twice, -32005 for a protocol it cannot speak), then the workspace methods through the
shared :class:`~corral.service.WorkspaceService`. Domain errors become JSON-RPC errors here.

* A request's handler runs as its own task; a ``workspace/run`` cancelled by
  ``$/cancelRequest``, or by the client going away, cancels the run in the WM (its runners
  get ``$/cancelRequest`` in turn); the runners and other clients carry on.
* A client that stops reading does not stall anyone: notifications are dropped for it, and
  once more than :data:`MAX_QUEUED_BYTES` wait unsent, it is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from corral_protocol import Connection, ErrorCode, RequestContext, RpcError
from corral_protocol.client import (
    CLIENT_SUPPORTED_VERSIONS,
    ClientSummary,
    PrepareProgress,
    PrepareRequest,
    RestartRequest,
    RunRequest,
    ServerInfo,
    ServerStatus,
    SessionParams,
    SessionResult,
    StopRequest,
)
from corral_protocol.errordata import UnsupportedProtocolVersionData
from corral_protocol.messages import PingParams, PingResult
from corral_protocol.versions import negotiate

from ..errors import CorralError
from ..rpcerrors import to_rpc_error
from ..service import RunSinks, WorkspaceService

__all__ = ["MAX_QUEUED_BYTES", "Session", "SessionHost"]

INITIALIZE_DEADLINE: Final = 10.0
"""Seconds a connection has to send a successful ``initialize`` before it is closed."""
WORK_METHODS: Final = frozenset(
    {"workspace/run", "workspace/reload", "envs/prepare", "runners/restart"}
)
"""Requests that start work: refused -32004 while the server is stopping (SPEC.md §17.6)."""
MAX_QUEUED_BYTES: Final = 8 * 1024 * 1024
"""A client with more than this many bytes waiting unsent is disconnected (SPEC.md §17.4):
the bound of its connection (:class:`corral_protocol.Connection` ``max_write_buffer``),
which also drops what was queued."""
NOTIFY_DROP_AT: Final = 1024 * 1024
"""Above this many unsent bytes, notifications to the client are dropped (replies are not)."""

_log = logging.getLogger("corral.server")


class SessionHost(Protocol):
    """What a session needs from its server."""

    service: WorkspaceService
    info: ServerInfo

    def check_token(self, token: str | None) -> bool: ...

    async def stop(self, *, when_idle: bool) -> None: ...

    def activity(self) -> None: ...

    def server_status(self) -> ServerStatus: ...

    @property
    def stopping(self) -> bool: ...


class Session:
    """See the module docstring."""

    def __init__(self, host: SessionHost, conn: Connection, *, needs_token: bool) -> None:
        self.host = host
        self.conn = conn
        self.needs_token = needs_token
        self.client: tuple[str, str] | None = None
        self.connected = time.monotonic()
        self.runs = 0
        self._unsubscribe: Callable[[], None] | None = None
        router = conn.router
        router.gate = self._gate
        requests: dict[str, tuple[Callable[..., Awaitable[Any]], type | None]] = {
            "workspace/run": (self._run, RunRequest),
            "workspace/status": (self._status, None),
            "workspace/reload": (self._reload, None),
            "envs/prepare": (self._prepare, PrepareRequest),
            "runners/restart": (self._restart, RestartRequest),
            "runners/subscribe": (self._subscribe, None),
            "server/stop": (self._stop, StopRequest),
        }
        router.add_request("initialize", self._initialize, SessionParams, inline=True)
        router.add_request("$/ping", self._ping, PingParams, inline=True)
        for method, (handler, params) in requests.items():
            router.add_request(method, self._guarded(handler), params)
        self._deadline = asyncio.get_running_loop().call_later(
            INITIALIZE_DEADLINE, self._initialize_expired
        )

    def _initialize_expired(self) -> None:
        if self.client is None:
            _log.info(
                "a connection that did not initialize within %g s was closed", INITIALIZE_DEADLINE
            )
            self.conn.close()

    # --- lifecycle ---------------------------------------------------------------------

    def _gate(self, method: str) -> RpcError | None:
        if self.client is None and method not in ("initialize", "$/ping"):
            return RpcError(ErrorCode.SERVER_NOT_INITIALIZED, "initialize first")
        if self.host.stopping and method in WORK_METHODS:
            return RpcError(ErrorCode.SHUTTING_DOWN, "the server is stopping")
        return None

    def _initialize(self, params: SessionParams, ctx: RequestContext) -> SessionResult:
        if self.client is not None:
            raise RpcError(ErrorCode.ALREADY_INITIALIZED, "initialize was already answered")
        token = params.token if isinstance(params.token, str) else None
        if self.needs_token and not self.host.check_token(token):
            _log.warning("a client without the right token was disconnected")
            self.conn.close()
            raise RpcError(ErrorCode.INVALID_PARAMS, "wrong token")  # never sent: closed
        if self.host.stopping:
            raise RpcError(ErrorCode.SHUTTING_DOWN, "the server is stopping")
        version = negotiate(CLIENT_SUPPORTED_VERSIONS, params.protocol)
        if version is None:
            raise RpcError(
                ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
                f"the server speaks client protocol {list(CLIENT_SUPPORTED_VERSIONS)}",
                UnsupportedProtocolVersionData(supported=list(CLIENT_SUPPORTED_VERSIONS)),
            )
        self.client = (params.client.name, params.client.version)
        self._deadline.cancel()
        _log.info("client %s %s connected", *self.client)
        return SessionResult(protocol_version=str(version), server=self.host.info)

    def _ping(self, params: PingParams, ctx: RequestContext) -> PingResult:
        return PingResult()

    def summary(self) -> ClientSummary:
        name, version = self.client or ("?", "?")
        return ClientSummary(
            name=name,
            version=version,
            connected=time.monotonic() - self.connected,
            runs=self.runs,
        )

    def _guarded(
        self, handler: Callable[[Any], Awaitable[Any]]
    ) -> Callable[[Any, RequestContext], Awaitable[Any]]:
        """Domain errors as JSON-RPC errors; activity noted for the idle timer."""

        async def serve(params: Any, ctx: RequestContext) -> Any:
            self.host.activity()
            try:
                return await handler(params)
            except CorralError as exc:
                raise to_rpc_error(exc) from None
            finally:
                self.host.activity()

        return serve

    # --- notifications, bounded ----------------------------------------------------------

    def notify(self, method: str, params: Any) -> None:
        """Send a notification unless the client is not reading (more than
        :data:`NOTIFY_DROP_AT` unsent): its connection's bound then cuts it off only if its
        replies pile up too."""
        if self.conn.is_closed or self.conn.write_buffer_size > NOTIFY_DROP_AT:
            return
        self.conn.notify(method, params)

    # --- methods ---------------------------------------------------------------------------

    async def _run(self, request: RunRequest) -> Any:
        sinks = RunSinks(
            progress=lambda params: self.notify("run/progress", params),
            output=lambda params: self.notify("run/output", params),
            prepare=lambda params: self.notify("envs/progress", params),
        )
        self.runs += 1
        try:
            return await self.host.service.run(request, sinks)
        finally:
            self.runs -= 1

    async def _status(self, params: None) -> Any:
        return await self.host.service.status(self.host.server_status())

    async def _reload(self, params: None) -> Any:
        return await self.host.service.reload()

    async def _prepare(self, request: PrepareRequest) -> Any:
        def progress(event: PrepareProgress) -> None:
            self.notify("envs/progress", event)

        return await self.host.service.prepare(request, progress)

    async def _restart(self, request: RestartRequest) -> Any:
        return await self.host.service.restart(request)

    async def _subscribe(self, params: None) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.host.service.watch_runners(
                lambda change: self.notify("runner/state", change)
            )

    async def _stop(self, request: StopRequest) -> None:
        await self.host.stop(when_idle=request.when_idle)

    def cancel_runs(self) -> list[asyncio.Task[None]]:
        """Cancel this session's runs, each answered -32800 with reason ``shutdown``."""
        return self.conn.cancel_requests(methods=("workspace/run",), reason="shutdown")

    def close(self) -> None:
        """Forget the session (the connection is closed or closing)."""
        self._deadline.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        asyncio.get_running_loop().call_soon(self.conn.close)
