"""Method routing: which handler serves a message, with its params decoded (SPEC.md §5).

:class:`Router` is pure: it maps a :class:`~corral_protocol.jsonrpc.RequestReceived` or
:class:`~corral_protocol.jsonrpc.NotificationReceived` to a handler plus typed params, or to
the :class:`~corral_protocol.errors.RpcError` to answer. An optional *gate* runs before the
method lookup so a lifecycle (e.g. -32002 before ``initialize``) can refuse calls.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import msgspec

from .errors import ErrorCode, RpcError

if TYPE_CHECKING:
    from .connection import RequestContext
    from .jsonrpc import NotificationReceived, RequestReceived

__all__ = [
    "Gate",
    "NotificationHandler",
    "RequestHandler",
    "Resolved",
    "Router",
    "decode_params",
]

P = TypeVar("P")

RequestHandler = Callable[[Any, "RequestContext"], Awaitable[Any]]
"""``async def handler(params, ctx) -> result``; raise RpcError to answer with an error."""

NotificationHandler = Callable[[Any], None]
"""``def handler(params) -> None``; runs synchronously in the I/O loop, so keep it short."""

Gate = Callable[[str], RpcError | None]
"""Called with the method name of every incoming call; an error refuses the call."""

_PATH_RE: Final = re.compile(r" - at `(\$[^`]*)`$")
_EMPTY_OBJECT: Final = b"{}"


@dataclass(frozen=True, slots=True)
class _Route:
    params_type: type | None
    decoder: msgspec.json.Decoder[Any] | None
    handler: Any


@dataclass(frozen=True, slots=True)
class Resolved(Generic[P]):
    """A call matched to its handler, with params decoded to the registered type."""

    handler: Any
    params: P


def decode_params(
    raw: msgspec.Raw, params_type: type | None, decoder: msgspec.json.Decoder[Any] | None = None
) -> Any:
    """Decode a params member: absent or an object (SPEC.md §5), else -32602.

    Absent params decode as ``{}`` (so a type whose fields all have defaults accepts them).
    With ``params_type=None`` any object is accepted and ``None`` returned.
    """
    data = bytes(raw) if len(raw) else _EMPTY_OBJECT
    if data[:1] != b"{":
        raise RpcError(
            ErrorCode.INVALID_PARAMS,
            "params must be a JSON object when present",
            {"path": "$", "reason": "expected an object"},
        )
    if params_type is None:
        return None
    try:
        if decoder is not None:
            return decoder.decode(data)
        return msgspec.json.decode(data, type=params_type)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH_RE.search(text)
        path = match.group(1) if match else "$"
        reason = text[: match.start()] if match else text
        raise RpcError(
            ErrorCode.INVALID_PARAMS, f"invalid params: {text}", {"path": path, "reason": reason}
        ) from None


class Router:
    """A method table for one side of a connection.

    Requests for unknown methods are answered -32601; unknown notifications are ignored.
    The gate, if set, is consulted first for every call (known or not).
    """

    def __init__(self, gate: Gate | None = None) -> None:
        self._requests: dict[str, _Route] = {}
        self._notifications: dict[str, _Route] = {}
        self.gate = gate

    @staticmethod
    def _route(params_type: type | None, handler: Any) -> _Route:
        decoder: msgspec.json.Decoder[Any] | None = (
            None if params_type is None else msgspec.json.Decoder(params_type)
        )
        return _Route(params_type, decoder, handler)

    def add_request(
        self, method: str, handler: RequestHandler, params_type: type | None = None
    ) -> None:
        """Serve requests named ``method`` with ``handler``; params decode to ``params_type``."""
        self._requests[method] = self._route(params_type, handler)

    def add_notification(
        self, method: str, handler: NotificationHandler, params_type: type | None = None
    ) -> None:
        """Handle notifications named ``method``; params decode to ``params_type``."""
        self._notifications[method] = self._route(params_type, handler)

    def has_request(self, method: str) -> bool:
        """Whether a handler is registered for request ``method``."""
        return method in self._requests

    def resolve_request(self, event: RequestReceived) -> Resolved[Any]:
        """The handler and params for a request; raises the :class:`RpcError` to answer."""
        if self.gate is not None:
            refusal = self.gate(event.method)
            if refusal is not None:
                raise refusal
        route = self._requests.get(event.method)
        if route is None:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"method not found: {event.method}")
        params = decode_params(event.params, route.params_type, route.decoder)
        return Resolved(route.handler, params)

    def resolve_notification(self, event: NotificationReceived) -> Resolved[Any] | None:
        """The handler and params for a notification, or ``None`` to ignore it.

        Unknown, gated and malformed notifications are all ignored (they cannot be answered).
        """
        if self.gate is not None and self.gate(event.method) is not None:
            return None
        route = self._notifications.get(event.method)
        if route is None:
            return None
        try:
            params = decode_params(event.params, route.params_type, route.decoder)
        except RpcError:
            return None
        return Resolved(route.handler, params)
