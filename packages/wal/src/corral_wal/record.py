"""One WAL record and its on-disk frame (SPEC §12.1-12.3).

A record is a JSON object with eleven fixed members (``v``, ``writer``, ``seq``, ``ts``,
``event``, ``runId``, ``parentRunId``, ``project``, ``env``, ``action``, ``payload``).
On disk each record is one *frame*, one line::

    <crc>␠<json>\\n

* ``<crc>``: exactly 8 lowercase hex digits, the CRC-32 (ISO-HDLC, the polynomial of zlib,
  gzip, PNG and Ethernet) of the ``<json>`` bytes; test vector ``crc32(b"123456789") ==
  0xcbf43926``.
* ``␠``: one space (0x20).
* ``<json>``: the record as UTF-8 JSON. JSON escapes control characters inside strings, so
  the frame contains no byte 0x0A except its final one.
* ``\\n``: one line feed (0x0A). A frame without it is *torn* (an interrupted write) and is
  never decoded, even when the bytes before the cut happen to checksum correctly.

Why CRC-32 rather than CRC-32C: it ships with the standard library of every language a
runner is likely to be written in (Python ``zlib``, Go ``hash/crc32``, Java
``java.util.zip.CRC32``, Node ``zlib.crc32``, .NET ``System.IO.Hashing``) and is computed
in C here (about 1 GB/s), while CRC-32C would need a pure-Python table loop on the write
path. Both detect every error confined to 32 consecutive bits (so every single flipped
byte) and miss a random corruption with probability 2⁻³²; the frame's other checks (strict
hex, the single separator, exactly one line feed, JSON syntax, the record schema) reject
most corruptions before the checksum is even consulted.

Contracts: :func:`encode_record` never produces a frame that :func:`decode_record` rejects;
:func:`decode_record` either returns exactly the record that was encoded or raises
:class:`RecordError` — it never returns a different record for damaged input (up to the
CRC-32 collision probability for damage that spans more than 32 bits).
"""

from __future__ import annotations

import re
import time
import zlib
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import msgspec

__all__ = [
    "EVENT_PATTERN",
    "FORMAT_VERSION",
    "MAX_RECORD_BYTES",
    "TS_PATTERN",
    "WRITER_ID_PATTERN",
    "RecordError",
    "WalRecord",
    "WallClock",
    "checksum",
    "decode_record",
    "encode_record",
    "format_ts",
    "parse_ts",
]

FORMAT_VERSION: Final = 1
"""Value of ``v``. A reader rejects records of a version it does not know."""

MAX_RECORD_BYTES: Final = 16 * 1024 * 1024
"""Largest frame a writer may write and a reader must accept (16 MiB)."""

TS_PATTERN: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
"""``ts``: RFC 3339, UTC, exactly six fractional digits, so text order is time order."""

WRITER_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
"""``writer``: lowercase, filesystem-safe on every OS (also case-insensitive ones)."""

EVENT_PATTERN: Final = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
"""``event``: dotted lowercase, e.g. ``run.finished``."""

_MAX_SEQ: Final = 2**53 - 1  # exact in every JSON implementation (IEEE doubles)
_HEX: Final = frozenset(b"0123456789abcdef")
_TS_RE: Final = re.compile(TS_PATTERN)
_WRITER_RE: Final = re.compile(WRITER_ID_PATTERN)
_EVENT_RE: Final = re.compile(EVENT_PATTERN)

_Writer = Annotated[str, msgspec.Meta(pattern=WRITER_ID_PATTERN)]
_Seq = Annotated[int, msgspec.Meta(ge=0, le=_MAX_SEQ)]
_Ts = Annotated[str, msgspec.Meta(pattern=TS_PATTERN)]
_Event = Annotated[str, msgspec.Meta(pattern=EVENT_PATTERN, max_length=128)]
_Id = Annotated[str, msgspec.Meta(min_length=1)]


class WalRecord(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One durable lifecycle event, exactly the JSON object of SPEC §12.1.

    Python attribute names are snake_case; the JSON members are camelCase (``run_id`` is
    ``runId``, ``parent_run_id`` is ``parentRunId``). Unknown JSON members are ignored on
    decode (forward compatibility: new optional members do not bump ``v``).
    """

    v: int
    writer: _Writer
    seq: _Seq
    ts: _Ts
    event: _Event
    run_id: _Id | None
    parent_run_id: _Id | None
    project: str | None
    env: str | None
    action: str | None
    payload: dict[str, Any]


class RecordError(ValueError):
    """A frame that is not a valid record. ``kind`` is a stable machine-readable token.

    Kinds: ``torn`` (no final line feed), ``bad-frame`` (checksum field, separator or an
    embedded line feed), ``checksum-mismatch``, ``bad-json`` (checksum right, JSON or
    schema wrong: a buggy writer), ``unsupported-version``, ``oversized``.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(WalRecord)


def checksum(body: bytes) -> int:
    """CRC-32 (ISO-HDLC, as zlib) of ``body``; the frame carries it as 8 lowercase hex."""
    return zlib.crc32(body) & 0xFFFFFFFF


def format_ts(moment: datetime) -> str:
    """Format an aware datetime as the record's ``ts`` (UTC, microseconds, ``Z``).

    Raises ValueError for a naive datetime: a WAL timestamp is never local time.
    """
    if moment.tzinfo is None:
        raise ValueError("WAL timestamps need an aware datetime (got a naive one)")
    m = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest way here
        m.year,
        m.month,
        m.day,
        m.hour,
        m.minute,
        m.second,
        m.microsecond,
    )


def parse_ts(ts: str) -> datetime:
    """Parse a record ``ts`` (or any RFC 3339 instant) into an aware UTC datetime."""
    text = ts.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {ts!r}")
    return moment.astimezone(UTC)


def encode_record(record: WalRecord) -> bytes:
    """Return the frame of ``record``: ``<crc> <json>\\n``.

    Raises ValueError when the record breaks a field rule (writer id, seq, ts or event
    pattern, version) or the frame would exceed :data:`MAX_RECORD_BYTES`, and TypeError /
    msgspec.EncodeError when the payload holds something JSON cannot carry. Nothing is
    written anywhere, so a rejected record leaves no trace. Non-finite floats in the
    payload are written as ``null`` (JSON has no NaN).
    """
    _check_fields(record)
    return frame_record(record)


def frame_record(record: WalRecord) -> bytes:
    """:func:`encode_record` without the field checks, for callers that guarantee them.

    The writer validates the writer id once at open, makes ``ts`` itself and checks each
    event name once; it still gets the size limit and the payload encoding errors.
    """
    body = _ENCODER.encode(record)
    if len(body) + 10 > MAX_RECORD_BYTES:
        raise ValueError(f"WAL record of {len(body)} bytes exceeds the {MAX_RECORD_BYTES} limit")
    return b"%08x %s\n" % (checksum(body), body)


def decode_record(frame: bytes) -> WalRecord:
    """Decode one frame (which must end with its ``\\n``) or raise :class:`RecordError`."""
    if len(frame) > MAX_RECORD_BYTES:
        raise RecordError("oversized", f"{len(frame)} bytes > {MAX_RECORD_BYTES}")
    if not frame.endswith(b"\n"):
        raise RecordError("torn", f"{len(frame)} bytes without the final line feed")
    if frame.count(b"\n") != 1:
        raise RecordError("bad-frame", "line feed inside the frame")
    if len(frame) < 12 or frame[8:9] != b" " or not _HEX.issuperset(frame[:8]):
        raise RecordError("bad-frame", "frame does not start with 8 lowercase hex and a space")
    body = frame[9:-1]
    expected = int(frame[:8], 16)
    actual = checksum(body)
    if actual != expected:
        raise RecordError("checksum-mismatch", f"stored {expected:08x}, computed {actual:08x}")
    try:
        record = _DECODER.decode(body)
    except UnicodeDecodeError as exc:  # a valid checksum over bytes that are not UTF-8
        raise RecordError("bad-json", f"body is not valid UTF-8: {exc.reason}") from exc
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        version = _peek_version(body)
        if version is not None and version != FORMAT_VERSION:
            raise RecordError("unsupported-version", f"v={version}") from exc
        raise RecordError("bad-json", str(exc)) from exc
    if record.v != FORMAT_VERSION:
        raise RecordError("unsupported-version", f"v={record.v}")
    try:
        parse_ts(record.ts)
    except ValueError as exc:
        raise RecordError("bad-json", f"ts {record.ts!r} is not a valid instant") from exc
    return record


def _peek_version(body: bytes) -> int | None:
    try:
        obj = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if isinstance(obj, dict):
        version = obj.get("v")
        if isinstance(version, int) and not isinstance(version, bool):
            return version
    return None


def check_event(event: str) -> str:
    """Return ``event`` or raise ValueError if it is not a valid event name."""
    if not _EVENT_RE.match(event) or len(event) > 128:
        raise ValueError(f"invalid event name {event!r} (rule: {EVENT_PATTERN})")
    return event


def _check_fields(record: WalRecord) -> None:
    """Apply the rules msgspec checks on decode only (Struct construction skips them)."""
    if record.v != FORMAT_VERSION:
        raise ValueError(f"v must be {FORMAT_VERSION}, got {record.v!r}")
    if not _WRITER_RE.match(record.writer):
        raise ValueError(f"invalid writer id {record.writer!r} (rule: {WRITER_ID_PATTERN})")
    if not 0 <= record.seq <= _MAX_SEQ:
        raise ValueError(f"seq out of range: {record.seq}")
    if not _TS_RE.match(record.ts):
        raise ValueError(f"invalid ts {record.ts!r} (rule: {TS_PATTERN})")
    check_event(record.event)
    if record.run_id == "" or record.parent_run_id == "":
        raise ValueError("runId and parentRunId are null or non-empty strings")
    if not isinstance(record.payload, dict):
        raise TypeError("payload must be a dict (a JSON object)")


class WallClock:
    """UTC record timestamps from ``time.time_ns()``, the date part formatted once a second.

    About 0.4 µs a call instead of several for a datetime round trip; per writer, no
    shared state.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        second, nanos = divmod(time.time_ns(), 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = format_ts(datetime.fromtimestamp(second, UTC))[:19]
        return f"{self._prefix}.{nanos // 1000:06d}Z"
