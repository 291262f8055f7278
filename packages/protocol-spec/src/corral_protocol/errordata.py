"""The shapes of ``ErrorObject.data`` per error code (SPEC.md §6.7, ``common.json#/$defs``).

Not messages of their own: :class:`~corral_protocol.messages.ErrorObject` checks its ``data``
against :data:`ERROR_DATA` by code. Senders build these Structs (``RpcError(code, message,
DepthLimitExceededData(depth=9, limit=8))``) instead of spelling dicts; receivers may
``msgspec.convert`` an error's ``data`` into them.
"""

from __future__ import annotations

from typing import Annotated, Final

from msgspec import UNSET, Meta, UnsetType

from .errors import ErrorCode
from .messages import (
    AbsolutePath,
    HandlerOutcome,
    NonEmptyStr,
    NonNegativeInt,
    VersionList,
    _Message,
)

__all__ = [
    "ERROR_DATA",
    "ActionNotFoundData",
    "DepthLimitExceededData",
    "FanOutLimitExceededData",
    "HandlerFailedData",
    "InvalidParamsData",
    "InvalidRequestData",
    "MessageTooLargeData",
    "ParseErrorData",
    "ProjectNotFoundData",
    "RequestCancelledData",
    "RunnerUnavailableData",
    "UnavailableRunner",
    "UnsupportedProtocolVersionData",
]


class ParseErrorData(_Message):
    """-32700: why the body is not JSON (``reason``) or its unsupported ``charset``."""

    reason: NonEmptyStr | UnsetType = UNSET
    charset: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.reason is UNSET and self.charset is UNSET:
            raise ValueError("ParseError data needs `reason` or `charset`")


class InvalidRequestData(_Message):
    """-32600: why the message is not a valid request (a reason token, SPEC.md §6.1)."""

    reason: NonEmptyStr


class InvalidParamsData(_Message):
    """-32602: where the params are wrong (a JSONPath from ``$``) and why."""

    path: Annotated[str, Meta(pattern=r"^\$")] | UnsetType = UNSET
    reason: str | UnsetType = UNSET


class MessageTooLargeData(_Message):
    """-32001: the message's size and the receiver's limit, in bytes."""

    size: NonNegativeInt
    limit: NonNegativeInt


class UnsupportedProtocolVersionData(_Message):
    """-32005: the versions the runner speaks."""

    supported: VersionList


class ActionNotFoundData(_Message):
    """-32010: the action asked for, and the project where it is missing."""

    action: str
    project: AbsolutePath | UnsetType = UNSET


class HandlerFailedData(_Message):
    """-32011: the failed handlers' outcomes."""

    handlers: list[HandlerOutcome]


class DepthLimitExceededData(_Message):
    """-32012: the depth asked for and the limit."""

    depth: NonNegativeInt
    limit: NonNegativeInt


class FanOutLimitExceededData(_Message):
    """-32013: how many projects the run would reach and the limit."""

    count: NonNegativeInt
    limit: NonNegativeInt


class ProjectNotFoundData(_Message):
    """-32014: the project path asked for."""

    project: str


class UnavailableRunner(_Message):
    """The (project, env) of the runner in :class:`RunnerUnavailableData`."""

    project: AbsolutePath
    env: NonEmptyStr


class RunnerUnavailableData(_Message):
    """-32015: which runner, why, and the end of its stderr."""

    runner: UnavailableRunner
    stderr_tail: str
    reason: str | UnsetType = UNSET


class RequestCancelledData(_Message):
    """-32800: why (an open set; known: ``cancel-request``, ``shutdown``, ``parent-cancelled``)."""

    reason: str | UnsetType = UNSET


ERROR_DATA: Final[dict[int, type[_Message]]] = {
    ErrorCode.PARSE_ERROR: ParseErrorData,
    ErrorCode.INVALID_REQUEST: InvalidRequestData,
    ErrorCode.INVALID_PARAMS: InvalidParamsData,
    ErrorCode.MESSAGE_TOO_LARGE: MessageTooLargeData,
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: UnsupportedProtocolVersionData,
    ErrorCode.ACTION_NOT_FOUND: ActionNotFoundData,
    ErrorCode.HANDLER_FAILED: HandlerFailedData,
    ErrorCode.DEPTH_LIMIT_EXCEEDED: DepthLimitExceededData,
    ErrorCode.FAN_OUT_LIMIT_EXCEEDED: FanOutLimitExceededData,
    ErrorCode.PROJECT_NOT_FOUND: ProjectNotFoundData,
    ErrorCode.RUNNER_UNAVAILABLE: RunnerUnavailableData,
    ErrorCode.REQUEST_CANCELLED: RequestCancelledData,
}
"""The shape ``ErrorObject.data`` must have, when present, for each code that defines one."""
