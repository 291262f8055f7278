"""JSON-RPC 2.0 message classification of the test-only runner (SPEC "JSON-RPC 2.0 rules").

:func:`classify` turns one message body into a :class:`Call` (request or notification), a
:class:`Reply` (a response from the WM) or an :class:`Invalid` with the error to answer
(``None`` for input that is dropped silently).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from .variants import Breaks

__all__ = [
    "BATCH_MESSAGE",
    "Call",
    "Invalid",
    "Reply",
    "RpcError",
    "classify",
    "valid_id",
]

MAX_SAFE: Final = 2**53 - 1
BATCH_MESSAGE: Final = "batch requests are not supported by protocol 1.x"
_UNSET: Final = object()


class RpcError(Exception):
    """An error reply: raise it inside a request handler."""

    def __init__(self, code: int, message: str, data: Any = _UNSET) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not _UNSET:
            error["data"] = self.data
        return error


@dataclass(frozen=True, slots=True)
class Call:
    """A request (``has_id``) or a notification."""

    method: str
    params: Any
    has_params: bool
    has_id: bool
    id: Any = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A response from the peer."""

    id: Any
    result: Any
    error: Any
    is_error: bool


@dataclass(frozen=True, slots=True)
class Invalid:
    """Input answered with ``error`` (to ``id``), or dropped when ``error`` is None."""

    error: RpcError | None
    id: Any = None
    fatal: bool = False


def valid_id(value: Any) -> bool:
    """A string, or an integer within ±(2^53-1) (booleans are not integers)."""
    if type(value) is str:
        return True
    return type(value) is int and -MAX_SAFE <= value <= MAX_SAFE


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def classify(body: bytes, breaks: Breaks) -> Call | Reply | Invalid:
    """Classify one message body."""
    try:
        codec = "utf-8-sig" if breaks("strip-bom") else "utf-8"
        text = body.decode(codec, "replace" if breaks("lenient-utf8") else "strict")
    except UnicodeDecodeError:
        if breaks("no-parse-error"):
            return Invalid(None)
        error = RpcError(-32700, "body is not valid UTF-8", {"reason": "invalid-utf8"})
        return Invalid(error, fatal=breaks("fatal-parse-error"))
    if not breaks("no-nesting-limit"):
        deep = _too_deep(text)
        if deep is not None:
            return deep
    try:
        message = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        if breaks("no-parse-error"):
            return Invalid(None)
        if breaks("batch-by-first-byte") and text.lstrip().startswith("["):
            return Invalid(RpcError(-32600, BATCH_MESSAGE, {"reason": "batch"}))
        error = RpcError(-32700, f"invalid JSON: {exc}", {"reason": "invalid-json"})
        return Invalid(error, fatal=breaks("fatal-parse-error"))
    if isinstance(message, list):
        if breaks("batch-silent"):
            return Invalid(None)
        return Invalid(RpcError(-32600, BATCH_MESSAGE, {"reason": "batch"}))
    if not isinstance(message, dict):
        if breaks("non-object-ignored"):
            return Invalid(None)
        return Invalid(
            RpcError(-32600, "a message must be a JSON object", {"reason": "not-an-object"})
        )
    if "method" not in message:
        return _reply(message, breaks)
    has_id = "id" in message
    if has_id and not valid_id(message["id"]) and not breaks("lenient-ids"):
        return Invalid(RpcError(-32600, "invalid id", {"reason": "invalid-id"}))
    echo = message["id"] if has_id else None
    if not breaks("no-jsonrpc-check"):
        if message.get("jsonrpc") != "2.0":
            return Invalid(
                RpcError(-32600, 'jsonrpc must be "2.0"', {"reason": "invalid-jsonrpc"}), echo
            )
        if not isinstance(message["method"], str):
            return Invalid(
                RpcError(-32600, "method must be a string", {"reason": "invalid-method"}), echo
            )
    method = message["method"] if isinstance(message["method"], str) else str(message["method"])
    return Call(method, message.get("params"), "params" in message, has_id, echo)


MAX_NESTING: Final = 128
"""SPEC §5.7: bodies nested deeper than this are answered -32600 too-deep, never parsed."""


def _too_deep(text: str) -> Invalid | None:
    """SPEC §5.7, checked before parsing: ``None`` when ``text`` nests at most
    :data:`MAX_NESTING` levels (lexically: brackets outside strings), else the -32600
    ``too-deep`` answer, echoing the id of a call whose id precedes the deep member."""
    depth = member_start = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == 2:  # a member of the top-level value
                member_start = index
            if depth > MAX_NESTING:
                return Invalid(
                    RpcError(-32600, "message nested too deep", {"reason": "too-deep"}),
                    _echo(text[:member_start] + "null}") if text.lstrip()[:1] == "{" else None,
                )
        elif char in "]}":
            depth = max(0, depth - 1)
    return None


def _echo(shallow: str) -> Any:
    """The id of the call ``shallow`` (a body with its deep member cut out), if readable."""
    try:
        message = json.loads(shallow)
    except ValueError:
        return None
    if isinstance(message, dict) and "method" in message and valid_id(message.get("id")):
        return message["id"]
    return None


def _reply(message: dict[str, Any], breaks: Breaks) -> Reply | Invalid:
    has_result, has_error = "result" in message, "error" in message
    if not has_result and not has_error:  # neither a call nor a response
        if breaks("invalid-message-ignored"):
            return Invalid(None)
        echo = message.get("id") if valid_id(message.get("id")) else None
        data = {"reason": "invalid-message"}
        return Invalid(RpcError(-32600, "not a request, notification or response", data), echo)
    bad_id = not (valid_id(message.get("id")) or (has_error and message.get("id") is None))
    if has_result == has_error or message.get("jsonrpc") != "2.0" or bad_id:
        if breaks("answer-stray-responses"):
            return Invalid(RpcError(-32600, "invalid response", {"reason": "invalid-message"}))
        return Invalid(None)  # invalid responses are dropped
    return Reply(message.get("id"), message.get("result"), message.get("error"), has_error)
