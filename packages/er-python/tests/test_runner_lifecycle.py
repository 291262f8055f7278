"""The runner process: launch, hello, authentication, lifecycle and the ways it exits.

Every test drives a real ``python -m corral_runner`` over real TCP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from corral_protocol import ConnectionClosedError, ErrorCode, RpcError, connect
from corral_protocol.messages import ClientCapabilities, ClientInfo, InitializeParams
from corral_wal import HANDLER_STARTED
from runner_harness import RUNNER_ARGV, run, running, spawn


def test_importing_the_launch_phase_does_not_import_asyncio() -> None:
    code = "import sys, corral_runner.launch; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_hello_is_one_line_naming_port_pid_and_runner(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            hello = runner.hello
            assert hello is not None
            assert hello.corral == "hello"
            assert hello.protocol == ["1.0"]
            assert hello.pid == runner.proc.pid
            assert hello.runner.language == "python"
            assert 1 <= hello.port <= 65535
            await runner.connect()
            assert await runner.conn.request("$/ping", {}) == {}
            runner.connection.close()  # type: ignore[union-attr]
            assert await runner.wait_exit() == 1
            assert runner.proc.stdout is not None
            assert await runner.proc.stdout.read() == b""  # nothing after the hello

    run(scenario())


@pytest.mark.parametrize(
    ("line", "code", "reason"),
    [
        pytest.param(b"", 2, "no launch record", id="eof"),
        pytest.param(b"not json\n", 2, "not a JSON object", id="garbage"),
        pytest.param(b'{"protocol": ["1.0"]}\n', 2, "invalid launch record", id="missing-fields"),
        pytest.param(None, 3, "no common protocol major", id="protocol-2.0"),
    ],
)
def test_a_runner_that_cannot_start_prints_nothing_and_says_why(
    project: Path, line: bytes | None, code: int, reason: str
) -> None:
    async def scenario() -> None:
        overrides = {"protocol": ["2.0"]} if line is None else {}
        runner = await spawn(project, line=line, **overrides)
        assert runner.proc.stdout is not None
        stdout = await runner.proc.stdout.read()
        assert await runner.wait_exit() == code
        assert stdout == b""
        assert reason in await runner.stderr_text()

    run(scenario())


def test_wrong_or_missing_token_closes_without_a_reply(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            for token in ("0" * 64, None):
                connection = await connect("127.0.0.1", runner.port)
                params = {"protocolVersion": "1.0", "clientInfo": {"name": "x", "version": "0"}}
                if token is not None:
                    params["token"] = token
                with pytest.raises(ConnectionClosedError):
                    await connection.request("initialize", params)
            # The runner still serves the real WM afterwards.
            await runner.connect()
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


def test_a_second_connection_is_refused_while_the_first_lives(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            reader, writer = await asyncio.open_connection("127.0.0.1", runner.port)
            async with asyncio.timeout(5):
                assert await reader.read() == b""  # closed at once, not a byte written
            writer.close()
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


def test_requests_before_initialize_get_32002_and_notifications_are_ignored(
    project: Path,
) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            await runner.connect(initialize=False)
            runner.conn.notify("exit")  # ignored: not authenticated
            for method in ("$/ping", "actions/run", "no/such"):
                with pytest.raises(RpcError) as info:
                    await runner.conn.request(method, {})
                assert info.value.code == ErrorCode.SERVER_NOT_INITIALIZED
            await runner.initialize()
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


def test_initialize_negotiates_and_refuses_a_second_one(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            await runner.connect(initialize=False)
            bad = InitializeParams(
                protocol_version="2.0",
                token=runner.record.token,
                client_info=ClientInfo(name="wm", version="0"),
                capabilities=ClientCapabilities(),
            )
            with pytest.raises(RpcError) as info:
                await runner.conn.request("initialize", bad)
            assert info.value.code == ErrorCode.UNSUPPORTED_PROTOCOL_VERSION
            assert info.value.data == {"supported": ["1.0"]}
            with pytest.raises(RpcError) as info:
                await runner.conn.request("initialize", {"token": runner.record.token})
            assert info.value.code == ErrorCode.INVALID_PARAMS
            result = await runner.initialize()
            assert result.protocol_version == "1.0"
            assert result.capabilities.conformance_fixtures is True
            assert result.capabilities.max_message_size == 64 * 1024 * 1024
            with pytest.raises(RpcError) as info:
                await runner.initialize()
            assert info.value.code == ErrorCode.ALREADY_INITIALIZED

    run(scenario())


def test_newer_minor_is_answered_with_the_runners_minor(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, connect_=False) as runner:
            await runner.connect(initialize=False)
            params = InitializeParams(
                protocol_version="1.7",
                token=runner.record.token,
                client_info=ClientInfo(name="wm", version="0"),
                capabilities=ClientCapabilities(),
            )
            result = await runner.conn.request("initialize", params)
            assert result["protocolVersion"] == "1.0"

    run(scenario())


def test_shutdown_then_refusal_then_exit_zero(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, wal_dir=str(project / "wal")) as runner:
            await runner.configure({"sleep": [("s", "conformance/sleep")]})
            run_id, slow = runner.start_run("sleep", {"seconds": 30})
            await runner.until_recorded(run_id, HANDLER_STARTED)
            assert await runner.conn.request("shutdown") is None
            with pytest.raises(RpcError) as info:
                await slow
            assert info.value.code == ErrorCode.REQUEST_CANCELLED
            with pytest.raises(RpcError) as info:
                await runner.conn.request("$/ping")
            assert info.value.code == ErrorCode.SHUTTING_DOWN
            runner.conn.notify("exit")
            assert await runner.wait_exit() == 0

    run(scenario())


def test_exit_without_shutdown_exits_one(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            runner.conn.notify("exit")
            assert await runner.wait_exit() == 1

    run(scenario())


def test_connection_close_after_shutdown_exits_zero(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.conn.request("shutdown")
            runner.conn.close()
            assert await runner.wait_exit() == 0

    run(scenario())


def test_the_runner_exits_when_its_parent_dies(project: Path) -> None:
    async def scenario() -> None:
        parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            async with running(project, parent_pid=parent.pid) as runner:
                assert await runner.conn.request("$/ping") == {}
                parent.kill()
                parent.wait()
                assert await runner.wait_exit(timeout=5) == 1
        finally:
            parent.kill()
            parent.wait()

    run(scenario())


def test_a_dead_parent_at_launch_makes_the_runner_exit(project: Path) -> None:
    async def scenario() -> None:
        parent = subprocess.Popen([sys.executable, "-c", "pass"])
        parent.wait()
        runner = await spawn(project, parent_pid=parent.pid)
        await runner.read_hello()
        assert await runner.wait_exit(timeout=5) == 1

    run(scenario())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_cancels_runs_and_exits_within_the_deadline(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, wal_dir=str(project / "wal")) as runner:
            await runner.configure({"sleep": [("s", "conformance/sleep")]})
            run_id, slow = runner.start_run("sleep", {"seconds": 30})
            await runner.until_recorded(run_id, HANDLER_STARTED)
            runner.proc.send_signal(signal.SIGTERM)
            with pytest.raises(RpcError) as info:
                await slow
            assert info.value.code == ErrorCode.REQUEST_CANCELLED
            assert await runner.wait_exit(timeout=6) == 1

    run(scenario())


def test_launch_record_is_not_in_argv_or_environment(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            token = runner.record.token
            cmdline = Path(f"/proc/{runner.proc.pid}/cmdline")
            environ = Path(f"/proc/{runner.proc.pid}/environ")
            if not cmdline.exists():
                pytest.skip("needs /proc")
            assert token.encode() not in cmdline.read_bytes()
            assert token.encode() not in environ.read_bytes()
            assert os.getpid() != runner.proc.pid

    run(scenario())


def test_argv_is_runner_module(project: Path) -> None:
    assert RUNNER_ARGV[-2:] == ["-m", "corral_runner"]
    assert msgspec.json.decode(b"{}") == {}
