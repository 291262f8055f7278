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
    "InlineHandler",
    "NotificationHandler",
    "RequestHandler",
    "Resolved",
    "Router",
    "decode_params",
]

P = TypeVar("P")

RequestHandler = Callable[[Any, "RequestContext"], Awaitable[Any]]
"""``async def handler(params, ctx) -> result``; raise RpcError to answer with an error."""

InlineHandler = Callable[[Any, "RequestContext"], Any]
"""``def handler(params, ctx) -> result``: called synchronously, in arrival order."""

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
    inline: bool = False
    on_accepted: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Resolved(Generic[P]):
    """A call matched to its handler, with params decoded to the registered type.

    ``inline`` handlers are plain functions the connection calls synchronously, in arrival
    order, before it looks at the next message (see :meth:`Router.add_request`).
    """

    handler: Any
    params: P
    inline: bool = False


def decode_params(
    raw: msgspec.Raw, params_type: type | None, decoder: msgspec.json.Decoder[Any] | None = None
) -> Any:
    """Decode a params member: absent or an object (SPEC.md §5), else -32602.

    Absent params decode as ``{}`` (so a type whose fields all have defaults accepts them).
    With ``params_type=None`` any object is accepted and ``None`` returned. With
    ``params_type=msgspec.Raw`` the params are handed over undecoded and unchecked (a handler
    that must treat malformed params specially, like ``initialize``'s token check).
    """
    if params_type is msgspec.Raw:
        return raw
    data = bytes(raw) if len(raw) else _EMPTY_OBJECT
    if data[:1] != b"{":
        raise RpcError(
            ErrorCode.INVALID_PARAMS,
            "params must be a JSON object when present",
            {"path": "$", "reason": "params must be an object"},
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
    def _route(
        params_type: type | None,
        handler: Any,
        inline: bool = False,
        on_accepted: Callable[[], None] | None = None,
    ) -> _Route:
        decoder: msgspec.json.Decoder[Any] | None = (
            None
            if params_type is None or params_type is msgspec.Raw
            else msgspec.json.Decoder(params_type)
        )
        return _Route(params_type, decoder, handler, inline, on_accepted)

    def add_request(
        self,
        method: str,
        handler: RequestHandler | InlineHandler,
        params_type: type | None = None,
        *,
        inline: bool = False,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Serve requests named ``method``; params decode to ``params_type``.

        By default ``handler`` is a coroutine function run as its own task. With
        ``inline=True`` it is a plain function called synchronously as the request is read,
        before any later message is dispatched: use it for short handlers whose state
        changes must apply to the very next message (``initialize``, ``shutdown``), or that
        must answer with minimal latency (``$/ping``).

        ``on_accepted`` runs synchronously once a request passed the gate and its params
        decoded, before any later message is dispatched: the place for a state change that
        must not happen for a refused request (``shutdown`` with invalid params).
        """
        self._requests[method] = self._route(params_type, handler, inline, on_accepted)

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
        if route.on_accepted is not None:
            route.on_accepted()
        return Resolved(route.handler, params, route.inline)

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
