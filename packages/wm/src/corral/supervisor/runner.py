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
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from corral_protocol import Connection, ConnectionClosedError, Router, RpcError, connect
from corral_protocol.messages import (
    ClientCapabilities,
    ClientInfo,
    ConfigureParams,
    ConfigureResult,
    HandlerLoadStatus,
    InitializedParams,
    InitializeParams,
    InitializeResult,
    LaunchRecord,
    PingParams,
    PingResult,
)
from corral_protocol.versions import SUPPORTED_VERSIONS, negotiate

from ..config import RunnerSettings
from ..errors import CorralError
from .events import EventBus, RunnerKey, RunnerStateChanged, RunnerStatus
from .forkserver import ForkServers
from .policy import RestartPolicy
from .process import RunnerProcess, StartError, default_log_level, describe_exit
from .states import RunnerEvent, RunnerState, transition

__all__ = [
    "ManagedRunner",
    "RunnerCrashedError",
    "RunnerSpec",
    "RunnerUnavailableError",
]

T = TypeVar("T")
S, E = RunnerState, RunnerEvent
WM_INFO = ClientInfo(name="corral", version="0.1.0")


class RunnerUnavailableError(CorralError):
    """The runner cannot serve requests now (never started, NO_VENV, crashed...).

    ``kind`` is the name handler outcomes carry as their error type when a runner problem
    fails them (``RunnerUnavailable``; ``RunnerCrashed`` for a runner that died mid-request).
    """

    kind = "RunnerUnavailable"

    def __init__(
        self,
        key: RunnerKey,
        reason: str,
        *,
        state: RunnerState | None = None,
        exit_code: int | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason
        self.state = state
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        text = self.reason
        if self.stderr_tail.strip() and self.stderr_tail not in text:
            text += "\nstderr (last lines):\n" + "\n".join(
                f"  | {line}" for line in self.stderr_tail.splitlines()
            )
        return text


class RunnerCrashedError(RunnerUnavailableError):
    """The runner died while a request was in flight."""

    kind = "RunnerCrashed"


@dataclass(frozen=True)
class RunnerSpec:
    """How to run one runner; supplied by the WM from configuration and environments."""

    key: RunnerKey
    command: Callable[[], list[str]]
    """The argv to start (a Python env: ``[<env python>, "-m", "corral_runner"]``)."""
    settings: RunnerSettings
    env_ready: Callable[[], tuple[bool, str]] = lambda: (True, "")
    """Cheap check: (ready, message naming the fix when not)."""
    configure: Callable[[], ConfigureParams] | None = None
    router_factory: Callable[[], Router] = Router
    """Serves the runner's requests to the WM (``project/runAction``...)."""
    wal_dir: Path | None = None
    conformance: bool = False
    log_level: str = field(default_factory=default_log_level)
    forker: ForkServers | None = None
    """Fork servers to start a Python runner from (None: always spawn ``command``)."""


def _negotiated(spoken: list[str]) -> str:
    """The version to propose in ``initialize``; StartError if no major is shared."""
    version = negotiate(SUPPORTED_VERSIONS, spoken)
    if version is None:
        raise StartError(f"runner speaks protocol {spoken}, the WM {list(SUPPORTED_VERSIONS)}")
    return str(version)


def _handler_modules(configuration: ConfigureParams | None) -> list[str]:
    """The modules of the configured ``module:attribute`` handler sources."""
    if configuration is None:
        return []
    modules = {
        handler.source.partition(":")[0]
        for action in configuration.actions.values()
        for handler in action.handlers
        if ":" in handler.source and not handler.source.startswith("entrypoint:")
    }
    return sorted(modules)


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
        """Spawn, hello, initialize, configure; then Running (or a failure)."""
        settings = self.spec.settings
        token = secrets.token_hex(32)
        record = LaunchRecord(
            protocol=list(SUPPORTED_VERSIONS),
            token=token,
            project=str(self.key.project),
            env=self.key.env,
            wal_dir=None if self.spec.wal_dir is None else str(self.spec.wal_dir),
            parent_pid=os.getpid(),
            log_level=self.spec.log_level,  # type: ignore[arg-type]
            conformance=self.spec.conformance,
        )
        process: RunnerProcess | None = None
        conn: Connection | None = None
        try:
            configuration = None if self.spec.configure is None else self.spec.configure()
            process = await RunnerProcess.spawn(
                self.spec.command(),
                record,
                cwd=self.key.project,
                forker=self.spec.forker,
                preload=[] if self.spec.forker is None else _handler_modules(configuration),
            )
            self._process = process
            process.exited.add_done_callback(functools.partial(self._exit_callback, process))
            hello = await process.read_hello(settings.hello_timeout)
            version = _negotiated(hello.protocol)
            async with asyncio.timeout(settings.initialize_timeout):
                conn = await connect(
                    "127.0.0.1", hello.port, self.spec.router_factory(), name=str(self.key)
                )
                result = await conn.request(
                    "initialize",
                    InitializeParams(
                        protocol_version=version,
                        token=token,
                        client_info=WM_INFO,
                        capabilities=ClientCapabilities(
                            max_message_size=conn.protocol.max_message_size
                        ),
                    ),
                    result_type=InitializeResult,
                )
                conn.protocol.peer_max_message_size = result.capabilities.max_message_size
                conn.notify("initialized", InitializedParams())
                if configuration is not None:
                    configured = await conn.request(
                        "runner/configure", configuration, result_type=ConfigureResult
                    )
                    self.load_errors = [h for h in configured.handlers if h.error is not None]
        except asyncio.CancelledError:
            await self._discard(process, conn)
            raise
        except (StartError, TimeoutError, OSError, RpcError, ConnectionClosedError) as exc:
            await self._discard(process, conn)
            self._failed(self._start_failure(exc, process))
            return
        except Exception as exc:  # a fault nobody foresaw: a failed start, never a hang
            with contextlib.suppress(Exception):
                await self._discard(process, conn)
            self._failed(self._start_failure(exc, process))
            return
        self._conn = conn
        self._ready_at = self._clock()
        self.policy.on_ready()
        self.last_error = None
        self._set(E.READY, f"ready (pid {process.pid}, port {hello.port})")
        self._ping = self._spawn_task(self._monitor(conn))
        self._arm_idle()

    def _start_failure(self, exc: BaseException, process: RunnerProcess | None) -> str:
        if isinstance(exc, StartError):
            return f"{self.key} failed to start: {exc}"
        if isinstance(exc, TimeoutError):
            reason = (
                f"{self.key} did not answer initialize within "
                f"{self.spec.settings.initialize_timeout:g} s"
            )
        elif isinstance(exc, (OSError, RpcError, ConnectionClosedError)):
            reason = f"{self.key} failed during initialize: {exc}"
        else:
            reason = f"{self.key} failed to start (unexpected {type(exc).__name__}: {exc})"
        if process is not None:
            tail = process.stderr_tail.text()
            if tail.strip():
                reason += "\nstderr (last lines):\n" + "\n".join(
                    f"  | {line}" for line in tail.splitlines()
                )
        return reason

    async def _discard(self, process: RunnerProcess | None, conn: Connection | None) -> None:
        if conn is not None:
            conn.close()
        if process is not None:
            await process.close()

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

    async def _monitor(self, conn: Connection) -> None:
        settings = self.spec.settings
        unhealthy_since: float | None = None
        while self._conn is conn and self._state in (S.RUNNING, S.UNHEALTHY):
            await asyncio.sleep(settings.ping_interval)
            try:
                async with asyncio.timeout(settings.ping_timeout):
                    await conn.request("$/ping", PingParams(), result_type=PingResult)
            except TimeoutError:
                now = self._clock()
                if self._state is S.RUNNING:
                    unhealthy_since = now
                    self._set(
                        E.UNRESPONSIVE,
                        f"no $/ping answer within {settings.ping_timeout:g} s",
                    )
                elif (
                    unhealthy_since is not None
                    and now - unhealthy_since >= settings.unhealthy_grace
                ):
                    self._kill_reason = (
                        f"{self.key} was unresponsive for {now - unhealthy_since:.0f} s "
                        f"(no $/ping answer): killed"
                    )
                    if self._process is not None:
                        self._process.kill()
                    return
            except (ConnectionClosedError, RpcError):
                return
            else:
                if self._state is S.UNHEALTHY:
                    unhealthy_since = None
                    self._set(E.RESPONSIVE, "answering $/ping again")

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
            code = await process.wait(1.0) if process is not None else None
            raise RunnerCrashedError(
                self.key,
                f"{self.key} died during {method} ({describe_exit(code)})",
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
