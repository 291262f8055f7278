"""The WM server of one workspace: a long-lived Workspace Manager behind a socket.

:class:`WorkspaceServer` (SPEC.md Part II, docs/architecture.md#server):

* holds ``<key>.lock`` exclusively for its whole life (exactly one server per workspace,
  by a lock, not by luck), listens on ``<key>.sock`` (mode 0600, in the 0700 runtime
  directory) and answers only peers of its own user id, writes ``<key>.json`` once it
  answers, and removes both when it ends;
* serves any number of clients at once on one :class:`~corral.workspace.WorkspaceManager`
  (their runs interleave on the shared runners);
* watches the workspace (:mod:`.watch`): an edited ``[tool.corral]`` or ``corral.toml``
  reconfigures the runners of that project without a restart, a new project is picked up,
  an env whose inputs changed is prepared again before its next run;
* stops itself after ``idle_timeout`` seconds with no client and no run, on SIGTERM or
  SIGINT, or on ``server/stop``: runs are cancelled, runners stopped (cooperatively first).
  Killed with SIGKILL, it leaves no runner behind (runners exit when their parent dies) and
  the next client replaces its stale record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from corral_protocol import Connection, start_unix_server
from corral_protocol.client import CLIENT_SUPPORTED_VERSIONS, ServerInfo, ServerStatus

from .._version import __version__
from ..forkhint import EarlyServer
from ..runtime import Record, ServerPaths, exclusive_lock, process_start_time
from ..service import WorkspaceService
from ..workspace import WorkspaceManager
from .session import MAX_QUEUED_BYTES, Session
from .watch import watch_workspace

__all__ = ["DEFAULT_IDLE_TIMEOUT", "WorkspaceServer", "corral_version"]

DEFAULT_IDLE_TIMEOUT: Final = 3 * 3600.0
"""Seconds without a client and without a run after which a server stops itself."""
ALREADY_RUNNING: Final = 4
"""Exit status of a server that found another one holding the workspace's lock."""

_log = logging.getLogger("corral.server")


def corral_version() -> str:
    """This server's Corral version (:data:`corral._version.__version__`)."""
    return __version__


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (None: unknown)."""
    if sys.platform == "linux":
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", creds)[1])
    getpeereid = getattr(os, "getpeereid", None)  # BSDs and macOS, where Python has it
    if getpeereid is not None:
        return int(getpeereid(sock.fileno())[0])
    return None


class WorkspaceServer:
    """See the module docstring. :meth:`serve` runs it to the end; returns the exit status."""

    def __init__(
        self,
        root: Path,
        paths: ServerPaths,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        fork_server: EarlyServer | None = None,
        watch: bool = True,
    ) -> None:
        self.root = root.resolve()
        self.paths = paths
        self.idle_timeout = idle_timeout
        self._fork_server = fork_server
        self._watch = watch
        self._sessions: set[Session] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._stop_when_idle = False
        self._last_activity = time.monotonic()
        self._started = time.monotonic()
        self.version = corral_version()
        self.info = ServerInfo(
            name="corral",
            version=self.version,
            pid=os.getpid(),
            root=str(self.root),
            started=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        self.service: WorkspaceService

    # --- SessionHost ---------------------------------------------------------------------

    def check_token(self, token: str | None) -> bool:
        return False  # Unix sockets only today: no token is ever valid (see peer_uid)

    def activity(self) -> None:
        self._last_activity = time.monotonic()

    @property
    def stopping(self) -> bool:
        """Whether the server refuses new work (SPEC.md §17.6)."""
        return self._stop_when_idle or self._stopping.is_set()

    async def stop(self, *, when_idle: bool) -> None:
        """Stop once no run is in flight (``when_idle``), or now: every run of every session
        is answered -32800 (reason ``shutdown``) before this returns."""
        if when_idle:
            self._stop_when_idle = True
            _log.info("stop requested once idle")
            return
        _log.info("stop requested")
        self._stop_when_idle = True  # refuse new work while the runs are cancelled
        cancelled = [task for session in list(self._sessions) for task in session.cancel_runs()]
        await asyncio.gather(*cancelled, return_exceptions=True)
        self._stopping.set()

    def server_status(self) -> ServerStatus:
        return ServerStatus(
            pid=os.getpid(),
            version=self.version,
            protocol=list(CLIENT_SUPPORTED_VERSIONS),
            endpoint=f"unix:{self.paths.socket}",
            uptime=time.monotonic() - self._started,
            idle_timeout=self.idle_timeout,
            clients=[s.summary() for s in self._sessions if s.client is not None],
        )

    # --- serving ---------------------------------------------------------------------------

    async def serve(self) -> int:
        """Hold the lock, open the WM, listen, serve until told to stop or idle."""
        with exclusive_lock(self.paths.lock, wait=0) as held:
            if not held:
                other = Record.read(self.paths.record)
                who = f" (pid {other.pid})" if other is not None else ""
                _log.info("another server%s already serves %s", who, self.root)
                return ALREADY_RUNNING
            wm = await WorkspaceManager.open(self.root, fork_server=self._fork_server)
            self.service = WorkspaceService(wm)
            try:
                return await self._serve_locked()
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._close_sessions(), 5)
                await wm.aclose()
                self._forget()
                _log.info("server stopped")

    async def _serve_locked(self) -> int:
        with contextlib.suppress(FileNotFoundError):
            self.paths.socket.unlink()  # a dead server's socket: the lock says it is dead
        listener = await start_unix_server(
            self._connected,
            str(self.paths.socket),
            name="client",
            max_write_buffer=MAX_QUEUED_BYTES,
        )
        self.paths.socket.chmod(0o600)
        Record(
            pid=os.getpid(),
            start_time=process_start_time(os.getpid()) or "",
            endpoint=f"unix:{self.paths.socket}",
            token="",
            version=self.version,
            protocol=list(CLIENT_SUPPORTED_VERSIONS),
            root=str(self.root),
            started=self.info.started,
        ).write(self.paths.record)
        _log.info("serving %s on %s (pid %d)", self.root, self.paths.socket, os.getpid())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._signalled)
        tasks = [asyncio.create_task(self._idle_watch())]
        if self._watch:
            tasks.append(asyncio.create_task(self._watch_files()))
        try:
            await self._stopping.wait()
        finally:
            listener.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return 0

    def _signalled(self) -> None:
        """SIGTERM or SIGINT: stop as ``server/stop`` does."""
        task = asyncio.get_running_loop().create_task(self.stop(when_idle=False))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _connected(self, conn: Connection) -> None:
        sock = conn.extra_info("socket")
        uid = None if sock is None else peer_uid(sock)
        if uid is not None and uid != os.getuid():
            _log.warning("refused a connection from uid %d", uid)
            conn.close()
            return
        session = Session(self, conn, needs_token=uid is None)
        self._sessions.add(session)
        self.activity()

        async def forget() -> None:
            closed = await conn.wait_closed()
            if not closed.clean:
                who = "a client" if session.client is None else " ".join(session.client)
                _log.warning("disconnected %s: %s", who, closed.reason)
            self._sessions.discard(session)
            session.close()
            self.activity()

        asyncio.get_running_loop().create_task(forget())

    async def _close_sessions(self) -> None:
        for session in list(self._sessions):
            session.conn.close()
        await asyncio.gather(
            *(s.conn.wait_closed() for s in list(self._sessions)), return_exceptions=True
        )

    def _busy(self) -> bool:
        return any(s.runs for s in self._sessions)

    async def _idle_watch(self) -> None:
        """Stop after ``idle_timeout`` with no client and no run; or, when asked to stop
        once idle, as soon as no run is in flight."""
        tick = max(0.05, min(5.0, self.idle_timeout / 20))
        while not self._stopping.is_set():
            await asyncio.sleep(tick)
            if self._stop_when_idle and not self._busy():
                self._stopping.set()
            elif self._sessions or self._busy():
                continue
            elif time.monotonic() - self._last_activity >= self.idle_timeout:
                _log.info("idle for %.0f s: stopping", self.idle_timeout)
                self._stopping.set()

    async def _watch_files(self) -> None:
        async def changed(paths: set[Path]) -> None:
            _log.info("configuration changed (%s): reloading", ", ".join(map(str, sorted(paths))))
            try:
                await self.service.reload()
            except Exception:  # a reload problem must not take the server down
                _log.exception("reload failed")

        await watch_workspace(self.root, changed, stop=self._stopping)

    def _forget(self) -> None:
        """Remove the record and the socket, if they are still this server's."""
        record = Record.read(self.paths.record)
        if record is not None and record.pid == os.getpid():
            with contextlib.suppress(OSError):
                self.paths.record.unlink()
        with contextlib.suppress(OSError):
            self.paths.socket.unlink()
