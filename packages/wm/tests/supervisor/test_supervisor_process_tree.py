"""A runner's end is the end of every process its handlers started (Linux: /proc).

The handlers start ``sleep 77`` two ways: ``raw`` as a plain child (``subprocess.Popen``:
it stays in the runner's process group), ``tool`` through ``ctx.run_process`` (its own
process group, with the sleep as a grandchild). A deliberate stop, a crash and a SIGKILL of
the runner must each leave neither behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from corral.config import RestartSettings, RunnerSettings
from corral.supervisor import EventBus, ManagedRunner, RunnerKey, RunnerSpec, RunnerState
from corral.supervisor.tree import end_group, end_session
from corral_protocol.messages import (
    ActionConfig,
    ConfigureParams,
    HandlerSpec,
    RunParams,
    RunResult,
)
from process_tree import SPAWNER, alive, kill_leftovers, wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

HANDLERS = f"SPAWNER = {SPAWNER!r}\n" + textwrap.dedent(
    """
    import os
    import subprocess
    import sys

    from corral_runner import ActionContext


    def raw(ctx: ActionContext) -> dict:
        sleep = subprocess.Popen(["sleep", "77"])
        return {"pid": sleep.pid}


    async def tool(ctx: ActionContext) -> dict:
        await ctx.run_process([sys.executable, "-c", SPAWNER, ctx.params["pidfile"]])
        return {}


    def crash(ctx: ActionContext) -> None:
        os._exit(3)
    """
)


def ends(pid: int, within: float = 5.0) -> bool:
    try:
        wait_until(lambda: not alive(pid), f"pid {pid} to end", within)
    except AssertionError:
        return False
    return True


def settings() -> RunnerSettings:
    """Fast stop deadlines; no pings (a test runs a few seconds)."""
    return RunnerSettings(
        restart=RestartSettings(),
        ping_interval=30.0,
        shutdown_timeout=2.0,
        terminate_timeout=2.0,
        idle_shutdown=0.0,
    )


def configure() -> ConfigureParams:
    def action(source: str) -> ActionConfig:
        return ActionConfig(handlers=[HandlerSpec(name="h", source=source)])

    return ConfigureParams(
        actions={
            "raw": action("tree_handlers:raw"),
            "tool": action("tree_handlers:tool"),
            "crash": action("tree_handlers:crash"),
        }
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "tree_handlers.py").write_text(HANDLERS)
    yield tmp_path
    kill_leftovers(tmp_path.glob("*.pid"))


async def start(project: Path) -> ManagedRunner:
    spec = RunnerSpec(
        key=RunnerKey(project, "test"),
        command=lambda: [sys.executable, "-m", "corral_runner"],
        settings=settings(),
        configure=configure,
    )
    runner = ManagedRunner(spec, bus=EventBus())
    await runner.ensure_running()
    return runner


async def run(runner: ManagedRunner, action: str, params: dict[str, str] | None = None) -> object:
    request = RunParams(
        action=action, params=params or {}, run_id=action, parent_run_id=None, depth=0
    )
    return (await runner.request("actions/run", request, RunResult)).result


async def raw_sleep(runner: ManagedRunner, project: Path) -> int:
    result = await run(runner, "raw")
    assert isinstance(result, dict)
    pid = int(result["pid"])
    (project / "raw.pid").write_text(str(pid))  # for the fixture's cleanup
    assert alive(pid)
    return pid


async def tool_sleep(runner: ManagedRunner, project: Path) -> tuple[int, asyncio.Task[object]]:
    """Start the ``tool`` action (it runs until the sleep ends); the sleep's pid."""
    pidfile = project / "tool.pid"
    task = asyncio.create_task(run(runner, "tool", {"pidfile": str(pidfile)}))
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text()):
        assert time.monotonic() < deadline, "the tool did not start its sleep"
        await asyncio.sleep(0.02)
    pid = int(pidfile.read_text())
    assert alive(pid)
    return pid, task


def test_a_stopped_runner_leaves_no_process_its_handlers_started(project: Path) -> None:
    async def scenario() -> None:
        runner = await start(project)
        try:
            raw = await raw_sleep(runner, project)
            tool, task = await tool_sleep(runner, project)
            await runner.stop("test stop")
            assert runner.state is RunnerState.STOPPED
            await asyncio.gather(task, return_exceptions=True)
            assert ends(raw), "a plain child of a handler outlived the stopped runner"
            assert ends(tool), "a tool's grandchild outlived the stopped runner"
        finally:
            await runner.aclose()

    asyncio.run(scenario())


def test_a_crashed_runner_leaves_no_process_its_handlers_started(project: Path) -> None:
    async def scenario() -> None:
        runner = await start(project)
        try:
            raw = await raw_sleep(runner, project)
            await run(runner, "crash")
        except Exception:  # noqa: S110  (the crash fails the request: expected)
            pass
        try:
            assert ends(raw), "a plain child of a handler outlived its crashed runner"
        finally:
            await runner.aclose()

    asyncio.run(scenario())


def test_a_killed_runner_leaves_no_process_its_handlers_started(project: Path) -> None:
    """SIGKILL gives the runner no chance to clean up: the WM ends its session."""

    async def scenario() -> None:
        runner = await start(project)
        try:
            raw = await raw_sleep(runner, project)
            tool, task = await tool_sleep(runner, project)
            pid = runner.status().pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await asyncio.gather(task, return_exceptions=True)
            assert ends(raw), "a plain child of a handler outlived its killed runner"
            assert ends(tool), "a tool's grandchild outlived its killed runner"
        finally:
            await runner.aclose()

    asyncio.run(scenario())


def test_a_reused_pid_and_our_own_session_are_never_ended() -> None:
    """Once a runner has exited, its pid may belong to another process (pid_max is often
    32768): a live process with that pid is then not the runner, and is left alone."""
    other = subprocess.Popen(["sleep", "77"], start_new_session=True)
    try:
        assert end_session(other.pid, leader_exited=True) == 0  # "the runner exited": reused
        assert not end_group(other.pid, leader_exited=True)
        assert alive(other.pid)
        assert end_session(os.getpid(), leader_exited=False) == 0
        assert end_session(os.getsid(0), leader_exited=False) == 0
        assert end_session(other.pid, leader_exited=False) >= 1  # its leader: ended
        assert other.wait(5) == -signal.SIGKILL
    finally:
        other.kill()
        other.wait()
