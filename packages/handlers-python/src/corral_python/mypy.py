"""The ``type-check`` handler: mypy, read through its JSON output.

mypy runs as ``python -m mypy -O json --no-error-summary``: one JSON object per line, each
``{"file", "line" (1-based), "column" (0-based), "end_line", "end_column" (0-based,
exclusive), "message", "hint", "code", "severity"}``. ``-O json`` exists since mypy 1.11
(hence ``mypy>=1.11`` in the preset); the ``file:line:col: severity: message  [code]`` text
format is never scraped. An older mypy fails the handler with a
:class:`~corral_python.tools.ToolError` saying so.

Severities: mypy ``error`` → ``error``, ``warning`` → ``warning``, a standalone ``note``
(e.g. ``reveal_type``) → ``information``. Notes attached to an error arrive as its
``hint`` and are appended to its message on a new line.

What mypy says on stderr while succeeding (unknown or unused configuration options...) is
returned as ``notes`` (:mod:`corral_python.notes`).

What is checked: the ``paths`` of the request; else what the project's mypy configuration
names (``files``, ``packages`` or ``modules``, or ``-m``/``-p``/``-c`` in the handler's
``args``); else the project's import packages (:func:`corral_python.layout.import_packages`:
``src/*`` or the top-level packages and modules, never tests, docs or scripts); else, for
a project without any, the project directory. Explicit paths that are not Python files are
left out (``corral run --changed`` passes every changed file).

Exit statuses: 0 (clean) and 1 (errors found) are findings. 2 is a failure: mypy stopped at
a blocking error (a syntax error, a duplicate module, bad options, an internal error) and
checked nothing after it, so its output is not a complete set of findings; the handler
raises with the blocking errors mypy reported (or its stderr).

mypy runs in the environment of the handler: the ``corral-python`` preset's ``runtime``
environment, which holds the project itself (editable) and its runtime dependencies, so
imports of those resolve. It keeps its cache (``.mypy_cache`` in the project, mypy's
default) and reads the project's own configuration (its working directory is the project).
"""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import msgspec
from corral_protocol.results import (
    Diagnostic,
    Position,
    Range,
    Severity,
    ToolResult,
    ToolSummary,
)
from corral_runner.sdk import ActionContext

from .diagnostics import project_relative, sort_diagnostics
from .layout import import_packages
from .notes import tool_notes
from .params import StandardParams
from .reuse import declare_tree_inputs
from .tools import Tool, ToolError, ToolRun, load_config, run_tool, tool_paths
from .versions import reports_version

__all__ = [
    "MypyConfig",
    "TypeCheckParams",
    "configured_targets",
    "type_check",
]

MYPY = Tool(name="mypy", module="mypy", requirement="mypy>=1.11")

SEVERITIES: dict[str, Severity] = {"error": "error", "warning": "warning", "note": "information"}

CONFIG_FILES = ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg")
"""Where mypy looks for its configuration in the working directory, in its order."""

TARGET_OPTIONS = frozenset({"-m", "--module", "-p", "--package", "-c", "--command"})


class TypeCheckParams(StandardParams, frozen=True, kw_only=True):
    """Params of ``type-check``. ``paths`` absent: what the project's mypy
    configuration names, else its import packages (see the module doc); ``[]``: no paths
    at all (mypy's configuration decides); files that are not ``.py``/``.pyi`` are left
    out (only such files: nothing is checked). No other standard param is supported."""


class MypyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Config of ``type-check``: extra mypy options (e.g. ``["--strict"]``)."""

    args: list[str] = msgspec.field(default_factory=list)


class _Message(msgspec.Struct, frozen=True):
    """One line of ``mypy -O json``."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None
    code: str | None = None
    severity: str = "error"
    end_line: int | None = None
    end_column: int | None = None


def _diagnostic(project: Path, message: _Message) -> Diagnostic:
    start = Position(line=max(message.line - 1, 0), character=max(message.column, 0))
    end = start
    if (
        message.end_line is not None
        and message.end_column is not None
        and message.end_line >= 1
        and message.end_column >= 0
    ):
        end = Position(line=message.end_line - 1, character=message.end_column)
        if (end.line, end.character) < (start.line, start.character):
            end = start
    text = message.message if not message.hint else f"{message.message}\n{message.hint}"
    return Diagnostic(
        file=project_relative(project, message.file),
        range=Range(start=start, end=end),
        code=message.code,
        message=text,
        severity=SEVERITIES.get(message.severity, "error"),
        source="mypy",
        fixable=False,
    )


def _messages(run: ToolRun) -> list[_Message]:
    """The JSON lines of mypy's stdout (other lines, e.g. from report options, are skipped)."""
    messages = []
    for line in run.stdout.splitlines():
        if not line.lstrip().startswith(b"{"):
            continue
        try:
            messages.append(msgspec.json.decode(line, type=_Message))
        except msgspec.DecodeError as exc:
            raise run.failure(f"printed a line that is not mypy's JSON ({exc})") from None
    return messages


def _option_value(args: Sequence[str], option: str) -> str | None:
    """The value of ``option`` in ``args`` (``--opt value`` or ``--opt=value``), if any."""
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.partition("=")[2]
    return None


TARGET_SETTINGS = ("files", "packages", "modules")
"""mypy configuration settings that say what to check."""


def configured_targets(project: Path, args: Sequence[str]) -> bool:
    """Whether mypy's configuration for ``project`` (``--config-file`` in ``args``, else
    the first of mypy's config files in the project directory that has a mypy section)
    says what to check (:data:`TARGET_SETTINGS`)."""
    explicit = _option_value(args, "--config-file")
    candidates = [project / explicit] if explicit else [project / n for n in CONFIG_FILES]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            if path.suffix == ".toml":
                with path.open("rb") as f:
                    section: Any = tomllib.load(f).get("tool", {}).get("mypy")
                if not isinstance(section, dict):
                    continue
                return any(section.get(key) for key in TARGET_SETTINGS)
            parser = configparser.ConfigParser()
            parser.read(path, encoding="utf-8")
        except (OSError, ValueError, configparser.Error):
            return False
        if not parser.has_section("mypy"):
            continue
        return any(parser.get("mypy", key, fallback="").strip() for key in TARGET_SETTINGS)
    return False


PYTHON_SUFFIXES = frozenset({".py", ".pyi"})


def _other_file(path: Path) -> bool:
    """A file that is not Python source (``README.md``, ``pyproject.toml``): left out of
    explicit paths, as ruff leaves it out (``corral run --changed`` passes every changed
    file). Directories and missing paths are mypy's to judge."""
    return path.suffix not in PYTHON_SUFFIXES and path.is_file()


def _blocking(project: Path, messages: Sequence[_Message], limit: int = 10) -> str:
    """mypy's blocking errors as ``file[:line]: severity: message`` lines (at most
    ``limit``; errors about a whole file have no line)."""
    lines = []
    for m in messages[:limit]:
        where = project_relative(project, m.file) + (f":{m.line}" if m.line >= 1 else "")
        lines.append(f"{where}: {m.severity}: {m.message}")
    if len(messages) > limit:
        lines.append(f"... and {len(messages) - limit} more")
    return "\n".join(lines)


def _editable_elsewhere(project: Path) -> bool:
    """Whether this environment (the runner's, where mypy runs) holds a distribution
    installed editable from a directory outside ``project`` (PEP 610 ``direct_url.json``):
    its sources can change without the environment changing. Corral's own packages (the
    runner, these handlers) are not what mypy checks."""
    for dist in importlib.metadata.distributions():
        if (dist.metadata["Name"] or "").lower().startswith("corral-"):
            continue
        try:
            text = dist.read_text("direct_url.json")
            if not text:
                continue
            direct = json.loads(text)
        except (OSError, ValueError):
            continue
        if not isinstance(direct, dict) or not (direct.get("dir_info") or {}).get("editable"):
            continue
        url = direct.get("url", "")
        if not isinstance(url, str) or not url.startswith("file:"):
            return True
        source = Path(url2pathname(urlsplit(url).path)).resolve()
        if not source.is_relative_to(project):
            return True
    return False


@reports_version("mypy")
async def type_check(ctx: ActionContext[TypeCheckParams]) -> ToolResult:
    """Run mypy; every error and note becomes a diagnostic with mypy's error code."""
    config = load_config(ctx, MypyConfig)
    ctx.params.refuse_unsupported(ctx)
    if ctx.params.paths is not None:
        given = [p for p in ctx.params.paths if not _other_file(ctx.project / p)]
        if ctx.params.paths and not given:  # only files mypy does not read: nothing to do
            summary = ToolSummary(findings=0, errors=0)
            return ToolResult(diagnostics=[], summary={"mypy": summary})
        paths = tool_paths(ctx, given)
    elif TARGET_OPTIONS.intersection(config.args) or configured_targets(ctx.project, config.args):
        paths = []
    else:
        paths = import_packages(ctx.project) or tool_paths(ctx, None)
    # Never type-check Corral's own environments (``<project>/.corral/envs/...``).
    args = ["-O", "json", "--no-error-summary", "--exclude", r"(^|/)\.corral/", *config.args]
    if paths:
        args += ["--", *paths]

    root = ctx.project.resolve()
    inside = ctx.params.paths is None or all(
        (ctx.project / p).resolve().is_relative_to(root) for p in ctx.params.paths
    )
    if inside and not _editable_elsewhere(root):
        # What mypy reads: the project, its config, the env (the WM keys on the env's
        # stamp). Sources installed editable from elsewhere change behind the stamp.
        declare_tree_inputs(ctx, " ".join(args), tool=MYPY.argv()[0])
    ctx.progress("running mypy")
    run = await run_tool(ctx, MYPY, args)
    if run.returncode not in (0, 1, 2):
        raise run.failure()
    messages = _messages(run)
    if run.returncode == 2:
        if b"unrecognized arguments: -O" in run.stderr:  # only to word the error better
            raise run.failure("does not support -O json (mypy >= 1.11 is required)")
        if not messages or b"INTERNAL ERROR" in run.stderr:
            raise run.failure()
        raise ToolError(
            f"{run.command} stopped at a blocking error (exit status 2):\n"
            + _blocking(ctx.project, messages)
        )
    diagnostics = sort_diagnostics([_diagnostic(ctx.project, m) for m in messages])
    summary = ToolSummary(
        findings=len(diagnostics),
        errors=sum(d.severity == "error" for d in diagnostics),
    )
    notes = tool_notes("mypy", run.stderr) or msgspec.UNSET
    return ToolResult(diagnostics=diagnostics, summary={"mypy": summary}, notes=notes)
