"""Sans-I/O JSON-RPC 2.0 endpoint core (SPEC.md §4-§5).

:class:`RpcProtocol` turns received bytes into events and the calls of its owner into bytes,
without touching a socket or an event loop (the model is h11). It owns every rule that does
not depend on the method table: message classification, id validation, exactly-once
replies, matching responses to outgoing requests, size limits, and the error answers to
malformed input, which it queues by itself. Which methods exist, what their params are and
when they may be called is the :class:`~corral_protocol.dispatch.Router`'s job.

Typical use by an I/O layer::

    for event in proto.receive_data(chunk):
        ...  # RequestReceived -> later proto.send_result(event.id, value)
    transport.write(proto.data_to_send())
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec
from msgspec import UNSET

from .errors import ErrorCode, LocalProtocolError, RpcError
from .framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Frame,
    FrameDecoder,
    FramingError,
    OversizedFrame,
    Truncated,
    UnsupportedCharset,
    encode_frame,
)
from .messages import MAX_SAFE_INTEGER, RequestId
from .nesting import MAX_NESTING_DEPTH, over_deep_prefix, too_deep

__all__ = [
    "ConnectionClosed",
    "MessageRejected",
    "NotificationReceived",
    "RequestReceived",
    "ResponseReceived",
    "RpcEvent",
    "RpcProtocol",
    "WireError",
    "is_valid_id",
]

_JSONRPC: Final = "2.0"
_NO_PARAMS: Final = msgspec.Raw()


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request the owner must answer exactly once (``send_result``/``send_error``).

    ``params`` is the undecoded JSON of the params member; empty (``len 0``) when absent.
    """

    id: RequestId
    method: str
    params: msgspec.Raw


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    """A notification; it is never answered. ``params`` as in :class:`RequestReceived`."""

    method: str
    params: msgspec.Raw


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The answer to one of our requests: exactly one of ``result``/``error`` is set."""

    id: RequestId
    result: msgspec.Raw | None
    error: WireError | None


@dataclass(frozen=True, slots=True)
class MessageRejected:
    """Diagnostic: input the core answered with an error by itself, or dropped.

    ``code`` is the error code sent back, or ``None`` when nothing could be sent (an invalid
    or unmatched response, an error the peer reported without an id).
    """

    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The stream ended: the owner flushes :meth:`RpcProtocol.data_to_send` and closes.

    ``clean`` is true for EOF between messages, false for EOF inside a message or a fatal
    framing error (for which the error answer is already queued).
    """

    reason: str
    clean: bool


RpcEvent = (
    RequestReceived | NotificationReceived | ResponseReceived | MessageRejected | ConnectionClosed
)


class WireError(msgspec.Struct, omit_defaults=True):
    """An error object as it crosses the wire: code and message checked, ``data`` not.

    The core deliberately does not enforce the per-code ``data`` shapes of SPEC.md §6.7
    (:class:`~corral_protocol.messages.ErrorObject` does): an error reply must never become
    undeliverable - dropped on receipt, or unsendable - because of its ``data``.
    """

    code: int
    message: str
    data: Any = UNSET


class _Envelope(msgspec.Struct):
    """Every member a JSON-RPC message may have, decoded no further than needed."""

    jsonrpc: Any = UNSET
    id: Any = UNSET
    method: Any = UNSET
    params: msgspec.Raw = _NO_PARAMS
    result: msgspec.Raw = _NO_PARAMS
    error: Any = UNSET


class _Request(msgspec.Struct, omit_defaults=True):
    jsonrpc: str
    id: RequestId
    method: str
    params: Any = UNSET


class _Notification(msgspec.Struct, omit_defaults=True):
    jsonrpc: str
    method: str
    params: Any = UNSET


class _Result(msgspec.Struct):
    jsonrpc: str
    id: RequestId
    result: Any


class _Error(msgspec.Struct):
    jsonrpc: str
    id: RequestId | None
    error: WireError


def _reason(token: str) -> dict[str, str]:
    """The ``data`` of an automatic error answer: a machine-readable reason (SPEC.md §6)."""
    return {"reason": token}


def is_valid_id(value: object) -> bool:
    """Whether ``value`` (as decoded from JSON) is a request id protocol v1 accepts."""
    if type(value) is str:
        return True
    return type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


class RpcProtocol:
    """One side of a JSON-RPC connection, as a pure state machine.

    Contract:

    * :meth:`receive_data`/:meth:`receive_eof` return events in arrival order; malformed
      input never raises, it is answered (queued bytes) and reported as
      :class:`MessageRejected`.
    * Every :class:`RequestReceived` id stays *pending* until the owner answers it with
      :meth:`send_result` or :meth:`send_error`; answering a non-pending id raises
      :class:`LocalProtocolError`. A peer request reusing a pending id is answered -32600.
    * :meth:`send_request` allocates integer ids; responses to other ids are dropped.
    * ``peer_max_message_size`` bounds what we send: an oversized request or notification
      raises :class:`RpcError` (-32001) locally; an oversized result is replaced by a
      -32001 error response, so the request is still answered exactly once.
    """

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._decoder = FrameDecoder(max_message_size)
        self._decode = msgspec.json.Decoder(_Envelope).decode
        self._encode = msgspec.json.Encoder().encode
        self._out: list[bytes] = []
        self._pending_in: set[RequestId] = set()
        self._pending_out: set[int] = set()
        self._next_id = 1
        self._closed = False
        self.peer_max_message_size = DEFAULT_MAX_MESSAGE_SIZE

    # --- state -------------------------------------------------------------------------

    @property
    def max_message_size(self) -> int:
        """Largest body we accept; larger ones are answered -32001 and skipped."""
        return self._decoder.max_message_size

    @max_message_size.setter
    def max_message_size(self, value: int) -> None:
        self._decoder.max_message_size = value

    @property
    def closed(self) -> bool:
        """True once a :class:`ConnectionClosed` event was returned."""
        return self._closed

    @property
    def pending_incoming(self) -> frozenset[RequestId]:
        """Ids of received requests not yet answered."""
        return frozenset(self._pending_in)

    @property
    def pending_outgoing(self) -> frozenset[int]:
        """Ids of our requests still awaiting a response."""
        return frozenset(self._pending_out)

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call (may be empty)."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    # --- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[RpcEvent]:
        """Feed received bytes; return the events they complete."""
        if self._closed:
            return []
        events: list[RpcEvent] = []
        for frame_event in self._decoder.feed(data):
            if type(frame_event) is Frame:
                event = self._classify(frame_event.body)
                if event is not None:
                    events.append(event)
            elif isinstance(frame_event, OversizedFrame):
                data_ = {"size": frame_event.size, "limit": frame_event.limit}
                events.append(
                    self._reject(
                        ErrorCode.MESSAGE_TOO_LARGE,
                        f"message of {frame_event.size} bytes exceeds the limit of "
                        f"{frame_event.limit} bytes",
                        data_,
                    )
                )
            elif isinstance(frame_event, UnsupportedCharset):
                events.append(
                    self._reject(
                        ErrorCode.PARSE_ERROR,
                        f"unsupported charset {frame_event.charset!r} (only utf-8)",
                        {"charset": frame_event.charset},
                    )
                )
            elif isinstance(frame_event, FramingError):
                events.append(
                    self._reject(
                        ErrorCode.PARSE_ERROR,
                        f"framing error: {frame_event.message}",
                        {"reason": frame_event.reason},
                    )
                )
                events.append(self._close(f"framing error: {frame_event.message}", clean=False))
                break
        return events

    def receive_eof(self) -> list[RpcEvent]:
        """The peer closed its side; returns the final :class:`ConnectionClosed`."""
        if self._closed:
            return []
        for frame_event in self._decoder.feed_eof():
            if isinstance(frame_event, Truncated):
                expected = "?" if frame_event.expected is None else str(frame_event.expected)
                return [
                    self._close(
                        f"connection closed inside a message ({frame_event.where}: "
                        f"{frame_event.received} of {expected} bytes)",
                        clean=False,
                    )
                ]
        return [self._close("connection closed by peer", clean=True)]

    def _close(self, reason: str, *, clean: bool) -> ConnectionClosed:
        self._closed = True
        return ConnectionClosed(reason, clean)

    def _reject(
        self, code: ErrorCode, message: str, data: Any = UNSET, id_: RequestId | None = None
    ) -> MessageRejected:
        self._queue(_Error(_JSONRPC, id_, WireError(code=code, message=message, data=data)))
        return MessageRejected(int(code), message)

    def _classify(self, body: bytes) -> RpcEvent | None:
        if not body.isascii():
            # msgspec does not check UTF-8 inside skipped members or Raw values: do it here,
            # once, for the whole body (ASCII bodies, the common case, skip this).
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                return self._reject(
                    ErrorCode.PARSE_ERROR,
                    f"body is not valid UTF-8: {exc}",
                    _reason("invalid-utf8"),
                )
        if too_deep(body):
            return self._received_too_deep(body)
        try:
            env = self._decode(body)
        except msgspec.ValidationError:
            try:  # only on this error path: is it JSON at all? (SPEC.md §6.1: parse first)
                msgspec.json.decode(body)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                return self._reject(
                    ErrorCode.PARSE_ERROR, f"invalid JSON: {exc}", _reason("invalid-json")
                )
            if body.lstrip()[:1] == b"[":
                return self._reject(
                    ErrorCode.INVALID_REQUEST,
                    "batch requests are not supported by protocol 1.x",
                    {"reason": "batch"},
                )
            return self._reject(
                ErrorCode.INVALID_REQUEST,
                "a message must be a JSON object",
                _reason("not-an-object"),
            )
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return self._reject(
                ErrorCode.PARSE_ERROR, f"invalid JSON: {exc}", _reason("invalid-json")
            )

        if env.method is not UNSET:
            return self._classify_call(env)
        return self._classify_response(env)

    def _received_too_deep(self, body: bytes) -> RpcEvent:
        """SPEC.md §5.7: a body nested deeper than the limit is never parsed in full.

        A request is answered -32600 ``too-deep`` (echoing its id when it precedes the
        over-deep member); a response to one of our requests completes it with that error,
        so no caller waits forever for a reply it can never read.
        """
        message = f"message nested deeper than {MAX_NESTING_DEPTH} levels"
        env: _Envelope | None = None
        prefix = over_deep_prefix(body)
        if prefix is not None:
            try:
                env = self._decode(prefix)
            except (msgspec.DecodeError, UnicodeDecodeError):
                env = None
        if (
            env is not None
            and env.method is UNSET
            and type(env.id) is int
            and env.id in self._pending_out
            and (len(env.result) > 0 or env.error is not UNSET)
        ):
            self._pending_out.discard(env.id)
            error = WireError(ErrorCode.INVALID_REQUEST, message, _reason("too-deep"))
            return ResponseReceived(env.id, None, error)
        echo: RequestId | None = None
        if env is not None and env.method is not UNSET and is_valid_id(env.id):
            echo = env.id
            if echo in self._pending_in:  # the earlier request keeps its own reply
                echo = None
        if env is not None and env.method is UNSET and (len(env.result) or env.error is not UNSET):
            return MessageRejected(None, f"response dropped: {message}")
        return self._reject(ErrorCode.INVALID_REQUEST, message, _reason("too-deep"), id_=echo)

    def _classify_call(self, env: _Envelope) -> RpcEvent | None:
        has_id = env.id is not UNSET
        id_ok = has_id and is_valid_id(env.id)
        echo: RequestId | None = env.id if id_ok else None
        if has_id and not id_ok:
            return self._reject(
                ErrorCode.INVALID_REQUEST,
                "id must be a string or an integer within ±(2^53-1)",
                _reason("invalid-id"),
            )
        if env.jsonrpc != _JSONRPC:
            return self._reject(
                ErrorCode.INVALID_REQUEST,
                'jsonrpc must be "2.0"',
                _reason("invalid-jsonrpc"),
                id_=echo,
            )
        if type(env.method) is not str:
            return self._reject(
                ErrorCode.INVALID_REQUEST,
                "method must be a string",
                _reason("invalid-method"),
                id_=echo,
            )
        if not has_id:
            return NotificationReceived(env.method, env.params)
        request_id: RequestId = env.id
        if request_id in self._pending_in:
            return self._reject(
                ErrorCode.INVALID_REQUEST,
                f"id {request_id!r} is already in use by a pending request",
                _reason("duplicate-id"),
                id_=request_id,
            )
        self._pending_in.add(request_id)
        return RequestReceived(request_id, env.method, env.params)

    def _classify_response(self, env: _Envelope) -> RpcEvent | None:
        has_result = len(env.result) > 0
        has_error = env.error is not UNSET
        if not has_result and not has_error:
            # Neither a call nor a response: an invalid request in JSON-RPC's terms.
            echo: RequestId | None = env.id if is_valid_id(env.id) else None
            return self._reject(
                ErrorCode.INVALID_REQUEST,
                "message has no method, result or error",
                _reason("invalid-message"),
                id_=echo,
            )
        if env.jsonrpc != _JSONRPC or (has_result and has_error):
            return MessageRejected(None, "invalid response dropped")
        error: WireError | None = None
        if has_error:
            try:
                error = msgspec.convert(env.error, WireError)
            except msgspec.ValidationError:
                return MessageRejected(None, "response with a malformed error object dropped")
            if env.id is None:
                return MessageRejected(None, f"peer reported: {error.message} ({error.code})")
        if type(env.id) is not int or env.id not in self._pending_out:
            return MessageRejected(None, f"response to unknown id {env.id!r} dropped")
        self._pending_out.discard(env.id)
        return ResponseReceived(env.id, env.result if has_result else None, error)

    # --- output ------------------------------------------------------------------------

    def _queue(self, message: msgspec.Struct) -> int:
        body = self._encode(message)
        self._out.append(encode_frame(body))
        return len(body)

    def _too_large(self, what: str, size: int) -> WireError:
        """The -32001 error for a ``what`` of ``size`` bytes over the peer's limit."""
        limit = self.peer_max_message_size
        return WireError(
            code=ErrorCode.MESSAGE_TOO_LARGE,
            message=f"{what} of {size} bytes exceeds the peer's limit of {limit} bytes",
            data={"size": size, "limit": limit},
        )

    def _encode_bounded(self, message: msgspec.Struct, what: str) -> bytes:
        """Encode ``message``; raise :class:`RpcError` -32600 ``too-deep`` locally if it
        nests deeper than the limit (SPEC.md §5.7) - including too deep to encode at all."""
        try:
            body = self._encode(message)
        except RecursionError:
            body = None
        if body is None or too_deep(body):
            raise RpcError(
                ErrorCode.INVALID_REQUEST,
                f"{what} nested deeper than {MAX_NESTING_DEPTH} levels",
                _reason("too-deep"),
            )
        return body

    def _check_size(self, body: bytes) -> None:
        if len(body) > self.peer_max_message_size:
            error = self._too_large("message", len(body))
            raise RpcError(error.code, error.message, error.data)

    def send_request(self, method: str, params: Any = UNSET) -> int:
        """Queue a request; return its id. Raises :class:`RpcError` (-32001) if too large."""
        request_id = self._next_id
        body = self._encode_bounded(_Request(_JSONRPC, request_id, method, params), "request")
        self._check_size(body)
        self._next_id += 1
        self._pending_out.add(request_id)
        self._out.append(encode_frame(body))
        return request_id

    def forget_request(self, request_id: int) -> None:
        """Stop waiting for ``request_id`` (e.g. the caller timed out); a late reply is dropped."""
        self._pending_out.discard(request_id)

    def send_notification(self, method: str, params: Any = UNSET) -> None:
        """Queue a notification. Raises :class:`RpcError` (-32001) if too large."""
        body = self._encode_bounded(_Notification(_JSONRPC, method, params), "notification")
        self._check_size(body)
        self._out.append(encode_frame(body))

    def _take_pending(self, request_id: RequestId) -> None:
        try:
            self._pending_in.remove(request_id)
        except KeyError:
            raise LocalProtocolError(
                f"request {request_id!r} is not pending (already answered or never received)"
            ) from None

    def send_result(self, request_id: RequestId, result: Any) -> None:
        """Answer a pending request with ``result`` (any msgspec-encodable value).

        If ``result`` cannot be encoded, the error propagates and the request stays pending,
        so the caller can still answer it with an error. A result nested deeper than the
        limit (SPEC.md §5.7) is replaced by a -32603 ``too-deep`` error reply.
        """
        if request_id not in self._pending_in:
            self._take_pending(request_id)  # raises LocalProtocolError
        try:
            body = self._encode_bounded(_Result(_JSONRPC, request_id, result), "result")
        except RpcError as exc:  # too deep: the request is still answered, with why
            self._take_pending(request_id)
            error = WireError(ErrorCode.INTERNAL_ERROR, exc.message, exc.data)
            self._queue(_Error(_JSONRPC, request_id, error))
            return
        self._take_pending(request_id)
        if len(body) > self.peer_max_message_size:
            self._queue(_Error(_JSONRPC, request_id, self._too_large("result", len(body))))
            return
        self._out.append(encode_frame(body))

    def send_error(self, request_id: RequestId, code: int, message: str, data: Any = UNSET) -> None:
        """Answer a pending request with an error."""
        self._take_pending(request_id)
        try:
            body = self._encode(
                _Error(_JSONRPC, request_id, WireError(code=code, message=message, data=data))
            )
        except (TypeError, ValueError, RecursionError, msgspec.EncodeError):  # drop bad data
            body = self._encode(_Error(_JSONRPC, request_id, WireError(code=code, message=message)))
        if too_deep(body):  # data nested too deep (SPEC.md §5.7): drop it
            body = self._encode(_Error(_JSONRPC, request_id, WireError(code=code, message=message)))
        if len(body) > self.peer_max_message_size:  # e.g. huge data: keep the answer small
            too_large = self._too_large("error reply", len(body))
            body = self._encode(_Error(_JSONRPC, request_id, too_large))
        self._out.append(encode_frame(body))
