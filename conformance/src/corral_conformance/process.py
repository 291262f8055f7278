"""Launching a runner process and watching its stdio and exit.

Contract:

* :meth:`RunnerProcess.start` spawns the runner command as an argv list (never a shell) in a
  fresh project directory (its cwd), with piped stdin/stdout/stderr, in a new process group
  (POSIX session / Windows process group) so teardown can kill wrappers' children too.
  With ``via_parent`` the runner is started through :mod:`corral_conformance.relay`.
* It then writes the launch line (or the case's raw bytes) to stdin and closes stdin.
* stdout: the first line (at most 64 KiB, SPEC "hello") is kept apart as :attr:`first_line`;
  later output is kept (bounded) for ``expectOutput`` and the transcript. stderr: a bounded
  tail for failure reports.
* :meth:`wait_exit` works also after the relay parent was killed (then the exit code is
  unknown: ``None``), by watching the pipes and the pid.
* :meth:`terminate` always leaves no process behind and never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

__all__ = ["HELLO_LINE_LIMIT", "RunnerProcess", "StreamCapture"]

HELLO_LINE_LIMIT: Final = 64 * 1024
_KEEP_BYTES: Final = 32 * 1024 * 1024
_TAIL_BYTES: Final = 64 * 1024
_LINE_RECORDS: Final = 200


class StreamCapture:
    """One output pipe of the runner, read to EOF in the background.

    ``split_first_line``: the first line (up to :data:`HELLO_LINE_LIMIT` bytes without its
    newline) is stored in :attr:`first_line`; :attr:`first_line_done` is set when it is
    complete, when the limit is exceeded (:attr:`first_line_overflow`), or at EOF.
    """

    def __init__(
        self,
        stream: asyncio.StreamReader,
        *,
        split_first_line: bool,
        on_line: Callable[[str], None],
    ) -> None:
        self._stream = stream
        self._split = split_first_line
        self._on_line = on_line
        self._lines_recorded = 0
        self._partial = bytearray()
        self.first_line: bytes | None = None
        self.first_line_overflow = False
        self.first_line_done = asyncio.Event()
        self.before_first_line = bytearray()
        self.data = bytearray()  # everything after the first line (bounded, keeps the tail)
        self.total = 0
        self.eof = asyncio.Event()
        if not split_first_line:
            self.first_line_done.set()
        self._task = asyncio.create_task(self._run(), name="runner-stdio")

    async def _run(self) -> None:
        try:
            while chunk := await self._stream.read(1 << 16):
                self.total += len(chunk)
                if not self.first_line_done.is_set():
                    chunk = self._scan_first_line(chunk)
                if chunk:
                    self._keep(chunk)
        except OSError:
            pass
        finally:
            if self._partial:
                self._record(bytes(self._partial))
                self._partial.clear()
            self.first_line_done.set()
            self.eof.set()

    def _scan_first_line(self, chunk: bytes) -> bytes:
        newline = chunk.find(b"\n")
        if newline < 0:
            self.before_first_line += chunk
            if len(self.before_first_line) > HELLO_LINE_LIMIT:
                self.first_line_overflow = True
                self.first_line_done.set()
            return b""
        self.before_first_line += chunk[:newline]
        if len(self.before_first_line) > HELLO_LINE_LIMIT:
            self.first_line_overflow = True
        else:
            self.first_line = bytes(self.before_first_line)
        self.first_line_done.set()
        return chunk[newline + 1 :]

    def _keep(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > _KEEP_BYTES:
            del self.data[: len(self.data) - _KEEP_BYTES]
        self._partial += chunk
        while (newline := self._partial.find(b"\n")) >= 0:
            self._record(bytes(self._partial[:newline]))
            del self._partial[: newline + 1]
        if len(self._partial) > 4096:
            self._record(bytes(self._partial))
            self._partial.clear()

    def _record(self, line: bytes) -> None:
        if self._lines_recorded < _LINE_RECORDS:
            self._lines_recorded += 1
            self._on_line(line[:2000].decode("utf-8", "replace").rstrip("\r"))

    def tail(self, limit: int = _TAIL_BYTES) -> str:
        """The last ``limit`` bytes of the stream (after the first line), as text."""
        source = self.data if self.data or not self.before_first_line else self.before_first_line
        return bytes(source[-limit:]).decode("utf-8", "replace")

    def text(self) -> str:
        """Everything kept (after the first line) as text."""
        return self.data.decode("utf-8", "replace")

    async def wait_closed(self) -> None:
        """Wait until the reader task has finished."""
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a live (non-zombie) process."""
    if os.name != "posix":  # pragma: no cover - Windows
        import ctypes  # noqa: PLC0415

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000 | 0x00100000, False, pid)
        if not handle:
            return False
        try:
            return bool(kernel32.WaitForSingleObject(handle, 0) == 0x102)
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


class RunnerProcess:
    """One launched runner (possibly behind a relay parent)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        via_parent: bool,
        on_output: Callable[[str, str, str], None],
    ) -> None:
        self.name = name
        self.argv = argv
        self.via_parent = via_parent
        self._on_output = on_output
        self._tmp = Path(tempfile.mkdtemp(prefix="corral-conformance-"))
        self.project = self._tmp / "project"
        self.project.mkdir()
        self.project_realpath = self.project.resolve()
        self._pidfile = self._tmp / "runner.pid"
        self.proc: asyncio.subprocess.Process | None = None
        self.stdout: StreamCapture | None = None
        self.stderr: StreamCapture | None = None
        self.hello: dict[str, Any] | None = None
        self.parent_killed = False
        self.exit_code: int | None = None
        self.exited = False

    @property
    def spawn_argv(self) -> list[str]:
        """The argv actually spawned (the relay's when ``via_parent``)."""
        if not self.via_parent:
            return list(self.argv)
        relay = Path(__file__).with_name("relay.py")
        return [sys.executable, str(relay), str(self._pidfile), *self.argv]

    async def start(self) -> int:
        """Spawn the process; return the pid to use as ``parentPid``. Raises OSError."""
        flags: dict[str, object] = {}
        if os.name == "posix":
            flags["start_new_session"] = True
        else:  # pragma: no cover - Windows
            flags["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        self.proc = await asyncio.create_subprocess_exec(
            *self.spawn_argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.project,
            **flags,  # type: ignore[arg-type]
        )
        assert self.proc.stdout is not None  # noqa: S101 - guaranteed by PIPE
        assert self.proc.stderr is not None  # noqa: S101
        self.stdout = StreamCapture(
            self.proc.stdout,
            split_first_line=True,
            on_line=lambda line: self._on_output(self.name, "stdout", line),
        )
        self.stderr = StreamCapture(
            self.proc.stderr,
            split_first_line=False,
            on_line=lambda line: self._on_output(self.name, "stderr", line),
        )
        return self.proc.pid if self.via_parent else os.getpid()

    async def write_stdin(self, data: bytes) -> None:
        """Write ``data`` to stdin and close it; a runner that already left is fine."""
        assert self.proc is not None  # noqa: S101 - started
        assert self.proc.stdin is not None  # noqa: S101 - PIPE
        stdin = self.proc.stdin
        try:
            if data:
                stdin.write(data)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()

    def runner_pid(self) -> int | None:
        """The runner's own pid: from the hello, else the relay's pid file, else the child."""
        if self.hello is not None and type(self.hello.get("pid")) is int:
            return int(self.hello["pid"])
        if self.via_parent:
            try:
                return int(self._pidfile.read_text())
            except (OSError, ValueError):
                return None
        return self.proc.pid if self.proc is not None else None

    def stderr_tail(self, limit: int = 4000) -> str:
        """The end of the runner's stderr, for failure reports."""
        return self.stderr.tail(limit) if self.stderr is not None else ""

    async def wait_exit(self, within: float) -> tuple[bool, int | None]:
        """Wait up to ``within`` s; return ``(exited, code)`` (code None when unknowable)."""
        assert self.proc is not None  # noqa: S101
        if self.exited:
            return True, self.exit_code
        if not self.parent_killed:
            code = await self._returncode(within)
            if code is None:
                return False, None
            self.exited, self.exit_code = True, code
            return True, code
        deadline = time.monotonic() + within
        pid = self.runner_pid()
        while time.monotonic() < deadline:
            pipes_closed = self.stdout is not None and self.stdout.eof.is_set()
            pipes_closed = pipes_closed and self.stderr is not None and self.stderr.eof.is_set()
            if pipes_closed or pid is None or not _pid_alive(pid):
                self.exited = True
                return True, None
            await asyncio.sleep(0.02)
        return False, None

    async def _returncode(self, within: float) -> int | None:
        """The spawned process's exit status once it has exited (None after ``within`` s).

        Polls ``returncode`` instead of awaiting ``Process.wait()``, which (depending on the
        Python version) also waits for the pipes to close - and a runner orphaned by
        ``killParent`` keeps the relay's pipes open.
        """
        assert self.proc is not None  # noqa: S101
        deadline = time.monotonic() + within
        while self.proc.returncode is None:
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.01)
        return self.proc.returncode

    async def kill_parent(self) -> None:
        """SIGKILL the relay parent and wait until it is reaped (so the runner sees it gone)."""
        assert self.proc is not None  # noqa: S101
        self.runner_pid()  # make sure the pid file was read while it is fresh
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self._returncode(5.0)
        self.parent_killed = True

    def send_signal(self, name: str) -> None:
        """Send signal ``name`` (e.g. ``"SIGTERM"``) the way the WM does (SPEC "Hello": the WM
        signals the process it spawned); through a relay parent, to the runner's own pid."""
        number = getattr(signal, name)
        pid = self.runner_pid() if self.via_parent else (self.proc.pid if self.proc else None)
        if pid is None:
            raise ProcessLookupError("the runner's pid is unknown (no hello yet)")
        os.kill(pid, number)

    async def terminate(self) -> None:
        """Kill everything that is left, reap, drain the pipes and delete the project dir."""
        proc = self.proc
        if proc is not None:
            pid = self.runner_pid()
            if os.name == "posix":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            if pid is not None and pid != proc.pid and _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            await self._returncode(5.0)
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            for capture in (self.stdout, self.stderr):
                if capture is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(capture.wait_closed(), 2)
        shutil.rmtree(self._tmp, ignore_errors=True)
