"""The test-only runner's own framing (SPEC "Framing"), written independently of
``corral_protocol.framing`` so that variants can break any rule of it.

:meth:`FrameReader.next` returns one event: a body (:class:`Body`), a recoverable problem
(:class:`Oversized`, :class:`BadCharset`), a fatal one (:class:`Fatal`, with its reason
token), :class:`Truncated` (EOF inside a message) or :class:`End` (EOF between messages).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from .variants import Breaks

__all__ = [
    "Body",
    "End",
    "Fatal",
    "FrameReader",
    "Oversized",
    "Truncated",
    "encode_message",
]

MAX_HEADERS: Final = 8192
_DIGITS: Final = re.compile(r"^[0-9]{1,19}$")
_CONTROL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Body:
    data: bytes


@dataclass(frozen=True, slots=True)
class Oversized:
    size: int
    limit: int


@dataclass(frozen=True, slots=True)
class BadCharset:
    charset: str


@dataclass(frozen=True, slots=True)
class Fatal:
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Truncated:
    where: str


@dataclass(frozen=True, slots=True)
class End:
    pass


Event = Body | Oversized | BadCharset | Fatal | Truncated | End


class _FatalError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.event = Fatal(reason, detail)


def encode_message(message: Any, breaks: Breaks) -> bytes:
    """Frame one message: ``Content-Length: N`` (bytes) + compact UTF-8 JSON."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    body = text.encode("utf-8")
    length = len(text) if breaks("length-in-chars") else len(body)
    return b"Content-Length: %d\r\n\r\n%s" % (length, body)


def _charset(value: str) -> str | None:
    """The charset parameter of a Content-Type value (quotes removed), or None."""
    for param in value.split(";")[1:]:
        key, equals, raw = param.partition("=")
        if equals and key.strip(" \t").lower() == "charset":
            raw = raw.strip(" \t")
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            return raw
    return None


class FrameReader:
    """Reads framed messages from one connection."""

    def __init__(self, reader: asyncio.StreamReader, limit: int, breaks: Breaks) -> None:
        self._reader = reader
        self._limit = 1024 * 1024 if breaks("small-body-limit") else limit
        self._breaks = breaks
        self._buf = bytearray()

    async def _more(self, in_message: bool) -> bool:
        """Read more bytes; False at EOF."""
        if in_message and self._buf and self._breaks("assume-complete-reads"):
            raise _FatalError("malformed-header", "incomplete message in one read")
        chunk = await self._reader.read(1 << 16)
        self._buf += chunk
        return bool(chunk)

    async def _line(self, started: bool) -> bytes | None:
        while True:
            newline = self._buf.find(b"\n")
            if newline >= 0:
                line = bytes(self._buf[: newline + 1])
                del self._buf[: newline + 1]
                return line
            if len(self._buf) > MAX_HEADERS and not self._breaks("no-header-limit"):
                raise _FatalError("headers-too-large", "header block over 8192 bytes")
            if not await self._more(started or bool(self._buf)):
                return None

    async def next(self) -> Event:
        """The next event of the stream."""
        try:
            return await self._next()
        except _FatalError as exc:
            return exc.event

    def _check_line(self, content: bytes) -> str:
        """A header line's bytes must be printable ASCII or HTAB (no stray CR)."""
        if not content.isascii():
            raise _FatalError("malformed-header", "non-ASCII byte in a header")
        if not self._breaks("allow-control-bytes") and _CONTROL.search(content):
            raise _FatalError("malformed-header", "control byte in a header")
        return content.decode("ascii")

    async def _next(self) -> Event:
        lines: list[str] = []
        size = 0
        limit = MAX_HEADERS - 1 if self._breaks("header-limit-off-by-one") else MAX_HEADERS
        while True:
            line = await self._line(started=bool(lines))
            if line is None:
                return Truncated("headers") if lines or self._buf else End()
            size += len(line)
            if size > limit and not self._breaks("no-header-limit"):
                raise _FatalError("headers-too-large", "header block over 8192 bytes")
            if not line.endswith(b"\r\n") and not self._breaks("accept-bare-lf"):
                raise _FatalError("malformed-header", "header line ends in a bare LF")
            content = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if not content:
                break
            lines.append(self._check_line(content))
        length, charset = self._parse(lines)
        if length > self._limit and not self._breaks("no-size-limit"):
            await self._skip(length)
            return Oversized(length, self._limit)
        if charset is not None and not self._breaks("ignore-charset"):
            await self._skip(length)
            return BadCharset(charset)
        while len(self._buf) < length:
            if not await self._more(True):
                return Truncated("body")
        body = bytes(self._buf[:length])
        del self._buf[:length]
        if self._breaks("one-frame-per-read"):
            self._buf.clear()
        return Body(body)

    async def _skip(self, length: int) -> None:
        """Discard ``length`` body bytes without keeping them."""
        while True:
            take = min(length, len(self._buf))
            del self._buf[:take]
            length -= take
            if not length:
                return
            chunk = await self._reader.read(min(length, 1 << 20))
            if not chunk:
                return
            self._buf += chunk

    def _parse(self, lines: list[str]) -> tuple[int, str | None]:
        if not lines:
            raise _FatalError("missing-content-length", "empty header block")
        length: int | None = None
        charset: str | None = None
        strict = self._breaks("strict-headers")
        for line in lines:
            raw_name, colon, value = line.partition(":")
            name = raw_name.strip(" \t")
            if not colon or not name:
                raise _FatalError("malformed-header", f"bad header line {line[:60]!r}")
            if strict and (raw_name != "Content-Length" or not value.startswith(" ")):
                raise _FatalError("malformed-header", f"unexpected header {raw_name!r}")
            value = value.strip(" \t")
            if name.lower() == "content-length":
                if length is not None and not self._breaks("allow-duplicate-content-length"):
                    raise _FatalError("duplicate-content-length", "Content-Length repeated")
                length = self._length(value)
            elif name.lower() == "content-type" and charset is None:
                found = _charset(value)
                if found is not None and found.lower() not in ("utf-8", "utf8"):
                    charset = found
        if length is None:
            raise _FatalError("missing-content-length", "no Content-Length header")
        return length, charset

    def _length(self, value: str) -> int:
        if self._breaks("lenient-content-length"):
            try:
                return max(int(value), 0)
            except ValueError:
                pass
        elif _DIGITS.match(value):
            return int(value)
        raise _FatalError("invalid-content-length", f"invalid Content-Length {value[:40]!r}")
