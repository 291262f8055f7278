"""Running a tool of the handler's environment as a cancellable subprocess.

Tools run as ``<this interpreter> -P -m <module> ...``: the interpreter running the handler
is the environment's, so the tool is whatever that environment has installed. ``-P`` keeps
the project directory (the tool's working directory) off ``sys.path``, so a project that
happens to contain a ``ruff/`` or ``mypy/`` directory cannot shadow the installed tool. No
shell is involved, and paths are passed after ``--`` so none can be taken for an option.

Tools run through ``ActionContext.run_process``: each leads its own process group, and when
the run is cancelled the whole group (the tool and whatever it started) is killed and the
tool reaped before the cancellation propagates (:mod:`corral_runner.processes`; on Windows
only the tool process itself is killed).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import sysconfig
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec
from corral_runner.sdk import ActionContext

__all__ = [
    "ConfigError",
    "PathList",
    "Tool",
    "ToolError",
    "ToolMissing",
    "ToolRun",
    "load_config",
    "run_all",
    "run_tool",
    "tool_paths",
]

STDERR_TAIL_LINES = 30
STDERR_TAIL_CHARS = 4000

C = TypeVar("C")
T = TypeVar("T")

PathList = list[Annotated[str, msgspec.Meta(min_length=1, pattern="^[^\\x00]*$")]]
"""Paths as handler params carry them: non-empty, no NUL."""


class ToolError(Exception):
    """A tool failed: it exited with a status that does not mean "findings", or its output
    could not be parsed. The message ends with the tail of the tool's standard error."""


class ToolMissing(ToolError):  # noqa: N818  (the name is part of the handler contract)
    """The tool is not installed in the handler's environment; the message says where to
    add it."""


class ConfigError(Exception):
    """A handler's ``config`` table does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool, and the requirement that installs it.

    It runs as the native executable ``binary`` from the environment's scripts directory
    when it has one there (ruff does: no interpreter start per call), else as
    ``python -P -m <module>``.
    """

    name: str
    module: str
    requirement: str
    binary: str | None = None

    def argv(self) -> list[str]:
        """How to start the tool in this environment."""
        if self.binary is not None:
            suffix = ".exe" if sys.platform == "win32" else ""
            executable = _scripts_directory() / f"{self.binary}{suffix}"
            if executable.is_file() and os.access(executable, os.X_OK):
                return [str(executable)]
        return [sys.executable, "-P", "-m", self.module]

    def missing(self, ctx: ActionContext[Any]) -> ToolMissing:
        """The :class:`ToolMissing` for this tool in ``ctx``'s environment."""
        key = _toml_key(ctx.env)
        return ToolMissing(
            f'{self.name} is not installed in environment "{ctx.env}" of project '
            f'{ctx.project}: add "{self.requirement}" to [tool.corral.envs.{key}].dependencies '
            "(or to the handler's dependencies) and run: corral prepare-envs"
        )


@dataclass(frozen=True, slots=True)
class ToolRun:
    """A finished tool process: exit status and captured output."""

    command: str
    returncode: int
    stdout: bytes
    stderr: bytes

    def stderr_tail(self) -> str:
        """The last lines of standard error, bounded in size."""
        text = self.stderr.decode(errors="replace").rstrip()
        tail = "\n".join(text.splitlines()[-STDERR_TAIL_LINES:])
        return tail[-STDERR_TAIL_CHARS:]

    def failure(self, what: str | None = None) -> ToolError:
        """A :class:`ToolError` describing this run (``what`` replaces the default reason)."""
        reason = what or f"exited with status {self.returncode}"
        tail = self.stderr_tail()
        return ToolError(f"{self.command} {reason}" + (f":\n{tail}" if tail else " (no stderr)"))


def _scripts_directory() -> Path:
    """This environment's scripts directory: in a virtual environment its fixed place
    (what ``venv`` creates; no sysconfig scheme expansion per call), else sysconfig's."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix, "Scripts" if sys.platform == "win32" else "bin")
    return Path(sysconfig.get_path("scripts"))


def _toml_key(key: str) -> str:
    """``key`` as a TOML key: bare when it may be, quoted otherwise."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return key
    return msgspec.json.encode(key).decode()


def load_config(ctx: ActionContext[Any], kind: type[C]) -> C:
    """The handler's ``config`` table as ``kind``, or :class:`ConfigError`."""
    try:
        return msgspec.convert(ctx.config, kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"handler {ctx.handler!r}: invalid config: {exc}") from None


def tool_paths(ctx: ActionContext[Any], paths: Sequence[str] | None) -> list[str]:
    """Command-line paths for the tool, whose working directory is the project.

    ``None`` means the project directory itself (``.``). Relative paths are relative to the
    project (the tool's cwd resolves them); absolute ones are kept as given.
    """
    if paths is None:
        return ["."]
    return [str(Path(p)) for p in paths]


async def run_tool(
    ctx: ActionContext[Any],
    tool: Tool,
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
) -> ToolRun:
    """Run ``tool`` with ``args`` in the project directory and capture its output.

    Raises :class:`ToolMissing` when the environment lacks the tool. Any exit status is
    returned as is: what it means is the caller's business. Cancellation kills the tool.
    """
    argv = [*tool.argv(), *args]
    subcommand = args[:1] if args and not args[0].startswith("-") else []
    command = " ".join([tool.name, *subcommand])
    ctx.logger.debug("running %s", argv)
    done = await ctx.run_process(argv, stdin=stdin)
    run = ToolRun(
        command=command, returncode=done.returncode, stdout=done.stdout, stderr=done.stderr
    )
    if run.returncode != 0 and _no_module(tool.module, run.stderr):
        raise tool.missing(ctx)
    return run


async def run_all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coroutines`` concurrently and return their results in order.

    The first failure cancels the others (so their tools are killed) and is raised as
    itself, not wrapped in an :class:`ExceptionGroup`, so the run's error type stays e.g.
    ``ToolMissing``.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coroutines]
    except BaseExceptionGroup as exc:
        first = exc.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


def _no_module(module: str, stderr: bytes) -> bool:
    """Whether ``python -m module`` failed because the module is not installed."""
    pattern = rb"No module named '?" + re.escape(module.encode()) + rb"'?\s*$"
    return re.search(pattern, stderr, re.MULTILINE) is not None
