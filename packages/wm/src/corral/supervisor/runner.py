"""One supervised runner: start, readiness, health, crashes, restarts, stop, idle shutdown.

:class:`ManagedRunner` owns the process and the connection of one (project, env) runner and
drives the state machine of :mod:`.states` (every change goes through
:func:`~.states.transition`). Guarantees:

* Starting -> Running only after the hello line AND a successful ``initialize`` (and the
  handler configuration), each within its deadline.
* A process exit is noticed at once (an exit watcher, not the next request); requests in
  flight fail immediately with :class:`RunnerCrashedError` naming the runner, its exit code
  or signal, and its stderr tail.
* No ``$/ping`` answer within ``ping_timeout``: Unhealthy (the runner may just be busy in
  native code); still unanswered after ``unhealthy_grace``: killed and restarted. A busy
  handler alone never causes this: runners answer pings while handlers run.
* Failures restart with the :class:`~.policy.RestartPolicy` backoff; the backoff wait is a
  task of its own and holds no lock, so other runners and status queries are never blocked.
* :meth:`stop` is cooperative first (``shutdown``, ``exit``), then SIGTERM, then SIGKILL,
  each with a deadline; a deliberate stop or restart never counts as a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from corral_protocol import Connection, ConnectionClosedError, RpcError
from corral_protocol.messages import ConfigureParams, ConfigureResult, HandlerLoadStatus

from .errors import RunnerCrashedError, RunnerUnavailableError
from .events import EventBus, RunnerStateChanged, RunnerStatus
from .health import HealthMonitor
from .policy import RestartPolicy
from .process import RunnerProcess, describe_exit
from .spec import RunnerSpec
from .startup import HandshakeError, start_runner
from .states import RunnerEvent, RunnerState, transition

__all__ = ["ManagedRunner"]

T = TypeVar("T")
S, E = RunnerState, RunnerEvent


class ManagedRunner:
    """See the module docstring."""

    def __init__(
        self,
        spec: RunnerSpec,
        *,
        bus: EventBus[RunnerStateChanged] | None = None,
        clock: Callable[[], float] = time.monotonic,
        backoff_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.spec = spec
        self.key = spec.key
        self.bus: EventBus[RunnerStateChanged] = bus if bus is not None else EventBus()
        self._clock = clock
        self._backoff_sleep = backoff_sleep
        self.policy = policy or RestartPolicy(spec.settings.restart, clock=clock)
        self._state = S.STOPPED
        self._changed = asyncio.Event()
        self._process: RunnerProcess | None = None
        self._conn: Connection | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._background: asyncio.Task[None] | None = None  # launch or backoff
        self._ping: asyncio.Task[None] | None = None
        self._ready_at: float | None = None
        self._kill_reason: str | None = None
        self._in_flight = 0
        self._last_activity = clock()
        self._idle_handle: asyncio.TimerHandle | None = None
        self.restarts = 0
        self.last_error: str | None = None
        self.load_errors: list[HandlerLoadStatus] = []
        self._configured: ConfigureParams | None = None

    # --- observation -----------------------------------------------------------------------

    @property
    def state(self) -> RunnerState:
        return self._state

    @property
    def connection(self) -> Connection | None:
        return self._conn

    def status(self) -> RunnerStatus:
        running = self._state in (S.RUNNING, S.UNHEALTHY)
        process = self._process
        return RunnerStatus(
            project=self.key.project,
            env=self.key.env,
            state=self._state,
            pid=process.pid if process is not None and process.returncode is None else None,
            port=process.hello.port if running and process and process.hello else None,
            uptime=self._clock() - self._ready_at if running and self._ready_at else None,
            restarts=self.restarts,
            crashes_in_window=self.policy.failures,
            in_flight=self._in_flight,
            last_error=self.last_error,
        )

    def _set(self, event: RunnerEvent, reason: str) -> None:
        """The one place where the state changes."""
        old = self._state
        self._state = transition(old, event)
        self._changed.set()
        self._changed = asyncio.Event()
        self.bus.publish(
            RunnerStateChanged(
                key=self.key, old=old, new=self._state, reason=reason, status=self.status()
            )
        )

    async def wait_for_change(self) -> RunnerState:
        """Wait for the next transition; return the new state."""
        await self._changed.wait()
        return self._state

    def _spawn_task(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- starting --------------------------------------------------------------------------

    def start(self) -> None:
        """Begin starting (from Stopped, NoVenv or Crashed; an explicit start after Crashed
        resets the crash budget). Returns at once; watch the state for the outcome."""
        if self._state not in (S.STOPPED, S.NO_VENV, S.CRASHED) or self._env_missing():
            return
        if self._state is S.CRASHED:
            self.policy.reset()
        self._set(E.START, "start requested")
        self._background = self._spawn_task(self._launch())

    async def ensure_running(self) -> Connection:
        """The connection of a Running runner, starting it (lazily) if needed.

        Waits through Starting/Restarting/Unhealthy/Stopping; raises
        :class:`RunnerUnavailableError` for NoVenv and Crashed (with the reason).
        """
        while True:
            state = self._state
            if state is S.RUNNING and self._conn is not None:
                return self._conn
            if state in (S.STOPPED, S.NO_VENV):
                self.start()
                if self._state is S.NO_VENV:
                    raise RunnerUnavailableError(
                        self.key, self.last_error or "environment missing", state=S.NO_VENV
                    )
                continue
            if state is S.CRASHED:
                raise RunnerUnavailableError(
                    self.key,
                    f"{self.key} crashed {self.policy.failures} times within "
                    f"{self.policy.settings.window:g} s and is not restarted any more: "
                    f"{self.last_error} (restart it explicitly: corral runners restart)",
                    state=S.CRASHED,
                )
            await self.wait_for_change()

    async def _launch(self) -> None:
        """The readiness handshake (:mod:`.startup`); then Running (or a failure)."""
        try:
            started = await start_runner(self.spec, spawned=self._adopt)
        except HandshakeError as failure:
            self._failed(failure.reason)
            return
        self._conn = started.conn
        self._configured = started.configuration
        self.load_errors = started.load_errors
        self._ready_at = self._clock()
        self.policy.on_ready()
        self.last_error = None
        self._set(E.READY, f"ready (pid {started.process.pid}, port {started.hello.port})")
        monitor = HealthMonitor(
            conn=started.conn,
            settings=self.spec.settings,
            clock=self._clock,
            unresponsive=lambda reason: self._set(E.UNRESPONSIVE, reason),
            responsive=lambda: self._set(E.RESPONSIVE, "answering $/ping again"),
            give_up=self._unresponsive_too_long,
            is_stopped=started.process.is_stopped,
        )
        self._ping = self._spawn_task(monitor.run())
        self._arm_idle()

    def _adopt(self, process: RunnerProcess) -> None:
        """The process of the start in progress: watched for its exit from now on."""
        self._process = process
        process.exited.add_done_callback(functools.partial(self._exit_callback, process))

    # --- failures and restarts ---------------------------------------------------------------

    def _failed(self, reason: str) -> None:
        """A start failure, a crash or an unresponsive kill: restart with backoff or give up."""
        self.last_error = reason
        self._cancel_ping()
        delay = self.policy.on_failure()
        if delay is None:
            self._set(E.FAILED_FATAL, reason)
            return
        self.restarts += 1
        self._set(E.FAILED_RETRY, f"{reason}; restarting in {delay:.1f} s")
        self._background = self._spawn_task(self._backoff(delay))

    def _env_missing(self) -> bool:
        """True (and NoVenv, with the fix in ``last_error``) when the env is not ready."""
        ready, message = self.spec.env_ready()
        if not ready:
            self.last_error = message
            self._set(E.ENV_MISSING, message)
        return not ready

    async def _backoff(self, delay: float) -> None:
        await self._backoff_sleep(delay)
        if self._state is not S.RESTARTING or self._env_missing():
            return
        self._set(E.BACKOFF_DONE, f"restarting after {delay:.1f} s")
        await self._launch()

    def _exit_callback(self, process: RunnerProcess, future: asyncio.Future[int]) -> None:
        self._on_exit(process, future.result())

    def _on_exit(self, process: RunnerProcess, code: int) -> None:
        """The process ended. While Starting, the launch sees it; while Stopping, stop()."""
        if process is not self._process or self._state not in (S.RUNNING, S.UNHEALTHY):
            return
        reason = self._kill_reason or f"{self.key} exited unexpectedly ({describe_exit(code)})"
        self._kill_reason = None
        tail = process.stderr_tail.text()
        if tail.strip():
            reason += "\nstderr (last lines):\n" + "\n".join(
                f"  | {ln}" for ln in tail.splitlines()
            )
        if self._conn is not None:
            self._conn.close()  # every request in flight fails now
            self._conn = None
        self._spawn_task(process.close())
        self._failed(reason)

    # --- health ------------------------------------------------------------------------------

    def _unresponsive_too_long(self, seconds: float, stopped: bool) -> None:
        """The health monitor gave up: kill the process (its exit watcher takes it from
        there, as for a crash; the requests in flight fail with this reason)."""
        if stopped:
            self._kill_reason = (
                f"{self.key} was stopped (SIGSTOP or a debugger) and did not answer $/ping "
                f"within {self.spec.settings.ping_timeout:g} s: killed"
            )
        else:
            self._kill_reason = (
                f"{self.key} was unresponsive for {seconds:.0f} s (no $/ping answer): killed"
            )
        if self._process is not None:
            self._process.kill()

    def _cancel_ping(self) -> None:
        if self._ping is not None and self._ping is not asyncio.current_task():
            self._ping.cancel()
        self._ping = None

    # --- requests ----------------------------------------------------------------------------

    async def request(self, method: str, params: Any, result_type: type[T]) -> T:
        """Send a request to the runner, starting it first if needed.

        Raises :class:`RunnerCrashedError` if the runner dies meanwhile,
        :class:`RunnerUnavailableError` if it cannot be started, and the peer's
        :class:`~corral_protocol.RpcError` otherwise.
        """
        conn = await self.ensure_running()
        process = self._process
        self._in_flight += 1
        self._last_activity = self._clock()
        try:
            return await conn.request(method, params, result_type=result_type)
        except ConnectionClosedError:
            killed = self._kill_reason  # why the supervisor killed it, if it did
            code = await process.wait(1.0) if process is not None else None
            raise RunnerCrashedError(
                self.key,
                killed or f"{self.key} died during {method} ({describe_exit(code)})",
                exit_code=code,
                stderr_tail=process.stderr_tail.text() if process else "",
            ) from None
        finally:
            self._in_flight -= 1
            self._last_activity = self._clock()
            self._arm_idle()

    def notify(self, method: str, params: Any) -> None:
        """Send a notification if the runner is connected (else drop it)."""
        if self._conn is not None and not self._conn.is_closed:
            self._conn.notify(method, params)

    def _arm_idle(self) -> None:
        idle = self.spec.settings.idle_shutdown
        if idle <= 0 or self._in_flight:
            return
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        self._idle_handle = asyncio.get_running_loop().call_later(idle, self._idle_check)

    def _idle_check(self) -> None:
        idle = self.spec.settings.idle_shutdown
        if (
            self._state is S.RUNNING
            and not self._in_flight
            and self._clock() - self._last_activity >= idle * 0.99
        ):
            self._spawn_task(self.stop(f"idle for {idle:g} s"))

    # --- stopping ------------------------------------------------------------------------------

    async def stop(self, reason: str = "stopped on request") -> None:
        """Stop deliberately (never counted as a crash): shutdown+exit, SIGTERM, SIGKILL."""
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        state = self._state
        if state is S.STOPPED:
            return
        if state is S.STOPPING:
            while self._state is S.STOPPING:
                await self.wait_for_change()
            return
        if state in (S.RESTARTING, S.CRASHED, S.NO_VENV):
            if self._background is not None:
                self._background.cancel()
            self._set(E.STOP, reason)
            return
        background = self._background
        if state is S.STARTING and background is not None and not background.done():
            background.cancel()
            await asyncio.gather(background, return_exceptions=True)
        self._set(E.STOP, reason)
        self._cancel_ping()
        code = await self._shutdown_process()
        self._ready_at = None
        self._set(E.STOPPED_DONE, f"{reason} ({describe_exit(code)})")

    async def _shutdown_process(self) -> int | None:
        settings = self.spec.settings
        conn, process = self._conn, self._process
        self._conn = None
        if process is None:
            return None
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(settings.shutdown_timeout):
                    await conn.request("shutdown")
                conn.notify("exit")
        code = await process.wait(settings.shutdown_timeout)
        if code is None:
            process.signal(signal.SIGTERM if sys.platform != "win32" else signal.SIGINT)
            code = await process.wait(settings.terminate_timeout)
        if code is None:
            process.kill()
            code = await process.wait(5.0)
        if conn is not None:
            conn.close()
        await process.close()
        return code

    async def reconfigure(self) -> bool:
        """Send the current configuration (``runner/configure``, SPEC.md §9.3) to a Running
        runner whose configuration changed since it was configured: a hot reload, no
        restart. Returns whether it sent one. A failure to reconfigure restarts the runner
        (it then starts with the new configuration)."""
        conn = self._conn
        if self._state is not S.RUNNING or conn is None or self.spec.configure is None:
            return False
        configuration = self.spec.configure()
        if configuration == self._configured:
            return False
        try:
            result = await conn.request(
                "runner/configure", configuration, result_type=ConfigureResult
            )
        except (ConnectionClosedError, RpcError) as exc:
            await self.restart(f"reconfiguring failed ({exc})")
            return True
        self._configured = configuration
        self.load_errors = [h for h in result.handlers if h.error is not None]
        return True

    async def restart(self, reason: str = "restart requested") -> None:
        """Stop (if needed) and start again; resets the crash budget."""
        await self.stop(reason)
        self.policy.reset()
        self.start()

    async def aclose(self) -> None:
        """Stop and cancel every task of this runner."""
        await self.stop("workspace manager shutting down")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
