"""The supervisor's fault matrix, with real runner processes over real TCP.

Faults are caused for real: a test-only misbehaving runner (``faulty_runner.py``) for start
failures, the reference runner's conformance fixtures (``conformance/crash``, ``sleep``) and
real signals (SIGKILL, SIGSTOP) for the rest. Backoff delays are recorded by an injected
sleep (their schedule is the policy's, tested on a fake clock); everything else runs in
real time with generous bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from corral.config import RestartSettings, RunnerSettings
from corral.supervisor import (
    EventBus,
    ManagedRunner,
    PlainSpawner,
    RunnerCrashedError,
    RunnerKey,
    RunnerSpec,
    RunnerState,
    RunnerUnavailableError,
)
from corral.supervisor.spawn import ProcessHandle
from corral_protocol.messages import (
    ActionConfig,
    ConfigureParams,
    HandlerSpec,
    RunParams,
    RunResult,
)
from runner_harness import wait_until

S = RunnerState
HERE = Path(__file__).parent
RUNNER = [sys.executable, "-m", "corral_runner"]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def Settings(**overrides: float) -> RunnerSettings:  # noqa: N802  (reads like the type)
    """Fast supervision settings for tests."""
    fields: dict[str, float] = {
        "hello_timeout": 5.0,
        "initialize_timeout": 5.0,
        "ping_interval": 0.2,
        "ping_timeout": 0.3,
        "unhealthy_grace": 0.6,
        "shutdown_timeout": 2.0,
        "terminate_timeout": 2.0,
        "idle_shutdown": 0.0,
    }
    fields.update(overrides)
    return RunnerSettings(restart=RestartSettings(), **fields)


def configure() -> ConfigureParams:
    def action(source: str) -> ActionConfig:
        return ActionConfig(handlers=[HandlerSpec(name="h", source=source)])

    return ConfigureParams(
        actions={
            "echo": action("conformance/echo"),
            "sleep": action("conformance/sleep"),
            "crash": action("conformance/crash"),
        }
    )


class Harness:
    """Builds managed runners and records what they went through."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.bus = EventBus()
        self.delays: list[float] = []
        self.runners: list[ManagedRunner] = []
        self.counter = 0

    async def backoff_sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0.01)

    def runner(
        self,
        command: list[str] | None = None,
        *,
        env: str = "test",
        settings: RunnerSettings | None = None,
        env_ready: Callable[[], tuple[bool, str]] = lambda: (True, ""),
    ) -> ManagedRunner:
        spec = RunnerSpec(
            key=RunnerKey(self.project, env),
            command=lambda: list(command or RUNNER),
            settings=settings or Settings(),
            env_ready=env_ready,
            configure=configure,
            conformance=True,
        )
        runner = ManagedRunner(spec, bus=self.bus, backoff_sleep=self.backoff_sleep)
        self.runners.append(runner)
        return runner

    async def run(self, runner: ManagedRunner, action: str, params: Any = None) -> RunResult:
        self.counter += 1
        request = RunParams(
            action=action,
            params=params or {},
            run_id=f"r{self.counter}",
            parent_run_id=None,
            depth=0,
        )
        return await runner.request("actions/run", request, RunResult)

    async def close(self) -> None:
        await asyncio.gather(*(r.aclose() for r in self.runners))


def scenario(test: Callable[[Harness], Awaitable[None]], project: Path) -> None:
    async def main() -> None:
        harness = Harness(project)
        try:
            async with asyncio.timeout(60):
                await test(harness)
        finally:
            await harness.close()

    asyncio.run(main())


async def until(runner: ManagedRunner, *states: RunnerState, within: float = 10.0) -> float:
    """Wait until the runner is in one of ``states``; return the seconds it took."""
    started = time.perf_counter()
    async with asyncio.timeout(within):
        while runner.state not in states:
            await runner.wait_for_change()
    return time.perf_counter() - started


def faulty(mode: str) -> list[str]:
    return [sys.executable, str(HERE / "faulty_runner.py"), mode]


def test_lazy_start_serves_and_stops_cooperatively(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        runner = h.runner()
        seen: list[RunnerState] = []

        async def watch() -> None:
            async for event in h.bus.subscribe():
                seen.append(event.new)
                if event.new is S.STOPPED:
                    return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0)
        assert runner.state is S.STOPPED
        result = await h.run(runner, "echo", {"x": 1})
        assert result.result == {"x": 1}
        status = runner.status()
        assert status.state is S.RUNNING
        assert status.pid is not None
        assert status.port is not None
        pid = status.pid
        await runner.stop()
        assert runner.state is S.STOPPED
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        async with asyncio.timeout(5):
            await watcher  # it ends with the STOPPED event it was published
        assert seen == [S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED]

    scenario(test, tmp_path)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("exit-before-hello", "exited before its hello (exit code 5)"),
        ("garbage-hello", "something other than a hello on stdout: 'this is not a hello"),
        ("silent", "no hello line on stdout within 0.5 s"),
        ("no-initialize", "did not answer initialize within 0.5 s"),
    ],
)
def test_start_failures_back_off_then_crash_with_a_clear_reason(
    tmp_path: Path, mode: str, expected: str
) -> None:
    async def test(h: Harness) -> None:
        settings = Settings(hello_timeout=0.5, initialize_timeout=0.5)
        runner = h.runner(faulty(mode), settings=settings)
        with pytest.raises(RunnerUnavailableError) as info:
            await runner.ensure_running()
        assert runner.state is S.CRASHED
        assert expected in str(info.value)
        assert expected in (runner.last_error or "")
        assert "corral runners restart" in str(info.value)
        if mode == "exit-before-hello":
            assert "faulty runner: cannot start (simulated)" in str(info.value)
        assert [round(d) for d in h.delays] == [1, 2, 4]
        assert runner.restarts == 3

    scenario(test, tmp_path)


class BrokenSpawner(PlainSpawner):
    """A spawner that fails with an error nothing expects (a bug, which cannot be caused
    for real): the start must fail cleanly instead of hanging."""

    calls = 0

    async def start(self, argv: Sequence[str], **options: Any) -> ProcessHandle:
        self.calls += 1
        raise RuntimeError("unexpected failure inside the start path")


def test_an_unexpected_error_while_starting_is_a_start_failure_not_a_hang(
    tmp_path: Path,
) -> None:
    async def test(h: Harness) -> None:
        spawner = BrokenSpawner()
        runner = h.runner()
        runner.spec = dataclasses.replace(runner.spec, spawner=spawner)
        with pytest.raises(RunnerUnavailableError) as info:
            await runner.ensure_running()
        assert runner.state is S.CRASHED
        assert "unexpected RuntimeError: unexpected failure inside the start path" in str(
            info.value
        )
        assert spawner.calls == 4  # the first start and three restarts, each failed cleanly

    scenario(test, tmp_path)


def test_a_crash_mid_request_fails_every_request_in_flight_at_once(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        runner = h.runner()
        await runner.ensure_running()
        slow = asyncio.create_task(h.run(runner, "sleep", {"seconds": 30}))
        await wait_until(lambda: runner.status().in_flight == 1, "the slow request to be sent")
        started = time.perf_counter()
        with pytest.raises(RunnerCrashedError) as info:
            await h.run(runner, "crash", {"exitCode": 9})
        with pytest.raises(RunnerCrashedError) as slow_info:
            await slow
        assert time.perf_counter() - started < 2.0
        assert "died during actions/run (exit code 9)" in str(info.value)
        assert slow_info.value.exit_code == 9
        assert str(runner.key) in str(slow_info.value)
        await until(runner, S.RUNNING)  # restarted after the (recorded) backoff
        assert (await h.run(runner, "echo", {"again": True})).result == {"again": True}
        assert runner.restarts == 1

    scenario(test, tmp_path)


def test_a_killed_runner_is_noticed_without_any_request(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        runner = h.runner()
        await runner.ensure_running()
        pid = runner.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        took = await until(runner, S.RESTARTING, within=3)
        assert took < 1.0
        assert "exited unexpectedly (killed by SIGKILL)" in (runner.last_error or "")
        await until(runner, S.RUNNING)
        assert runner.status().pid != pid

    scenario(test, tmp_path)


def test_a_stopped_runner_is_killed_at_once_failing_its_runs_and_restarted(
    tmp_path: Path,
) -> None:
    """SIGSTOP: not busy but stopped (``/proc`` says ``T``), so no grace: the first ping
    left unanswered kills it, the run in flight fails then with the reason, and the next
    request gets a new runner."""

    async def test(h: Harness) -> None:
        settings = Settings(ping_interval=0.2, ping_timeout=0.3, unhealthy_grace=30.0)
        runner = h.runner(settings=settings)
        await runner.ensure_running()
        pid = runner.status().pid
        assert pid is not None
        slow = asyncio.create_task(h.run(runner, "sleep", {"seconds": 30}))
        await wait_until(lambda: runner.status().in_flight == 1, "the slow request to be sent")
        os.kill(pid, signal.SIGSTOP)
        stopped = time.perf_counter()
        try:
            with pytest.raises(RunnerCrashedError) as info:
                await slow
            took = time.perf_counter() - stopped
            assert took < 2.0  # ping_interval + ping_timeout, not the 30 s grace
            assert "was stopped (SIGSTOP or a debugger)" in str(info.value)
            assert "was stopped" in (runner.last_error or "")
            await until(runner, S.RUNNING)
            assert runner.status().pid != pid
            assert (await h.run(runner, "echo", {"again": True})).result == {"again": True}
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    scenario(test, tmp_path)


def test_a_long_running_handler_never_makes_a_runner_unhealthy(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        runner = h.runner()
        await runner.ensure_running()
        states: list[RunnerState] = []

        async def watch() -> None:
            async for event in h.bus.subscribe():
                states.append(event.new)

        watcher = asyncio.create_task(watch())
        result = await h.run(runner, "sleep", {"seconds": 1.5})  # 7 ping intervals
        watcher.cancel()
        assert result.result == {"slept": 1.5}
        assert states == []
        assert runner.state is S.RUNNING

    scenario(test, tmp_path)


def test_repeated_crashes_exhaust_the_budget_and_an_explicit_start_works(
    tmp_path: Path,
) -> None:
    async def test(h: Harness) -> None:
        runner = h.runner()
        for _ in range(3):
            await runner.ensure_running()
            with pytest.raises(RunnerCrashedError):
                await h.run(runner, "crash")
            await until(runner, S.RUNNING, S.CRASHED)
        assert runner.state is S.RUNNING
        with pytest.raises(RunnerCrashedError):
            await h.run(runner, "crash")
        await until(runner, S.CRASHED)
        with pytest.raises(RunnerUnavailableError) as info:
            await h.run(runner, "echo")
        assert "crashed 4 times" in str(info.value)
        assert "exit code 70" in str(info.value)
        runner.start()  # explicit: resets the budget
        assert (await h.run(runner, "echo", {"back": 1})).result == {"back": 1}
        assert runner.policy.failures == 0

    scenario(test, tmp_path)


def test_other_runners_keep_serving_while_one_crashes(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        bad = h.runner(env="bad")
        good = h.runner(env="good")
        await asyncio.gather(bad.ensure_running(), good.ensure_running())

        async def crash_loop() -> None:
            for _ in range(3):
                await bad.ensure_running()
                with pytest.raises(RunnerCrashedError):
                    await h.run(bad, "crash")

        async def serve_loop() -> int:
            served = 0
            deadline = time.perf_counter() + 2.0
            while time.perf_counter() < deadline:
                assert (await h.run(good, "echo", {"n": served})).result == {"n": served}
                served += 1
            return served

        served, _ = await asyncio.gather(serve_loop(), crash_loop())
        assert served > 50
        assert good.restarts == 0

    scenario(test, tmp_path)


def test_stop_escalates_to_sigkill_for_a_frozen_runner(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        settings = Settings(ping_interval=30, shutdown_timeout=0.3, terminate_timeout=0.3)
        runner = h.runner(settings=settings)
        await runner.ensure_running()
        pid = runner.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        started = time.perf_counter()
        await runner.stop("test stop")
        assert runner.state is S.STOPPED
        assert time.perf_counter() - started < 3.0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    scenario(test, tmp_path)


def test_idle_runners_stop_and_restart_lazily(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        runner = h.runner(settings=Settings(idle_shutdown=0.5))
        await h.run(runner, "echo")
        took = await until(runner, S.STOPPED, within=5)
        assert 0.3 < took < 3
        assert (await h.run(runner, "echo", {"x": 2})).result == {"x": 2}
        assert runner.restarts == 0

    scenario(test, tmp_path)


def test_a_missing_environment_is_a_status_with_the_fix(tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        message = "environment dev missing: run corral prepare-envs --env dev"
        runner = h.runner(env_ready=lambda: (False, message))
        with pytest.raises(RunnerUnavailableError) as info:
            await runner.ensure_running()
        assert runner.state is S.NO_VENV
        assert str(info.value) == message
        assert runner.status().last_error == message

    scenario(test, tmp_path)


WM_SCRIPT = """
import asyncio, sys
from pathlib import Path
from corral.supervisor import ManagedRunner, RunnerKey, RunnerSpec
sys.path[:0] = [{here!r}, {harness!r}]
from test_supervisor_faults import Settings

async def main():
    spec = RunnerSpec(key=RunnerKey(Path({project!r}), "test"),
                      command=lambda: [sys.executable, "-m", "corral_runner"],
                      settings=Settings(ping_interval=30))
    runner = ManagedRunner(spec)
    await runner.ensure_running()
    print(runner.status().pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_no_runner_is_left_behind_when_the_wm_is_killed(tmp_path: Path) -> None:
    code = WM_SCRIPT.format(
        here=str(HERE), harness=str(HERE.parents[2] / "er-python" / "tests"), project=str(tmp_path)
    )
    wm = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert wm.stdout is not None
        runner_pid = int(wm.stdout.readline())
        os.kill(runner_pid, 0)  # alive
        wm.kill()
        wm.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(runner_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(runner_pid, signal.SIGKILL)
            pytest.fail("the runner outlived its killed WM")
    finally:
        wm.kill()
        wm.wait()
        if wm.stdout is not None:
            wm.stdout.close()
