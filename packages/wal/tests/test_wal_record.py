"""Record framing: exact bytes, strict decoding, and properties of encode/decode."""

from __future__ import annotations

import zlib
from datetime import UTC
from typing import Any

import msgspec
import pytest
from corral_wal import RecordError, WalRecord, decode_record, encode_record
from corral_wal.frames import split_frames
from corral_wal.record import checksum, format_ts, parse_ts
from hypothesis import given, settings
from hypothesis import strategies as st

SPEC_FRAME = (
    b'68f07e9c {"v":1,"writer":"wm","seq":1,"ts":"2026-11-21T07:30:00.000001Z",'
    b'"event":"wal.closed","runId":null,"parentRunId":null,"project":null,"env":null,'
    b'"action":null,"payload":{}}\n'
)


def make(**overrides: Any) -> WalRecord:
    fields: dict[str, Any] = {
        "v": 1,
        "writer": "wm",
        "seq": 1,
        "ts": "2026-11-21T07:30:00.000001Z",
        "event": "wal.closed",
        "run_id": None,
        "parent_run_id": None,
        "project": None,
        "env": None,
        "action": None,
        "payload": {},
    }
    fields.update(overrides)
    return WalRecord(**fields)


def frame_of(body: bytes) -> bytes:
    return b"%08x %s\n" % (zlib.crc32(body), body)


def test_checksum_test_vector() -> None:
    assert checksum(b"123456789") == 0xCBF43926


def test_encode_matches_the_spec_test_vector() -> None:
    assert encode_record(make()) == SPEC_FRAME
    assert decode_record(SPEC_FRAME) == make()


def test_json_members_are_camel_case_and_complete() -> None:
    obj = msgspec.json.decode(encode_record(make(run_id="r", parent_run_id="p"))[9:-1])
    assert list(obj) == [
        "v",
        "writer",
        "seq",
        "ts",
        "event",
        "runId",
        "parentRunId",
        "project",
        "env",
        "action",
        "payload",
    ]


def test_newlines_in_strings_are_escaped_so_a_frame_is_one_line() -> None:
    frame = encode_record(make(project="a\nb\r\u2028", payload={"m": "x\ny"}))
    assert frame.count(b"\n") == 1
    assert decode_record(frame).payload == {"m": "x\ny"}


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (SPEC_FRAME[:-1], "torn"),
        (SPEC_FRAME.upper(), "bad-frame"),
        (SPEC_FRAME.replace(b" ", b"\t", 1), "bad-frame"),
        (SPEC_FRAME[:9] + b"\n" + SPEC_FRAME[9:], "bad-frame"),
        (b"68f07e9c{}\n", "bad-frame"),
        (b"\n", "bad-frame"),
        (b"00000000 " + SPEC_FRAME[9:], "checksum-mismatch"),
        (frame_of(b'{"v":1}'), "bad-json"),
        (frame_of(b"not json"), "bad-json"),
        (frame_of(SPEC_FRAME[9:-1].replace(b'"v":1', b'"v":2')), "unsupported-version"),
        (frame_of(SPEC_FRAME[9:-1].replace(b"2026-11-21", b"2026-13-45")), "bad-json"),
        (frame_of(SPEC_FRAME[9:-1].replace(b'"seq":1', b'"seq":-1')), "bad-json"),
        (frame_of(SPEC_FRAME[9:-1].replace(b'"seq":1', b'"seq":true')), "bad-json"),
        (frame_of(SPEC_FRAME[9:-1].replace(b'"wm"', b'"WM"')), "bad-json"),
    ],
)
def test_decode_rejects(frame: bytes, kind: str) -> None:
    with pytest.raises(RecordError) as info:
        decode_record(frame)
    assert info.value.kind == kind


def test_unknown_members_are_ignored() -> None:
    body = SPEC_FRAME[9:-2] + b',"future":{"x":1}}'
    assert decode_record(frame_of(body)) == make()


@pytest.mark.parametrize(
    "overrides",
    [
        {"writer": "Bad Writer"},
        {"writer": ".hidden"},
        {"event": "RunFinished"},
        {"ts": "2026-11-21T07:30:00Z"},
        {"seq": -1},
        {"v": 2},
        {"run_id": ""},
    ],
)
def test_encode_refuses_invalid_records(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        encode_record(make(**overrides))


def test_encode_refuses_unencodable_payloads() -> None:
    with pytest.raises((TypeError, msgspec.EncodeError)):
        encode_record(make(payload={"x": object()}))


def test_timestamps_format_and_parse() -> None:
    moment = parse_ts("2026-11-21T08:30:00.5+01:00")
    assert format_ts(moment) == "2026-11-21T07:30:00.500000Z"
    with pytest.raises(ValueError, match="naive"):
        format_ts(moment.replace(tzinfo=None))


def test_split_frames_resynchronises_after_garbage() -> None:
    good = [encode_record(make(seq=i)) for i in range(3)]
    data = good[0] + b"garbage \x00\xff\n" + good[1] + good[2] + b"12345678 {"
    frames, consumed = split_frames(data, base_offset=100)
    assert [f.record.seq if f.record else f.error.kind for f in frames] == [  # type: ignore[union-attr]
        0,
        "bad-frame",
        1,
        2,
    ]
    assert frames[1].offset == 100 + len(good[0])
    assert data[consumed:] == b"12345678 {"


# ------------------------------------------------------------------ properties
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)
_ids = st.none() | st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


@st.composite
def records(draw: st.DrawFn) -> WalRecord:
    moment = draw(st.datetimes(timezones=st.just(UTC)))
    return WalRecord(
        v=1,
        writer=draw(st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")),
        seq=draw(st.integers(0, 2**53 - 1)),
        ts=format_ts(moment),
        event=draw(st.from_regex(r"\A[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,2}\Z")),
        run_id=draw(_ids),
        parent_run_id=draw(_ids),
        project=draw(st.none() | _text),
        env=draw(st.none() | _text),
        action=draw(st.none() | _text),
        payload=draw(st.dictionaries(_text, _json, max_size=5)),
    )


@settings(max_examples=200)
@given(records())
def test_property_roundtrip(record: WalRecord) -> None:
    frame = encode_record(record)
    assert frame.endswith(b"\n")
    assert frame.count(b"\n") == 1
    assert decode_record(frame) == record


@settings(max_examples=300)
@given(records(), st.data())
def test_property_any_flipped_byte_is_detected(record: WalRecord, data: st.DataObject) -> None:
    frame = bytearray(encode_record(record))
    position = data.draw(st.integers(0, len(frame) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="mask")
    frame[position] ^= mask
    with pytest.raises(RecordError):
        decode_record(bytes(frame))


@settings(max_examples=150)
@given(records(), st.data())
def test_property_any_truncation_is_detected(record: WalRecord, data: st.DataObject) -> None:
    frame = encode_record(record)
    cut = data.draw(st.integers(0, len(frame) - 1), label="cut")
    with pytest.raises(RecordError) as info:
        decode_record(frame[:cut])
    assert info.value.kind == "torn"


@settings(max_examples=100)
@given(st.lists(records(), min_size=1, max_size=6), st.data())
def test_property_damage_costs_only_the_damaged_line(
    batch: list[WalRecord], data: st.DataObject
) -> None:
    frames = [encode_record(r) for r in batch]
    victim = data.draw(st.integers(0, len(frames) - 1), label="victim")
    damaged = bytearray(frames[victim])
    position = data.draw(st.integers(0, len(damaged) - 2), label="position")  # keep the LF
    damaged[position] ^= data.draw(st.integers(1, 255), label="mask")
    frames[victim] = bytes(damaged)
    decoded, consumed = split_frames(b"".join(frames))
    assert consumed == sum(len(f) for f in frames)
    good = [f.record for f in decoded if f.record is not None]
    expected = [r for i, r in enumerate(batch) if i != victim]
    assert good == expected  # nothing misread, nothing else lost
