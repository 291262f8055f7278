"""Edge cases of the runner lifecycle and handlers that an audit against SPEC.md found."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corral_protocol import ErrorCode, RpcError, encode_frame
from corral_protocol.framing import Frame, FrameDecoder
from corral_runner.errors import DepthLimitExceeded, RemoteError, from_rpc_error
from corral_wal import HANDLER_FINISHED, HANDLER_STARTED
from corral_wal.events import RUN_TERMINAL_EVENTS
from runner_harness import run, running, spawn, wait_until


def frame(message: dict[str, Any]) -> bytes:
    return encode_frame(msgspec.json.encode(message))


async def read_messages(reader: asyncio.StreamReader, count: int) -> list[dict[str, Any]]:
    decoder, messages = FrameDecoder(), []
    async with asyncio.timeout(10):
        while len(messages) < count:
            data = await reader.read(65536)
            assert data, f"closed after {messages}"
            for event in decoder.feed(data):
                assert isinstance(event, Frame)
                message = msgspec.json.decode(event.body)
                if message.get("method") not in ("runner/log", "runner/output"):
                    messages.append(message)
    return messages


def initialize(token: str, id_: int = 1) -> dict[str, Any]:
    params = {
        "protocolVersion": "1.0",
        "token": token,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    }
    return {"jsonrpc": "2.0", "id": id_, "method": "initialize", "params": params}


def test_state_changes_apply_to_the_very_next_message_in_the_same_write(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            reader, writer = await asyncio.open_connection("127.0.0.1", runner.port)
            token = runner.record.token
            writer.write(
                frame(initialize(token, 1))
                + frame(initialize(token, 2))
                + frame({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
                + frame({"jsonrpc": "2.0", "id": 4, "method": "$/ping"})
                + frame(initialize(token, 5))
            )
            replies = {m["id"]: m for m in await read_messages(reader, 5)}
            assert "result" in replies[1]
            assert replies[2]["error"]["code"] == ErrorCode.ALREADY_INITIALIZED
            assert replies[3]["result"] is None
            assert replies[4]["error"]["code"] == ErrorCode.SHUTTING_DOWN
            assert replies[5]["error"]["code"] == ErrorCode.SHUTTING_DOWN
            writer.write(frame({"jsonrpc": "2.0", "method": "exit"}))
            assert await runner.wait_exit() == 0
            writer.close()

    run(scenario())


def test_a_wrong_token_stops_processing_that_connection_at_once(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            reader, writer = await asyncio.open_connection("127.0.0.1", runner.port)
            writer.write(
                frame(initialize("f" * 64)) + frame({"jsonrpc": "2.0", "id": 2, "method": "$/ping"})
            )
            async with asyncio.timeout(5):
                assert await reader.read() == b""  # closed, nothing answered
            writer.close()
            await runner.connect()  # the runner still serves the real WM
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


@pytest.mark.parametrize("params", [[1, 2], None, "token"])
def test_initialize_with_non_object_params_is_a_missing_token(project: Path, params: Any) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            reader, writer = await asyncio.open_connection("127.0.0.1", runner.port)
            writer.write(
                frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
            )
            async with asyncio.timeout(5):
                assert await reader.read() == b""
            writer.close()

    run(scenario())


def test_exit_while_the_shutdown_reply_is_pending_exits_one(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            configure = asyncio.create_task(runner.configure({"s": [("s", "slow_import:handler")]}))
            shutdown = asyncio.create_task(runner.conn.request("shutdown"))
            # Once both requests are on the wire, exit follows them on the same connection;
            # the runner spends ~1 s importing slow_import, and shutdown waits for configure,
            # so exit arrives while the shutdown reply is still owed.
            await wait_until(
                lambda: len(runner.conn.protocol.pending_outgoing) == 2,
                "configure and shutdown to be sent",
            )
            runner.conn.notify("exit")
            assert await runner.wait_exit() == 1
            for task in (configure, shutdown):
                task.cancel()

    run(scenario())


def test_sys_exit_in_a_handler_fails_the_handler_not_the_runner(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"x": [("x", "sample_handlers:exits")]})
            result = await runner.run("x")
            assert result.status == "failed"
            assert result.handlers[0].error is not None
            assert result.handlers[0].error.type == "SystemExit"
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


def test_a_result_that_cannot_be_encoded_is_still_answered(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"x": [("x", "sample_handlers:unencodable")]})
            with pytest.raises(RpcError) as info:
                await runner.run("x")
            assert info.value.code == ErrorCode.INTERNAL_ERROR
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


def test_a_handler_ignoring_cancellation_is_answered_within_about_a_second(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="corral_protocol.connection")

    async def scenario() -> None:
        async with running(project, wal_dir=str(project / "wal")) as runner:
            await runner.configure({"x": [("x", "sample_handlers:stubborn")]})
            run_id, task = runner.start_run("x", {"seconds": 2.5})
            await runner.until_recorded(run_id, HANDLER_STARTED)
            (request_id,) = runner.conn.protocol.pending_outgoing
            started = time.perf_counter()
            runner.conn.notify("$/cancelRequest", {"id": request_id})
            with pytest.raises(RpcError) as info:
                await task
            assert info.value.code == ErrorCode.REQUEST_CANCELLED
            assert 0.9 < time.perf_counter() - started < 2.4  # before the handler's own end
            # The handler ends by itself later; the runner must discard what it returns.
            await runner.until_recorded(run_id, *RUN_TERMINAL_EVENTS)
            assert await runner.conn.request("$/ping") == {}  # anything sent before is in
            assert HANDLER_FINISHED in runner.recorded(run_id)

    run(scenario())
    late = [r.getMessage() for r in caplog.records if "unknown id" in r.getMessage()]
    assert late == [], "the late result reached the WM"


def test_the_runner_never_sends_cancel_request_to_the_wm(project: Path) -> None:
    cancels: list[Any] = []
    asked = asyncio.Event()

    async def never_answers(params: Any) -> Any:
        asked.set()
        await asyncio.sleep(30)

    async def scenario() -> None:
        async with running(project, connect_=False, wal_dir=str(project / "wal")) as runner:
            runner.project_run = never_answers
            router_factory = runner.router

            def router() -> Any:
                r = router_factory()
                r.add_notification("$/cancelRequest", cancels.append)
                return r

            runner.router = router  # type: ignore[method-assign]
            await runner.connect()
            await runner.configure({"pr": [("p", "conformance/project-run")]})
            run_id, task = runner.start_run("pr", {"action": "lint"})
            async with asyncio.timeout(10):
                await asked.wait()  # the handler's project/runAction is waiting at the WM
            task.cancel()  # WM -> runner $/cancelRequest; the runner abandons its WM request
            with pytest.raises(asyncio.CancelledError):
                await task
            # The runner journals the run's end after abandoning its request; a
            # $/cancelRequest sent while abandoning it would arrive before the ping's reply.
            await runner.until_recorded(run_id, *RUN_TERMINAL_EVENTS)
            assert await runner.conn.request("$/ping") == {}
            assert cancels == []

    run(scenario())


def test_a_launch_line_without_newline_is_refused(project: Path) -> None:
    async def scenario() -> None:
        good = await spawn(project)
        record = msgspec.json.encode(good.record)
        good.proc.kill()
        await good.proc.wait()
        runner = await spawn(project, line=record)  # no "\n"
        assert await runner.wait_exit() == 2
        assert "newline" in await runner.stderr_text()

    run(scenario())


def test_scope_errors_get_one_class_per_protocol_code() -> None:
    first = from_rpc_error(RpcError(ErrorCode.INVALID_PARAMS, "a"))
    second = from_rpc_error(RpcError(ErrorCode.INVALID_PARAMS, "b"))
    assert type(first).__name__ == "InvalidParams"
    assert type(first) is type(second)
    assert isinstance(
        from_rpc_error(RpcError(ErrorCode.DEPTH_LIMIT_EXCEEDED, "d")), DepthLimitExceeded
    )
    assert type(from_rpc_error(RpcError(-1, "?"))) is RemoteError
