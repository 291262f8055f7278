"""The test-only runner process: listen, say hello, serve one authenticated connection,
watch the parent, exit with the right code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Final

from .. import __version__
from .actions import Actions
from .connection import Connection
from .launch import SPOKEN, LaunchError, LaunchRecord, read_launch_record
from .variants import Breaks
from .wal import Wal

__all__ = ["Runner", "main"]

MAX_MESSAGE_SIZE: Final = 64 * 1024 * 1024
_FIXED_PORT: Final = 47311
_AUTH_DEADLINE_S: Final = 10.0
_LEVELS: Final = ("debug", "info", "warning", "error")
_OUTPUT_BOUND: Final = 1024 * 1024
_RUNNER_INFO: Final = {
    "name": "corral-conformance-testrunner",
    "version": __version__,
    "language": "python",
}


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (zombies count as dead)."""
    if os.name != "posix":  # pragma: no cover - Windows: best effort
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


class Runner:
    """The state shared by the connections of one runner process."""

    def __init__(self, launch: LaunchRecord, breaks: Breaks) -> None:
        self.launch = launch
        self.breaks = breaks
        self.max_message_size = MAX_MESSAGE_SIZE
        self.wal: Wal | None = None
        if launch.wal_dir is not None and not breaks("no-wal"):
            self.wal = Wal(launch.wal_dir, launch.env, launch.project, breaks)
        self.actions = Actions(breaks, launch.conformance, self.output, self.wal)
        self.active: Connection | None = None
        self._buffer: list[tuple[str, dict[str, Any]]] = []
        self._waiting = {"stdout": 0, "stderr": 0}  # output bytes waiting for initialized
        self._dropped = {"stdout": 0, "stderr": 0}
        self.candidates: set[Connection] = set()
        self.shutdown_requested = False
        self.shutdown_answered = False
        self.ready = False
        self._done = asyncio.Event()
        self.exit_code = 1

    # --- lifecycle ------------------------------------------------------------------------

    def exit(self, code: int) -> None:
        """Exit with ``code`` (adjusted by the exit-code variants) - once."""
        if self._done.is_set():
            return
        if self.breaks("exit-code-0-always"):
            code = 0
        elif self.breaks("exit-code-1-always"):
            code = 1
        self.exit_code = code
        self._done.set()

    def authenticate(self, conn: Connection) -> bool:
        """Make ``conn`` the authenticated connection; False if another already won."""
        if self.active is not None and not self.breaks("accept-second-connection"):
            return False
        self.active = conn
        conn.authenticated = True
        self.candidates.discard(conn)
        if not self.breaks("keep-losing-candidates"):
            for other in list(self.candidates):
                other.close()
        return True

    def initialize_result(self, version: str) -> dict[str, Any]:
        info = dict(_RUNNER_INFO)
        if self.breaks("runner-info-mismatch"):
            info["version"] += "-other"
        return {
            "protocolVersion": version,
            "runnerInfo": info,
            "capabilities": {
                "maxMessageSize": self.max_message_size,
                "conformanceFixtures": self.launch.conformance,
                "handlerSources": [],
                "syncHandlers": False,
            },
        }

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a log/output notification, buffered until ``initialized`` (SPEC)."""
        if self.ready or self.breaks("log-before-initialized"):
            if self.active is not None:
                self.active.notify(method, params)
        else:
            self._buffer.append((method, params))
            if method == "runner/output":
                self._bound(params["stream"], len(params["text"].encode("utf-8")))

    def _bound(self, stream: str, added: int) -> None:
        """At most 1 MiB of output waits per stream: drop the oldest, count it (SPEC §10.3)."""
        self._waiting[stream] += added
        if self.breaks("output-unbounded"):
            return
        while self._waiting[stream] > _OUTPUT_BOUND:
            index = next(
                i
                for i, (m, p) in enumerate(self._buffer)
                if m == "runner/output" and p["stream"] == stream
            )
            size = len(self._buffer.pop(index)[1]["text"].encode("utf-8"))
            self._waiting[stream] -= size
            if not self.breaks("output-dropped-uncounted"):
                self._dropped[stream] += size

    def log(self, level: str, message: str) -> None:
        """A ``runner/log`` record, if at or above the launch logLevel."""
        if _LEVELS.index(level) >= _LEVELS.index(self.launch.log_level) or self.breaks(
            "log-level-ignored"
        ):
            self._notify("runner/log", {"level": level, "message": message, "logger": "testrunner"})

    def output(self, stream: str, text: str, run_id: str) -> None:
        """Forward captured handler output as ``runner/output``."""
        attributed = None if self.breaks("output-runid-null") else run_id
        params = {"stream": stream, "text": text, "runId": attributed}
        if self.breaks("output-after-reply"):
            asyncio.get_running_loop().call_later(0.05, self._notify, "runner/output", params)
        else:
            self._notify("runner/output", params)

    def on_initialized(self, conn: Connection) -> None:
        if not self.ready:
            self.ready = True
            buffered, self._buffer = self._buffer, []
            for method, params in buffered:
                stream = str(params.get("stream"))
                if method == "runner/output" and self._dropped.get(stream):
                    conn.notify(method, {**params, "dropped": self._dropped[stream]})
                    self._dropped[stream] = 0
                else:
                    conn.notify(method, params)
            self.log("info", "ready")

    async def shutdown(self, conn: Connection) -> None:
        """Cancel (or, broken, await) every other in-flight request, then answer null."""
        self.shutdown_requested = True
        current = asyncio.current_task()
        others = [(key, task) for key, task in conn.in_flight_items() if task is not current]
        if not self.breaks("shutdown-waits-for-runs"):
            for key, task in others:
                conn.cancel_task(key, task, "shutdown")
        if others:
            await asyncio.wait([task for _, task in others])
        self.shutdown_answered = True

    def _on_sigterm(self) -> None:
        """SPEC §8.4: cancel the runs (-32800, reason shutdown), then exit 0 or 1."""
        conn = self.active
        tasks = []
        if conn is not None and not conn.closed and not self.shutdown_requested:
            for key, task in conn.in_flight_items():
                conn.cancel_task(key, task, "shutdown")
                tasks.append(task)

        async def finish() -> None:
            if tasks:
                await asyncio.wait(tasks, timeout=4)
            self.exit(0 if self.shutdown_answered else 1)

        self._sigterm_task = asyncio.get_running_loop().create_task(finish())

    def connection_closed(self, conn: Connection) -> None:
        self.candidates.discard(conn)
        if conn is self.active:
            self.exit(0 if self.shutdown_answered else 1)

    # --- serving --------------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active is not None and not self.breaks("accept-second-connection"):
            writer.close()
            return
        conn = Connection(self, reader, writer)
        self.candidates.add(conn)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(
            _AUTH_DEADLINE_S, lambda: None if conn.authenticated else conn.close()
        )
        try:
            await conn.serve()
        finally:
            timer.cancel()

    async def _watch_parent(self) -> None:
        pid = self.launch.parent_pid
        original_ppid = os.getppid()
        while True:
            await asyncio.sleep(0.1)
            reparented = original_ppid == pid and os.getppid() != pid
            if reparented or not _alive(pid):
                self.exit(1)
                return

    async def serve(self) -> int:
        """Listen, say hello, serve until exit; return the exit code."""
        port = _FIXED_PORT if self.breaks("fixed-port") else 0
        try:
            server = await asyncio.start_server(self._on_connect, "127.0.0.1", port)
        except OSError as exc:
            sys.stderr.write(f"cannot listen on 127.0.0.1:{port}: {exc}\n")
            return 4
        bound = server.sockets[0].getsockname()[1]
        if self.breaks("print-before-hello"):
            sys.stdout.write("starting the test-only runner\n")
        hello = {
            "corral": "hello",
            "protocol": list(SPOKEN),
            "port": bound + 1 if self.breaks("hello-wrong-port") else bound,
            "pid": os.getpid(),
            "runner": dict(_RUNNER_INFO),
        }
        indent = 2 if self.breaks("multiline-hello") else None
        sys.stdout.write(json.dumps(hello, indent=indent) + "\n")
        sys.stdout.flush()
        watcher = None
        if not self.breaks("ignore-parent-death"):
            watcher = asyncio.create_task(self._watch_parent())
        handled = not (self.breaks("ignore-sigterm") or self.breaks("sigterm-default"))
        if hasattr(signal, "SIGTERM") and handled:
            with contextlib.suppress(NotImplementedError):  # Windows event loops
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._on_sigterm)
        await self._done.wait()
        if self.wal is not None:
            self.wal.close()
        if watcher is not None:
            watcher.cancel()
        server.close()
        if self.active is not None:
            self.active.close()
        return self.exit_code


def main(breaks: Breaks) -> int:
    """Run the test-only runner; return its exit code."""
    if breaks("ignore-sigterm") and hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        launch = read_launch_record(breaks)
    except LaunchError as exc:
        sys.stderr.write(f"corral-conformance-testrunner: {exc}\n")
        return exc.code
    code = asyncio.run(Runner(launch, breaks).serve())
    sys.stdout.flush()
    sys.stderr.flush()
    return code
