"""The asyncio layer over :class:`~corral_protocol.jsonrpc.RpcProtocol`.

A :class:`Connection` serves incoming requests concurrently (one task each), sends requests
and awaits their replies, cancels a request's task on ``$/cancelRequest`` and answers it
-32800, and closes cleanly on EOF. It is built on :class:`asyncio.Protocol` callbacks, not on
streams, so received bytes go straight into the sans-I/O core without an extra copy or await.

Both the WM and the Python runner use it; nothing else in the project parses frames.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Callable, Collection
from typing import Any, Final, TypeVar, cast, overload

import msgspec
from msgspec import UNSET

from .dispatch import Router
from .errors import ConnectionClosedError, ErrorCode, RpcError
from .framing import DEFAULT_MAX_MESSAGE_SIZE
from .jsonrpc import (
    ConnectionClosed,
    MessageRejected,
    NotificationReceived,
    RequestReceived,
    ResponseReceived,
    RpcProtocol,
)
from .messages import CancelParams, ProgressParams, ProgressToken, ProgressValue, RequestId

__all__ = [
    "Connection",
    "RequestContext",
    "connect",
    "connect_unix",
    "start_server",
    "start_unix_server",
]

T = TypeVar("T")

_log = logging.getLogger("corral_protocol.connection")
_CANCEL: Final = "$/cancelRequest"
_READ_PAUSE_AT: Final = 4096
"""Stop reading while this many incoming requests are unanswered (flood protection)."""
FORCED_CANCEL_REPLY: Final = 1.0
"""Seconds after ``$/cancelRequest`` before a request whose handler ignores cancellation is
answered -32800 anyway (SPEC.md §10.2)."""


class RequestContext:
    """What a request handler knows about its request, and how it reports progress."""

    __slots__ = ("connection", "id", "method")

    def __init__(self, connection: Connection, request_id: RequestId, method: str) -> None:
        self.connection = connection
        self.id = request_id
        self.method = method

    def progress(self, token: ProgressToken, value: ProgressValue) -> None:
        """Send ``$/progress`` now; it is guaranteed to reach the peer before the reply."""
        self.connection.notify("$/progress", ProgressParams(token=token, value=value))


class Connection:
    """One JSON-RPC connection over a stream transport.

    Contract:

    * Every incoming request is answered exactly once: with the handler's return value, with
      the :class:`RpcError` it raised, -32603 for any other exception, or -32800 when it was
      cancelled by ``$/cancelRequest``.
    * :meth:`request` raises :class:`RpcError` for an error reply and
      :class:`ConnectionClosedError` when the connection closes first.
    * When the connection closes, handler tasks still running are cancelled and pending
      :meth:`request` calls fail; :meth:`wait_closed` then returns the reason.
    * ``cancel_abandoned_requests``: whether abandoning a :meth:`request` (cancelling the
      awaiting task) sends ``$/cancelRequest``; runners turn it off (it is WM -> runner only).
    * ``max_write_buffer``: bytes written but not taken by the peer, past which the peer is
      taken to have stopped reading: the next write closes the connection instead (reason
      "stopped reading", not clean) and drops the unsent bytes, so a peer that never reads
      costs at most this much memory plus one write. One large reply never trips it (the
      backlog is measured before each write). None: no bound.
    """

    def __init__(
        self,
        router: Router | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        name: str = "peer",
        on_rejected: Callable[[MessageRejected], None] | None = None,
        cancel_abandoned_requests: bool = True,
        max_write_buffer: int | None = None,
    ) -> None:
        self.router = router if router is not None else Router()
        self.max_write_buffer = max_write_buffer
        self.name = name
        self._cancel_abandoned = cancel_abandoned_requests
        self._rpc = RpcProtocol(max_message_size=max_message_size)
        self._on_rejected = on_rejected
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._waiters: dict[int, asyncio.Future[ResponseReceived]] = {}
        self._tasks: dict[RequestId, asyncio.Task[None]] = {}
        self._methods: dict[RequestId, str] = {}
        self._cancel_reasons: dict[RequestId, str] = {}
        self._closed: asyncio.Future[ConnectionClosed] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._can_write: asyncio.Event = asyncio.Event()
        self._can_write.set()
        self._reading_paused = False
        self._write_scheduled = False

    # --- properties --------------------------------------------------------------------

    @property
    def protocol(self) -> RpcProtocol:
        """The sans-I/O core (for limits such as ``peer_max_message_size``)."""
        return self._rpc

    @property
    def is_closed(self) -> bool:
        """True once the connection closed, for whatever reason."""
        return self._closed.done()

    @property
    def in_flight(self) -> int:
        """Number of incoming requests being served."""
        return len(self._tasks)

    def extra_info(self, name: str) -> Any:
        """The transport's ``get_extra_info(name)`` (e.g. ``"socket"``), None if unknown."""
        return None if self._transport is None else self._transport.get_extra_info(name)

    def peer_address(self) -> tuple[str, int] | None:
        """The peer's ``(host, port)``, if the transport knows it."""
        if self._transport is None:
            return None
        peer = self._transport.get_extra_info("peername")
        return None if peer is None else (str(peer[0]), int(peer[1]))

    # --- transport callbacks (called by _StreamAdapter) --------------------------------

    def _attach(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def _data_received(self, data: bytes) -> None:
        for event in self._rpc.receive_data(data):
            if self.is_closed:
                break  # e.g. an inline handler closed the connection: ignore the rest
            self._handle(event)
        self._flush()

    def _eof_received(self) -> None:
        for event in self._rpc.receive_eof():
            self._handle(event)
        self._flush()

    def _connection_lost(self, exc: Exception | None) -> None:
        reason = "connection lost" if exc is None else f"connection lost: {exc}"
        self._finish(ConnectionClosed(reason, clean=exc is None))
        if not self._lost.done():
            self._lost.set_result(None)

    def _pause_writing(self) -> None:
        self._can_write.clear()

    def _resume_writing(self) -> None:
        self._can_write.set()

    # --- event handling ----------------------------------------------------------------

    def _handle(self, event: Any) -> None:
        kind = type(event)
        if kind is RequestReceived:
            self._start_request(event)
        elif kind is ResponseReceived:
            waiter = self._waiters.pop(event.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event)
        elif kind is NotificationReceived:
            self._notification(event)
        elif kind is MessageRejected:
            _log.debug("%s: %s", self.name, event.reason)
            if self._on_rejected is not None:
                self._on_rejected(event)
        elif kind is ConnectionClosed:
            self._write_now()
            if self._transport is not None:
                self._transport.close()
            self._finish(event)

    def _start_request(self, event: RequestReceived) -> None:
        try:
            resolved = self.router.resolve_request(event)
        except RpcError as exc:
            self._rpc.send_error(event.id, exc.code, exc.message, _or_unset(exc.data))
            return
        ctx = RequestContext(self, event.id, event.method)
        if resolved.inline:
            self._serve_inline(resolved.handler, resolved.params, ctx)
            return
        task = self._loop.create_task(self._serve(resolved.handler, resolved.params, ctx))
        self._tasks[event.id] = task
        self._methods[event.id] = event.method
        task.add_done_callback(functools.partial(self._request_done, event.id))
        if len(self._tasks) >= _READ_PAUSE_AT and not self._reading_paused:
            self._reading_paused = True
            if self._transport is not None:
                self._transport.pause_reading()

    def _serve_inline(self, handler: Any, params: Any, ctx: RequestContext) -> None:
        """Run an inline handler now; if it closed the connection, answer nothing."""
        try:
            result = handler(params, ctx)
        except RpcError as exc:
            self._answer_error(ctx.id, exc.code, exc.message, _or_unset(exc.data))
        except Exception as exc:
            self._internal_error(ctx, exc)
        else:
            if not self.is_closed:
                self._answer(ctx, result)

    async def _serve(self, handler: Any, params: Any, ctx: RequestContext) -> None:
        """Run one request's handler and answer it (cancellation: see _request_done)."""
        try:
            result = await handler(params, ctx)
        except RpcError as exc:
            self._answer_error(ctx.id, exc.code, exc.message, _or_unset(exc.data))
        except Exception as exc:
            self._internal_error(ctx, exc)
        else:
            self._answer(ctx, result)
        self._flush()
        if not self._can_write.is_set() and not self.is_closed:
            await self._can_write.wait()

    def _answer(self, ctx: RequestContext, result: Any) -> None:
        """Send ``result``, unless the request was already answered (a forced -32800)."""
        if ctx.id not in self._rpc.pending_incoming:
            return
        try:
            self._rpc.send_result(ctx.id, result)
        except Exception as exc:  # not encodable as JSON: still exactly one reply
            self._internal_error(ctx, exc)

    def _answer_error(self, request_id: RequestId, code: int, message: str, data: Any) -> None:
        if request_id in self._rpc.pending_incoming:
            self._rpc.send_error(request_id, code, message, data)

    def _internal_error(self, ctx: RequestContext, exc: BaseException) -> None:
        _log.error("%s: handler of %s failed", self.name, ctx.method, exc_info=exc)
        self._answer_error(
            ctx.id,
            ErrorCode.INTERNAL_ERROR,
            f"internal error in {ctx.method}: {type(exc).__name__}: {exc}",
            UNSET,
        )

    def _request_done(self, request_id: RequestId, task: asyncio.Task[None]) -> None:
        """Answer -32800 for a cancelled request, whenever it was cancelled.

        A task cancelled before its first step never runs ``_serve`` at all, so the
        cancellation reply is sent here rather than in an ``except`` clause there.
        """
        self._tasks.pop(request_id, None)
        self._methods.pop(request_id, None)
        reason = self._cancel_reasons.pop(request_id, "cancel-request")
        if task.cancelled():
            self._answer_cancelled(request_id, reason)
        if self._reading_paused and len(self._tasks) < _READ_PAUSE_AT // 2:
            self._reading_paused = False
            if self._transport is not None and not self.is_closed:
                self._transport.resume_reading()

    def _notification(self, event: NotificationReceived) -> None:
        if event.method == _CANCEL:
            self._cancel(event)
            return
        resolved = self.router.resolve_notification(event)
        if resolved is None:
            _log.debug("%s: notification %s ignored", self.name, event.method)
            return
        try:
            resolved.handler(resolved.params)
        except Exception:
            _log.exception("%s: notification handler of %s failed", self.name, event.method)

    def _cancel(self, event: NotificationReceived) -> None:
        if self.router.gate is not None and self.router.gate(_CANCEL) is not None:
            return
        try:
            params = msgspec.json.decode(bytes(event.params) or b"{}", type=CancelParams)
        except msgspec.ValidationError:
            _log.debug("%s: malformed $/cancelRequest ignored", self.name)
            return
        task = self._tasks.get(params.id)
        if task is not None:
            task.cancel()
            self._loop.call_later(FORCED_CANCEL_REPLY, self._force_cancel_reply, params.id, task)

    def _force_cancel_reply(self, request_id: RequestId, task: asyncio.Task[None]) -> None:
        """Handler code that ignores cancellation is abandoned: answer -32800 anyway."""
        if task.done() or request_id not in self._rpc.pending_incoming:
            return
        _log.warning("%s: %r ignored cancellation; answering -32800", self.name, request_id)
        self._answer_cancelled(request_id, self._cancel_reasons.get(request_id, "cancel-request"))

    def _answer_cancelled(self, request_id: RequestId, reason: str) -> None:
        """The single -32800 reply of a cancelled request (if it is still owed one)."""
        if self.is_closed or request_id not in self._rpc.pending_incoming:
            return
        self._rpc.send_error(
            request_id, ErrorCode.REQUEST_CANCELLED, "request cancelled", {"reason": reason}
        )
        self._flush()

    def _finish(self, event: ConnectionClosed) -> None:
        if self._closed.done():
            return
        self._closed.set_result(event)
        error = ConnectionClosedError(f"connection to {self.name} closed: {event.reason}")
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()
        for task in list(self._tasks.values()):
            task.cancel()
        self._can_write.set()

    def _flush(self) -> None:
        """Write what the core queued, soon: every message produced during one turn of the
        event loop leaves in a single write (one syscall for many pipelined replies)."""
        if not self._write_scheduled:
            self._write_scheduled = True
            self._loop.call_soon(self._write_now)

    def _write_now(self) -> None:
        self._write_scheduled = False
        data = self._rpc.data_to_send()
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            limit = self.max_write_buffer
            if limit is not None and transport.get_write_buffer_size() > limit:
                self._stopped_reading(transport, limit)  # what it has not taken is enough
                return
            transport.write(data)

    def _stopped_reading(self, transport: asyncio.Transport, limit: int) -> None:
        unsent = transport.get_write_buffer_size()
        reason = f"stopped reading: {unsent} bytes unsent, over the limit of {limit}"
        self._finish(ConnectionClosed(reason, clean=False))
        transport.abort()  # drops the unsent bytes now (close() would keep them)

    # --- public API ----------------------------------------------------------------------

    @overload
    async def request(self, method: str, params: Any = ..., *, result_type: type[T]) -> T: ...

    @overload
    async def request(self, method: str, params: Any = ...) -> Any: ...

    async def request(self, method: str, params: Any = UNSET, *, result_type: Any = Any) -> Any:
        """Send a request and return its result decoded as ``result_type``.

        Raises :class:`RpcError` when the peer answers with an error (or the result does not
        decode as ``result_type``: -32603 naming the method) and
        :class:`ConnectionClosedError` when the connection closes first. Cancelling the
        awaiting task (e.g. with :func:`asyncio.timeout`) cancels the request at the peer
        with ``$/cancelRequest``; its late reply is dropped.
        """
        if self.is_closed:
            raise ConnectionClosedError(f"connection to {self.name} is closed")
        request_id = self._rpc.send_request(method, params)
        waiter: asyncio.Future[ResponseReceived] = self._loop.create_future()
        self._waiters[request_id] = waiter
        self._flush()
        try:
            response = await waiter
        except asyncio.CancelledError:
            self._waiters.pop(request_id, None)
            self._rpc.forget_request(request_id)
            if self._cancel_abandoned and not self.is_closed:
                self.notify(_CANCEL, CancelParams(id=request_id))
            raise
        if response.error is not None:
            error = response.error
            raise RpcError(error.code, error.message, None if error.data is UNSET else error.data)
        assert response.result is not None  # noqa: S101  (guaranteed by RpcProtocol)
        try:
            return msgspec.json.decode(response.result, type=result_type)
        except msgspec.ValidationError as exc:
            raise RpcError(
                ErrorCode.INTERNAL_ERROR, f"malformed result of {method} from {self.name}: {exc}"
            ) from None

    def notify(self, method: str, params: Any = UNSET) -> None:
        """Send a notification now (buffered by the transport; never blocks)."""
        if self.is_closed:
            raise ConnectionClosedError(f"connection to {self.name} is closed")
        self._rpc.send_notification(method, params)
        self._flush()

    def cancel_requests(
        self, *, methods: Collection[str] | None = None, reason: str = "cancel-request"
    ) -> list[asyncio.Task[None]]:
        """Cancel the incoming requests being served (only ``methods``, if given).

        Each cancelled request is answered -32800 exactly once as its task ends, with
        ``data: {"reason": reason}``. Returns the cancelled tasks.
        """
        cancelled = []
        for request_id, task in list(self._tasks.items()):
            if methods is not None and self._methods.get(request_id) not in methods:
                continue
            self._cancel_reasons.setdefault(request_id, reason)
            task.cancel()
            cancelled.append(task)
        return cancelled

    def requests_in_flight(self, *, exclude: RequestId | None = None) -> list[asyncio.Task[None]]:
        """Tasks of the incoming requests being served, except ``exclude``."""
        return [task for request_id, task in self._tasks.items() if request_id != exclude]

    @property
    def write_buffer_size(self) -> int:
        """Bytes written but not yet accepted by the OS (0 when closed)."""
        if self._transport is None or self._transport.is_closing():
            return 0
        return self._transport.get_write_buffer_size()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        await self._can_write.wait()

    def close(self) -> None:
        """Close the connection; pending requests fail, running handlers are cancelled."""
        if self._transport is not None:
            self._write_now()
            self._transport.close()
        self._finish(ConnectionClosed("closed locally", clean=True))

    async def aclose(self, *, grace: float = 5.0) -> None:
        """Close, then wait (at most ``grace`` s) until queued bytes reached the OS."""
        self.close()
        if self._transport is None:
            return
        try:
            async with asyncio.timeout(grace):
                await asyncio.shield(self._lost)
        except TimeoutError:
            self._transport.abort()

    async def wait_closed(self) -> ConnectionClosed:
        """Wait until the connection is closed; return why."""
        return await asyncio.shield(self._closed)


def _or_unset(data: Any) -> Any:
    return UNSET if data is None else data


class _StreamAdapter(asyncio.Protocol):
    """Forwards transport callbacks to a :class:`Connection`."""

    def __init__(
        self, connection: Connection, on_made: Callable[[Connection], None] | None = None
    ) -> None:
        self._connection = connection
        self._on_made = on_made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _set_nodelay(transport)
        self._connection._attach(cast(asyncio.Transport, transport))
        if self._on_made is not None:
            self._on_made(self._connection)

    def data_received(self, data: bytes) -> None:
        self._connection._data_received(data)

    def eof_received(self) -> bool | None:
        self._connection._eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection._connection_lost(exc)

    def pause_writing(self) -> None:
        self._connection._pause_writing()

    def resume_writing(self) -> None:
        self._connection._resume_writing()


async def connect(
    host: str,
    port: int,
    router: Router | None = None,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    name: str = "peer",
) -> Connection:
    """Open a TCP connection to ``host:port`` and return it, ready to use."""
    connection = Connection(router, max_message_size=max_message_size, name=name)
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: _StreamAdapter(connection), host, port)
    return connection


async def start_server(
    on_connection: Callable[[Connection], None],
    host: str,
    port: int = 0,
    *,
    router_factory: Callable[[], Router] = Router,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    name: str = "peer",
    sock: Any = None,
    cancel_abandoned_requests: bool = True,
    max_write_buffer: int | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (or an already bound ``sock``); call ``on_connection`` for each.

    Each accepted connection gets its own router from ``router_factory``; ``on_connection``
    runs as soon as the transport is attached, before any data is received;
    ``max_write_buffer`` bounds what each connection buffers for its peer
    (:class:`Connection`).
    """
    loop = asyncio.get_running_loop()

    def factory() -> _StreamAdapter:
        connection = Connection(
            router_factory(),
            max_message_size=max_message_size,
            name=name,
            cancel_abandoned_requests=cancel_abandoned_requests,
            max_write_buffer=max_write_buffer,
        )
        return _StreamAdapter(connection, on_connection)

    if sock is not None:
        return await loop.create_server(factory, sock=sock)
    return await loop.create_server(factory, host, port)


async def connect_unix(
    path: str,
    router: Router | None = None,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    name: str = "peer",
    on_rejected: Callable[[MessageRejected], None] | None = None,
) -> Connection:
    """Open a Unix domain socket connection to ``path`` and return it, ready to use.
    ``on_rejected`` sees every message the protocol dropped (e.g. a second answer)."""
    connection = Connection(
        router, max_message_size=max_message_size, name=name, on_rejected=on_rejected
    )
    loop = asyncio.get_running_loop()
    await loop.create_unix_connection(lambda: _StreamAdapter(connection), path)
    return connection


async def start_unix_server(
    on_connection: Callable[[Connection], None],
    path: str,
    *,
    router_factory: Callable[[], Router] = Router,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    name: str = "peer",
    max_write_buffer: int | None = None,
) -> asyncio.Server:
    """Listen on the Unix domain socket ``path`` (see :func:`start_server`). The caller
    owns the path: its directory's permissions, removing a stale socket, unlinking at the
    end."""
    loop = asyncio.get_running_loop()

    def factory() -> _StreamAdapter:
        connection = Connection(
            router_factory(),
            max_message_size=max_message_size,
            name=name,
            max_write_buffer=max_write_buffer,
        )
        return _StreamAdapter(connection, on_connection)

    return await loop.create_unix_server(factory, path)


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Disable Nagle: every message is one write, and latency matters more than packets."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
