"""The MCP tools of ``corral mcp``: their arguments and results as msgspec types, and the
JSON Schemas (generated from those types) that ``tools/list`` advertises.

Pure data: no MCP SDK and no I/O here, so every schema and every conversion is a fast
test. Arguments are decoded with :func:`parse_arguments`, whose error names the argument at
fault; results are the structured content of a tool call (:class:`RunOutput` and friends,
camelCase on the wire like the client protocol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
from msgspec import Meta

__all__ = [
    "TOOLS",
    "ArgumentError",
    "EnvListing",
    "FileDiff",
    "Finding",
    "FormatArgs",
    "HistoryArgs",
    "HistoryOutput",
    "LintArgs",
    "MoreResultsArgs",
    "NoArgs",
    "ProjectListing",
    "ProjectOutcome",
    "ProjectsOutput",
    "RestartArgs",
    "RestartOutput",
    "RunActionArgs",
    "RunOutput",
    "RunnerListing",
    "StatusOutput",
    "ToolSpec",
    "object_schema",
    "parse_arguments",
]

T = TypeVar("T")

Limit = Annotated[int, Meta(ge=1, le=1000, description="Findings (or files) per page.")]


class _Args(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    pass


class NoArgs(_Args):
    """No arguments."""


Project = Annotated[
    str | None,
    Meta(description="One project directory (relative to the workspace root, or absolute)."),
]
Paths = (
    Annotated[
        list[str],
        Meta(
            min_length=1,
            description="Files or directories (relative to the workspace root, or absolute): "
            "each project holding some of them acts on its own.",
        ),
    ]
    | None
)


class _ScopeArgs(_Args):
    project: Project = None
    paths: Paths = None
    limit: Limit = 50


class LintArgs(_ScopeArgs):
    """Lint (read-only): the whole workspace unless ``project`` or ``paths`` narrow it."""


class RunActionArgs(_Args):
    """Any action with params; the whole workspace unless ``project`` or ``paths``."""

    action: Annotated[str, Meta(min_length=1, description="e.g. lint, type-check, format")]
    params: Annotated[
        dict[str, Any],
        Meta(description='The action\'s params, e.g. {"fix": true} for lint (writes files).'),
    ] = msgspec.field(default_factory=dict)
    project: Project = None
    paths: Paths = None
    limit: Limit = 50


class FormatArgs(_ScopeArgs):
    """Format: a unified diff per file that would change, unless ``write``."""

    write: Annotated[bool, Meta(description="Rewrite the files (default: only show diffs).")] = (
        False
    )


class MoreResultsArgs(_Args):
    """The next page of an earlier run's findings and diffs."""

    run_id: Annotated[str, Meta(min_length=1)]
    offset: Annotated[int, Meta(ge=0)]
    limit: Limit = 50


class RestartArgs(_Args):
    """Which runners to restart (default: every runner of the workspace)."""

    project: str | None = None
    env: str | None = None


class HistoryArgs(_Args):
    """One run's tree, or the last runs."""

    run_id: Annotated[str | None, Meta(description="A run id from a tool result.")] = None
    last: Annotated[int, Meta(ge=1, le=50, description="Without run_id: this many runs.")] = 5


class _Out(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=False):
    pass


class Finding(_Out):
    """One diagnostic; ``file`` relative to the workspace root; 1-based positions (columns
    in Unicode code points)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str | None
    message: str
    severity: str
    source: str
    fixable: bool
    url: str | None = None


class FileDiff(_Out):
    """What formatting would change in one file, as a unified diff."""

    file: str
    diff: str


class ProjectOutcome(_Out):
    """How the action went in one project; ``message`` says why when not ``ok``."""

    project: str
    status: Literal["ok", "failed", "error"]
    reused: bool = False
    message: str | None = None


class RunOutput(_Out):
    """The result of ``lint``, ``run_action``, ``format`` and ``more_results``.

    ``exitCode`` is the CLI's: 0 clean, 1 findings, 2 a usage or configuration error, 3 a
    runner, environment or handler failed. ``findings`` then ``files`` are one list paged
    by ``offset``; ``nextOffset`` (null on the last page) asks ``more_results`` for more.
    """

    run_id: str
    action: str
    exit_code: int
    summary: str
    projects: list[ProjectOutcome]
    skipped: list[str]
    findings: list[Finding]
    files: list[FileDiff]
    changed: list[str]
    total: int
    offset: int
    next_offset: int | None


class RunnerListing(_Out):
    project: str
    env: str
    state: str
    pid: int | None = None
    restarts: int = 0
    last_error: str | None = None


class EnvListing(_Out):
    env: str
    state: str
    message: str
    runner: str
    """The state of its runner (``stopped`` when none runs)."""


class ProjectListing(_Out):
    project: str
    config_file: str | None
    actions: list[str]
    presets: list[str]
    envs: list[EnvListing]
    error: str | None = None


class ProjectsOutput(_Out):
    root: str
    projects: list[ProjectListing]


class StatusOutput(_Out):
    root: str
    server: dict[str, Any] | None
    """pid, version, uptime, idleTimeout and clients of the WM server (null: embedded)."""
    projects: int
    envs_not_ready: list[str]
    runners: list[RunnerListing]


class RestartOutput(_Out):
    runners: list[RunnerListing]


class HistoryOutput(_Out):
    items: list[dict[str, Any]]
    """Runs, each with its handlers, outcome, duration and child runs (``corral wal show
    --format json``)."""
    damage: list[dict[str, Any]]


class ArgumentError(ValueError):
    """A tool's arguments do not match its input schema; the message names the argument."""


def object_schema(kind: type) -> dict[str, Any]:
    """The JSON Schema of the Struct ``kind`` with the object at its root (MCP requires
    ``type: object`` there), its nested definitions kept under ``$defs``."""
    generated = msgspec.json.schema(kind)
    defs: dict[str, Any] = dict(generated.get("$defs", {}))
    ref = generated.get("$ref")
    top = dict(defs.pop(ref.rsplit("/", 1)[-1])) if ref else dict(generated)
    if defs:
        top["$defs"] = defs
    return top


def parse_arguments(kind: type[T], arguments: dict[str, Any] | None) -> T:
    """``arguments`` as ``kind``; raises :class:`ArgumentError` naming what is wrong."""
    try:
        return msgspec.convert(arguments or {}, kind)
    except msgspec.ValidationError as exc:
        raise ArgumentError(f"invalid arguments: {exc}") from None


@dataclass(frozen=True)
class ToolSpec:
    """One tool as ``tools/list`` shows it."""

    name: str
    title: str
    description: str
    args: type
    output: type
    read_only: bool
    destructive: bool = False
    idempotent: bool = False

    def input_schema(self) -> dict[str, Any]:
        return object_schema(self.args)

    def output_schema(self) -> dict[str, Any]:
        return object_schema(self.output)


TOOLS: Final = (
    ToolSpec(
        "list_projects",
        "List projects",
        "The workspace's projects: their actions, environments (ready or not) and runner "
        "states, or the configuration error that hides them.",
        NoArgs,
        ProjectsOutput,
        read_only=True,
    ),
    ToolSpec(
        "lint",
        "Lint",
        "Run the lint action (e.g. ruff) and return its findings as structured data, paged. "
        "Whole workspace by default; `project` or `paths` narrow it. Writes nothing.",
        LintArgs,
        RunOutput,
        read_only=True,
    ),
    ToolSpec(
        "run_action",
        "Run an action",
        "Run any action the projects define (lint, type-check, check-format, format, ...) "
        "with params; findings paged. May write files when the action does (format, or "
        'lint with {"fix": true}).',
        RunActionArgs,
        RunOutput,
        read_only=False,
        destructive=True,
    ),
    ToolSpec(
        "format",
        "Format",
        "Show what formatting would change, as a unified diff per file (writes nothing); "
        "with `write: true`, rewrite the files and list them.",
        FormatArgs,
        RunOutput,
        read_only=False,
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "more_results",
        "More results",
        "The next page of findings and diffs of an earlier run (its `runId` and the "
        "`nextOffset` it returned). The last 16 runs are kept.",
        MoreResultsArgs,
        RunOutput,
        read_only=True,
    ),
    ToolSpec(
        "status",
        "Status",
        "The Workspace Manager: its server (pid, version, clients), environments that are "
        "not ready, and every runner's state.",
        NoArgs,
        StatusOutput,
        read_only=True,
    ),
    ToolSpec(
        "restart_runners",
        "Restart runners",
        "Restart the runners of the workspace (or of one project / env): new processes, "
        "e.g. after a tool was upgraded in an environment.",
        RestartArgs,
        RestartOutput,
        read_only=False,
        destructive=False,
        idempotent=True,
    ),
    ToolSpec(
        "run_history",
        "Run history",
        "The history of a run from the workspace's write-ahead log: handlers, outcome, "
        "durations and child runs; without `runId`, the last runs.",
        HistoryArgs,
        HistoryOutput,
        read_only=True,
    ),
)
"""Every tool, in the order ``tools/list`` gives them."""
