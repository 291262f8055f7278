"""msgspec types for every message of protocol v1.

Each class mirrors the JSON Schema whose ``title`` is the class name (``schemas/*.json``);
``tests/test_types_match_schemas.py`` proves they agree on every schema example. Field names
are snake_case in Python and camelCase on the wire (``rename="camel"``). Optional members
that the protocol does not allow to be ``null`` default to :data:`msgspec.UNSET` and are left
out when encoded; unknown members are ignored when decoded (SPEC.md §1.3).

Schema constraints msgspec can express (lengths, patterns, bounds, enums) are type annotations
(the aliases below); the few it cannot (a member that must be null exactly when another has some
value, unique items, the shape of an error's ``data`` per code) are checked in
``__post_init__``, which raises :class:`ValueError` - a :class:`msgspec.ValidationError` when
decoding. Constructing an inconsistent message therefore fails early, on the sending side.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .errors import ErrorCode

__all__ = [
    "ACTION_MODES",
    "MAX_TEXT_BYTES",
    "ActionConfig",
    "ActionMode",
    "CancelParams",
    "ClientCapabilities",
    "ClientInfo",
    "ConfigureParams",
    "ConfigureResult",
    "ErrorDetail",
    "ErrorObject",
    "HandlerInputs",
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

# Aliases mirroring common.json#/$defs (same names where there is one).
NonEmptyStr = Annotated[str, Meta(min_length=1)]
VersionText = Annotated[str, Meta(pattern=r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")]
VersionList = Annotated[list[VersionText], Meta(min_length=1)]
Token = Annotated[str, Meta(pattern=r"^[0-9a-f]{32,128}$")]
SafeInt = Annotated[int, Meta(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
RequestId = str | SafeInt
"""A request id: a JSON string or a JSON integer within ±(2^53-1)."""
ProgressToken = str | SafeInt
NonNegativeInt = Annotated[int, Meta(ge=0)]
AbsolutePath = Annotated[str, Meta(pattern=r"^(/|[A-Za-z]:[\\/]|\\\\)")]
"""An absolute path in the host's native syntax: ``/...``, ``C:\\...`` or ``\\\\server\\...``.

A check of the text only, the same on every host (so a WM may name a Windows project to a
runner on any OS)."""
RunId = Annotated[str, Meta(min_length=1)]
Depth = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
ScopeDepth = Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)]
"""A scope request comes from a running handler, so its depth is at least 1."""
MaxMessageSize = Annotated[int, Meta(ge=MIN_MESSAGE_LIMIT, le=MAX_SAFE_INTEGER)]
Percentage = Annotated[int, Meta(ge=0, le=100)]
LogLevel = Literal["debug", "info", "warning", "error"]
ActionMode = Literal["sequential", "concurrent"]
"""How an action's handlers run: one after another, or together (SPEC.md §9.3)."""
ACTION_MODES: Final[tuple[ActionMode, ...]] = ("sequential", "concurrent")
MAX_TEXT_BYTES: Final = 16384
"""The most UTF-8 bytes of text one ``runner/output`` or ``runner/log`` carries (§10.3)."""


class _Message(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of every wire type: camelCase names, defaults left out of the encoding.

    Construct messages with keyword arguments; positional order is not part of the API.
    """


# --- launch and hello -------------------------------------------------------------------


class LaunchRecord(_Message):
    """The single line the WM writes on a runner's stdin (SPEC.md §1)."""

    protocol: VersionList
    token: Token
    project: AbsolutePath
    env: NonEmptyStr
    wal_dir: AbsolutePath | None
    parent_pid: Annotated[int, Meta(ge=1)]
    log_level: LogLevel
    conformance: bool


class RunnerInfo(_Message):
    """Who a runner is: shown in status displays and error reports."""

    name: NonEmptyStr
    version: NonEmptyStr
    language: NonEmptyStr


class Hello(_Message):
    """The single line a runner prints on stdout once it listens (SPEC.md §2)."""

    corral: Literal["hello"]
    protocol: VersionList
    port: Annotated[int, Meta(ge=1, le=65535)]
    pid: Annotated[int, Meta(ge=1)]
    runner: RunnerInfo


# --- errors ----------------------------------------------------------------------------


class ErrorObject(_Message):
    """The ``error`` member of a JSON-RPC error response.

    ``data`` is any JSON value, ``null`` included; absent is :data:`msgspec.UNSET`. When it is
    present for a code of SPEC.md §6.7 it must have that code's shape (checked on decode and on
    construction); unknown members inside it are ignored, and other codes take any ``data``.
    """

    code: int
    message: str
    data: Any = UNSET

    def __post_init__(self) -> None:
        if self.data is UNSET:
            return
        from .errordata import ERROR_DATA  # noqa: PLC0415  (it builds on these messages)

        shape = ERROR_DATA.get(self.code)
        if shape is None:
            return
        try:
            msgspec.convert(msgspec.to_builtins(self.data), shape)
        except msgspec.ValidationError as exc:
            # A plain ValueError, so that msgspec appends where this error object sits.
            detail = str(exc).replace(" - at `$", " at `data")
            raise ValueError(f"invalid data for code {self.code}: {detail}") from None


class ErrorDetail(_Message):
    """A failure inside a handler: exception type name, message and traceback text."""

    type: NonEmptyStr
    message: str
    traceback: str | None


# --- initialize ------------------------------------------------------------------------


class ClientInfo(_Message):
    """The WM's name and version, for the runner's logs."""

    name: NonEmptyStr
    version: NonEmptyStr


class ClientCapabilities(_Message):
    """What the WM announces in ``initialize`` (absent limit: 64 MiB)."""

    max_message_size: MaxMessageSize | UnsetType = UNSET


class InitializeParams(_Message):
    """Params of ``initialize``: the first message on every connection."""

    protocol_version: VersionText
    token: Token
    client_info: ClientInfo
    capabilities: ClientCapabilities


class RunnerCapabilities(_Message):
    """What a runner announces in the ``initialize`` result."""

    max_message_size: MaxMessageSize
    conformance_fixtures: bool
    handler_sources: list[NonEmptyStr]
    sync_handlers: bool | UnsetType = UNSET

    def __post_init__(self) -> None:
        if len(set(self.handler_sources)) != len(self.handler_sources):
            raise ValueError("`handlerSources` must not repeat a value")


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

    name: NonEmptyStr
    source: NonEmptyStr
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class ActionConfig(_Message):
    """The handlers of one action (at least one), and whether they run in order or together."""

    handlers: Annotated[list[HandlerSpec], Meta(min_length=1)]
    mode: ActionMode = "sequential"


class ConfigureParams(_Message):
    """Params of ``runner/configure``: the runner's whole action configuration."""

    actions: dict[NonEmptyStr, ActionConfig]


class HandlerLoadStatus(_Message):
    """Whether one configured handler loaded; ``error`` is null exactly when it did."""

    action: str
    name: str
    status: Literal["loaded", "failed"]
    error: ErrorDetail | None

    def __post_init__(self) -> None:
        if (self.status == "loaded") != (self.error is None):
            raise ValueError("`error` must be null exactly when `status` is `loaded`")


class ConfigureResult(_Message):
    """Result of ``runner/configure``: one status per configured handler."""

    handlers: list[HandlerLoadStatus]


# --- actions/run -----------------------------------------------------------------------


class RunParams(_Message):
    """Params of ``actions/run``."""

    action: NonEmptyStr
    run_id: RunId
    parent_run_id: RunId | None
    depth: Depth
    params: Any = msgspec.field(default_factory=dict)
    partial_result_token: ProgressToken | UnsetType = UNSET
    work_done_token: ProgressToken | UnsetType = UNSET


class HandlerInputs(_Message):
    """What a handler's result depends on, declared by the handler (SPEC.md §9.4.1): while
    none of it changes, the WM may answer the same request with the same result without
    asking the runner. Paths are absolute or relative to the project."""

    tree: bool = False
    """The project's files and directories (their metadata), walked; VCS internals,
    caches and ``.corral`` are never walked."""
    skip: list[NonEmptyStr] = msgspec.field(default_factory=list)
    """More directory names not walked (the tool ignores them, e.g. ``node_modules``)."""
    ancestors: list[NonEmptyStr] = msgspec.field(default_factory=list)
    """File names looked for in every directory above the project (configs the tool reads:
    ``pyproject.toml``, ``.gitignore``...)."""
    files: list[NonEmptyStr] = msgspec.field(default_factory=list)
    """More files: the tool's executable, configs elsewhere."""
    key: str = ""
    """What else identifies the result (the tool's command line, its version): only what
    changes with the params, the handler's configuration or the env's contents."""


class HandlerOutcome(_Message):
    """How one handler of a run ended; ``error`` is non-null exactly when it failed.
    ``inputs``: what an ``ok`` result depends on, when the handler declared it."""

    name: str
    status: Literal["ok", "failed", "skipped"]
    duration_ms: Annotated[float, Meta(ge=0)]
    error: ErrorDetail | None
    inputs: HandlerInputs | UnsetType = UNSET

    def __post_init__(self) -> None:
        if (self.status == "failed") != (self.error is not None):
            raise ValueError("`error` must be non-null exactly when `status` is `failed`")


def _check_run_status(status: str, handlers: list[HandlerOutcome]) -> None:
    """A run is ``ok`` exactly when every outcome is ``ok``; ``failed`` needs a failed one."""
    if status == "ok":
        if any(outcome.status != "ok" for outcome in handlers):
            raise ValueError("`status` is `ok` but a handler outcome is not `ok`")
    elif not any(outcome.status == "failed" for outcome in handlers):
        raise ValueError("`status` is `failed` but no handler outcome is `failed`")


class RunResult(_Message):
    """Result of ``actions/run``. A handler that raised gives ``status="failed"``."""

    status: Literal["ok", "failed"]
    result: Any
    handlers: list[HandlerOutcome]

    def __post_init__(self) -> None:
        _check_run_status(self.status, self.handlers)


# --- cancel, ping ----------------------------------------------------------------------


class CancelParams(_Message):
    """Params of ``$/cancelRequest``: the id of the request to cancel."""

    id: RequestId


class PingParams(_Message):
    """Params of ``$/ping`` (empty in v1)."""


class PingResult(_Message):
    """Result of ``$/ping`` (empty in v1)."""


# --- progress, logs, output ------------------------------------------------------------
# The four progress values are tagged by ``kind``. Inside ProgressParams ``kind`` is required
# (it picks the type); decoding one of them on its own, ``kind`` may be absent but must match
# when present - the schemas say the same (progress-params.json requires ``value.kind``).


class WorkDoneBegin(_Message, tag_field="kind", tag="begin"):
    """First work-done progress value of a request."""

    title: str
    message: str | UnsetType = UNSET
    percentage: Percentage | UnsetType = UNSET
    cancellable: bool | UnsetType = UNSET


class WorkDoneReport(_Message, tag_field="kind", tag="report"):
    """Intermediate work-done progress value."""

    message: str | UnsetType = UNSET
    percentage: Percentage | UnsetType = UNSET


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
    run_id: RunId | UnsetType | None = UNSET


class OutputParams(_Message):
    """Params of ``runner/output``: text a handler (or its child process) printed."""

    stream: Literal["stdout", "stderr"]
    text: str
    run_id: RunId | UnsetType | None = UNSET
    dropped: NonNegativeInt | UnsetType = UNSET


# --- higher execution scopes (runner -> WM) ------------------------------------------------


class ProjectRunParams(_Message):
    """Params of ``project/runAction``: run an action across one project's envs."""

    action: NonEmptyStr
    parent_run_id: RunId
    depth: ScopeDepth
    params: Any = msgspec.field(default_factory=dict)
    project: AbsolutePath | UnsetType = UNSET


class ProjectRunResult(_Message):
    """Result of ``project/runAction``: the merged project result and its run id."""

    run_id: RunId
    status: Literal["ok", "failed"]
    result: Any
    handlers: list[HandlerOutcome]

    def __post_init__(self) -> None:
        _check_run_status(self.status, self.handlers)


class WorkspaceRunParams(_Message):
    """Params of ``workspace/runAction``: run an action across projects (null = all)."""

    action: NonEmptyStr
    parent_run_id: RunId
    depth: ScopeDepth
    params: Any = msgspec.field(default_factory=dict)
    projects: list[AbsolutePath] | None = None


class ProjectOutcome(_Message):
    """One project's outcome inside a workspace run (SPEC.md §9.13).

    ``ok``: ``error`` is null. ``failed``: ``error`` is -32011 HandlerFailed. ``error``:
    ``error`` is the JSON-RPC error and ``result`` is null.
    """

    project: AbsolutePath
    status: Literal["ok", "failed", "error"]
    result: Any
    error: ErrorObject | None

    def __post_init__(self) -> None:
        if self.status == "ok":
            if self.error is not None:
                raise ValueError("`error` must be null when `status` is `ok`")
        elif self.error is None:
            raise ValueError(f"`error` must not be null when `status` is `{self.status}`")
        elif self.status == "failed" and self.error.code != ErrorCode.HANDLER_FAILED:
            raise ValueError("`error.code` must be -32011 when `status` is `failed`")
        elif self.status == "error" and self.result is not None:
            raise ValueError("`result` must be null when `status` is `error`")


class WorkspaceRunResult(_Message):
    """Result of ``workspace/runAction``: one outcome per project.

    ``status`` is ``ok`` exactly when every project outcome is ``ok``."""

    run_id: RunId
    status: Literal["ok", "failed"]
    projects: list[ProjectOutcome]

    def __post_init__(self) -> None:
        if self.status == "ok":
            if any(outcome.status != "ok" for outcome in self.projects):
                raise ValueError("`status` is `ok` but a project outcome is not `ok`")
        elif all(outcome.status == "ok" for outcome in self.projects):
            raise ValueError("`status` is `failed` but every project outcome is `ok`")
