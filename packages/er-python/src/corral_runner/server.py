"""The runner process after its hello: connections, the v1 lifecycle, and exiting.

:class:`Runner` owns the process: the listening socket, the one authenticated
:class:`Session`, the executor, output capture, log forwarding, and the ways the process
ends (``exit``, connection close, SIGTERM, parent death). :meth:`Runner.run` returns the
exit code; ``__main__`` exits with it.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Final

import msgspec
from corral_protocol import (
    Connection,
    ErrorCode,
    RequestContext,
    RpcError,
    decode_params,
    start_server,
)
from corral_protocol.errordata import InvalidParamsData, UnsupportedProtocolVersionData
from corral_protocol.framing import DEFAULT_MAX_MESSAGE_SIZE
from corral_protocol.messages import (
    MAX_TEXT_BYTES,
    ConfigureParams,
    ConfigureResult,
    InitializedParams,
    InitializeParams,
    InitializeResult,
    LogLevel,
    LogParams,
    OutputParams,
    PingParams,
    PingResult,
    RunnerCapabilities,
    RunParams,
    RunResult,
)
from corral_protocol.methods import params_type
from corral_protocol.versions import SUPPORTED_VERSIONS, runner_answer
from corral_wal import make_writer_id
from corral_wal.journal import Journal
from msgspec import UNSET

from .executor import CURRENT_RUN_ID, OUTER_RUN_ID, Executor
from .fixtures import FIXTURES
from .launch import RUNNER_INFO, Launched
from .lifecycle import Lifecycle
from .loader import HandlerLoader
from .output import OutputCapture
from .parent import watch_parent
from .processes import end_own_group

__all__ = ["Runner", "Session"]

AUTH_DEADLINE: Final = 10.0
"""Seconds an unauthenticated connection may stay open."""
TERM_DEADLINE: Final = 5.0
"""Seconds between SIGTERM and a forced exit."""
EARLY_BUFFER: Final = 1000
"""Log/output notifications kept before ``initialized`` (the oldest are dropped)."""
MAX_LOG_MESSAGE: Final = MAX_TEXT_BYTES
"""``runner/log`` messages are truncated to this many UTF-8 bytes (SPEC.md §10.3)."""
MAX_OUTPUT_BACKLOG: Final = 8 * 1024 * 1024
"""Output is dropped (and counted) while the WM has this much unread data queued."""

_log = logging.getLogger("corral.runner")
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _params(method: str) -> type | None:
    return params_type(method, "wm-to-runner")


class _TokenOnly(msgspec.Struct):
    token: Any = None


class Session:
    """One accepted connection and its lifecycle; at most one becomes authenticated."""

    def __init__(self, runner: Runner, connection: Connection) -> None:
        self.runner = runner
        self.connection = connection
        self.lifecycle = Lifecycle()
        router = connection.router
        router.gate = self.lifecycle.admit
        # Params types come from the method table; initialize's raw params are checked by
        # hand (a wrong token closes the connection without a reply, SPEC.md §9.1).
        router.add_request("initialize", self.initialize, msgspec.Raw, inline=True)
        router.add_notification("initialized", self.initialized, _params("initialized"))
        router.add_request("runner/configure", self.configure, _params("runner/configure"))
        router.add_request("actions/run", self.run, _params("actions/run"))
        router.add_request("$/ping", self.ping, _params("$/ping"), inline=True)
        router.add_request(
            "shutdown",
            self.shutdown,
            _params("shutdown"),
            on_accepted=self.lifecycle.begin_shutdown,
        )
        router.add_notification("exit", self.exit, _params("exit"))
        self._auth_timer = runner.loop.call_later(AUTH_DEADLINE, self._auth_expired)
        self._configuring: asyncio.Future[None] | None = None

    def _auth_expired(self) -> None:
        if not self.lifecycle.authenticated:
            _log.warning("closing a connection that did not authenticate in %ss", AUTH_DEADLINE)
            self.connection.close()

    def initialize(self, raw: msgspec.Raw, ctx: RequestContext) -> InitializeResult | None:
        """Authenticate (wrong/missing token: close without a reply), then negotiate.

        Inline: the connection is authenticated (or closed) before the next message is read.
        """
        token: Any = None
        if bytes(raw)[:1] == b"{":  # non-object params: no token (SPEC.md §4)
            try:
                token = msgspec.json.decode(raw, type=_TokenOnly).token
            except msgspec.DecodeError:
                token = None
        expected = self.runner.launched.record.token
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
            _log.warning("initialize with a wrong or missing token: connection closed")
            self.connection.close()
            return None
        params: InitializeParams = decode_params(raw, InitializeParams)  # -32602 if invalid
        version = runner_answer(params.protocol_version, SUPPORTED_VERSIONS)
        if version is None:
            raise RpcError(
                ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
                f"protocol {params.protocol_version} is not supported",
                UnsupportedProtocolVersionData(supported=list(SUPPORTED_VERSIONS)),
            )
        if not self.runner.claim(self):
            self.connection.close()
            return None
        self.lifecycle.authenticated = True
        self._auth_timer.cancel()
        if params.capabilities.max_message_size is not UNSET:
            self.connection.protocol.peer_max_message_size = params.capabilities.max_message_size
        return InitializeResult(
            protocol_version=str(version),
            runner_info=RUNNER_INFO,
            capabilities=RunnerCapabilities(
                max_message_size=self.connection.protocol.max_message_size,
                conformance_fixtures=self.runner.launched.record.conformance,
                handler_sources=["module", "entryPoint"],
                sync_handlers=True,
            ),
        )

    def initialized(self, params: InitializedParams) -> None:
        self.lifecycle.initialized_notified = True
        self.runner.flush_early()

    async def configure(self, params: ConfigureParams, ctx: RequestContext) -> ConfigureResult:
        """Replace the configuration; runs received meanwhile wait for it (SPEC.md §9.3)."""
        for action, config in params.actions.items():
            names = [handler.name for handler in config.handlers]
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise RpcError(
                    ErrorCode.INVALID_PARAMS,
                    f"action {action!r} has duplicate handler names: {', '.join(duplicates)}",
                    InvalidParamsData(
                        path=f"$.actions.{action}.handlers", reason="duplicate handler name"
                    ),
                )
        done: asyncio.Future[None] = self.runner.loop.create_future()
        self._configuring = done
        try:
            # Imports may be slow: load in a thread so $/ping stays prompt meanwhile.
            actions, statuses = await asyncio.to_thread(self.runner.loader.configure, params)
        finally:
            done.set_result(None)
        self.runner.executor.actions = actions
        for status in statuses:
            if status.error is not None:
                _log.warning(
                    "handler %s of %s failed to load: %s: %s",
                    status.name,
                    status.action,
                    status.error.type,
                    status.error.message,
                )
        return ConfigureResult(handlers=statuses)

    async def run(self, params: RunParams, ctx: RequestContext) -> RunResult:
        if self._configuring is not None and not self._configuring.done():
            await asyncio.shield(self._configuring)
        self.runner.active_runs.add(params.run_id)
        try:
            return await self.runner.executor.run(params)
        finally:
            self.runner.active_runs.discard(params.run_id)
            self.runner.capture.flush()  # what the run printed goes out before its reply

    def ping(self, params: PingParams, ctx: RequestContext) -> PingResult:
        return PingResult()

    async def shutdown(self, params: None, ctx: RequestContext) -> None:
        """Cancel the runs in flight (each answered -32800, reason "shutdown"), let other
        requests finish, then answer null (SPEC.md §9.7)."""
        self.connection.cancel_requests(methods={"actions/run"}, reason="shutdown")
        others = self.connection.requests_in_flight(exclude=ctx.id)
        await asyncio.gather(*others, return_exceptions=True)
        self.runner.capture.flush()
        self.lifecycle.shutdown_answered = True  # the null reply is written right after this

    def exit(self, params: None) -> None:
        self.runner.exit(self.lifecycle.exit_code)


def _level_name(levelno: int) -> LogLevel:
    if levelno < logging.INFO:
        return "debug"
    if levelno < logging.WARNING:
        return "info"
    return "warning" if levelno < logging.ERROR else "error"


class _ForwardingLogHandler(logging.Handler):
    """Forwards log records to the WM as ``runner/log`` (thread-safe via the loop)."""

    def __init__(self, runner: Runner, level: int) -> None:
        super().__init__(level)
        self._runner = runner

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("corral_protocol"):
            return  # the protocol layer's own diagnostics would loop back into it
        try:
            message = self.format(record)
        except Exception:
            message = str(record.msg)
        if len(message) > MAX_LOG_MESSAGE // 4:  # cheap check first; bytes only when long
            encoded = message.encode()
            if len(encoded) > MAX_LOG_MESSAGE:
                message = encoded[: MAX_LOG_MESSAGE - 20].decode(errors="ignore") + " …(truncated)"
        params = LogParams(
            level=_level_name(record.levelno),
            message=message,
            logger=record.name,
            run_id=CURRENT_RUN_ID.get(),
        )
        self._runner.executor.call_in_loop(self._runner.send_early, "runner/log", params)


class Runner:
    """The runner process: see the module docstring."""

    def __init__(self, launched: Launched) -> None:
        self.launched = launched
        self.loop = asyncio.get_running_loop()
        record = launched.record
        self.session: Session | None = None
        self.candidates: set[Session] = set()
        self.active_runs: set[str] = set()
        self._early: collections.deque[tuple[str, Any]] = collections.deque(maxlen=EARLY_BUFFER)
        self._early_dropped = 0
        self._exit: asyncio.Future[int] = self.loop.create_future()
        self.executor = Executor(
            project=Path(record.project),
            env=record.env,
            notify=self.notify,
            connection=lambda: None if self.session is None else self.session.connection,
        )
        self.loader = HandlerLoader(
            project=Path(record.project), fixtures=FIXTURES, conformance=record.conformance
        )
        self.capture = OutputCapture(
            self.loop, self._send_output, OUTER_RUN_ID.get, self._single_active_run
        )

    # --- plumbing ----------------------------------------------------------------------

    def notify(self, method: str, params: Any) -> None:
        """Send a notification on the authenticated connection, if there is one.

        A notification too large for the WM is dropped with a warning (SPEC.md §5.5): it
        never raises into handler code.
        """
        if self.session is None or self.session.connection.is_closed:
            return
        try:
            self.session.connection.notify(method, params)
        except RpcError as error:
            if error.code != ErrorCode.MESSAGE_TOO_LARGE:
                raise
            _log.warning("dropped a %s notification: %s", method, error.message)

    def send_early(self, method: str, params: Any) -> None:
        """Logs: buffered (at most EARLY_BUFFER, oldest dropped) until ``initialized``."""
        if self.session is not None and self.session.lifecycle.initialized_notified:
            self.notify(method, params)
            return
        if len(self._early) == EARLY_BUFFER:
            self._early_dropped += 1
        self._early.append((method, params))

    def flush_early(self) -> None:
        if self._early_dropped:
            warning = LogParams(
                level="warning",
                message=f"{self._early_dropped} log records were dropped before initialized",
                logger="corral.runner",
            )
            self.notify("runner/log", warning)
            self._early_dropped = 0
        while self._early:
            self.notify(*self._early.popleft())
        self.capture.flush()

    def _send_output(self, params: OutputParams) -> bool:
        """Send one ``runner/output`` now, or say it must wait (not ready / WM behind)."""
        session = self.session
        if session is None or not session.lifecycle.initialized_notified:
            return False
        if session.connection.is_closed:
            return True  # nobody to send to: drop
        if session.connection.write_buffer_size > MAX_OUTPUT_BACKLOG:
            return False
        session.connection.notify("runner/output", params)
        return True

    def _single_active_run(self) -> str | None:
        """OS-level output cannot be attributed: name the run only when there is one."""
        return next(iter(self.active_runs)) if len(self.active_runs) == 1 else None

    # --- sessions ----------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        if self.session is not None:
            connection.close()  # one authenticated connection at a time: refuse, silently
            return
        session = Session(self, connection)
        self.candidates.add(session)
        self.loop.create_task(self._watch(session))

    async def _watch(self, session: Session) -> None:
        await session.connection.wait_closed()
        self.candidates.discard(session)
        if session is self.session:
            _log.info("connection closed: exiting")
            self.exit(session.lifecycle.exit_code)

    def claim(self, session: Session) -> bool:
        """Make ``session`` the authenticated one; close the other candidates."""
        if self.session is not None:
            return False
        self.session = session
        self.candidates.discard(session)
        for other in list(self.candidates):
            other.connection.close()
        return True

    # --- ending --------------------------------------------------------------------------

    def exit(self, code: int) -> None:
        """End the process with ``code`` (the first call wins)."""
        if not self._exit.done():
            self._exit.set_result(code)

    def _lifecycle_code(self) -> int:
        return 1 if self.session is None else self.session.lifecycle.exit_code

    def _on_parent_death(self) -> None:
        _log.warning("parent process %s died: exiting", self.launched.record.parent_pid)
        self.exit(self._lifecycle_code())

    def _on_sigterm(self) -> None:
        _log.info("SIGTERM: cancelling runs and exiting")
        code = self._lifecycle_code()
        threading.Timer(TERM_DEADLINE, self._force_exit, args=(code,)).start()
        if self.session is not None:
            self.session.connection.cancel_requests(methods={"actions/run"}, reason="shutdown")
        self.loop.call_soon(self.exit, code)

    def _force_exit(self, code: int) -> None:
        """The SIGTERM deadline passed: end the processes handlers started, then exit."""
        self.executor.processes.kill_all()
        os._exit(code)

    async def run(self) -> int:
        """Serve until something ends the process; return the exit code."""
        record = self.launched.record
        self.capture.start()
        logging.basicConfig(
            level=_LEVELS[record.log_level],
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=self.capture.diagnostics,
            force=True,
        )
        logging.getLogger().addHandler(_ForwardingLogHandler(self, _LEVELS[record.log_level]))
        self.executor.journal = Journal.open(
            record.wal_dir,
            make_writer_id("runner", record.env),
            meta={"program": "corral-runner", "version": RUNNER_INFO.version},
            sweep=False,  # the WM sweeps dead streams; 20 runners starting should not
        )
        server = await start_server(
            self._on_connection,
            "127.0.0.1",
            sock=self.launched.listener,
            max_message_size=DEFAULT_MAX_MESSAGE_SIZE,
            name="wm",
            cancel_abandoned_requests=False,  # $/cancelRequest is WM -> runner only
        )
        stop_watch = watch_parent(self.loop, record.parent_pid, self._on_parent_death)
        if sys.platform != "win32":
            self.loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        code = await self._exit
        stop_watch()
        server.close()
        for candidate in self.candidates:
            candidate.connection.close()
        if self.session is not None:
            await self.session.connection.aclose(grace=1.0)  # flush the last replies
        self.executor.shutdown()
        # What handlers started ends with the runner: their tools' process groups, then
        # any other child still in the runner's own group (corral_runner.processes).
        self.executor.processes.kill_all()
        end_own_group()
        if self.executor.journal is not None:
            self.executor.journal.close()
        return code
