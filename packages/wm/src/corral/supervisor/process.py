"""One runner OS process: spawn, launch record, hello, output tails, exit (SPEC.md §2-§3).

:class:`RunnerProcess` starts the runner command as an argv list (never a shell), writes the
launch record on its stdin and closes it, reads the hello line within a deadline and a byte
bound, then keeps draining stdout and stderr into bounded tails that every error report
quotes. It knows nothing about JSON-RPC or restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import msgspec
from corral_protocol.messages import Hello, LaunchRecord

from .forkserver import ForkedProcess
from .spawn import PlainSpawner, ProcessHandle, Spawner
from .tail import OutputTail
from .tree import end_group, end_session

__all__ = ["OutputTail", "RunnerProcess", "StartError", "describe_exit", "process_stopped"]

MAX_HELLO_BYTES: Final = 65536
READ_CHUNK: Final = 65536


class StartError(Exception):
    """The runner did not become reachable: the reason, with its output tails."""

    def __init__(self, reason: str, *, stderr_tail: str = "", exit_code: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.stderr_tail = stderr_tail
        self.exit_code = exit_code

    def __str__(self) -> str:
        text = self.reason
        if self.stderr_tail.strip():
            text += "\nstderr (last lines):\n" + _indent(self.stderr_tail)
        return text


def describe_exit(code: int | None) -> str:
    """``exit code 3`` / ``killed by SIGKILL`` / ``still running``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def process_stopped(pid: int) -> bool:
    """Whether ``pid`` is in the stopped (``T``) or traced (``t``) state (Linux ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] in ("T", "t")


def _indent(text: str) -> str:
    return "\n".join(f"  | {line}" for line in text.splitlines())


class RunnerProcess:
    """A spawned runner process with its hello and output tails."""

    def __init__(self, proc: ProcessHandle, argv: Sequence[str]) -> None:
        self.proc = proc
        self.argv = list(argv)
        self.stdout_tail = OutputTail()
        self.stderr_tail = OutputTail()
        self.hello: Hello | None = None
        self._drains: list[asyncio.Task[None]] = []
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._watch = asyncio.get_running_loop().create_task(self._wait_exit())

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        record: LaunchRecord,
        *,
        cwd: Path,
        spawner: Spawner | None = None,
        preload: Sequence[str] = (),
    ) -> RunnerProcess:
        """Start ``argv`` in ``cwd`` with ``spawner`` (default: a plain spawn) and hand it
        the launch record; raises StartError. ``preload``: its handler modules (a hint for
        spawners that can import them ahead, see :mod:`corral.supervisor.spawn`)."""
        start = spawner or PlainSpawner()
        try:
            proc = await start.start(argv, cwd=cwd, limit=MAX_HELLO_BYTES + 1, preload=preload)
        except OSError as exc:
            raise StartError(f"cannot start runner command {list(argv)}: {exc}") from None
        process = cls(proc, argv)
        if proc.stdin is None:  # pragma: no cover - PIPE was requested
            raise StartError("no stdin pipe to the runner")
        try:
            proc.stdin.write(msgspec.json.encode(record) + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it died already: read_hello reports how
        return process

    async def _wait_exit(self) -> None:
        code = await self.proc.wait()
        if not self.exited.done():
            self.exited.set_result(code)

    async def read_hello(self, within: float) -> Hello:
        """Read the hello line; then start draining both streams into the tails.

        Raises :class:`StartError` when the runner exits first, prints something else,
        prints too much, or stays silent for ``within`` seconds.
        """
        if self.proc.stdout is None or self.proc.stderr is None:  # pragma: no cover
            raise StartError("no stdout/stderr pipes to the runner")
        self._drains.append(asyncio.create_task(self._drain(self.proc.stderr, self.stderr_tail)))
        try:
            async with asyncio.timeout(within):
                line = await self.proc.stdout.readuntil(b"\n")
        except TimeoutError:
            raise self._error(f"no hello line on stdout within {within:g} s") from None
        except asyncio.IncompleteReadError as exc:
            self.stdout_tail.feed(exc.partial)
            await self._settle()
            detail = f": {exc.partial[:200]!r}" if exc.partial else ""
            raise self._error(
                f"runner exited before its hello ({describe_exit(self.returncode)}){detail}"
            ) from None
        except asyncio.LimitOverrunError:
            raise self._error(
                f"no newline in the first {MAX_HELLO_BYTES} bytes of stdout (not a hello)"
            ) from None
        self.stdout_tail.feed(line)
        try:
            hello = msgspec.json.decode(line, type=Hello)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise self._error(
                f"runner printed something other than a hello on stdout: "
                f"{line[:200].decode(errors='replace')!r} ({exc})"
            ) from None
        self.hello = hello
        self._drains.append(asyncio.create_task(self._drain(self.proc.stdout, self.stdout_tail)))
        return hello

    async def _drain(self, stream: asyncio.StreamReader, tail: OutputTail) -> None:
        with contextlib.suppress(Exception):
            while data := await stream.read(READ_CHUNK):
                tail.feed(data)

    async def _settle(self) -> None:
        """Give a dying process a moment so its exit code and stderr can be reported."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(self.exited)
                await asyncio.gather(*self._drains, return_exceptions=True)

    def _error(self, reason: str) -> StartError:
        return StartError(reason, stderr_tail=self.stderr_tail.text(), exit_code=self.returncode)

    def signal(self, sig: int) -> None:
        """Send ``sig`` if the process still runs."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def is_stopped(self) -> bool:
        """Whether the process is stopped (SIGSTOP, a debugger): it cannot answer anything
        until continued. Linux only (``/proc``); elsewhere always False."""
        return process_stopped(self.pid)

    def kill(self) -> None:
        """SIGKILL (TerminateProcess on Windows) if still running; on POSIX its whole
        process group too (the runner leads one: it was started in a session of its own)."""
        exited = self.returncode is not None
        if not exited:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        end_group(self.pid, leader_exited=exited)

    async def wait(self, within: float | None = None) -> int | None:
        """The exit code, or None if it did not exit within ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                return await asyncio.shield(self.exited)
        except TimeoutError:
            return None

    async def close(self) -> None:
        """Kill if needed, end every process left in the runner's session (whatever its
        handlers started: :mod:`corral.supervisor.tree`), release the pipes and tasks."""
        self.kill()
        await self.wait(5.0)
        exited = self.returncode is not None
        await asyncio.to_thread(end_session, self.pid, leader_exited=exited)
        for task in (*self._drains, self._watch):
            task.cancel()
        await asyncio.gather(*self._drains, self._watch, return_exceptions=True)
        if isinstance(self.proc, ForkedProcess):
            self.proc.close()
            return
        transport = getattr(self.proc, "_transport", None)
        if transport is not None:
            transport.close()


def default_log_level() -> str:
    """The runner log level: ``CORRAL_RUNNER_LOG_LEVEL`` or ``info``."""
    level = os.environ.get("CORRAL_RUNNER_LOG_LEVEL", "info")
    return level if level in ("debug", "info", "warning", "error") else "info"
