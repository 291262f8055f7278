"""Sans-I/O framing codec for the LSP base protocol (SPEC §4).

Bytes go in, events come out; nothing here reads, writes, sleeps or awaits. A message is a
header block (``Name: value\\r\\n`` lines ended by an empty ``\\r\\n`` line) followed by a body
of exactly ``Content-Length`` bytes. :func:`encode_frame` produces the only form senders
emit; :class:`FrameDecoder` accepts everything SPEC §4 allows and reports everything else as
events:

* :class:`Frame` - a complete body.
* :class:`OversizedFrame`, :class:`UnsupportedCharset` - recoverable: the body is skipped
  (never buffered) and decoding continues with the next message.
* :class:`FramingError` - fatal: the stream cannot be resynchronised; the decoder is broken.
* :class:`Truncated` - only from :meth:`FrameDecoder.feed_eof`, when EOF hits mid-message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_HEADER_SIZE",
    "Frame",
    "FrameDecoder",
    "FrameEvent",
    "FramingError",
    "OversizedFrame",
    "Truncated",
    "UnsupportedCharset",
    "encode_frame",
]

DEFAULT_MAX_MESSAGE_SIZE: Final = 64 * 1024 * 1024
"""Default body limit in bytes (``maxMessageSize``)."""
MAX_HEADER_SIZE: Final = 8192
"""Largest accepted header block, counting every byte up to and including the blank line."""

_TERMINATOR: Final = b"\r\n\r\n"
# The header block every conforming sender emits (SPEC §4), parsed without further checks.
_FAST_HEADER: Final = re.compile(rb"Content-Length: ([0-9]{1,19})\r\n\r\n")
# A non-ASCII byte, or an LF not preceded by CR. Searched with a start offset, the lookbehind
# sees the byte before it, so a block's first byte is checked separately in the buffer.
_BAD_HEADER_BYTE: Final = re.compile(rb"[^\t\x20-\x7e\r\n]|\r(?!\n)|(?<!\r)\n")
_UTF8_NAMES: Final = frozenset({"utf-8", "utf8"})


def encode_frame(body: bytes) -> bytes:
    """Return ``b"Content-Length: N\\r\\n\\r\\n" + body`` where N is ``len(body)`` in bytes."""
    return b"".join((b"Content-Length: %d\r\n\r\n" % len(body), body))


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete message body (exactly ``Content-Length`` bytes, not decoded)."""

    body: bytes


@dataclass(frozen=True, slots=True)
class OversizedFrame:
    """Recoverable: the announced body of ``size`` bytes exceeds ``limit``.

    Emitted as soon as the header block is parsed; the body is then discarded as it arrives.
    """

    size: int
    limit: int


@dataclass(frozen=True, slots=True)
class UnsupportedCharset:
    """Recoverable: ``Content-Type`` names a charset other than UTF-8; the body is skipped."""

    charset: str


_Reason: TypeAlias = Literal[
    "missing-content-length",
    "invalid-content-length",
    "duplicate-content-length",
    "malformed-header",
    "headers-too-large",
]


@dataclass(frozen=True, slots=True)
class FramingError:
    """Fatal: ``reason`` is a SPEC §4 token; ``message`` a human-readable detail.

    ``message`` carries no ``"framing error:"`` prefix: the JSON-RPC layer adds it.
    """

    reason: _Reason
    message: str


@dataclass(frozen=True, slots=True)
class Truncated:
    """EOF inside a message: ``received`` bytes of the header block or body had arrived.

    ``expected`` is the body length for ``where="body"`` and ``None`` for ``"headers"``.
    """

    where: Literal["headers", "body"]
    received: int
    expected: int | None


FrameEvent: TypeAlias = Frame | OversizedFrame | UnsupportedCharset | FramingError | Truncated


class _FatalFramingError(Exception):
    """Internal: carries a :class:`FramingError` out of header parsing."""

    def __init__(self, event: FramingError) -> None:
        super().__init__(event.message)
        self.event = event


def _fatal(reason: _Reason, detail: str) -> _FatalFramingError:
    return _FatalFramingError(FramingError(reason, detail))


def _bad_byte(byte: bytes) -> _FatalFramingError:
    """The error for a ``_BAD_HEADER_BYTE`` match (or a bare LF opening the block)."""
    if byte == b"\n":
        return _fatal("malformed-header", "header line not terminated by CRLF (bare LF)")
    if byte == b"\r":
        return _fatal("malformed-header", "CR not followed by LF in header block")
    if byte[0] >= 0x80:
        return _fatal("malformed-header", f"non-ASCII byte {byte!r} in header block")
    return _fatal("malformed-header", f"control byte {byte!r} in header block")


def _cr_at_scan_end(buf: bytearray, at: int, scan_end: int, data_end: int) -> bool:
    """Whether a CR flagged at the end of a scan window is (or may yet be) followed by LF."""
    if buf[at] != 0x0D or at != scan_end - 1:
        return False
    return scan_end == data_end or buf[scan_end] == 0x0A


def _charset_param(value: str) -> str | None:
    """The ``charset`` parameter of a Content-Type value (unquoted), or None if absent."""
    for param in value.split(";")[1:]:
        key, equals, raw = param.partition("=")
        if not equals:
            continue  # a parameter without "=" is ignored (SPEC.md §5.2)
        if key.strip(" \t").lower() == "charset":
            raw = raw.strip(" \t")
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            return raw
    return None


def _parse_header_block(block: bytes) -> tuple[int, str | None]:
    """Parse a header block without its final ``\\r\\n\\r\\n``.

    Returns ``(content_length, unsupported_charset_or_None)``; raises _FatalFramingError.
    """
    if not block or block.startswith(b"\r\n"):
        # The first line is the blank line: the header block is empty.
        raise _fatal("missing-content-length", "empty header block (no Content-Length)")
    bad = _BAD_HEADER_BYTE.search(block)  # at offset 0 the lookbehind sees nothing: LF is bare
    if bad is not None:
        raise _bad_byte(bad.group())
    length: int | None = None
    bad_charset: str | None = None
    for line in block.decode("ascii").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise _fatal("malformed-header", f"header line without ':': {line[:64]!r}")
        name = name.strip(" \t")  # names are compared trimmed (SPEC.md §5.1)
        if not name:
            raise _fatal("malformed-header", f"header line without a name: {line[:64]!r}")
        key = name.lower()
        if key == "content-length":
            if length is not None:
                raise _fatal("duplicate-content-length", "duplicate Content-Length header")
            value = value.strip(" \t")
            if not (0 < len(value) <= 19 and value.isdigit()):
                raise _fatal("invalid-content-length", f"invalid Content-Length {value[:64]!r}")
            length = int(value)
        elif key == "content-type" and bad_charset is None:
            charset = _charset_param(value)
            if charset is not None and charset.lower() not in _UTF8_NAMES:
                bad_charset = charset
    if length is None:
        raise _fatal("missing-content-length", "missing Content-Length header")
    return length, bad_charset


class FrameDecoder:
    """Incremental decoder: :meth:`feed` bytes, get a list of :data:`FrameEvent`.

    Events come out in stream order. Between calls the decoder holds at most one partial
    header block (<= MAX_HEADER_SIZE bytes) or one partial body (<= :attr:`max_message_size`);
    skipped bodies are never buffered. ``feed`` and ``feed_eof`` never raise on any bytes.
    """

    __slots__ = ("_body_len", "_broken", "_buf", "_max", "_scanned", "_skip", "_skip_total")

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        """Raise ValueError if ``max_message_size`` is negative."""
        self._buf = bytearray()
        self._body_len = -1  # -1: reading a header block; else the length of a buffered body
        self._scanned = 0  # bytes of the current header block already searched and checked
        self._skip = 0  # body bytes still to discard
        self._skip_total = 0  # size of the body being discarded
        self._broken = False
        self._max = 0
        self.max_message_size = max_message_size

    @property
    def broken(self) -> bool:
        """True once a :class:`FramingError` was emitted; ``feed`` then ignores all input."""
        return self._broken

    @property
    def max_message_size(self) -> int:
        """Body limit in bytes; a change applies from the next header block parsed."""
        return self._max

    @max_message_size.setter
    def max_message_size(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"max_message_size must be >= 0, got {value}")
        self._max = value

    def feed(self, data: bytes | bytearray | memoryview) -> list[FrameEvent]:
        """Consume ``data`` (any length, possibly empty) and return the events it completes.

        After a :class:`FramingError` (always the last event of its list) returns ``[]``.
        """
        if self._broken:
            return []
        if isinstance(data, memoryview) and (data.ndim != 1 or data.itemsize != 1):
            data = data.cast("B")
        if self._skip:  # discard body bytes before they reach the buffer
            data = self._discard(data)
            if not data:
                return []
        buf = self._buf
        buf += data
        events: list[FrameEvent] = []
        n = len(buf)
        pos = 0
        mv = memoryview(buf)
        try:
            while True:
                need = self._body_len
                if need >= 0:  # body of a well-formed frame (possibly empty)
                    if n - pos < need:
                        break
                    events.append(Frame(bytes(mv[pos : pos + need])))
                    pos += need
                    self._body_len = -1
                    continue
                if pos == n:
                    break
                if self._skip:  # body of an oversized / wrong-charset frame
                    k = min(self._skip, n - pos)
                    pos += k
                    self._skip -= k
                    continue
                fast = _FAST_HEADER.match(buf, pos)
                if fast is not None and (length := int(fast.group(1))) <= self._max:
                    pos = fast.end()
                    self._scanned = 0
                    self._body_len = length
                    continue
                pos = self._headers_slow(buf, pos, n, events)
                if pos < 0:
                    pos = n - self._scanned  # keep the unterminated header block
                    break
        except _FatalFramingError as exc:
            events.append(exc.event)
            self._broken = True
            pos = n
        finally:
            mv.release()
        if pos:
            del buf[:pos]
        return events

    def _discard(self, data: bytes | bytearray | memoryview) -> memoryview:
        """Drop up to ``self._skip`` leading bytes of ``data``; return the rest."""
        k = min(self._skip, len(data))
        self._skip -= k
        return memoryview(data)[k:]

    def _headers_slow(self, buf: bytearray, pos: int, n: int, events: list[FrameEvent]) -> int:
        """Parse the header block at ``buf[pos:n]`` outside the fast path.

        Returns the offset of the body, or -1 if the block is still unterminated (then
        ``self._scanned`` is the number of bytes of it buffered). Raises on a fatal error.
        """
        start = pos + self._scanned - 3 if self._scanned > 3 else pos
        end = buf.find(_TERMINATOR, start, pos + MAX_HEADER_SIZE)
        if end < 0:
            self._check_partial_headers(buf, pos, n)
            return -1
        self._scanned = 0
        length, charset = _parse_header_block(bytes(buf[pos:end]))
        if length > self._max:
            events.append(OversizedFrame(length, self._max))
        elif charset is not None:
            events.append(UnsupportedCharset(charset))
        else:
            self._body_len = length
            return end + 4
        self._skip = self._skip_total = length
        return end + 4

    def _check_partial_headers(self, buf: bytearray, pos: int, n: int) -> None:
        """Check the new bytes of an unterminated header block; raise on a fatal error."""
        avail = n - pos
        if buf.startswith(b"\r\n", pos):
            raise _fatal("missing-content-length", "empty header block (no Content-Length)")
        # Re-check the last byte seen before: a CR there may only now have its LF.
        check_from = pos + max(0, self._scanned - 1)
        check_to = pos + min(avail, MAX_HEADER_SIZE)
        if check_from == pos and buf[pos] == 0x0A:  # the regex would look behind pos
            raise _bad_byte(b"\n")
        bad = _BAD_HEADER_BYTE.search(buf, check_from, check_to)
        if bad is not None and not _cr_at_scan_end(buf, bad.start(), check_to, n):
            raise _bad_byte(bad.group())
        if avail > MAX_HEADER_SIZE:
            raise _fatal("headers-too-large", f"header block exceeds {MAX_HEADER_SIZE} bytes")
        self._scanned = avail

    def feed_eof(self) -> list[FrameEvent]:
        """Report the end of the stream without changing state.

        Returns ``[]`` on a message boundary or when broken, else ``[Truncated(...)]``.
        """
        if self._broken:
            return []
        if self._skip:
            return [Truncated("body", self._skip_total - self._skip, self._skip_total)]
        if self._body_len >= 0:
            return [Truncated("body", len(self._buf), self._body_len)]
        if self._buf:
            return [Truncated("headers", len(self._buf), None)]
        return []
