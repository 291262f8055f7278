"""msgspec types of the client protocol: front ends (CLI, LSP, MCP) ↔ the WM server.

SPEC.md Part II pins it down; each class mirrors the JSON Schema of the same title in
``schemas/client/``, and a test proves they agree. The framing and JSON-RPC rules are the
runner protocol's (§5, §6); the methods, their params and results are these. Field names are
snake_case in Python and camelCase on the wire; defaults are left out when encoded.

What a run returns (:class:`ProjectReport`, :class:`WorkspaceReport`) is exactly what
``corral run --format json`` prints, whether the WM runs embedded or as a server; those two
always carry every member (an empty ``output`` too), so scripts need no defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .errors import ErrorCode
from .messages import (
    AbsolutePath,
    ClientInfo,
    ErrorObject,
    HandlerOutcome,
    LogLevel,
    NonEmptyStr,
    NonNegativeInt,
    ProgressValue,
    RunId,
    Token,
    VersionList,
    VersionText,
    _Message,
)

__all__ = [
    "CLIENT_METHODS",
    "CLIENT_PROTOCOL_VERSION",
    "CLIENT_SUPPORTED_VERSIONS",
    "ClientSummary",
    "EnvInfo",
    "LockReport",
    "OutputRecord",
    "PrepareOutcome",
    "PrepareProgress",
    "PrepareReport",
    "PrepareRequest",
    "ProjectInfo",
    "ProjectReport",
    "ReloadResult",
    "RestartOutcome",
    "RestartRequest",
    "RunOutputParams",
    "RunProgressParams",
    "RunReport",
    "RunRequest",
    "RunnerSnapshot",
    "RunnerStateParams",
    "ServerInfo",
    "ServerStatus",
    "SessionParams",
    "SessionResult",
    "StatusResult",
    "StopRequest",
    "WorkspaceReport",
]

CLIENT_PROTOCOL_VERSION: Final = "1.0"
CLIENT_SUPPORTED_VERSIONS: Final = (CLIENT_PROTOCOL_VERSION,)
CLIENT_METHODS: Final = (
    # (name, direction, kind, params type name, result type name)
    ("initialize", "client-to-server", "request", "SessionParams", "SessionResult"),
    ("workspace/run", "client-to-server", "request", "RunRequest", "RunReport"),
    ("workspace/status", "client-to-server", "request", None, "StatusResult"),
    ("workspace/reload", "client-to-server", "request", None, "ReloadResult"),
    ("envs/prepare", "client-to-server", "request", "PrepareRequest", "PrepareOutcome"),
    ("runners/restart", "client-to-server", "request", "RestartRequest", "RestartOutcome"),
    ("runners/subscribe", "client-to-server", "request", None, None),
    ("server/stop", "client-to-server", "request", "StopRequest", None),
    ("$/ping", "client-to-server", "request", "PingParams", "PingResult"),
    ("$/cancelRequest", "client-to-server", "notification", "CancelParams", None),
    ("run/progress", "server-to-client", "notification", "RunProgressParams", None),
    ("run/output", "server-to-client", "notification", "RunOutputParams", None),
    ("envs/progress", "server-to-client", "notification", "PrepareProgress", None),
    ("runner/state", "server-to-client", "notification", "RunnerStateParams", None),
)
"""Every method of the client protocol; a test proves the schemas' index lists the same."""
RunnerStateName = Literal[
    "stopped", "no_venv", "starting", "running", "unhealthy", "restarting", "stopping", "crashed"
]
EnvState = Literal["ready", "no_venv", "stale", "broken"]
Seconds = Annotated[float, Meta(ge=0)]
Pid = Annotated[int, Meta(ge=1)]
Port = Annotated[int, Meta(ge=1, le=65535)]
PrepareStatus = Literal["unchanged", "created", "updated", "failed"]


class _Snapshot(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """Base of what the server hands out: immutable, camelCase on the wire."""


# --- session -------------------------------------------------------------------------------


class SessionParams(_Message):
    """Params of ``initialize`` (client → server): the versions the client speaks and who
    it is. The server answers with the highest common minor of a common major."""

    protocol: VersionList
    client: ClientInfo
    token: Token | UnsetType = UNSET
    """The server's token from its record file: required on a TCP endpoint (where the
    operating system cannot tell who connects), ignored on a Unix socket (where the server
    checks the peer's user id instead)."""


class ServerInfo(_Message):
    """Who answers: the WM server of one workspace."""

    name: NonEmptyStr
    version: NonEmptyStr
    pid: Pid
    root: AbsolutePath
    started: NonEmptyStr
    """When the server started (RFC 3339, UTC)."""


class SessionResult(_Message):
    """Result of ``initialize``: the version both speak from now on, and the server."""

    protocol_version: VersionText
    server: ServerInfo


# --- running actions ---------------------------------------------------------------------


class RunRequest(_Message):
    """Params of ``workspace/run``: one action at one scope.

    Exactly one scope: ``project`` (one project), ``paths`` (files or directories: each
    project holding some of them, with ``params.paths`` set to its own), or ``workspace``
    (every project that defines the action). ``runId`` (default: the server picks one)
    names the run in notifications and the WAL; ``source`` says which front end asks.
    """

    action: NonEmptyStr
    params: Any = msgspec.field(default_factory=dict)
    project: AbsolutePath | None = None
    paths: Annotated[list[AbsolutePath], Meta(min_length=1)] | None = None
    workspace: bool = False
    run_id: RunId | UnsetType = UNSET
    source: NonEmptyStr = "cli"
    jobs: Annotated[int, Meta(ge=1)] | None = None
    """Projects run at once (default: the server's setting, twice the cores)."""

    def __post_init__(self) -> None:
        scopes = (self.project is not None) + (self.paths is not None) + self.workspace
        if scopes != 1:
            raise ValueError("exactly one of `project`, `paths`, `workspace` must be given")


class OutputRecord(_Snapshot, frozen=True):
    """One piece of text a handler printed (``stdout``/``stderr``) or logged (``log``)."""

    project: AbsolutePath
    env: NonEmptyStr
    stream: Literal["stdout", "stderr", "log"]
    text: str
    level: LogLevel | UnsetType = UNSET
    """The log level of a ``log`` record (present exactly on those)."""

    def __post_init__(self) -> None:
        if (self.stream == "log") != (self.level is not UNSET):
            raise ValueError("`level` must be given exactly when `stream` is `log`")


class ProjectReport(_Snapshot, frozen=True, omit_defaults=False, tag_field="scope", tag="project"):
    """The outcome of an action in one project.

    ``status``: ``ok`` (every handler ok, ``error`` null); ``failed`` (it ran and handlers
    failed: ``handlers`` says which and why; ``error`` null, or -32011 HandlerFailed inside
    a workspace run); ``error`` (it could not run: ``error`` is a JSON-RPC error object,
    SPEC.md §6.7: -32602 a configuration error, -32010 the action is not defined there,
    -32015 a runner or environment problem). ``output``: what its handlers printed and
    logged, bounded (``outputDropped`` records beyond the bound). ``result`` is the action's
    result; lint/format-family results are ToolResults (SPEC.md §13).
    """

    run_id: RunId | None
    project: AbsolutePath
    status: Literal["ok", "failed", "error"]
    result: Any = None
    handlers: list[HandlerOutcome] = msgspec.field(default_factory=list)
    error: ErrorObject | None = None
    output: list[OutputRecord] = msgspec.field(default_factory=list)
    output_dropped: NonNegativeInt = 0

    def __post_init__(self) -> None:
        if self.status == "ok":
            if self.error is not None:
                raise ValueError("`error` must be null when `status` is `ok`")
            if any(outcome.status != "ok" for outcome in self.handlers):
                raise ValueError("`status` is `ok` but a handler outcome is not `ok`")
        elif self.status == "error":
            if self.error is None:
                raise ValueError("`error` must not be null when `status` is `error`")
        elif self.error is not None and self.error.code != ErrorCode.HANDLER_FAILED:
            raise ValueError("`error` of a `failed` project must be null or -32011")


class WorkspaceReport(
    _Snapshot, frozen=True, omit_defaults=False, tag_field="scope", tag="workspace"
):
    """The outcome of an action across projects (``workspace`` or ``paths`` scope).

    ``status`` is ``ok`` exactly when every project's is. ``skipped``: projects that do not
    define the action. ``output``: records of runners of projects not listed (a handler's
    nested runs); ``outputDropped`` counts what the whole run dropped.
    """

    run_id: RunId
    status: Literal["ok", "failed"]
    projects: list[ProjectReport]
    skipped: list[AbsolutePath] = msgspec.field(default_factory=list)
    output: list[OutputRecord] = msgspec.field(default_factory=list)
    output_dropped: NonNegativeInt = 0

    def __post_init__(self) -> None:
        if (self.status == "ok") != all(p.status == "ok" for p in self.projects):
            raise ValueError("`status` must be `ok` exactly when every project's is `ok`")


RunReport = ProjectReport | WorkspaceReport
"""The result of ``workspace/run``, tagged by ``scope``."""


class RunProgressParams(_Message):
    """``run/progress`` (server → client): a work-done progress value or partial result of
    the client's run ``runId``, from the runner of (``project``, ``env``)."""

    run_id: RunId
    project: AbsolutePath
    env: NonEmptyStr
    value: ProgressValue


class RunOutputParams(_Message):
    """``run/output`` (server → client): one output record of the client's run ``runId``."""

    run_id: RunId
    record: OutputRecord


# --- environments ------------------------------------------------------------------------


class EnvInfo(_Snapshot, frozen=True):
    """One environment of one project and whether it is ready; ``message`` says what is
    wrong and ``fix`` is the command that fixes it (null exactly when ready)."""

    project: AbsolutePath
    env: NonEmptyStr
    state: EnvState
    message: str
    fix: list[str] | None = None

    def __post_init__(self) -> None:
        if (self.state == "ready") != (self.fix is None):
            raise ValueError("`fix` must be null exactly when `state` is `ready`")


class PrepareRequest(_Message):
    """Params of ``envs/prepare``: which envs (default: all), from scratch or not."""

    projects: list[AbsolutePath] | None = None
    envs: list[NonEmptyStr] | None = None
    recreate: bool = False
    jobs: Annotated[int, Meta(ge=1)] | None = None


class PrepareProgress(_Snapshot, frozen=True):
    """``envs/progress`` (server → client), and the CLI's progress events: one env's phase
    (``skipped``; or [``creating``] [``locking``] ``installing`` then ``done`` or
    ``failed``), seconds since its work started, and on the final event its ``status``."""

    project: AbsolutePath
    env: NonEmptyStr
    phase: Literal["skipped", "creating", "locking", "installing", "done", "failed"]
    elapsed: Seconds
    message: str
    status: PrepareStatus | None = None

    def __post_init__(self) -> None:
        if (self.status is None) != (self.phase in ("creating", "locking", "installing")):
            raise ValueError("`status` must be null exactly when `phase` is not final")
        if (self.status == "failed") != (self.phase == "failed"):
            raise ValueError("`status` must be `failed` exactly when `phase` is `failed`")


class LockReport(_Snapshot, frozen=True):
    """An env's lock file as a preparation or ``corral lock`` left it: ``created``,
    ``updated`` (``changes`` lists the package changes, e.g. ``ruff 0.17.5 -> 0.17.6``),
    ``unchanged``, or ``failed`` (``error`` says why)."""

    project: AbsolutePath
    env: NonEmptyStr
    path: str
    """The lock file (absolute); empty when the env's lock could not even be attempted."""
    status: Literal["created", "updated", "unchanged", "failed"]
    changes: list[str] = msgspec.field(default_factory=list)
    error: str | None = None


class PrepareReport(_Snapshot, frozen=True):
    """The outcome of preparing one environment (``error`` names the step, the command and
    the end of its output when ``failed``); ``lock``: its lock file, when this preparation
    wrote it."""

    project: AbsolutePath
    env: NonEmptyStr
    status: PrepareStatus
    duration: Seconds
    error: str | None = None
    lock: LockReport | None = None

    def __post_init__(self) -> None:
        if (self.status == "failed") != (self.error is not None):
            raise ValueError("`error` must be non-null exactly when `status` is `failed`")


class PrepareOutcome(_Snapshot, frozen=True):
    """Result of ``envs/prepare``: one report per env, in order."""

    envs: list[PrepareReport]


# --- projects, runners, the server ---------------------------------------------------------


class ProjectInfo(_Snapshot, frozen=True):
    """One project: its actions and envs, or the configuration error that hides them."""

    project: AbsolutePath
    config_file: AbsolutePath | None
    actions: list[str]
    envs: list[str]
    presets: list[str]
    error: str | None = None


class RunnerSnapshot(_Snapshot, frozen=True):
    """One runner (project, env) as it is now."""

    project: AbsolutePath
    env: NonEmptyStr
    state: RunnerStateName
    pid: Pid | None = None
    port: Port | None = None
    uptime: Seconds | None = None
    restarts: NonNegativeInt = 0
    crashes_in_window: NonNegativeInt = 0
    in_flight: NonNegativeInt = 0
    last_error: str | None = None


class RunnerStateParams(_Message):
    """``runner/state`` (server → client, after ``runners/subscribe``): one transition."""

    project: AbsolutePath
    env: NonEmptyStr
    old: RunnerStateName
    new: RunnerStateName
    reason: str
    runner: RunnerSnapshot


class RestartRequest(_Message):
    """Params of ``runners/restart``: all runners, or those of one project and/or env;
    ``includeStopped`` also starts the ones not running."""

    project: AbsolutePath | None = None
    env: NonEmptyStr | None = None
    include_stopped: bool = False


class RestartOutcome(_Snapshot, frozen=True):
    """Result of ``runners/restart``: each runner once it settled."""

    runners: list[RunnerSnapshot]


class ClientSummary(_Snapshot, frozen=True):
    """A client connected to the server."""

    name: str
    version: str
    connected: Seconds
    """Seconds since it connected."""
    runs: NonNegativeInt
    """Its runs in flight."""


class ServerStatus(_Snapshot, frozen=True):
    """The server itself."""

    pid: Pid
    version: str
    protocol: VersionList
    endpoint: str
    uptime: Seconds
    idle_timeout: Seconds
    clients: list[ClientSummary]


class StatusResult(_Snapshot, frozen=True):
    """Result of ``workspace/status``; ``server`` is null when the WM runs embedded."""

    root: AbsolutePath
    server: ServerStatus | None
    projects: list[ProjectInfo]
    envs: list[EnvInfo]
    runners: list[RunnerSnapshot]


class ReloadResult(_Snapshot, frozen=True):
    """Result of ``workspace/reload``: the projects as they are now."""

    projects: list[ProjectInfo]


class StopRequest(_Message):
    """Params of ``server/stop``: now (runs are cancelled), or once no run is in flight."""

    when_idle: bool = False
