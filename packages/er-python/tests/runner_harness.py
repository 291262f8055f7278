"""Drive a real ``python -m corral_runner`` subprocess over real TCP, as the WM would."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corral_protocol import Connection, Router, connect
from corral_protocol.messages import (
    ActionConfig,
    ClientCapabilities,
    ClientInfo,
    ConfigureParams,
    ConfigureResult,
    HandlerSpec,
    Hello,
    InitializeParams,
    InitializeResult,
    LaunchRecord,
    LogParams,
    OutputParams,
    ProgressParams,
    ProjectRunParams,
    RunParams,
    RunResult,
)
from corral_wal import read_wal

RUNNER_ARGV = [sys.executable, "-m", "corral_runner"]
ProjectRun = Callable[[ProjectRunParams], Awaitable[Any]]


class RunnerProcess:
    """A launched runner: its process, hello, and (after :meth:`connect`) a connection."""

    def __init__(self, proc: asyncio.subprocess.Process, record: LaunchRecord) -> None:
        self.proc = proc
        self.record = record
        self.hello: Hello | None = None
        self.connection: Connection | None = None
        self.progress: list[ProgressParams] = []
        self.logs: list[LogParams] = []
        self.output: list[OutputParams] = []
        self.project_run: ProjectRun | None = None
        self.run_counter = 0

    @property
    def port(self) -> int:
        assert self.hello is not None
        return self.hello.port

    @property
    def conn(self) -> Connection:
        assert self.connection is not None
        return self.connection

    def output_text(self, stream: str = "stdout") -> str:
        return "".join(o.text for o in self.output if o.stream == stream)

    async def read_hello(self) -> Hello:
        assert self.proc.stdout is not None
        async with asyncio.timeout(20):
            line = await self.proc.stdout.readline()
        self.hello = msgspec.json.decode(line, type=Hello)
        return self.hello

    def router(self) -> Router:
        router = Router()
        router.add_notification("$/progress", self.progress.append, ProgressParams)
        router.add_notification("runner/log", self.logs.append, LogParams)
        router.add_notification("runner/output", self.output.append, OutputParams)

        async def project_run(params: ProjectRunParams, ctx: Any) -> Any:
            assert self.project_run is not None, "test did not expect project/runAction"
            return await self.project_run(params)

        router.add_request("project/runAction", project_run, ProjectRunParams)
        return router

    async def connect(self, *, initialize: bool = True) -> Connection:
        self.connection = await connect("127.0.0.1", self.port, self.router(), name="runner")
        if initialize:
            await self.initialize()
        return self.connection

    async def initialize(self, token: str | None = None) -> InitializeResult:
        result = await self.conn.request(
            "initialize",
            InitializeParams(
                protocol_version="1.0",
                token=self.record.token if token is None else token,
                client_info=ClientInfo(name="test-wm", version="0"),
                capabilities=ClientCapabilities(),
            ),
            result_type=InitializeResult,
        )
        self.conn.notify("initialized", {})
        return result

    async def configure(
        self, actions: dict[str, list[tuple[str, str]] | tuple[str, list[tuple[str, str]]]]
    ) -> ConfigureResult:
        """``{"action": [(name, source), ...]}`` or ``{"action": (mode, [...])}``."""
        config = {}
        for action, spec in actions.items():
            mode, handlers = spec if isinstance(spec, tuple) else ("sequential", spec)
            config[action] = ActionConfig(
                handlers=[HandlerSpec(name=n, source=s) for n, s in handlers],
                mode=mode,  # type: ignore[arg-type]
            )
        return await self.conn.request(
            "runner/configure", ConfigureParams(actions=config), result_type=ConfigureResult
        )

    def run_params(self, action: str, params: Any = None, **extra: Any) -> RunParams:
        self.run_counter += 1
        return RunParams(
            action=action,
            params={} if params is None else params,
            run_id=f"run-{self.run_counter}",
            parent_run_id=None,
            depth=0,
            **extra,
        )

    async def run(self, action: str, params: Any = None, **extra: Any) -> RunResult:
        return await self.conn.request(
            "actions/run", self.run_params(action, params, **extra), result_type=RunResult
        )

    def start_run(
        self, action: str, params: Any = None, **extra: Any
    ) -> tuple[str, asyncio.Task[RunResult]]:
        """Send ``actions/run`` in a task; return the run's id (for :meth:`until_recorded`)
        and the task."""
        run_params = self.run_params(action, params, **extra)
        request = self.conn.request("actions/run", run_params, result_type=RunResult)
        return run_params.run_id, asyncio.ensure_future(request)

    def recorded(self, run_id: str) -> list[str]:
        """The events the runner's WAL stream holds for ``run_id`` so far, in order (the
        runner must have been launched with a ``wal_dir``)."""
        assert self.record.wal_dir is not None, "launch the runner with wal_dir=..."
        if not Path(self.record.wal_dir).is_dir():
            return []
        return [r.event for r in read_wal(self.record.wal_dir).records if r.run_id == run_id]

    async def until_recorded(self, run_id: str, *events: str, timeout: float = 10.0) -> None:
        """Wait until the runner has journaled one of ``events`` for ``run_id`` (e.g. its
        handler started): the runner's own record of the moment, not a guessed delay."""
        await wait_until(
            lambda: any(event in events for event in self.recorded(run_id)),
            f"{' or '.join(events)} of {run_id} in the runner's WAL",
            timeout,
        )

    async def wait_exit(self, timeout: float = 15) -> int:
        async with asyncio.timeout(timeout):
            return await self.proc.wait()

    async def stderr_text(self) -> str:
        assert self.proc.stderr is not None
        try:
            async with asyncio.timeout(5):
                return (await self.proc.stderr.read()).decode(errors="replace")
        except TimeoutError:
            return ""


def launch_record(project: Path, **overrides: Any) -> LaunchRecord:
    fields: dict[str, Any] = {
        "protocol": ["1.0"],
        "token": secrets.token_hex(32),
        "project": str(project),
        "env": "test",
        "wal_dir": None,
        "parent_pid": os.getpid(),
        "log_level": "info",
        "conformance": True,
    }
    fields.update(overrides)
    return LaunchRecord(**fields)


async def spawn(
    project: Path,
    *,
    line: bytes | None = None,
    argv: list[str] | None = None,
    **overrides: Any,
) -> RunnerProcess:
    """Start a runner and write its launch line (``line`` replaces the record's JSON)."""
    record = launch_record(project, **overrides)
    proc = await asyncio.create_subprocess_exec(
        *(argv or RUNNER_ARGV),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=project,
        limit=1024 * 1024,
    )
    assert proc.stdin is not None
    proc.stdin.write(msgspec.json.encode(record) + b"\n" if line is None else line)
    await proc.stdin.drain()
    proc.stdin.close()
    return RunnerProcess(proc, record)


@asynccontextmanager
async def running(
    project: Path, *, connect_: bool = True, **overrides: Any
) -> AsyncIterator[RunnerProcess]:
    """A launched (and by default connected and initialized) runner, killed afterwards."""
    runner = await spawn(project, **overrides)
    try:
        await runner.read_hello()
        if connect_:
            await runner.connect()
        yield runner
    finally:
        if runner.connection is not None:
            runner.connection.close()
        if runner.proc.returncode is None:
            runner.proc.kill()
        await runner.proc.wait()
        # Close the pipe transports now, while the loop is alive.
        for stream in (runner.proc.stdout, runner.proc.stderr):
            if stream is not None:
                stream.feed_eof()
        if runner.proc._transport is not None:  # type: ignore[attr-defined]
            runner.proc._transport.close()  # type: ignore[attr-defined]


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Check ``condition`` every 10 ms until it holds; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


def ok(result: RunResult) -> Any:
    """The run's result as plain JSON data, after checking that every handler succeeded."""
    assert result.status == "ok", result.handlers
    return msgspec.to_builtins(result.result)


def failure(result: RunResult) -> tuple[str, str]:
    """(error type, message) of the run's only handler, which must have failed."""
    assert result.status == "failed", result.result
    (outcome,) = result.handlers
    assert outcome.error is not None
    return outcome.error.type, outcome.error.message


def run(coro: Awaitable[None], timeout: float = 60) -> None:
    """Run a test scenario with an overall deadline."""

    async def main() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(main())
