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
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from ..forkhint import EarlyServer, fork_server_enabled, spawn_server, write_hint
from ..pyrunner import RUNNER_ARGS
from .tail import OutputTail

__all__ = ["ForkServerError", "ForkServers", "ForkedProcess", "fork_server_enabled"]

SPAWN_TIMEOUT: Final = 10.0
"""A fork server that does not answer a request within this is retired."""
START_TIMEOUT: Final = 30.0
LINE_LIMIT: Final = 1 << 20
MAX_SERVERS: Final = 4
"""Fork servers per base interpreter at most (each holds ~30 MB, shared with its runners)."""


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
    :class:`~corral.supervisor.process.RunnerProcess` uses. Its exit code is the one the
    fork server (its parent) reaped, delivered through ``exited``."""

    def __init__(
        self,
        pid: int,
        exited: asyncio.Future[int],
        *,
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        transports: Sequence[asyncio.BaseTransport],
    ) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._exited = exited
        self._transports = list(transports)
        self._pidfd: int | None = None
        if not exited.done():
            with contextlib.suppress(OSError, AttributeError):
                self._pidfd = os.pidfd_open(pid)  # signals never reach a recycled pid
            exited.add_done_callback(lambda _: self._close_pidfd())

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        if self._exited.done():
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


class _Process:
    """A fork server's process (a ``subprocess.Popen``: it may have been started before
    the event loop, see :mod:`corral.forkhint`) with asyncio streams over its pipes."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        transports: list[asyncio.BaseTransport],
    ) -> None:
        self.popen = popen
        self.stdout = stdout
        self.stderr = stderr
        self.transports = transports

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    async def wait(self) -> int:
        return await asyncio.to_thread(self.popen.wait)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()


class _Server:
    """One fork server process and its control socket."""

    def __init__(self, proc: _Process, control: socket.socket) -> None:
        self.proc = proc
        self.control = control
        self._exits: dict[int, asyncio.Future[int]] = {}
        """Exit codes of the children that have not exited, by pid; registered by the
        reader as it reads the fork answer, so an exit read right after it is never lost."""
        self._lock = asyncio.Lock()
        self._answers: asyncio.Queue[_Answer] = asyncio.Queue()
        self.stderr_tail = OutputTail()
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read())
        self._stderr = loop.create_task(self._drain_stderr())
        self.alive = True

    @classmethod
    async def start(cls, python: str, preload: Sequence[str] = ()) -> _Server:
        """Start a server from the env of ``python``, preloading handler modules
        ``preload`` too (those an installed distribution provides)."""
        process, control = spawn_server(python, preload)
        return await cls.adopt(EarlyServer(process, control, python, tuple(preload)))

    @classmethod
    async def adopt(cls, early: EarlyServer) -> _Server:
        """Take over a started server process; ForkServerError if it does not come up."""
        stdout, out = await _reader(early.process.stdout, LINE_LIMIT)
        stderr, err = await _reader(early.process.stderr, LINE_LIMIT)
        server = cls(_Process(early.process, stdout, stderr, [out, err]), early.control)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                ready = await server._answers.get()
        except TimeoutError:
            ready = _Answer(refused=f"no answer within {START_TIMEOUT:g} s")
        if ready.ready is None:
            await server.close()
            raise ForkServerError(
                f"the fork server of {early.python} did not start ({ready.refused}):\n"
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
            loop = asyncio.get_running_loop()
            while line := await stdout.readline():
                answer = msgspec.json.decode(line, type=_Answer)
                if answer.exited is not None:
                    exited = self._exits.get(answer.exited)
                    if exited is not None and not exited.done():
                        code = answer.code if answer.code is not None else -signal.SIGKILL
                        exited.set_result(code)
                    continue
                if answer.spawned is not None:
                    self._exits[answer.spawned] = loop.create_future()
                self._answers.put_nowait(answer)
        self._lost()

    def _lost(self) -> None:
        """The server is gone: its children's exit codes with it. Kill and report them."""
        self.alive = False
        for pid, exited in list(self._exits.items()):
            if not exited.done():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)  # not reaped: its parent just died
                exited.set_result(-signal.SIGKILL)
        self._answers.put_nowait(_Answer(refused="the fork server exited"))

    async def spawn(self, python: str, cwd: Path, limit: int) -> ForkedProcess | None:
        """Fork a runner for the env of ``python`` in ``cwd``; None if refused. ``limit``
        bounds a line read from its stdout (the hello).

        Cancelling the caller never leaves a forked runner behind: the exchange with the
        server completes and a child nobody will use is killed.
        """
        exchange = asyncio.get_running_loop().create_task(self._spawn(python, cwd, limit))
        try:
            return await asyncio.shield(exchange)
        except asyncio.CancelledError:
            exchange.add_done_callback(_discard_child)
            raise

    async def _spawn(self, python: str, cwd: Path, limit: int) -> ForkedProcess | None:
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
                    try:
                        async with asyncio.timeout(SPAWN_TIMEOUT):
                            pid = (await self._answers.get()).spawned
                    except TimeoutError:
                        self.retire()  # stuck (stopped?): ask it nothing more
                        raise OSError(f"no answer within {SPAWN_TIMEOUT:g} s") from None
        finally:
            for fd in theirs:
                os.close(fd)
            if pid is None:
                for fd in (stdin_w, stdout_r, stderr_r):
                    os.close(fd)
        if pid is None:
            return None
        exited = self._exits.get(pid)
        if exited is None:  # the server died right after forking it (_lost killed it)
            exited = asyncio.get_running_loop().create_future()
            exited.set_result(-signal.SIGKILL)
        try:
            child = await _attach(pid, exited, (stdin_w, stdout_r, stderr_r), limit)
        except BaseException:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            raise
        finally:  # the entry goes once the exit is known (the child has it now)
            exited.add_done_callback(lambda _: self._forget(pid, exited))
        return child

    def _forget(self, pid: int, exited: asyncio.Future[int]) -> None:
        if self._exits.get(pid) is exited:
            del self._exits[pid]

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
            self.proc.kill()
            await self.proc.wait()
        for task in (self._reader, self._stderr):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await task
        for transport in self.proc.transports:
            transport.close()


class ForkServers:
    """Fork servers by base interpreter; see the module docstring.

    An env is forked by the first server of its interpreter that accepts it (the one that
    did last time is asked first). When every server refuses it, a new server is started
    from the env itself (up to :data:`MAX_SERVERS` per interpreter), so envs with different
    sets of installed packages each get a server they match. Callers that arrive while a
    server starts wait for it rather than start another.
    """

    def __init__(self, *, root: Path | None = None, early: EarlyServer | None = None) -> None:
        """``root``: the workspace, where the env of each started server is recorded for
        the next command (:mod:`corral.forkhint`); ``early``: a server that command
        started before the WM existed, adopted when its interpreter is first needed."""
        self._servers: dict[tuple[str, ...], list[asyncio.Task[_Server]]] = {}
        self._all: list[asyncio.Task[_Server]] = []
        self._home: dict[str, asyncio.Task[_Server]] = {}
        self._refused: set[str] = set()
        self._generation = 0
        self._root = root
        self._early = early

    async def spawn(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        limit: int = LINE_LIMIT,
        preload: Sequence[str] = (),
    ) -> ForkedProcess | None:
        """A forked runner for ``argv`` (``[<env python>, "-m", "corral_runner"]``) in
        ``cwd``, or None: spawn it the ordinary way. ``limit`` bounds a line of its stdout
        (the hello); ``preload`` names its handler modules, which a server started for it
        imports up front."""
        if len(argv) != 3 or tuple(argv[1:]) != RUNNER_ARGS or argv[0] in self._refused:
            return None
        python = argv[0]
        key = _interpreter_key(Path(python))
        if key is None:
            return None
        generation = self._generation
        tasks = self._servers.setdefault(key, [])
        early = self._early
        if early is not None and _interpreter_key(Path(early.python)) == key:
            self._early, early.taken = None, True
            self._add(tasks, _Server.adopt(early))
        tried: set[asyncio.Task[_Server]] = set()
        started = False
        while True:
            home = self._home.get(python)
            for task in sorted((t for t in tasks if t not in tried), key=lambda t: t is not home):
                tried.add(task)
                child = await self._try(task, python, cwd, limit)
                if child is not None:
                    self._home[python] = task
                    return child
                if self._generation != generation:  # retired meanwhile: envs are changing
                    return None
            if started or self._live(tasks) >= MAX_SERVERS:
                break
            self._add(tasks, self._start(python, preload))  # tried in the next round
            started = True
        if started:  # even a server made from this env: not for this env
            self._refused.add(python)
        return None

    def _add(self, tasks: list[asyncio.Task[_Server]], starting: Awaitable[_Server]) -> None:
        task = asyncio.ensure_future(starting)
        tasks.append(task)
        self._all.append(task)

    @staticmethod
    def _live(tasks: list[asyncio.Task[_Server]]) -> int:
        return sum(1 for t in tasks if not t.done() or (t.exception() is None and t.result().alive))

    async def _start(self, python: str, preload: Sequence[str]) -> _Server:
        """A server from ``python``'s env; if it does not come up with the handler modules
        preloaded, one without them. Recorded for the next command once it is ready."""
        try:
            server = await _Server.start(python, preload)
        except ForkServerError:
            if not preload:
                raise
            preload = ()
            server = await _Server.start(python, preload)
        if self._root is not None:
            write_hint(self._root, python, preload)
        return server

    async def _try(
        self, task: asyncio.Task[_Server], python: str, cwd: Path, limit: int
    ) -> ForkedProcess | None:
        """A child from this server, or None (it failed to start, is gone, or refused)."""
        try:
            server = await asyncio.shield(task)
        except (OSError, ForkServerError):
            return None
        if not server.alive:
            return None
        try:
            return await server.spawn(python, cwd, limit)
        except OSError:  # the server went away mid-request
            server.retire()
            return None

    async def retire(self) -> None:
        """Envs are about to change: retire every server (new runners get a new one,
        forked from the env as it is then) and forget refusals and failed starts. The
        runners they forked keep running (their exits are still reported)."""
        self._generation += 1
        self._refused.clear()
        self._home.clear()
        self._servers.clear()
        if self._early is not None:  # never needed
            early, self._early = self._early, None
            await asyncio.to_thread(early.close)
        await asyncio.shield(self._each_server(_Server.retire))

    async def aclose(self) -> None:
        """Stop every fork server ever started (after the runners were stopped)."""
        await self.retire()
        closing: list[Awaitable[None]] = []
        await self._each_server(lambda server: closing.append(server.close()))
        self._all.clear()
        await asyncio.gather(*closing)

    async def _each_server(self, action: Callable[[_Server], object]) -> None:
        for task in list(self._all):
            with contextlib.suppress(Exception):
                action(await task)


async def _attach(
    pid: int, exited: asyncio.Future[int], pipes: tuple[int, int, int], limit: int
) -> ForkedProcess:
    """Wrap a forked child's pipe ends (our ends of its stdin, stdout, stderr) in streams."""
    stdin_w, stdout_r, stderr_r = pipes
    loop = asyncio.get_running_loop()
    stdout, out = await _reader(_pipe(stdout_r, "rb"), limit)
    stderr, err = await _reader(_pipe(stderr_r, "rb"), LINE_LIMIT)
    write_transport, write_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, _pipe(stdin_w, "wb")
    )
    stdin = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
    return ForkedProcess(
        pid,
        exited,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        transports=[out, err, write_transport],
    )


async def _reader(pipe: Any, limit: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    """An asyncio stream over a readable pipe file (its transport now owns it)."""
    reader = asyncio.StreamReader(limit=limit)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), pipe
    )
    return reader, transport


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
    except (OSError, UnicodeDecodeError):
        return None
    entries: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            entries[key.strip()] = value.strip()
    if "home" not in entries:
        return None
    return (entries["home"], entries.get("version_info", ""), entries.get("implementation", ""))
