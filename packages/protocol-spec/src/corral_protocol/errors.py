"""Error codes of protocol v1 and the exceptions that carry them.

The codes are public contract (SPEC.md §6). :class:`RpcError` is the one exception type that
crosses the wire: raise it inside a request handler to answer with that error, and it is
what :meth:`corral_protocol.Connection.request` raises when the peer answers with an error.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "ConnectionClosedError",
    "ErrorCode",
    "LocalProtocolError",
    "RpcError",
]


class ErrorCode(enum.IntEnum):
    """Every JSON-RPC error code protocol v1 defines (SPEC.md §6)."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    MESSAGE_TOO_LARGE = -32001
    SERVER_NOT_INITIALIZED = -32002
    ALREADY_INITIALIZED = -32003
    SHUTTING_DOWN = -32004
    UNSUPPORTED_PROTOCOL_VERSION = -32005
    ACTION_NOT_FOUND = -32010
    HANDLER_FAILED = -32011
    DEPTH_LIMIT_EXCEEDED = -32012
    FAN_OUT_LIMIT_EXCEEDED = -32013
    PROJECT_NOT_FOUND = -32014
    RUNNER_UNAVAILABLE = -32015
    REQUEST_CANCELLED = -32800

    @property
    def protocol_name(self) -> str:
        """The name SPEC.md §6.7 gives this code, e.g. ``"DepthLimitExceeded"``."""
        return "".join(part.capitalize() for part in self.name.split("_"))


class RpcError(Exception):
    """A JSON-RPC error response, received from the peer or to be sent to it.

    ``code`` is usually an :class:`ErrorCode` but any integer the peer sent is kept as is.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data

    @property
    def known_code(self) -> ErrorCode | None:
        """The code as an :class:`ErrorCode`, or ``None`` for a code v1 does not define."""
        try:
            return ErrorCode(self.code)
        except ValueError:
            return None


class ConnectionClosedError(Exception):
    """The connection closed before the operation could complete.

    Raised by pending :meth:`~corral_protocol.Connection.request` calls when the peer goes
    away, and by sends on a closed connection. ``reason`` says why the connection closed.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LocalProtocolError(Exception):
    """This side tried to break the protocol (e.g. answer a request twice).

    Always a bug in the calling code, never caused by the peer.
    """
