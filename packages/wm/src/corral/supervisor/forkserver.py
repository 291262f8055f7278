"""Starting Python runners through the reference runner's fork server (Linux only).

:class:`ForkServers` keeps one fork server per base interpreter (``corral_runner.forkserver``,
started from the first env that needs one) and hands out :class:`ForkedProcess` objects
that look, to :class:`~corral.supervisor.process.RunnerProcess`, like the
``asyncio.subprocess.Process`` of an ordinary spawn: the same pipes, pid, exit code and
signals. Anything it cannot serve (another runner command, an env the server refuses, a
server that will not start) returns ``None`` and the runner is spawned the ordinary way, so
the fork server only ever makes starts cheaper, never impossible.

If a fork server dies, the runners it forked are killed (their exit codes went with it) and
reported as ``killed by SIGKILL``; supervision restarts them like any crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from .tail import OutputTail

__all__ = ["ForkServerError", "ForkServers", "ForkedProcess", "fork_server_enabled"]

RUNNER_MODULE: Final = ("-m", "corral_runner")
BOOTSTRAP: Final = (
    "import sys, site; base = list(sys.path); site.main(); "
    "from corral_runner.forkserver import serve; serve(base, int(sys.argv[1]))"
)
"""The ``-c`` program of ``<env python> -S -c BOOTSTRAP <control fd>`` (see
``corral_runner.forkserver``): ``-S`` lets it record the interpreter's own ``sys.path``
before ``site.main()`` adopts the env."""
START_TIMEOUT: Final = 30.0
LINE_LIMIT: Final = 1 << 20


def fork_server_enabled() -> bool:
    """Linux, and not turned off with ``CORRAL_FORK_SERVER=0``."""
    return sys.platform == "linux" and os.environ.get("CORRAL_FORK_SERVER", "1") != "0"


class ForkServerError(Exception):
    """A fork server did not start; the message ends with its stderr."""


class _Answer(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    ready: int | None = None
    spawned: int | None = None
    refused: str | None = None
    exited: int | None = None
    code: int | None = None


class ForkedProcess:
    """A runner forked by a fork server: the subset of ``asyncio.subprocess.Process`` that
    :class:`~corral.supervisor.process.RunnerProcess` uses."""

    def __init__(
        self,
        pid: int,
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        transports: Sequence[asyncio.BaseTransport],
    ) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._transports = list(transports)
        self._exited = asyncio.get_running_loop().create_future()
        self._pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self._pidfd = os.pidfd_open(pid)  # signals never reach a recycled pid

    def _set_exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._exited.set_result(code)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    async def wait(self) -> int:
        result: int = await asyncio.shield(self._exited)
        return result

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None:
            return
        if self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, sig)
        else:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Close the pipes (the process itself is the caller's business)."""
        for transport in self._transports:
            transport.close()


class _Server:
    """One fork server process and its control socket."""

    def __init__(self, proc: asyncio.subprocess.Process, control: socket.socket) -> None:
        self.proc = proc
        self.control = control
        self.children: dict[int, ForkedProcess] = {}
        self._lock = asyncio.Lock()
        self._answers: asyncio.Queue[_Answer] = asyncio.Queue()
        self.stderr_tail = OutputTail()
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read())
        self._stderr = loop.create_task(self._drain_stderr())
        self.alive = True

    @classmethod
    async def start(cls, python: str) -> _Server:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = await asyncio.create_subprocess_exec(
                python,
                "-S",
                "-c",
                BOOTSTRAP,
                str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                limit=LINE_LIMIT,
            )
        finally:
            theirs.close()
        server = cls(proc, ours)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                ready = await server._answers.get()
        except TimeoutError:
            ready = _Answer(refused=f"no answer within {START_TIMEOUT:g} s")
        if ready.ready is None:
            await server.close()
            await server._stderr
            raise ForkServerError(
                f"the fork server of {python} did not start ({ready.refused}):\n"
                + server.stderr_tail.text()
            )
        return server

    async def _drain_stderr(self) -> None:
        stderr = self.proc.stderr
        with contextlib.suppress(Exception):
            while stderr is not None and (data := await stderr.read(65536)):
                self.stderr_tail.feed(data)

    async def _read(self) -> None:
        stdout = self.proc.stdout
        if stdout is None:  # pragma: no cover - PIPE was requested
            raise RuntimeError("no stdout pipe from the fork server")
        with contextlib.suppress(Exception):
            while line := await stdout.readline():
                answer = msgspec.json.decode(line, type=_Answer)
                if answer.exited is not None:
                    child = self.children.pop(answer.exited, None)
                    if child is not None:
                        child._set_exit(answer.code if answer.code is not None else -9)
                else:
                    self._answers.put_nowait(answer)
        self._lost()

    def _lost(self) -> None:
        """The server is gone: its children's exit codes with it. Kill and report them."""
        self.alive = False
        for child in self.children.values():
            with contextlib.suppress(OSError):
                child.kill()
            child._set_exit(-signal.SIGKILL)
        self.children.clear()
        self._answers.put_nowait(_Answer(refused="the fork server exited"))

    async def spawn(self, python: str, cwd: Path) -> ForkedProcess | None:
        """Fork a runner for the env of ``python`` in ``cwd``; None if refused.

        Cancelling the caller never leaves a forked runner behind: the exchange with the
        server completes and a child nobody will use is killed.
        """
        exchange = asyncio.get_running_loop().create_task(self._spawn(python, cwd))
        try:
            return await asyncio.shield(exchange)
        except asyncio.CancelledError:
            exchange.add_done_callback(_discard_child)
            raise

    async def _spawn(self, python: str, cwd: Path) -> ForkedProcess | None:
        loop = asyncio.get_running_loop()
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        theirs = (stdin_r, stdout_w, stderr_w)
        pid = None
        try:
            async with self._lock:
                if self.alive:
                    request = msgspec.json.encode({"python": python, "cwd": str(cwd)})
                    socket.send_fds(self.control, [request], list(theirs))
                    pid = (await self._answers.get()).spawned
        finally:
            for fd in theirs:
                os.close(fd)
            if pid is None:
                for fd in (stdin_w, stdout_r, stderr_r):
                    os.close(fd)
        if pid is None:
            return None
        transports: list[asyncio.BaseTransport] = []
        stdout = asyncio.StreamReader(limit=LINE_LIMIT, loop=loop)
        stderr = asyncio.StreamReader(limit=LINE_LIMIT, loop=loop)
        for fd, reader in ((stdout_r, stdout), (stderr_r, stderr)):
            transport, _ = await loop.connect_read_pipe(
                lambda reader=reader: asyncio.StreamReaderProtocol(reader),  # type: ignore[misc]
                _pipe(fd, "rb"),
            )
            transports.append(transport)
        write_transport, write_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, _pipe(stdin_w, "wb")
        )
        transports.append(write_transport)
        stdin = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
        child = ForkedProcess(pid, stdin, stdout, stderr, transports)
        self.children[pid] = child
        return child

    def retire(self) -> None:
        """Take no more requests; the server exits after its last child (which keep
        running, their exits still reported)."""
        self.alive = False
        self.control.close()

    async def close(self) -> None:
        """Retire, and wait for the server to exit (kill it after 5 s)."""
        self.retire()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self.proc.wait()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        for task in (self._reader, self._stderr):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await task


class ForkServers:
    """Fork servers by base interpreter; see the module docstring."""

    def __init__(self) -> None:
        self._servers: dict[tuple[str, ...], asyncio.Task[_Server]] = {}
        self._refused: set[str] = set()
        self._retired: list[_Server] = []

    async def spawn(self, argv: Sequence[str], cwd: Path) -> ForkedProcess | None:
        """A forked runner for ``argv`` (``[<env python>, "-m", "corral_runner"]``) in
        ``cwd``, or None: spawn it the ordinary way."""
        if len(argv) != 3 or tuple(argv[1:]) != RUNNER_MODULE or argv[0] in self._refused:
            return None
        python = argv[0]
        key = _interpreter_key(Path(python))
        if key is None:
            return None
        task = self._servers.get(key)
        if task is None or (
            task.done() and task.exception() is None and not task.result().alive
        ):  # none yet, or it died: (re)start it; one that failed to start stays failed
            if task is not None:
                self._retired.append(task.result())
            task = asyncio.get_running_loop().create_task(_Server.start(python))
            self._servers[key] = task
        try:
            server = await asyncio.shield(task)
        except (OSError, ForkServerError):
            return None
        try:
            child = await server.spawn(python, cwd)
        except OSError:  # the server went away mid-request: spawn this one normally
            server.retire()
            return None
        if child is None and server.alive:
            self._refused.add(python)
        return child

    async def retire(self) -> None:
        """Envs are about to change: retire every server (new runners get a new one,
        forked from the env as it is then) and forget refusals and failed starts."""
        self._refused.clear()
        tasks = list(self._servers.values())
        self._servers.clear()
        for task in tasks:
            with contextlib.suppress(Exception):
                server = await task
                server.retire()
                self._retired.append(server)

    async def aclose(self) -> None:
        """Stop every fork server, retired ones too (after the runners were stopped)."""
        await self.retire()
        servers, self._retired = self._retired, []
        await asyncio.gather(*(server.close() for server in servers))


def _pipe(fd: int, mode: str) -> Any:
    """A raw file object over ``fd``, for a pipe transport (which then owns it)."""
    return os.fdopen(fd, mode, buffering=0)


def _discard_child(exchange: asyncio.Task[ForkedProcess | None]) -> None:
    child = None if exchange.cancelled() or exchange.exception() else exchange.result()
    if child is not None:
        with contextlib.suppress(OSError):
            child.kill()
        child.close()


def _interpreter_key(python: Path) -> tuple[str, ...] | None:
    """The env's base interpreter as ``pyvenv.cfg`` names it (None: not a venv)."""
    try:
        text = (python.parent.parent / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    entries: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            entries[key.strip()] = value.strip()
    if "home" not in entries:
        return None
    return (entries["home"], entries.get("version_info", ""), entries.get("implementation", ""))
