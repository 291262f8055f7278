"""The nesting limit (SPEC.md §5.7): over-deep input is answered, never a RecursionError.

Regression tests for issue 19, bugs 1 and 2: ``[`` x 1000 killed a runner's connection, and
a handler result nested ~985 deep was never answered.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from corral_protocol import ErrorCode, RpcError, RpcProtocol, encode_frame
from corral_protocol.framing import FrameDecoder
from corral_protocol.jsonrpc import MessageRejected, RequestReceived, ResponseReceived
from corral_protocol.nesting import MAX_NESTING_DEPTH, nesting_depth, too_deep


def sent(proto: RpcProtocol) -> list[dict[str, Any]]:
    events = FrameDecoder().feed(proto.data_to_send())
    return [msgspec.json.decode(e.body) for e in events]  # type: ignore[union-attr]


def nested(depth: int) -> Any:
    """A list nested ``depth`` deep (``[]`` is depth 1)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b'{"a":[1,{"b":2}]}', 3),
        (b'["[[[[", "\\"[["]', 1),
        (b'"unterminated [[[[', 0),
        (b"]][[", 2),
        (b"[" * 1000, 1000),
    ],
)
def test_nesting_depth_is_lexical_and_ignores_strings(body: bytes, depth: int) -> None:
    assert nesting_depth(body) == depth


def test_the_limit_is_exact() -> None:
    assert not too_deep(msgspec.json.encode(nested(MAX_NESTING_DEPTH)))
    assert too_deep(msgspec.json.encode(nested(MAX_NESTING_DEPTH + 1)))


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH + 1, 1000, 100_000])
def test_an_over_deep_batch_is_answered_too_deep(depth: int) -> None:
    proto = RpcProtocol()
    body = b"[" * depth + b"]" * depth
    events = proto.receive_data(encode_frame(body))
    assert events == [MessageRejected(-32600, events[0].reason)]  # type: ignore[union-attr]
    [answer] = sent(proto)
    assert answer["id"] is None
    assert answer["error"]["code"] == ErrorCode.INVALID_REQUEST
    assert answer["error"]["data"] == {"reason": "too-deep"}


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH, 1000, 20_000])
def test_an_over_deep_request_is_answered_with_its_id(depth: int) -> None:
    proto = RpcProtocol()
    body = b'{"jsonrpc":"2.0","id":7,"method":"m","params":{"a":' + b"[" * depth
    body += b"]" * depth + b"}}"
    [event] = proto.receive_data(encode_frame(body))
    [answer] = sent(proto)
    assert isinstance(event, MessageRejected)
    assert answer["id"] == 7
    assert answer["error"]["data"] == {"reason": "too-deep"}
    assert proto.pending_incoming == frozenset()
    # The connection stays usable.
    [ok] = proto.receive_data(encode_frame(b'{"jsonrpc":"2.0","id":8,"method":"m"}'))
    assert isinstance(ok, RequestReceived)


def test_params_at_the_limit_are_received() -> None:
    proto = RpcProtocol()
    params = {"a": nested(MAX_NESTING_DEPTH - 2)}  # message 1 + params 1 + list
    message = {"jsonrpc": "2.0", "id": 1, "method": "m", "params": params}
    [event] = proto.receive_data(encode_frame(msgspec.json.encode(message)))
    assert isinstance(event, RequestReceived)


def test_an_over_deep_response_completes_its_request_with_an_error() -> None:
    proto = RpcProtocol()
    request_id = proto.send_request("m")
    proto.data_to_send()
    body = b'{"jsonrpc":"2.0","id":%d,"result":' % request_id + b"[" * 1000 + b"]" * 1000 + b"}"
    [event] = proto.receive_data(encode_frame(body))
    assert isinstance(event, ResponseReceived)
    assert event.id == request_id
    assert event.error is not None
    assert event.error.data == {"reason": "too-deep"}
    assert proto.pending_outgoing == frozenset()
    assert sent(proto) == []  # responses are never answered


def test_sending_an_over_deep_request_fails_locally() -> None:
    proto = RpcProtocol()
    for depth in (MAX_NESTING_DEPTH, 5000):
        with pytest.raises(RpcError) as caught:
            proto.send_request("m", {"a": nested(depth)})
        assert caught.value.data == {"reason": "too-deep"}
        with pytest.raises(RpcError):
            proto.send_notification("m", {"a": nested(depth)})
    assert proto.data_to_send() == b""
    assert proto.pending_outgoing == frozenset()


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH, 985, 5000])
def test_an_over_deep_result_is_replaced_by_an_error_reply(depth: int) -> None:
    proto = RpcProtocol()
    proto.receive_data(encode_frame(b'{"jsonrpc":"2.0","id":1,"method":"m"}'))
    proto.send_result(1, nested(depth))
    [answer] = sent(proto)
    assert answer["id"] == 1
    assert answer["error"]["code"] == ErrorCode.INTERNAL_ERROR
    assert answer["error"]["data"] == {"reason": "too-deep"}
    assert proto.pending_incoming == frozenset()


def test_checking_a_wide_message_stays_cheap() -> None:
    """A body with many brackets but little depth is scanned, not rejected."""
    wide = msgspec.json.encode([{"a": [1, "x[{"]} for _ in range(50_000)])
    assert nesting_depth(wide) == 3
