"""Exceptions a handler may see from nested runs (SPEC.md §10.4).

Their class names are the ErrorDetail ``type`` the protocol names, so a handler that lets
one propagate fails with exactly that type: ``ActionNotFound`` and ``DepthLimitExceeded`` for
local runs; for a scope request (``run_in_project``/``run_in_workspace``) the name of the
JSON-RPC error code the WM answered with (SPEC.md §6.7), or ``RemoteError`` for a code the
table does not name.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

from corral_protocol.errors import ErrorCode, RpcError

# Names are the protocol's error type names, not Python's *Error convention.
# ruff: noqa: N818

__all__ = [
    "ActionNotFound",
    "DepthLimitExceeded",
    "FanOutLimitExceeded",
    "NestedRunError",
    "ProjectNotFound",
    "RemoteError",
    "RequestCancelled",
    "RunnerUnavailable",
    "from_rpc_error",
]


class NestedRunError(Exception):
    """A nested (local or scope) run could not be performed; ``code``/``data`` as on the wire."""

    def __init__(self, message: str, code: int, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class ActionNotFound(NestedRunError):
    """The action is not configured (locally: in this runner)."""


class DepthLimitExceeded(NestedRunError):
    """The nested run would be deeper than the limit."""


class FanOutLimitExceeded(NestedRunError):
    """A workspace run would select more projects than the limit."""


class ProjectNotFound(NestedRunError):
    """The WM knows no such project."""


class RunnerUnavailable(NestedRunError):
    """The WM could not start or reach a runner the scope run needs."""


class RequestCancelled(NestedRunError):
    """The WM cancelled the scope run."""


class RemoteError(NestedRunError):
    """The WM answered with an error code protocol v1 does not name."""


_NAMED: tuple[type[NestedRunError], ...] = (
    ActionNotFound,
    DepthLimitExceeded,
    FanOutLimitExceeded,
    ProjectNotFound,
    RunnerUnavailable,
    RequestCancelled,
)


def _classes() -> dict[int, type[NestedRunError]]:
    """One class per code of SPEC.md §6.7, named as the spec names it: the ones above, and
    for codes a handler rarely expects (e.g. InvalidParams) a class made once here."""
    named = {kind.__name__: kind for kind in _NAMED}
    return {
        code: named.get(code.protocol_name)
        or type(code.protocol_name, (NestedRunError,), {"__module__": __name__})
        for code in ErrorCode
    }


_BY_CODE: Final = MappingProxyType(_classes())


def from_rpc_error(error: RpcError) -> NestedRunError:
    """The handler-facing exception for an error reply to a scope request."""
    return _BY_CODE.get(error.code, RemoteError)(error.message, error.code, error.data)
