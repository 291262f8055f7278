"""Finding the workspace's WM server, or starting one (SPEC.md Part II, discovery).

:func:`connect` reads the workspace's record in the runtime directory and connects. When no
server answers it starts one in the background (detached: its own session, no terminal,
its output to ``<key>.log``), under ``<key>.start.lock`` so that ten clients starting at
once start one server; the server itself holds ``<key>.lock`` for its life, so even a
start that races past the first lock cannot make two. A stale record (dead pid, a pid
reused by another process, a socket nobody listens on) is replaced, never trusted.

A server of another Corral version is asked to stop once its runs have finished, and a new
one is started (said on the ``notice`` callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final

from corral_protocol.messages import ClientInfo

from .._version import __version__
from ..errors import CorralError
from ..runtime import Record, ServerPaths, exclusive_lock, server_paths
from .session import ServerSession

__all__ = ["ServerStartError", "client_version", "connect", "start_server_process"]

START_TIMEOUT: Final = 60.0
"""Seconds a client waits for a server it started (or another client started) to answer."""


class ServerStartError(CorralError):
    """A server could not be started; the message quotes the end of its log."""


def client_version() -> str:
    """This client's Corral version (:data:`corral._version.__version__`)."""
    return __version__


async def _try(paths: ServerPaths, client: ClientInfo) -> ServerSession | None:
    """A session with the server the record names, if it is alive and answers."""
    record = Record.read(paths.record)
    if record is None or not record.alive() or not record.endpoint.startswith("unix:"):
        return None
    try:
        return await ServerSession.open(Path(record.endpoint.removeprefix("unix:")), client)
    except (OSError, TimeoutError, CorralError):
        return None


def start_server_process(
    root: Path, paths: ServerPaths, *, idle_timeout: float | None = None
) -> subprocess.Popen[bytes]:
    """Start ``corral server start --foreground`` for ``root``, detached (its own session,
    stdin from /dev/null, output appended to the log file, owner-only)."""
    argv = [sys.executable, "-m", "corral", "-C", str(root), "server", "start", "--foreground"]
    if idle_timeout is not None:
        argv += ["--idle-timeout", str(idle_timeout)]
    descriptor = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(  # noqa: S603  (our own interpreter and module, an argv)
            argv,
            stdin=subprocess.DEVNULL,
            stdout=descriptor,
            stderr=descriptor,
            cwd=root,
            start_new_session=sys.platform != "win32",
            close_fds=True,
        )
    finally:
        os.close(descriptor)


def _log_tail(paths: ServerPaths, lines: int = 20) -> str:
    try:
        text = paths.log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(f"  | {line}" for line in text.splitlines()[-lines:])


async def _wait_for(
    paths: ServerPaths, client: ClientInfo, process: subprocess.Popen[bytes] | None
) -> ServerSession:
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.01
    while time.monotonic() < deadline:
        session = await _try(paths, client)
        if session is not None:
            return session
        if process is not None and process.poll() not in (None, 0, 4):
            raise ServerStartError(
                f"the Corral server for {paths.root} exited with status {process.returncode}; "
                f"its log ({paths.log}) ends with:\n{_log_tail(paths)}"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise ServerStartError(
        f"no Corral server answered for {paths.root} within {START_TIMEOUT:g} s; "
        f"its log ({paths.log}) ends with:\n{_log_tail(paths)}"
    )


def _clear_stale(paths: ServerPaths) -> None:
    record = Record.read(paths.record)
    if record is None or not record.alive():
        for path in (paths.record, paths.socket):
            with contextlib.suppress(OSError):
                path.unlink()


async def connect(
    root: Path,
    *,
    client: ClientInfo,
    start: bool = True,
    notice: Callable[[str], None] = lambda _: None,
    idle_timeout: float | None = None,
) -> ServerSession:
    """A session with ``root``'s server, started first when none runs (see the module
    docstring). Raises :class:`ServerStartError`."""
    paths = server_paths(root)
    session = await _try(paths, client)
    if session is not None and session.server.version != client_version():
        notice(
            f"the Corral server of {paths.root} runs version {session.server.version}, this "
            f"corral is {client_version()}: it stops once its runs finish, and a new one starts"
        )
        await session.stop(when_idle=True)
        await session.aclose()
        await _wait_gone(paths)
        session = None
    if session is not None:
        return session
    if not start:
        raise ServerStartError(f"no Corral server runs for {paths.root}")
    async with _start_lock(paths):
        session = await _try(paths, client)  # another client started it meanwhile
        if session is not None:
            return session
        _clear_stale(paths)
        process = start_server_process(paths.root, paths, idle_timeout=idle_timeout)
        session = await _wait_for(paths, client, process)
    notice(
        f"started a Corral server for {paths.root} (pid {session.server.pid}); it stops "
        "after 3 h without use, or with: corral server stop"
    )
    return session


GONE_TIMEOUT: Final = 600.0
"""Seconds a client waits for an old server to finish its runs and stop."""


async def _wait_gone(paths: ServerPaths) -> None:
    """Wait until the server holding ``paths.lock`` has ended."""

    def wait() -> None:
        with exclusive_lock(paths.lock, wait=GONE_TIMEOUT):
            pass

    await asyncio.to_thread(wait)


@contextlib.asynccontextmanager
async def _start_lock(paths: ServerPaths) -> AsyncIterator[None]:
    """Hold ``<key>.start.lock`` (waiting in a thread, not on the event loop)."""
    lock = exclusive_lock(paths.start_lock, wait=START_TIMEOUT)
    held = await asyncio.to_thread(lock.__enter__)
    try:
        if not held:
            raise ServerStartError(
                f"another client has been starting the Corral server of {paths.root} for "
                f"{START_TIMEOUT:g} s; see {paths.log}"
            )
        yield
    finally:
        await asyncio.to_thread(lock.__exit__, None, None, None)
