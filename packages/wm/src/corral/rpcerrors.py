"""Domain errors as JSON-RPC errors: the one place where the WM meets protocol error codes.

Used where the WM answers over a protocol (runners' scope requests, SPEC.md §9.12-§9.13,
and the per-project outcomes of a workspace run) and by front ends that need the code.
The codes and ``data`` shapes are SPEC.md §6.7's; ``data`` is always the typed Struct of
:mod:`corral_protocol.errordata`.

| domain error | code |
|---|---|
| :class:`~corral.config.ConfigError`, :class:`~corral.errors.UsageError` | -32602 |
| :class:`~corral.errors.UnknownActionError` | -32010 |
| :class:`~corral.errors.DepthLimitError` | -32012 |
| :class:`~corral.errors.FanOutLimitError` | -32013 |
| :class:`~corral.errors.UnknownProjectError` | -32014 |
| :class:`~corral.supervisor.RunnerUnavailableError` | -32015 |
| :class:`~corral.errors.EnvNotReadyError` | -32015 |
| :class:`~corral.errors.RunCancelledError` | -32800 |
"""

from __future__ import annotations

from corral_protocol import ErrorCode, RpcError
from corral_protocol.errordata import (
    ActionNotFoundData,
    DepthLimitExceededData,
    FanOutLimitExceededData,
    InvalidParamsData,
    ProjectNotFoundData,
    RequestCancelledData,
    RunnerUnavailableData,
    UnavailableRunner,
)
from corral_protocol.messages import ErrorObject

from .config import ConfigError
from .errors import (
    CorralError,
    DepthLimitError,
    EnvNotReadyError,
    FanOutLimitError,
    RunCancelledError,
    UnknownActionError,
    UnknownProjectError,
    UsageError,
)
from .supervisor import RunnerUnavailableError

__all__ = ["error_object", "to_rpc_error"]


def to_rpc_error(exc: CorralError) -> RpcError:
    """The JSON-RPC error that reports ``exc`` (see the module docstring)."""
    message = str(exc)
    if isinstance(exc, ConfigError | UsageError):
        return RpcError(ErrorCode.INVALID_PARAMS, message, InvalidParamsData(reason=message))
    if isinstance(exc, UnknownActionError):
        data = ActionNotFoundData(action=exc.action)
        if exc.project is not None:
            data = ActionNotFoundData(action=exc.action, project=str(exc.project))
        return RpcError(ErrorCode.ACTION_NOT_FOUND, message, data)
    if isinstance(exc, DepthLimitError):
        return RpcError(
            ErrorCode.DEPTH_LIMIT_EXCEEDED,
            message,
            DepthLimitExceededData(depth=exc.depth, limit=exc.limit),
        )
    if isinstance(exc, FanOutLimitError):
        return RpcError(
            ErrorCode.FAN_OUT_LIMIT_EXCEEDED,
            message,
            FanOutLimitExceededData(count=exc.count, limit=exc.limit),
        )
    if isinstance(exc, UnknownProjectError):
        return RpcError(
            ErrorCode.PROJECT_NOT_FOUND, message, ProjectNotFoundData(project=str(exc.project))
        )
    if isinstance(exc, RunnerUnavailableError):
        return _unavailable(message, str(exc.key.project), exc.key.env, exc.stderr_tail)
    if isinstance(exc, EnvNotReadyError):
        return _unavailable(message, str(exc.project), exc.env, "")
    if isinstance(exc, RunCancelledError):
        return RpcError(
            ErrorCode.REQUEST_CANCELLED, message, RequestCancelledData(reason="cancel-request")
        )
    return RpcError(ErrorCode.INTERNAL_ERROR, message)


def _unavailable(message: str, project: str, env: str, stderr_tail: str) -> RpcError:
    runner = UnavailableRunner(project=project, env=env)
    data = RunnerUnavailableData(runner=runner, stderr_tail=stderr_tail, reason=message)
    return RpcError(ErrorCode.RUNNER_UNAVAILABLE, message, data)


def error_object(exc: CorralError) -> ErrorObject:
    """:func:`to_rpc_error` as the ``error`` member of a result (a project's outcome)."""
    error = to_rpc_error(exc)
    return ErrorObject(code=error.code, message=error.message, data=error.data)
