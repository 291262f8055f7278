"""The uv binary corral drives, and a subprocess helper with a deadline that kills for real.

uv is a Python dependency of corral (the ``uv`` distribution ships the binary);
:meth:`UvTool.bundled` finds it with ``uv.find_uv_bin()``: a ``uv`` on ``PATH`` is never
used. Every uv command gets :data:`UV_FLAGS`:

- ``--no-config``: ignore ``uv.toml`` / ``[tool.uv]`` files (user, system and the
  project's), so an environment depends only on its declared inputs;
- ``--no-progress`` and ``--color never``: plain, parseable output (kept for error
  reports, discarded on success).

Environment variables the user set for uv (index URLs, certificates, cache dir, ...) are
honoured, except those that would redirect the target interpreter (see
:func:`uv_environment`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

UV_FLAGS = ("--no-config", "--no-progress", "--color", "never")

# Variables that would make uv (or a build backend it runs) target another interpreter or
# import path than the one we name explicitly.
_DROPPED_VARIABLES = ("VIRTUAL_ENV", "CONDA_PREFIX", "UV_PYTHON", "PYTHONHOME", "PYTHONPATH")

# How long to wait for output to drain after a killed command.
_DRAIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class UvTool:
    """A uv binary by absolute path, and its version (``X.Y.Z``)."""

    path: Path
    version: str

    @classmethod
    def bundled(cls) -> UvTool:
        """The uv that ships with corral's ``uv`` dependency (no subprocess)."""
        import uv  # noqa: PLC0415  (keeps ``import corral.envs`` cheap)

        path = Path(uv.find_uv_bin())
        try:
            version = importlib.metadata.version("uv")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - odd installs
            return cls.at(path)
        return cls(path, version)

    @classmethod
    def at(cls, path: Path) -> UvTool:
        """A uv binary at ``path``; runs ``uv --version`` once (blocking, a few ms)."""
        result = subprocess.run(  # noqa: S603  (argv list, no shell)
            [str(path), "--version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        words = result.stdout.split()
        if result.returncode != 0 or len(words) < 2:
            raise RuntimeError(f"{path} --version failed: {result.stderr.strip()}")
        return cls(Path(path), words[1])

    def argv(self, *args: str) -> list[str]:
        """``[uv, *args]`` where ``args`` start with the subcommand; adds :data:`UV_FLAGS`."""
        if not args:
            raise ValueError("a uv subcommand is required")
        depth = 2 if args[0] == "pip" else 1
        return [str(self.path), *args[:depth], *UV_FLAGS, *args[depth:]]


def uv_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for uv and probe subprocesses: ``base`` (default ``os.environ``)
    minus interpreter-redirecting variables, plus quiet settings."""
    env = dict(os.environ if base is None else base)
    for name in _DROPPED_VARIABLES:
        env.pop(name, None)
    env["UV_NO_PROGRESS"] = "1"
    env["NO_COLOR"] = "1"
    return env


@dataclass(frozen=True)
class CommandResult:
    """A finished command: argv, exit status, combined stdout+stderr text, wall time."""

    argv: tuple[str, ...]
    returncode: int
    output: str
    duration: float

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the output."""
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


class CommandTimeoutError(Exception):
    """A command ran past its deadline and was killed (with its process group)."""

    def __init__(self, result: CommandResult, timeout: float) -> None:
        super().__init__(f"timed out after {timeout:g} s")
        self.result = result
        self.timeout = timeout


def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process's group (POSIX: uv and the build backends it started)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if sys.platform != "win32":
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()


async def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109  (kills the process group and keeps its partial output)
) -> CommandResult:
    """Run ``argv`` (no shell) to completion, capturing stdout and stderr together.

    Stdin is ``/dev/null``. The process gets its own session (POSIX), so on timeout or
    cancellation the whole group is SIGKILLed and reaped before this returns or raises.
    Raises :class:`CommandTimeoutError` (carrying the partial output) after ``timeout``
    seconds; ``OSError`` if the program cannot be started. A non-zero exit is *not* an
    exception: check ``returncode``.
    """
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    stdout = proc.stdout
    if stdout is None:  # pragma: no cover - guaranteed by stdout=PIPE
        raise RuntimeError("no stdout pipe")
    buffer = bytearray()

    async def drain(stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            buffer.extend(chunk)

    reader = asyncio.create_task(drain(stdout))
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(reader)
                await proc.wait()
        except TimeoutError:
            timed_out = True
    finally:
        if proc.returncode is None:
            _kill(proc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_DRAIN_TIMEOUT):
                    await proc.wait()
        if not reader.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_DRAIN_TIMEOUT):
                    await asyncio.shield(reader)
            reader.cancel()
    result = CommandResult(
        tuple(argv),
        proc.returncode if proc.returncode is not None else -1,
        buffer.decode(errors="replace"),
        time.monotonic() - start,
    )
    if timed_out:
        raise CommandTimeoutError(result, timeout)
    return result


def bundled_uv_version() -> str:
    """Version of corral's ``uv`` dependency, from its metadata (no subprocess, < 1 ms)."""
    try:
        return importlib.metadata.version("uv")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - odd installs
        return UvTool.bundled().version
