"""Unit tests of the framing codec, rule by rule (SPEC §4)."""

from __future__ import annotations

import pytest
from corral_protocol.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_HEADER_SIZE,
    Frame,
    FrameDecoder,
    FrameEvent,
    FramingError,
    OversizedFrame,
    Truncated,
    UnsupportedCharset,
    encode_frame,
)

BODY = b'{"jsonrpc":"2.0","method":"ping"}'


def feed_bytewise(decoder: FrameDecoder, data: bytes) -> list[FrameEvent]:
    events: list[FrameEvent] = []
    for i in range(len(data)):
        events += decoder.feed(data[i : i + 1])
    return events


def feed_chunks(decoder: FrameDecoder, data: bytes, size: int) -> list[FrameEvent]:
    events: list[FrameEvent] = []
    for i in range(0, len(data), size):
        events += decoder.feed(data[i : i + size])
    return events


def fatal(data: bytes) -> str:
    """Feed ``data`` in one go; assert exactly one FramingError came out; return its reason."""
    decoder = FrameDecoder()
    events = decoder.feed(data)
    assert len(events) == 1, events
    error = events[0]
    assert isinstance(error, FramingError), events
    assert error.message
    assert not error.message.startswith("framing error")  # the JSON-RPC layer adds the prefix
    assert decoder.broken
    return error.reason


# --- encoding ---------------------------------------------------------------------------


def test_constants() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 67108864
    assert MAX_HEADER_SIZE == 8192
    assert FrameDecoder().max_message_size == DEFAULT_MAX_MESSAGE_SIZE


def test_encode_frame_exact_bytes() -> None:
    assert encode_frame(b"{}") == b"Content-Length: 2\r\n\r\n{}"
    assert encode_frame(b"") == b"Content-Length: 0\r\n\r\n"


def test_encode_counts_bytes_not_characters() -> None:
    body = '"é€𝄞"'.encode()
    assert len(body) == 11
    assert encode_frame(body) == b"Content-Length: 11\r\n\r\n" + body


# --- well-formed input ------------------------------------------------------------------


def test_single_frame() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(BODY)) == [Frame(BODY)]
    assert decoder.feed_eof() == []
    assert not decoder.broken


def test_empty_body() -> None:
    assert FrameDecoder().feed(b"Content-Length: 0\r\n\r\n") == [Frame(b"")]


def test_multibyte_utf8_body() -> None:
    body = '{"text":"é€𝄞"}'.encode()
    stream = b"Content-Length: %d\r\n\r\n" % len(body) + body + encode_frame(b"{}")
    assert FrameDecoder().feed(stream) == [Frame(body), Frame(b"{}")]
    # A character count would be 3 short and swallow the start of the next frame.
    assert len(body) - len(body.decode()) == 6


def test_feed_returns_bytes_bodies_for_any_input_type() -> None:
    frame = encode_frame(BODY)
    for data in (frame, bytearray(frame), memoryview(frame)):
        events = FrameDecoder().feed(data)
        assert events == [Frame(BODY)]
        assert type(events[0].body) is bytes  # type: ignore[union-attr]


def test_body_does_not_alias_buffer() -> None:
    data = bytearray(encode_frame(b"abc"))
    (frame,) = FrameDecoder().feed(data)
    data[-1:] = b"z"
    assert frame == Frame(b"abc")


@pytest.mark.parametrize(
    "name", [b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"cOnTeNt-LeNgTh"]
)
def test_header_name_case_insensitive(name: bytes) -> None:
    assert FrameDecoder().feed(name + b": 2\r\n\r\n{}") == [Frame(b"{}")]


@pytest.mark.parametrize(
    "header",
    [b"Content-Length:2", b"Content-Length:   2", b"Content-Length:\t2\t", b"Content-Length: 2 \t"],
)
def test_value_trimmed_of_spaces_and_tabs(header: bytes) -> None:
    assert FrameDecoder().feed(header + b"\r\n\r\n{}") == [Frame(b"{}")]


def test_leading_zeros_and_19_digits_accepted() -> None:
    assert FrameDecoder().feed(b"Content-Length: 0002\r\n\r\n{}") == [Frame(b"{}")]
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: " + b"9" * 19 + b"\r\n\r\n") == [
        OversizedFrame(size=9_999_999_999_999_999_999, limit=DEFAULT_MAX_MESSAGE_SIZE)
    ]
    assert not decoder.broken


@pytest.mark.parametrize(
    "content_type",
    [
        b"application/vscode-jsonrpc; charset=utf-8",
        b"application/vscode-jsonrpc; charset=UTF8",
        b"application/json;charset=Utf-8",
        b'application/vscode-jsonrpc; charset="utf-8"',
        b"application/vscode-jsonrpc; charset = utf8 ",
        b"application/vscode-jsonrpc",
        b"text/plain; format=flowed",
    ],
)
def test_content_type_utf8_or_absent_charset_accepted(content_type: bytes) -> None:
    for header in (
        b"Content-Length: 2\r\nContent-Type: " + content_type,
        b"Content-Type: " + content_type + b"\r\nContent-Length: 2",
    ):
        assert FrameDecoder().feed(header + b"\r\n\r\n{}") == [Frame(b"{}")]


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [
        (b"application/vscode-jsonrpc; charset=latin-1", "latin-1"),
        (b'application/json; charset="UTF-16"', "UTF-16"),
        (b"application/json; charset=", ""),
    ],
)
def test_unsupported_charset_skips_body(content_type: bytes, charset: str) -> None:
    body = "{é}".encode("latin-1")
    stream = b"Content-Type: " + content_type + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    decoder = FrameDecoder()
    events = decoder.feed(stream + encode_frame(BODY))
    assert events == [UnsupportedCharset(charset), Frame(BODY)]
    assert not decoder.broken


def test_unsupported_charset_body_streamed_in_later_feeds() -> None:
    decoder = FrameDecoder()
    head = b"Content-Length: 10\r\nContent-Type: text/plain; charset=ascii\r\n\r\n"
    assert decoder.feed(head + b"0123") == [UnsupportedCharset("ascii")]
    assert decoder.feed(b"4567") == []
    assert decoder.feed(b"89" + encode_frame(b"{}")) == [Frame(b"{}")]


def test_unknown_headers_ignored() -> None:
    stream = b"X-Trace: abc\r\nContent-Length: 2\r\nX-Empty:\r\nX-Colon: a:b\r\n\r\n{}"
    assert FrameDecoder().feed(stream) == [Frame(b"{}")]


def test_one_byte_per_feed() -> None:
    stream = encode_frame(BODY) + b"content-length:  3\r\nX-A: b\r\n\r\n[1]" + encode_frame(b"")
    decoder = FrameDecoder()
    assert feed_bytewise(decoder, stream) == [Frame(BODY), Frame(b"[1]"), Frame(b"")]
    assert decoder.feed_eof() == []


def test_many_frames_in_one_feed() -> None:
    bodies = [b'{"id":%d}' % i for i in range(500)]
    events = FrameDecoder().feed(b"".join(encode_frame(b) for b in bodies))
    assert events == [Frame(b) for b in bodies]


def test_frame_split_across_feeds_emitted_once_complete() -> None:
    decoder = FrameDecoder()
    frame = encode_frame(BODY)
    assert decoder.feed(frame[:10]) == []
    assert decoder.feed(frame[10:-1]) == []
    assert decoder.feed(frame[-1:] + frame[:5]) == [Frame(BODY)]
    assert decoder.feed(frame[5:]) == [Frame(BODY)]


def test_empty_feed_is_harmless() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"Content-Length: 1\r\n\r\n") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"x") == [Frame(b"x")]


def test_sixteen_mib_message_in_chunks() -> None:
    body = bytes(range(256)) * (16 * 1024 * 1024 // 256)
    decoder = FrameDecoder()
    events = feed_chunks(decoder, encode_frame(body) + encode_frame(b"{}"), 4096)
    assert len(events) == 2
    assert events[0] == Frame(body)
    assert events[1] == Frame(b"{}")
    assert decoder.feed_eof() == []


# --- recoverable: oversized -------------------------------------------------------------


def test_oversized_body_skipped_then_next_frame_decodes() -> None:
    decoder = FrameDecoder(max_message_size=10)
    stream = encode_frame(b"x" * 11) + encode_frame(b"0123456789")
    assert decoder.feed(stream) == [OversizedFrame(size=11, limit=10), Frame(b"0123456789")]
    assert not decoder.broken


def test_oversized_emitted_as_soon_as_header_parsed() -> None:
    decoder = FrameDecoder(max_message_size=10)
    assert decoder.feed(b"Content-Length: 1000\r\n\r\n") == [OversizedFrame(1000, 10)]
    assert decoder.feed(b"y" * 999) == []
    assert decoder.feed_eof() == [Truncated("body", received=999, expected=1000)]
    assert decoder.feed(b"y" + encode_frame(b"ok")) == [Frame(b"ok")]
    assert decoder.feed_eof() == []


def test_oversized_body_is_not_buffered() -> None:
    decoder = FrameDecoder(max_message_size=10)
    size = 1 << 30
    assert decoder.feed(b"Content-Length: %d\r\n\r\n" % size) == [OversizedFrame(size, 10)]
    chunk = b"z" * (1 << 20)
    for _ in range(size // len(chunk)):
        assert decoder.feed(chunk) == []
        assert len(decoder._buf) == 0  # memory stays bounded
    assert decoder.feed(encode_frame(b"{}")) == [Frame(b"{}")]


def test_oversized_takes_precedence_over_charset() -> None:
    stream = b"Content-Type: a/b; charset=latin1\r\nContent-Length: 20\r\n\r\n" + b"x" * 20
    events = FrameDecoder(max_message_size=10).feed(stream + encode_frame(b"1"))
    assert events == [OversizedFrame(20, 10), Frame(b"1")]


def test_max_message_size_setter() -> None:
    decoder = FrameDecoder(max_message_size=5)
    assert decoder.max_message_size == 5
    assert decoder.feed(encode_frame(b"123456")) == [OversizedFrame(6, 5)]
    decoder.max_message_size = 6
    assert decoder.max_message_size == 6
    assert decoder.feed(encode_frame(b"123456")) == [Frame(b"123456")]
    decoder.max_message_size = 0
    assert decoder.feed(encode_frame(b"1") + encode_frame(b"")) == [
        OversizedFrame(1, 0),
        Frame(b""),
    ]
    with pytest.raises(ValueError, match="max_message_size"):
        decoder.max_message_size = -1
    with pytest.raises(ValueError, match="max_message_size"):
        FrameDecoder(max_message_size=-1)


def test_limit_equal_to_size_is_accepted() -> None:
    assert FrameDecoder(max_message_size=3).feed(encode_frame(b"abc")) == [Frame(b"abc")]


# --- fatal errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b"X-Other: 1",
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8",
        b"Content-Lengthx: 5",
        b"Content_Length: 5",
    ],
)
def test_missing_content_length(header: bytes) -> None:
    assert fatal(header + b"\r\n\r\n{}") == "missing-content-length"


def test_empty_header_block_is_missing_content_length() -> None:
    assert fatal(b"\r\n\r\n") == "missing-content-length"
    assert fatal(b"\r\nContent-Length: 2\r\n\r\n{}") == "missing-content-length"
    # Detected without waiting for a later "\r\n\r\n".
    assert fatal(b"\r\nContent-Length: 2") == "missing-content-length"
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"{}") + b"\r") == [Frame(b"{}")]
    (error,) = decoder.feed(b"\n")
    assert isinstance(error, FramingError)
    assert error.reason == "missing-content-length"


@pytest.mark.parametrize(
    "value",
    [b"+5", b"-1", b"", b"   ", b"5.0", b"0x5", b"1e3", b"5 5", b"five", b"1" * 20, b"0" * 20],
)
def test_invalid_content_length(value: bytes) -> None:
    assert fatal(b"Content-Length: " + value + b"\r\n\r\n12345") == "invalid-content-length"


def test_invalid_content_length_fed_bytewise() -> None:
    decoder = FrameDecoder()
    events = feed_bytewise(decoder, b"Content-Length: 1e3\r\n\r\n" + b"x" * 1000)
    assert [type(e) for e in events] == [FramingError]
    assert events[0].reason == "invalid-content-length"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "block",
    [
        b"Content-Length: 2\r\nContent-Length: 2",
        b"Content-Length: 2\r\ncontent-length: 3",
        b"Content-Length: 2\r\nX: y\r\nCONTENT-LENGTH:2",
    ],
)
def test_duplicate_content_length(block: bytes) -> None:
    assert fatal(block + b"\r\n\r\n{}") == "duplicate-content-length"


@pytest.mark.parametrize(
    "block",
    [
        b"Content-Length: 2\r\nNoColonHere",
        b"NoColonHere\r\nContent-Length: 2",
        b"Content-Length: 2\r\n: value",
        b"Content-Length: 2\r\n   ",
        b"Content-Length: 2\r\nX-Ctl: a\x01b",
        b"Content-Length: 2\r\nX-Del: \x7f",
        b"Content-Length: 2\r\nX-Stray: a\rb",
        b"Content-Length: 2\r\nX-Nul: \x00",
    ],
)
def test_malformed_header_line(block: bytes) -> None:
    assert fatal(block + b"\r\n\r\n{}") == "malformed-header"


@pytest.mark.parametrize(
    "stream",
    [
        b"Content-Length: 2\n\n{}",
        b"Content-Length: 2\nX: y\r\n\r\n{}",
        b"X: y\r\nContent-Length: 2\n\r\n{}",
        b"\nContent-Length: 2\r\n\r\n{}",
    ],
)
def test_bare_lf_is_malformed(stream: bytes) -> None:
    assert fatal(stream) == "malformed-header"
    decoder = FrameDecoder()
    events = feed_bytewise(decoder, stream)
    assert [type(e) for e in events] == [FramingError]
    assert events[0].reason == "malformed-header"  # type: ignore[union-attr]


def test_bare_lf_detected_without_terminator() -> None:
    # An LF-only sender never produces "\r\n\r\n": do not wait for it.
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: 2") == []
    (error,) = decoder.feed(b"\n")
    assert isinstance(error, FramingError)
    assert error.reason == "malformed-header"


def test_bare_lf_after_previous_body_ending_in_cr() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"x\r")) == [Frame(b"x\r")]
    (error,) = decoder.feed(b"\nContent-Length: 1\r\n\r\nx")
    assert isinstance(error, FramingError)
    assert error.reason == "malformed-header"


def test_bare_lf_right_after_body_ending_in_cr_same_feed() -> None:
    decoder = FrameDecoder()
    events = decoder.feed(encode_frame(b"x\r") + b"\n")
    assert events[0] == Frame(b"x\r")
    assert len(events) == 2
    assert isinstance(events[1], FramingError)
    assert events[1].reason == "malformed-header"


def test_malformed_messages_name_the_defect() -> None:
    (lf,) = FrameDecoder().feed(b"Content-Length: 2\n\n{}")
    (non_ascii,) = FrameDecoder().feed(b"X: \xff\r\nContent-Length: 2\r\n\r\n{}")
    (partial,) = FrameDecoder().feed(b"X: \xff")
    assert isinstance(lf, FramingError)
    assert "bare LF" in lf.message
    for error in (non_ascii, partial):
        assert isinstance(error, FramingError)
        assert "non-ASCII" in error.message


def test_lf_inside_body_is_fine() -> None:
    body = b"a\nb\n\nc\r\n\r\n"
    assert FrameDecoder().feed(encode_frame(body)) == [Frame(body)]


@pytest.mark.parametrize(
    "stream",
    [
        "X-Name: é\r\nContent-Length: 2\r\n\r\n{}".encode(),
        b"Content-Length: 2\r\nX: \xff\r\n\r\n{}",
        "Content-Length: ２\r\n\r\n{}".encode(),  # noqa: RUF001 - fullwidth digit
        b"\x80Content-Length: 2\r\n\r\n{}",
    ],
)
def test_non_ascii_header_is_malformed(stream: bytes) -> None:
    assert fatal(stream) == "malformed-header"
    decoder = FrameDecoder()
    events = feed_bytewise(decoder, stream)
    assert [type(e) for e in events] == [FramingError]
    assert events[0].reason == "malformed-header"  # type: ignore[union-attr]


def test_header_block_at_limit_is_accepted() -> None:
    head = b"Content-Length: 2\r\nX-Pad: "
    pad = MAX_HEADER_SIZE - len(head) - 4
    block = head + b"p" * pad + b"\r\n\r\n"
    assert len(block) == MAX_HEADER_SIZE
    assert FrameDecoder().feed(block + b"{}") == [Frame(b"{}")]
    assert feed_bytewise(FrameDecoder(), block + b"{}") == [Frame(b"{}")]


def test_header_block_over_limit() -> None:
    head = b"Content-Length: 2\r\nX-Pad: "
    block = head + b"p" * (MAX_HEADER_SIZE - len(head) - 3) + b"\r\n\r\n"
    assert len(block) == MAX_HEADER_SIZE + 1
    assert fatal(block + b"{}") == "headers-too-large"


def test_headers_too_large_detected_without_terminator() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"X: " + b"a" * (MAX_HEADER_SIZE - 3)) == []
    assert not decoder.broken
    (error,) = decoder.feed(b"a")
    assert isinstance(error, FramingError)
    assert error.reason == "headers-too-large"


def test_headers_too_large_bytewise_triggers_at_limit_plus_one() -> None:
    decoder = FrameDecoder()
    for i in range(MAX_HEADER_SIZE):
        assert decoder.feed(b"X") == [], i
    assert decoder.feed_eof() == [Truncated("headers", MAX_HEADER_SIZE, None)]
    events = decoder.feed(b"y")
    assert [type(e) for e in events] == [FramingError]
    assert events[0].reason == "headers-too-large"  # type: ignore[union-attr]
    assert decoder.broken


def test_headers_too_large_in_one_big_feed() -> None:
    assert fatal(b"X" * (10 * MAX_HEADER_SIZE)) == "headers-too-large"


def test_frames_before_fatal_error_are_emitted_first() -> None:
    decoder = FrameDecoder()
    events = decoder.feed(encode_frame(b"1") + encode_frame(b"2") + b"Bogus\r\n\r\n")
    assert events[:2] == [Frame(b"1"), Frame(b"2")]
    assert len(events) == 3
    assert isinstance(events[2], FramingError)
    assert events[2].reason == "malformed-header"


def test_feed_after_fatal_returns_nothing() -> None:
    decoder = FrameDecoder()
    assert not decoder.broken
    events = decoder.feed(b"Content-Length: -1\r\n\r\n")
    assert [type(e) for e in events] == [FramingError]
    assert decoder.broken
    assert decoder.feed(encode_frame(b"{}")) == []
    assert decoder.feed(b"x" * 100_000) == []
    assert decoder.feed_eof() == []
    assert decoder.broken


# --- EOF --------------------------------------------------------------------------------


def test_eof_on_boundary_is_clean() -> None:
    decoder = FrameDecoder()
    assert decoder.feed_eof() == []
    assert decoder.feed(encode_frame(b"{}") * 3) == [Frame(b"{}")] * 3
    assert decoder.feed_eof() == []


def test_eof_mid_headers() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"{}") + b"Content-Len") == [Frame(b"{}")]
    assert decoder.feed_eof() == [Truncated("headers", received=11, expected=None)]
    decoder = FrameDecoder()
    decoder.feed(b"Content-Length: 2\r\n\r")
    assert decoder.feed_eof() == [Truncated("headers", received=20, expected=None)]


def test_eof_mid_body() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: 10\r\n\r\n0123") == []
    assert decoder.feed_eof() == [Truncated("body", received=4, expected=10)]
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: 10\r\n\r\n") == []
    assert decoder.feed_eof() == [Truncated("body", received=0, expected=10)]


def test_eof_mid_skipped_body() -> None:
    decoder = FrameDecoder(max_message_size=1)
    assert decoder.feed(b"Content-Length: 10\r\n\r\n01") == [OversizedFrame(10, 1)]
    assert decoder.feed(b"234") == []
    assert decoder.feed_eof() == [Truncated("body", received=5, expected=10)]


def test_feed_eof_does_not_change_state() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"Content-Length: 3\r\n\r\nab")
    assert decoder.feed_eof() == decoder.feed_eof() == [Truncated("body", 2, 3)]
    assert decoder.feed(b"c") == [Frame(b"abc")]


def test_events_are_hashable_and_comparable() -> None:
    events = {
        Frame(b"a"),
        OversizedFrame(1, 2),
        UnsupportedCharset("x"),
        FramingError("malformed-header", "x"),
        Truncated("body", 1, 2),
    }
    assert Frame(b"a") in events
    assert Frame(b"a") != Frame(b"b")
    with pytest.raises(AttributeError):
        Frame(b"a").body = b"b"  # type: ignore[misc]


@pytest.mark.parametrize(
    "block",
    [
        b"Content-Length : 2",
        b" Content-Length: 2",
        b"Content-Length: 2\r\n\tX-Folded: y",
        b"Content-Length: 2\r\nX Foo: 1",
        b"Content-Length: 2\r\nContent-Type: application/json; charset",
        b"Content-Length: 2\r\nContent-Type: a/b; q; charset=utf-8",
    ],
)
def test_header_names_are_trimmed_and_unknown_or_bare_parameters_ignored(block: bytes) -> None:
    """SPEC.md §5.1-§5.2: names compare trimmed; a parameter without '=' is ignored."""
    assert FrameDecoder().feed(block + b"\r\n\r\n{}") == [Frame(b"{}")]


def test_a_cr_split_from_its_lf_across_feeds_is_not_an_error() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"Content-Length: 2\r") == []
    assert decoder.feed(b"\nX-A: 1\r") == []
    assert decoder.feed(b"\n\r\n{}") == [Frame(b"{}")]
