"""The sans-I/O JSON-RPC core, rule by rule (SPEC.md §4-§5)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from corral_protocol import ErrorCode, LocalProtocolError, RpcError, RpcProtocol, encode_frame
from corral_protocol.framing import FrameDecoder
from corral_protocol.jsonrpc import (
    ConnectionClosed,
    MessageRejected,
    NotificationReceived,
    RequestReceived,
    ResponseReceived,
)


def frame(obj: Any) -> bytes:
    return encode_frame(msgspec.json.encode(obj))


def sent(proto: RpcProtocol) -> list[dict[str, Any]]:
    """Decode everything the protocol queued for the peer."""
    events = FrameDecoder().feed(proto.data_to_send())
    return [msgspec.json.decode(e.body) for e in events]  # type: ignore[union-attr]


def req(id_: Any = 1, method: str = "m", **extra: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, **extra}


# --- answers the core gives by itself -------------------------------------------------------

# (body bytes, expected code, expected id in the answer, data.reason) - SPEC.md §6.2
INVALID_INPUT = [
    pytest.param(b"{", -32700, None, "invalid-json", id="truncated-json"),
    pytest.param(b"not json", -32700, None, "invalid-json", id="not-json"),
    pytest.param(b"", -32700, None, "invalid-json", id="empty-body"),
    pytest.param(b'{"a": "\xff"}', -32700, None, "invalid-utf8", id="invalid-utf8"),
    pytest.param(b'"\xed\xa0\x80"', -32700, None, "invalid-utf8", id="utf8-surrogate"),
    pytest.param(b"[1,", -32700, None, "invalid-json", id="broken-batch"),
    pytest.param(b"42 x", -32700, None, "invalid-json", id="number-then-garbage"),
    pytest.param(b"[]", -32600, None, "batch", id="empty-batch"),
    pytest.param(b'[{"jsonrpc":"2.0","id":1,"method":"m"}]', -32600, None, "batch", id="batch"),
    pytest.param(b"42", -32600, None, "not-an-object", id="number"),
    pytest.param(b'"str"', -32600, None, "not-an-object", id="string"),
    pytest.param(b"null", -32600, None, "not-an-object", id="null"),
    pytest.param(b'{"id": 1, "method": "m"}', -32600, 1, "invalid-jsonrpc", id="missing-jsonrpc"),
    pytest.param(
        b'{"jsonrpc": "1.0", "id": "a", "method": "m"}',
        -32600,
        "a",
        "invalid-jsonrpc",
        id="jsonrpc-1.0",
    ),
    pytest.param(
        b'{"jsonrpc": 2.0, "id": 3, "method": "m"}',
        -32600,
        3,
        "invalid-jsonrpc",
        id="jsonrpc-number",
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": 1, "method": 5}', -32600, 1, "invalid-method", id="method-number"
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": 1.5, "method": "m"}', -32600, None, "invalid-id", id="id-float"
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": 1.0, "method": "m"}', -32600, None, "invalid-id", id="id-1.0"
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": true, "method": "m"}', -32600, None, "invalid-id", id="id-bool"
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": null, "method": "m"}', -32600, None, "invalid-id", id="id-null"
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": {}, "method": "m"}', -32600, None, "invalid-id", id="id-object"
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": [1], "method": "m"}', -32600, None, "invalid-id", id="id-array"
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": 9007199254740992, "method": "m"}',
        -32600,
        None,
        "invalid-id",
        id="id-2^53",
    ),
    pytest.param(
        b'{"jsonrpc": "2.0", "id": 7}', -32600, 7, "invalid-message", id="no-method-no-result"
    ),
    pytest.param(b'{"foo": "boo"}', -32600, None, "invalid-message", id="unrelated-object"),
]


@pytest.mark.parametrize(("body", "code", "answer_id", "reason"), INVALID_INPUT)
def test_invalid_input_is_answered_once_and_the_connection_stays_usable(
    body: bytes, code: int, answer_id: Any, reason: str
) -> None:
    proto = RpcProtocol()
    events = proto.receive_data(encode_frame(body))
    assert [type(e) for e in events] == [MessageRejected]
    assert events[0].code == code  # type: ignore[union-attr]
    (answer,) = sent(proto)
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == answer_id
    assert type(answer["id"]) is type(answer_id)
    assert answer["error"]["code"] == code
    assert answer["error"]["data"]["reason"] == reason
    assert set(answer) == {"jsonrpc", "id", "error"}
    # Still usable afterwards.
    assert proto.receive_data(frame(req(2))) == [RequestReceived(2, "m", msgspec.Raw())]


def test_batch_answer_names_the_reason() -> None:
    proto = RpcProtocol()
    proto.receive_data(encode_frame(b' [{"jsonrpc":"2.0","method":"x"}]'))
    (answer,) = sent(proto)
    assert answer["error"]["data"] == {"reason": "batch"}
    assert "batch" in answer["error"]["message"]


@pytest.mark.parametrize("id_", ["1", 1, 0, -5, "", "é", 2**53 - 1, -(2**53 - 1)])
def test_ids_are_echoed_with_their_json_type(id_: Any) -> None:
    proto = RpcProtocol()
    (event,) = proto.receive_data(frame(req(id_)))
    assert isinstance(event, RequestReceived)
    assert event.id == id_
    assert type(event.id) is type(id_)
    proto.send_result(event.id, None)
    (answer,) = sent(proto)
    assert answer == {"jsonrpc": "2.0", "id": id_, "result": None}
    assert type(answer["id"]) is type(id_)


def test_string_and_integer_ids_are_distinct() -> None:
    proto = RpcProtocol()
    events = proto.receive_data(frame(req("1")) + frame(req(1)))
    assert [type(e) for e in events] == [RequestReceived, RequestReceived]
    assert proto.pending_incoming == {"1", 1}


def test_params_are_passed_undecoded_and_absent_params_are_empty() -> None:
    proto = RpcProtocol()
    with_params, without = proto.receive_data(frame(req(1, params={"a": [1, 2]})) + frame(req(2)))
    assert isinstance(with_params, RequestReceived)
    assert isinstance(without, RequestReceived)
    assert msgspec.json.decode(with_params.params) == {"a": [1, 2]}
    assert len(without.params) == 0


def test_notification_is_never_answered() -> None:
    proto = RpcProtocol()
    events = proto.receive_data(frame({"jsonrpc": "2.0", "method": "n", "params": {}}))
    assert [type(e) for e in events] == [NotificationReceived]
    assert proto.data_to_send() == b""


def test_unknown_members_are_ignored() -> None:
    proto = RpcProtocol()
    (event,) = proto.receive_data(frame(req(1, extra={"x": 1}, result=3)))
    assert isinstance(event, RequestReceived)


# --- exactly-once replies ---------------------------------------------------------------


def test_a_request_is_answered_exactly_once() -> None:
    proto = RpcProtocol()
    proto.receive_data(frame(req(5)))
    proto.send_result(5, {"ok": True})
    with pytest.raises(LocalProtocolError):
        proto.send_result(5, {"ok": True})
    with pytest.raises(LocalProtocolError):
        proto.send_error(5, -32603, "again")
    assert len(sent(proto)) == 1


def test_answering_an_unknown_request_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        RpcProtocol().send_result(1, None)


def test_reusing_a_pending_id_is_refused_but_a_finished_one_may_be_reused() -> None:
    proto = RpcProtocol()
    proto.receive_data(frame(req(1)))
    events = proto.receive_data(frame(req(1)))
    assert events == [MessageRejected(-32600, "id 1 is already in use by a pending request")]
    (answer,) = sent(proto)
    assert answer["error"]["code"] == -32600
    assert answer["error"]["data"] == {"reason": "duplicate-id"}
    proto.send_result(1, None)
    proto.data_to_send()
    assert isinstance(proto.receive_data(frame(req(1)))[0], RequestReceived)


def test_error_reply_carries_code_message_and_data() -> None:
    proto = RpcProtocol()
    proto.receive_data(frame(req("a")))
    proto.send_error("a", ErrorCode.ACTION_NOT_FOUND, "no such action", {"action": "x"})
    assert sent(proto) == [
        {
            "jsonrpc": "2.0",
            "id": "a",
            "error": {"code": -32010, "message": "no such action", "data": {"action": "x"}},
        }
    ]


# --- our requests and their responses ---------------------------------------------------------


def test_outgoing_requests_get_increasing_ids_and_responses_are_matched() -> None:
    proto = RpcProtocol()
    first = proto.send_request("a", {"x": 1})
    second = proto.send_request("b")
    assert second == first + 1
    assert sent(proto) == [
        {"jsonrpc": "2.0", "id": first, "method": "a", "params": {"x": 1}},
        {"jsonrpc": "2.0", "id": second, "method": "b"},
    ]
    events = proto.receive_data(
        frame({"jsonrpc": "2.0", "id": second, "result": [1]})
        + frame({"jsonrpc": "2.0", "id": first, "error": {"code": -32601, "message": "nope"}})
    )
    assert isinstance(events[0], ResponseReceived)
    assert events[0].id == second
    assert bytes(events[0].result or b"") == b"[1]"
    assert isinstance(events[1], ResponseReceived)
    assert events[1].error is not None
    assert events[1].error.code == -32601
    assert proto.pending_outgoing == frozenset()


@pytest.mark.parametrize(
    "response",
    [
        pytest.param({"jsonrpc": "2.0", "id": 99, "result": 1}, id="unknown-id"),
        pytest.param({"jsonrpc": "2.0", "id": "1", "result": 1}, id="id-wrong-type"),
        pytest.param(
            {"jsonrpc": "2.0", "id": 1, "result": 1, "error": {"code": 1, "message": "m"}},
            id="both",
        ),
        pytest.param({"jsonrpc": "2.0", "id": 1, "error": {"code": "x"}}, id="bad-error"),
        pytest.param({"jsonrpc": "1.0", "id": 1, "result": 1}, id="bad-version"),
    ],
)
def test_invalid_or_unmatched_responses_are_dropped_silently(response: dict[str, Any]) -> None:
    proto = RpcProtocol()
    proto.send_request("m")
    proto.data_to_send()
    events = proto.receive_data(frame(response))
    assert len(events) == 1
    assert isinstance(events[0], MessageRejected)
    assert events[0].code is None
    assert proto.data_to_send() == b""
    assert proto.pending_outgoing == {1}


def test_error_without_id_from_the_peer_is_reported_not_answered() -> None:
    proto = RpcProtocol()
    events = proto.receive_data(
        frame({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "bad"}})
    )
    assert events == [MessageRejected(None, "peer reported: bad (-32700)")]
    assert proto.data_to_send() == b""


def test_forgotten_request_drops_its_late_response() -> None:
    proto = RpcProtocol()
    request_id = proto.send_request("m")
    proto.forget_request(request_id)
    (event,) = proto.receive_data(frame({"jsonrpc": "2.0", "id": request_id, "result": 1}))
    assert isinstance(event, MessageRejected)


# --- size limits --------------------------------------------------------------------------


def test_oversized_message_is_answered_and_skipped() -> None:
    proto = RpcProtocol(max_message_size=100)
    body = msgspec.json.encode(req(1, params={"x": "y" * 200}))
    events = proto.receive_data(encode_frame(body) + frame(req(2)))
    assert isinstance(events[0], MessageRejected)
    assert events[0].code == ErrorCode.MESSAGE_TOO_LARGE
    assert isinstance(events[1], RequestReceived)
    (answer,) = sent(proto)
    assert answer["id"] is None
    assert answer["error"]["code"] == -32001
    assert answer["error"]["data"] == {"size": len(body), "limit": 100}


def test_sending_over_the_peers_limit_fails_locally_for_calls() -> None:
    proto = RpcProtocol()
    proto.peer_max_message_size = 50
    with pytest.raises(RpcError) as info:
        proto.send_request("m", {"x": "y" * 100})
    assert info.value.code == ErrorCode.MESSAGE_TOO_LARGE
    with pytest.raises(RpcError):
        proto.send_notification("n", {"x": "y" * 100})
    assert proto.data_to_send() == b""
    assert proto.pending_outgoing == frozenset()


def test_a_result_over_the_peers_limit_becomes_an_error_reply() -> None:
    proto = RpcProtocol()
    proto.peer_max_message_size = 80
    proto.receive_data(frame(req(3)))
    proto.send_result(3, "z" * 200)
    (answer,) = sent(proto)
    assert answer["id"] == 3
    assert answer["error"]["code"] == -32001
    assert proto.pending_incoming == frozenset()


def test_unsupported_charset_is_answered_and_skipped() -> None:
    proto = RpcProtocol()
    body = msgspec.json.encode(req(1))
    raw = b"Content-Length: %d\r\nContent-Type: text/plain; charset=latin-1\r\n\r\n" % len(body)
    events = proto.receive_data(raw + body + frame(req(2)))
    assert [type(e) for e in events] == [MessageRejected, RequestReceived]
    (answer,) = sent(proto)
    assert answer["error"]["code"] == -32700
    assert answer["error"]["data"] == {"charset": "latin-1"}


# --- closing ------------------------------------------------------------------------------


def test_fatal_framing_error_is_answered_then_closes() -> None:
    proto = RpcProtocol()
    events = proto.receive_data(b"Content-Length: abc\r\n\r\n{}" + frame(req(1)))
    assert isinstance(events[0], MessageRejected)
    assert events[1] == ConnectionClosed(events[1].reason, clean=False)  # type: ignore[union-attr]
    assert proto.closed
    (answer,) = sent(proto)
    assert answer["id"] is None
    assert answer["error"]["code"] == -32700
    assert answer["error"]["message"].startswith("framing error:")
    assert answer["error"]["data"] == {"reason": "invalid-content-length"}
    assert proto.receive_data(frame(req(2))) == []
    assert proto.receive_eof() == []


def test_eof_between_messages_is_clean() -> None:
    proto = RpcProtocol()
    proto.receive_data(frame(req(1)))
    assert proto.receive_eof() == [ConnectionClosed("connection closed by peer", clean=True)]


def test_eof_inside_a_message_is_not_clean_and_answers_nothing() -> None:
    proto = RpcProtocol()
    proto.receive_data(frame(req(1))[:-3])
    (event,) = proto.receive_eof()
    assert isinstance(event, ConnectionClosed)
    assert not event.clean
    assert "inside a message" in event.reason
    assert proto.data_to_send() == b""


def test_an_error_reply_with_unexpected_data_is_still_delivered() -> None:
    proto = RpcProtocol()
    request_id = proto.send_request("m")
    proto.data_to_send()
    error = {"code": -32012, "message": "too deep", "data": "not the documented shape"}
    (event,) = proto.receive_data(frame({"jsonrpc": "2.0", "id": request_id, "error": error}))
    assert isinstance(event, ResponseReceived)
    assert event.error is not None
    assert (event.error.code, event.error.data) == (-32012, "not the documented shape")


def test_an_error_with_unexpected_data_can_still_be_sent() -> None:
    proto = RpcProtocol()
    proto.receive_data(frame(req(1)))
    proto.send_error(1, ErrorCode.DEPTH_LIMIT_EXCEEDED, "too deep", ["odd"])
    (answer,) = sent(proto)
    assert answer["error"] == {"code": -32012, "message": "too deep", "data": ["odd"]}
