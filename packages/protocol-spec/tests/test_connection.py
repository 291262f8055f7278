"""The asyncio connection over real TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from corral_protocol import (
    Connection,
    ConnectionClosedError,
    ErrorCode,
    Router,
    RpcError,
    WorkDoneBegin,
    WorkDoneEnd,
    connect,
    encode_frame,
    start_server,
)
from corral_protocol.framing import Frame, FrameDecoder

Handler = Callable[[Any, Any], Awaitable[Any]]


class Server:
    """A server whose every connection serves the given request handlers."""

    def __init__(self, handlers: dict[str, Handler], max_message_size: int) -> None:
        self.handlers = handlers
        self.connections: list[Connection] = []
        self.max_message_size = max_message_size
        self.peers: list[RawPeer] = []
        self.port = 0

    async def raw(self) -> RawPeer:
        """A raw peer connected to this server, closed when the server stops."""
        peer = RawPeer(*await asyncio.open_connection("127.0.0.1", self.port))
        self.peers.append(peer)
        return peer

    def router(self) -> Router:
        r = Router()
        for name, handler in self.handlers.items():
            r.add_request(name, handler, dict)
        return r


@asynccontextmanager
async def serving(
    handlers: dict[str, Handler],
    max_message_size: int = 64 * 1024 * 1024,
    max_write_buffer: int | None = None,
) -> AsyncIterator[tuple[Server, int]]:
    server = Server(handlers, max_message_size)
    listener = await start_server(
        server.connections.append,
        "127.0.0.1",
        router_factory=server.router,
        max_message_size=max_message_size,
        max_write_buffer=max_write_buffer,
    )
    server.port = port = listener.sockets[0].getsockname()[1]
    try:
        yield server, port
    finally:
        listener.close()
        for connection in server.connections:
            connection.close()
        for peer in server.peers:
            peer.writer.close()
            await peer.writer.wait_closed()


class RawPeer:
    """A peer that speaks bytes, to check exactly what a connection sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()
        self.pending: list[dict[str, Any]] = []

    def send(self, obj: Any) -> None:
        self.writer.write(encode_frame(msgspec.json.encode(obj)))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while not self.pending:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError
                for event in self.decoder.feed(data):
                    assert isinstance(event, Frame)
                    self.pending.append(msgspec.json.decode(event.body))
        return self.pending.pop(0)

    async def silence(self, seconds: float = 0.2) -> bool:
        """True if nothing arrives for ``seconds`` (EOF counts as silence)."""
        try:
            await self.receive(timeout=seconds)
        except (TimeoutError, EOFError):
            return True
        return False

    async def at_eof(self) -> bool:
        async with asyncio.timeout(5):
            return await self.reader.read(1) == b""


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def req(id_: Any, method: str, params: Any = None) -> dict[str, Any]:
    msg = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


async def echo(params: Any, ctx: Any) -> Any:
    return params


async def sleeper(params: Any, ctx: Any) -> Any:
    await asyncio.sleep(params["seconds"])
    return {"slept": params["seconds"]}


async def failing(params: Any, ctx: Any) -> Any:
    raise RpcError(ErrorCode.ACTION_NOT_FOUND, "no such action", {"action": "x"})


async def crashing(params: Any, ctx: Any) -> Any:
    raise ValueError("boom")


HANDLERS: dict[str, Handler] = {
    "echo": echo,
    "sleep": sleeper,
    "fail": failing,
    "crash": crashing,
}


def test_request_result_and_errors_round_trip() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (_, port):
            client = await connect("127.0.0.1", port)
            assert await client.request("echo", {"a": [1, "é"]}) == {"a": [1, "é"]}
            with pytest.raises(RpcError) as info:
                await client.request("fail")
            assert (info.value.code, info.value.data) == (-32010, {"action": "x"})
            with pytest.raises(RpcError) as info:
                await client.request("crash")
            assert info.value.code == ErrorCode.INTERNAL_ERROR
            assert "ValueError: boom" in info.value.message
            with pytest.raises(RpcError) as info:
                await client.request("missing")
            assert info.value.code == ErrorCode.METHOD_NOT_FOUND
            client.close()

    run(scenario())


def test_result_type_is_decoded_and_checked() -> None:
    class Slept(msgspec.Struct):
        slept: float

    async def scenario() -> None:
        async with serving(HANDLERS) as (_, port):
            client = await connect("127.0.0.1", port)
            result = await client.request("sleep", {"seconds": 0}, result_type=Slept)
            assert result == Slept(0)
            with pytest.raises(RpcError) as info:
                await client.request("echo", {"x": 1}, result_type=Slept)
            assert info.value.code == ErrorCode.INTERNAL_ERROR
            assert "malformed result of echo" in info.value.message
            client.close()

    run(scenario())


def test_requests_are_served_concurrently_and_answered_out_of_order() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (server, _):
            peer = await server.raw()
            peer.send(req(1, "sleep", {"seconds": 0.3}))
            peer.send(req(2, "echo", {"n": 2}))
            first, second = await peer.receive(), await peer.receive()
            assert (first["id"], second["id"]) == (2, 1)
            assert second["result"] == {"slept": 0.3}

    run(scenario())


def test_hundred_concurrent_requests_are_each_answered_exactly_once() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (server, _):
            peer = await server.raw()
            for i in range(100):
                peer.send(req(i, "sleep", {"seconds": (i % 7) / 100}))
            answers = [await peer.receive() for _ in range(100)]
            assert sorted(a["id"] for a in answers) == list(range(100))
            assert await peer.silence()

    run(scenario())


def test_cancel_of_a_running_request_gives_one_cancelled_reply() -> None:
    async def scenario() -> None:
        started = asyncio.Event()

        async def sleep_started(params: Any, ctx: Any) -> Any:
            started.set()
            return await sleeper(params, ctx)

        async with serving({**HANDLERS, "sleep": sleep_started}) as (server, _):
            peer = await server.raw()
            peer.send(req("s", "sleep", {"seconds": 30}))
            async with asyncio.timeout(5):
                await started.wait()  # cancel a request whose handler is running
            peer.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "s"}})
            answer = await peer.receive()
            assert answer["id"] == "s"
            assert answer["error"]["code"] == ErrorCode.REQUEST_CANCELLED
            # A second cancel and a cancel of an unknown id are ignored.
            peer.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "s"}})
            peer.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 404}})
            peer.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"no": 1}})
            assert await peer.silence()
            peer.send(req(1, "echo", {}))
            assert (await peer.receive())["result"] == {}

    run(scenario())


def test_cancel_racing_completion_still_gives_exactly_one_reply() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (server, _):
            peer = await server.raw()
            for i in range(50):
                peer.send_raw(
                    encode_frame(msgspec.json.encode(req(i, "echo", {"i": i})))
                    + encode_frame(
                        msgspec.json.encode(
                            {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": i}}
                        )
                    )
                )
            answers = [await peer.receive() for _ in range(50)]
            assert sorted(a["id"] for a in answers) == list(range(50))
            for a in answers:
                assert ("result" in a) != ("error" in a)
                if "error" in a:
                    assert a["error"]["code"] == ErrorCode.REQUEST_CANCELLED
            assert await peer.silence()

    run(scenario())


def test_client_side_cancellation_cancels_at_the_peer() -> None:
    started, cancelled = asyncio.Event(), []

    async def watched(params: Any, ctx: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(ctx.id)
            raise

    async def scenario() -> None:
        async with serving({"watched": watched, "echo": echo}) as (_, port):
            client = await connect("127.0.0.1", port)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await client.request("watched")
            for _ in range(100):
                if cancelled:
                    break
                await asyncio.sleep(0.01)
            assert started.is_set()
            assert cancelled == [1]
            assert await client.request("echo", {"n": 5}) == {"n": 5}  # late -32800 dropped
            client.close()

    run(scenario())


def test_progress_reaches_the_peer_before_the_reply() -> None:
    async def with_progress(params: Any, ctx: Any) -> Any:
        ctx.progress("t", WorkDoneBegin(title="work"))
        await asyncio.sleep(0)
        ctx.progress("t", WorkDoneEnd())
        return "done"

    async def scenario() -> None:
        async with serving({"p": with_progress}) as (server, _):
            peer = await server.raw()
            peer.send(req(1, "p"))
            messages = [await peer.receive() for _ in range(3)]
            assert messages[0]["method"] == "$/progress"
            assert messages[0]["params"] == {
                "token": "t",
                "value": {"kind": "begin", "title": "work"},
            }
            assert messages[1]["params"]["value"] == {"kind": "end"}
            assert messages[2] == {"jsonrpc": "2.0", "id": 1, "result": "done"}

    run(scenario())


def test_closing_fails_pending_requests_and_cancels_running_handlers() -> None:
    cancelled: list[Any] = []
    started = asyncio.Event()

    async def watched(params: Any, ctx: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(ctx.id)
            raise

    async def scenario() -> None:
        async with serving({"watched": watched}) as (server, port):
            client = await connect("127.0.0.1", port)
            pending = asyncio.create_task(client.request("watched"))
            async with asyncio.timeout(5):
                await started.wait()
            server.connections[0].close()
            with pytest.raises(ConnectionClosedError):
                await pending
            closed = await client.wait_closed()
            assert client.is_closed
            assert closed.reason
            assert cancelled == [1]
            with pytest.raises(ConnectionClosedError):
                await client.request("watched")
            with pytest.raises(ConnectionClosedError):
                client.notify("x")

    run(scenario())


def test_garbage_is_answered_and_the_connection_stays_usable() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (server, _):
            peer = await server.raw()
            peer.send_raw(encode_frame(b"{nope"))
            assert (await peer.receive())["error"]["code"] == ErrorCode.PARSE_ERROR
            peer.send(req(1, "echo", {"ok": True}))
            assert (await peer.receive())["result"] == {"ok": True}

    run(scenario())


def test_fatal_framing_error_is_answered_then_the_connection_closes() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (server, _):
            peer = await server.raw()
            peer.send_raw(b"Content-Length: -1\r\n\r\n")
            answer = await peer.receive()
            assert answer["id"] is None
            assert answer["error"]["data"] == {"reason": "invalid-content-length"}
            assert await peer.at_eof()

    run(scenario())


def test_eof_inside_a_message_closes_without_an_answer() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (server, _):
            peer = await server.raw()
            peer.send_raw(b"Content-Length: 100\r\n\r\n{")
            await asyncio.sleep(0.05)
            peer.writer.write_eof()
            assert await peer.at_eof()
            closed = await server.connections[0].wait_closed()
            assert not closed.clean

    run(scenario())


def test_sixteen_mebibyte_message_round_trips() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS) as (_, port):
            client = await connect("127.0.0.1", port)
            blob = "é" * (8 * 1024 * 1024)  # 16 MiB of UTF-8
            assert await client.request("echo", {"blob": blob}) == {"blob": blob}
            client.close()

    run(scenario())


def test_over_limit_message_is_refused_and_the_connection_stays_usable() -> None:
    async def scenario() -> None:
        async with serving(HANDLERS, max_message_size=1024) as (server, _):
            peer = await server.raw()
            peer.send(req(1, "echo", {"x": "x" * 5000}))
            answer = await peer.receive()
            assert answer["id"] is None
            assert answer["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
            assert answer["error"]["data"]["limit"] == 1024
            peer.send(req(2, "echo", {"small": 1}))
            assert (await peer.receive())["result"] == {"small": 1}

    run(scenario())


# --- nesting limit (SPEC.md §5.7; issue 19) ---------------------------------------------


async def deep_result(params: Any, ctx: Any) -> Any:
    value: Any = []
    for _ in range(params["depth"]):
        value = [value]
    return value


def test_an_unencodable_result_is_answered_and_the_connection_kept() -> None:
    handlers: dict[str, Handler] = {**HANDLERS, "deep": deep_result}

    async def scenario() -> None:
        async with serving(handlers) as (server, _):
            peer = await server.raw()
            peer.send(req(1, "deep", {"depth": 985}))
            answer = await peer.receive()
            assert answer["id"] == 1
            assert answer["error"]["data"] == {"reason": "too-deep"}
            peer.send_raw(encode_frame(b"[" * 1000 + b"]" * 1000))
            assert (await peer.receive())["error"]["data"] == {"reason": "too-deep"}
            peer.send(req(2, "echo", {"ok": True}))
            assert (await peer.receive())["result"] == {"ok": True}
            assert not server.connections[0].is_closed

    run(scenario())


def test_a_peer_that_stops_reading_is_cut_off_others_are_not_slowed() -> None:
    """``max_write_buffer``: one reply larger than the bound reaches a reading peer; a peer
    that asks for 20 MB and reads nothing is disconnected once 1 MB waits unsent, and what
    was queued for it is dropped; another peer is answered meanwhile."""
    blob = "x" * 200_000

    async def big(params: Any, ctx: Any) -> Any:
        return blob * params["times"]

    async def scenario() -> None:
        async with serving({"big": big, "echo": echo}, max_write_buffer=1_000_000) as (srv, _):
            reader = await srv.raw()
            reader.send(req(1, "big", {"times": 15}))  # 3 MB in one reply
            assert len((await reader.receive(timeout=10))["result"]) == 3_000_000

            stalled = await srv.raw()
            conn = srv.connections[-1]
            other = await srv.raw()
            stalled.writer.transport.pause_reading()  # type: ignore[attr-defined]
            for n in range(100):
                stalled.send(req(n, "big", {"times": 1}))
            other.send(req(7, "echo", {"still": "served"}))
            closed = await asyncio.wait_for(conn.wait_closed(), 10)
            assert not closed.clean
            assert closed.reason.startswith("stopped reading: "), closed.reason
            assert conn.write_buffer_size == 0
            assert (await other.receive())["result"] == {"still": "served"}

    run(scenario())
