"""msgspec types for every message of protocol v1.

Each class mirrors the JSON Schema whose ``title`` is the class name (``schemas/*.json``);
``tests/test_types_match_schemas.py`` proves they agree on every schema example. Field names
are snake_case in Python and camelCase on the wire (``rename="camel"``). Optional members
that the protocol does not allow to be ``null`` default to :data:`msgspec.UNSET` and are left
out when encoded; unknown members are ignored when decoded (SPEC.md §7).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

__all__ = [
    "ActionConfig",
    "CancelParams",
    "ClientCapabilities",
    "ClientInfo",
    "ConfigureParams",
    "ConfigureResult",
    "ErrorDetail",
    "ErrorObject",
    "HandlerLoadStatus",
    "HandlerOutcome",
    "HandlerSpec",
    "Hello",
    "InitializeParams",
    "InitializeResult",
    "InitializedParams",
    "LaunchRecord",
    "LogParams",
    "OutputParams",
    "PartialResult",
    "PingParams",
    "PingResult",
    "ProgressParams",
    "ProgressValue",
    "ProjectOutcome",
    "ProjectRunParams",
    "ProjectRunResult",
    "RequestId",
    "RunParams",
    "RunResult",
    "RunnerCapabilities",
    "RunnerInfo",
    "WorkDoneBegin",
    "WorkDoneEnd",
    "WorkDoneReport",
    "WorkspaceRunParams",
    "WorkspaceRunResult",
]

MAX_SAFE_INTEGER: Final = 2**53 - 1
MIN_MESSAGE_LIMIT: Final = 65536
"""No side may announce a receive limit below 64 KiB (SPEC.md §5)."""

VersionText = Annotated[str, Meta(pattern=r"^[0-9]+\.[0-9]+$")]
Token = Annotated[str, Meta(pattern=r"^[0-9a-f]{32,128}$")]
SafeInt = Annotated[int, Meta(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
RequestId = str | SafeInt
"""A request id: a JSON string or a JSON integer within ±(2^53-1)."""
ProgressToken = str | SafeInt
NonNegativeInt = Annotated[int, Meta(ge=0)]
ScopeDepth = Annotated[int, Meta(ge=1)]
"""A scope request comes from a running handler, so its depth is at least 1."""
LogLevel = Literal["debug", "info", "warning", "error"]


class _Message(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of every wire type: camelCase names, defaults left out of the encoding.

    Construct messages with keyword arguments; positional order is not part of the API.
    """


# --- launch and hello -------------------------------------------------------------------


class LaunchRecord(_Message):
    """The single line the WM writes on a runner's stdin (SPEC.md §1)."""

    protocol: Annotated[list[VersionText], Meta(min_length=1)]
    token: Token
    project: str
    env: str
    wal_dir: str | None
    parent_pid: int
    log_level: LogLevel
    conformance: bool


class RunnerInfo(_Message):
    """Who a runner is: shown in status displays and error reports."""

    name: str
    version: str
    language: str


class Hello(_Message):
    """The single line a runner prints on stdout once it listens (SPEC.md §2)."""

    corral: Literal["hello"]
    protocol: Annotated[list[VersionText], Meta(min_length=1)]
    port: Annotated[int, Meta(ge=1, le=65535)]
    pid: Annotated[int, Meta(ge=1)]
    runner: RunnerInfo


# --- errors ----------------------------------------------------------------------------


class ErrorObject(_Message):
    """The ``error`` member of a JSON-RPC error response."""

    code: int
    message: str
    data: Any = UNSET


class ErrorDetail(_Message):
    """A failure inside a handler: exception type name, message and traceback text."""

    type: str
    message: str
    traceback: str | None


# --- initialize ------------------------------------------------------------------------


class ClientInfo(_Message):
    """The WM's name and version, for the runner's logs."""

    name: str
    version: str


class ClientCapabilities(_Message):
    """What the WM announces in ``initialize`` (absent limit: 64 MiB)."""

    max_message_size: Annotated[int, Meta(ge=MIN_MESSAGE_LIMIT)] | UnsetType = UNSET


class InitializeParams(_Message):
    """Params of ``initialize``: the first message on every connection."""

    protocol_version: VersionText
    token: Token
    client_info: ClientInfo
    capabilities: ClientCapabilities


class RunnerCapabilities(_Message):
    """What a runner announces in the ``initialize`` result."""

    max_message_size: Annotated[int, Meta(ge=MIN_MESSAGE_LIMIT)]
    conformance_fixtures: bool
    handler_sources: list[str]
    sync_handlers: bool | UnsetType = UNSET


class InitializeResult(_Message):
    """Result of ``initialize``: the chosen version and the runner's capabilities."""

    protocol_version: VersionText
    runner_info: RunnerInfo
    capabilities: RunnerCapabilities


class InitializedParams(_Message):
    """Params of the ``initialized`` notification (empty in v1)."""


# --- configure -------------------------------------------------------------------------


class HandlerSpec(_Message):
    """One handler of an action: where to load it from and its configuration."""

    name: str
    source: str
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class ActionConfig(_Message):
    """The handlers of one action, and whether they run in order or together."""

    handlers: list[HandlerSpec]
    mode: Literal["sequential", "concurrent"] = "sequential"


class ConfigureParams(_Message):
    """Params of ``runner/configure``: the runner's whole action configuration."""

    actions: dict[str, ActionConfig]


class HandlerLoadStatus(_Message):
    """Whether one configured handler loaded, and why not."""

    action: str
    name: str
    status: Literal["loaded", "failed"]
    error: ErrorDetail | None


class ConfigureResult(_Message):
    """Result of ``runner/configure``: one status per configured handler."""

    handlers: list[HandlerLoadStatus]


# --- actions/run -----------------------------------------------------------------------


class RunParams(_Message):
    """Params of ``actions/run``."""

    action: str
    run_id: str
    parent_run_id: str | None
    depth: NonNegativeInt
    params: Any = msgspec.field(default_factory=dict)
    partial_result_token: ProgressToken | UnsetType = UNSET
    work_done_token: ProgressToken | UnsetType = UNSET


class HandlerOutcome(_Message):
    """How one handler of a run ended."""

    name: str
    status: Literal["ok", "failed", "skipped"]
    duration_ms: Annotated[float, Meta(ge=0)]
    error: ErrorDetail | None


class RunResult(_Message):
    """Result of ``actions/run``. A handler that raised gives ``status="failed"``."""

    status: Literal["ok", "failed"]
    result: Any
    handlers: list[HandlerOutcome]


# --- cancel, ping ----------------------------------------------------------------------


class CancelParams(_Message):
    """Params of ``$/cancelRequest``: the id of the request to cancel."""

    id: RequestId


class PingParams(_Message):
    """Params of ``$/ping`` (empty in v1)."""


class PingResult(_Message):
    """Result of ``$/ping`` (empty in v1)."""


# --- progress, logs, output ------------------------------------------------------------


class WorkDoneBegin(_Message, tag_field="kind", tag="begin"):
    """First work-done progress value of a request."""

    title: str
    message: str | UnsetType = UNSET
    percentage: Annotated[int, Meta(ge=0, le=100)] | UnsetType = UNSET
    cancellable: bool | UnsetType = UNSET


class WorkDoneReport(_Message, tag_field="kind", tag="report"):
    """Intermediate work-done progress value."""

    message: str | UnsetType = UNSET
    percentage: Annotated[int, Meta(ge=0, le=100)] | UnsetType = UNSET


class WorkDoneEnd(_Message, tag_field="kind", tag="end"):
    """Last work-done progress value of a request."""

    message: str | UnsetType = UNSET


class PartialResult(_Message, tag_field="kind", tag="partial"):
    """A partial result streamed by one handler before the run's reply."""

    handler: str
    data: Any


ProgressValue = WorkDoneBegin | WorkDoneReport | WorkDoneEnd | PartialResult


class ProgressParams(_Message):
    """Params of ``$/progress``: a value for a work-done or partial-result token."""

    token: ProgressToken
    value: ProgressValue


class LogParams(_Message):
    """Params of ``runner/log``: one diagnostic log record of the runner."""

    level: LogLevel
    message: str
    logger: str | UnsetType = UNSET
    run_id: str | UnsetType | None = UNSET


class OutputParams(_Message):
    """Params of ``runner/output``: text a handler (or its child process) printed."""

    stream: Literal["stdout", "stderr"]
    text: str
    run_id: str | UnsetType | None = UNSET
    dropped: NonNegativeInt | UnsetType = UNSET


# --- higher execution scopes (runner -> WM) ------------------------------------------------


class ProjectRunParams(_Message):
    """Params of ``project/runAction``: run an action across one project's envs."""

    action: str
    parent_run_id: str
    depth: ScopeDepth
    params: Any = msgspec.field(default_factory=dict)
    project: str | UnsetType = UNSET


class ProjectRunResult(_Message):
    """Result of ``project/runAction``: the merged project result and its run id."""

    run_id: str
    status: Literal["ok", "failed"]
    result: Any
    handlers: list[HandlerOutcome]


class WorkspaceRunParams(_Message):
    """Params of ``workspace/runAction``: run an action across projects (null = all)."""

    action: str
    parent_run_id: str
    depth: ScopeDepth
    params: Any = msgspec.field(default_factory=dict)
    projects: list[str] | None = None


class ProjectOutcome(_Message):
    """One project's outcome inside a workspace run."""

    project: str
    status: Literal["ok", "failed", "error"]
    result: Any
    error: ErrorObject | None


class WorkspaceRunResult(_Message):
    """Result of ``workspace/runAction``: one outcome per project."""

    run_id: str
    status: Literal["ok", "failed"]
    projects: list[ProjectOutcome]
