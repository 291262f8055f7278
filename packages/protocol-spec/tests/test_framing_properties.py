"""Property tests of the framing codec (hypothesis)."""

from __future__ import annotations

import itertools

from corral_protocol.framing import (
    Frame,
    FrameDecoder,
    FrameEvent,
    FramingError,
    OversizedFrame,
    Truncated,
    UnsupportedCharset,
    encode_frame,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENT_TYPES = (Frame, OversizedFrame, UnsupportedCharset, FramingError, Truncated)

bodies = st.lists(st.binary(max_size=300), max_size=12)


@st.composite
def large_ish_bodies(draw: st.DrawFn) -> bytes:
    size = draw(st.integers(min_value=0, max_value=300_000))
    pattern = draw(st.binary(min_size=1, max_size=32))
    return (pattern * (size // len(pattern) + 1))[:size]


@st.composite
def header_blocks(draw: st.DrawFn, length: int) -> bytes:
    """A valid header block announcing ``length``, in any of the forms SPEC §4 allows."""
    name = draw(st.sampled_from([b"Content-Length", b"content-length", b"CONTENT-LENGTH"]))
    ws = st.sampled_from([b"", b" ", b"\t", b"  \t"])
    value = b"0" * draw(st.integers(0, 3)) + b"%d" % length
    lines = [name + b":" + draw(ws) + value + draw(ws)]
    extras = st.sampled_from(
        [
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8",
            b'Content-Type: application/json; charset="UTF8"',
            b"Content-Type: application/json",
            b"X-Unknown: whatever: really",
        ]
    )
    for extra in draw(st.lists(extras, max_size=2, unique=True)):
        lines.insert(draw(st.integers(0, len(lines))), extra)
    return b"\r\n".join(lines) + b"\r\n\r\n"


@st.composite
def valid_streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    frames = draw(bodies)
    parts = []
    for body in frames:
        if draw(st.booleans()):
            parts.append(encode_frame(body))
        else:
            parts.append(draw(header_blocks(len(body))) + body)
    return b"".join(parts), frames


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def decode(decoder: FrameDecoder, chunks: list[bytes]) -> list[FrameEvent]:
    events: list[FrameEvent] = []
    for chunk in chunks:
        out = decoder.feed(chunk)
        assert isinstance(out, list)
        events += out
    return events


@SETTINGS
@given(stream=valid_streams(), cuts=st.lists(st.integers(min_value=0), max_size=40))
def test_any_split_of_valid_stream_decodes_same(
    stream: tuple[bytes, list[bytes]], cuts: list[int]
) -> None:
    data, frames = stream
    whole = FrameDecoder()
    assert whole.feed(data) == [Frame(b) for b in frames]
    decoder = FrameDecoder()
    assert decode(decoder, split(data, cuts)) == [Frame(b) for b in frames]
    assert decoder.feed_eof() == []
    assert not decoder.broken


@SETTINGS
@given(stream=valid_streams())
def test_one_byte_at_a_time(stream: tuple[bytes, list[bytes]]) -> None:
    data, frames = stream
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert decode(FrameDecoder(), chunks) == [Frame(b) for b in frames]


@SETTINGS
@given(body=st.one_of(st.binary(max_size=1000), large_ish_bodies()), chunk=st.integers(1, 70_000))
def test_encode_decode_identity(body: bytes, chunk: int) -> None:
    data = encode_frame(body)
    assert data.startswith(b"Content-Length: %d\r\n\r\n" % len(body))
    decoder = FrameDecoder()
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    assert decode(decoder, chunks) == [Frame(body)]
    assert decoder.feed_eof() == []


@SETTINGS
@given(frames=bodies, limit=st.integers(0, 300), cuts=st.lists(st.integers(min_value=0)))
def test_limit_splits_frames_into_frames_and_oversized(
    frames: list[bytes], limit: int, cuts: list[int]
) -> None:
    data = b"".join(encode_frame(b) for b in frames)
    expected = [Frame(b) if len(b) <= limit else OversizedFrame(len(b), limit) for b in frames]
    decoder = FrameDecoder(max_message_size=limit)
    assert decode(decoder, split(data, cuts)) == expected
    assert decoder.feed_eof() == []


def check_event_stream(decoder: FrameDecoder, events: list[FrameEvent]) -> None:
    """Every item is an event; a FramingError is last and only with ``broken``."""
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert not any(isinstance(e, Truncated) for e in events)
    errors = [i for i, e in enumerate(events) if isinstance(e, FramingError)]
    assert errors in ([], [len(events) - 1])
    assert decoder.broken == bool(errors)
    tail = decoder.feed_eof()
    assert all(isinstance(e, Truncated) for e in tail)
    assert len(tail) <= 1
    if decoder.broken:
        assert tail == []


@SETTINGS
@given(
    garbage=st.binary(max_size=2000),
    prefix=bodies,
    cuts=st.lists(st.integers(min_value=0), max_size=20),
    limit=st.integers(0, 100),
)
def test_random_bytes_never_raise(
    garbage: bytes, prefix: list[bytes], cuts: list[int], limit: int
) -> None:
    decoder = FrameDecoder(max_message_size=limit)
    data = b"".join(encode_frame(b) for b in prefix) + garbage
    events = decode(decoder, split(data, cuts))
    expected = [Frame(b) if len(b) <= limit else OversizedFrame(len(b), limit) for b in prefix]
    assert events[: len(prefix)] == expected
    check_event_stream(decoder, events)


@SETTINGS
@given(
    garbage=st.lists(
        st.sampled_from(
            [
                *(b"Content-Length: ", b"content-length:", b"Content-Type: a; charset=", b"X: y"),
                *(b"\r\n", b"\r\n\r\n", b"\n", b"\r", b":", b" ", b"\xe9", b"12", b"-", b"utf-8"),
            ]
        ),
        max_size=30,
    ).map(b"".join),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
)
def test_header_like_garbage_never_raises(garbage: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(max_message_size=50)
    check_event_stream(decoder, decode(decoder, split(garbage, cuts)))


FATAL_BLOCKS = {
    b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n": "duplicate-content-length",
    b"Content-Length: 0x5\r\n\r\n": "invalid-content-length",
    b"Content-Length: -1\r\n\r\n": "invalid-content-length",
    b"X-Only: 1\r\n\r\n": "missing-content-length",
    b"Content-Length: 5\r\nbogus\r\n\r\n": "malformed-header",
    b"Content-Length: 5\n\n": "malformed-header",
    "Content-Length: 5\r\nX: ü\r\n\r\n".encode(): "malformed-header",
    b"X: " + b"a" * 9000: "headers-too-large",
}


@SETTINGS
@given(
    prefix=bodies,
    block=st.sampled_from(sorted(FATAL_BLOCKS)),
    suffix=st.binary(max_size=500),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
    more=st.lists(st.binary(max_size=100), max_size=5),
)
def test_after_framing_error_decoder_is_broken_and_silent(
    prefix: list[bytes], block: bytes, suffix: bytes, cuts: list[int], more: list[bytes]
) -> None:
    decoder = FrameDecoder()
    data = b"".join(encode_frame(b) for b in prefix) + block + suffix
    events = decode(decoder, split(data, cuts))
    assert events[:-1] == [Frame(b) for b in prefix]
    error = events[-1]
    assert isinstance(error, FramingError)
    assert error.reason == FATAL_BLOCKS[block]
    assert decoder.broken
    for chunk in [*more, encode_frame(b"{}")]:
        assert decoder.feed(chunk) == []
    assert decoder.feed_eof() == []
    assert decoder.broken
