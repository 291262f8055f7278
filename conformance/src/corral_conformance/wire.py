"""The driver's side of one TCP connection to a runner: raw bytes out, checked messages in.

The driver must be able to send *arbitrary* bytes (to test framing), so it does not use
``corral_protocol.Connection``: it writes whatever a step asks and decodes what the runner
sends with the sans-I/O :class:`corral_protocol.framing.FrameDecoder`.

Contract:

* A background task reads the socket, decodes frames, parses JSON strictly (UTF-8, no NaN)
  and validates each message against the protocol schemas. Every item lands in
  :attr:`WireConnection.inbox` in arrival order: a :class:`Received` message, or finally one
  :class:`Closed` (also kept as :attr:`WireConnection.final`).
* Anything the runner sends that breaks the protocol (undecodable framing, invalid JSON,
  a schema violation, a reply to no outstanding request) is reported through the
  ``on_violation`` callback *and* attached to the item, so the case fails even when no
  step looks at that message.
* Outgoing bytes are decoded too (best effort) so that replies can be matched to the
  method of their request; once the driver sent bytes it cannot decode, replies to unknown
  ids are no longer reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from corral_protocol.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Frame,
    FrameDecoder,
    FramingError,
    OversizedFrame,
    Truncated,
    UnsupportedCharset,
)

from .protocol import PendingRequests, ProtocolSchemas, rule_violations

__all__ = ["Closed", "Received", "WireConnection", "parse_json_strict"]

_READ_SIZE: Final = 1 << 16
_HUGE: Final = 1 << 62


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_strict(body: bytes) -> Any:
    """Parse a message body as RFC 8259 JSON in UTF-8; raise ValueError otherwise (also for
    a body nested too deep for Python's parser: SPEC §5.7 bodies a case sends on purpose)."""
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deep to parse") from None


@dataclass(slots=True)
class Received:
    """One message from the runner; ``violations`` lists the rules it breaks."""

    message: Any
    at: float
    violations: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Closed:
    """The runner closed the connection (EOF or reset); ``reason`` says how."""

    reason: str
    at: float


class WireConnection:
    """One named connection of a case to a runner's hello port."""

    def __init__(  # noqa: PLR0917 - one internal call site, keyword arguments there
        self,
        name: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        schemas: ProtocolSchemas,
        on_violation: Callable[[str], None],
        on_message: Callable[[str, str, Any], None],
        process_name: str,
    ) -> None:
        self.name = name
        self.process_name = process_name
        self._reader = reader
        self._writer = writer
        self._schemas = schemas
        self._on_violation = on_violation
        self._on_message = on_message
        self.inbox: asyncio.Queue[Received | Closed] = asyncio.Queue()
        self.bytes_received = 0
        self.final: Closed | None = None
        self.write_closed = False
        self.output_text: dict[str, list[str]] = {"stdout": [], "stderr": []}
        # Every runner/output as (stream, text, runId or None when absent, dropped).
        self.output_records: list[tuple[str, str, Any, int]] = []
        # Requests the driver sent (the runner must answer) and the runner sent (we answer).
        self.driver_requests = PendingRequests()
        self.runner_requests = PendingRequests()
        self._out_decoder: FrameDecoder | None = FrameDecoder(_HUGE)
        self._sent_unreadable = False  # a body the driver could not parse (its ids unknown)
        self._task = asyncio.create_task(self._read_loop(), name=f"wire-{name}")

    # --- sending ---------------------------------------------------------------------------

    async def write(
        self, data: bytes, *, chunk_size: int | None = None, delay_s: float = 0
    ) -> list[str]:
        """Write ``data`` (in chunks of ``chunk_size`` with ``delay_s`` between them).

        Returns the schema violations of the complete messages ``data`` contains (the
        caller decides whether a deliberate violation is fine).
        """
        problems = self._track_outgoing(data)
        if chunk_size is None or chunk_size >= len(data):
            self._writer.write(data)
            await self._writer.drain()
            return problems
        for start in range(0, len(data), chunk_size):
            self._writer.write(data[start : start + chunk_size])
            await self._writer.drain()
            await asyncio.sleep(delay_s)
        return problems

    def _track_outgoing(self, data: bytes) -> list[str]:
        """Register the requests contained in outgoing bytes (best effort); validate them."""
        decoder = self._out_decoder
        if decoder is None:
            return []
        problems: list[str] = []
        for event in decoder.feed(data):
            if isinstance(event, Frame):
                try:
                    message = parse_json_strict(event.body)
                except ValueError as exc:
                    self._sent_unreadable = True
                    problems.append(f"body is not UTF-8 JSON: {exc}")
                    continue
                problems += self._schemas.check_message(
                    message, "wm-to-runner", self.driver_requests, self.runner_requests
                )
            elif isinstance(event, FramingError):
                self._out_decoder = None  # can no longer tell which requests were sent
                problems.append(f"framing error: {event.reason}")
                break
            else:
                problems.append(f"not a valid frame: {event}")
        return problems

    @property
    def strict_replies(self) -> bool:
        """False once the driver sent bytes it could not decode itself."""
        return self._out_decoder is not None and not self._sent_unreadable

    def half_close(self) -> None:
        """Stop writing (the runner sees EOF) but keep reading."""
        if not self.write_closed and self._writer.can_write_eof():
            self._writer.write_eof()
        self.write_closed = True

    async def close(self) -> None:
        """Close both directions and stop the reader (idempotent, never raises)."""
        self.write_closed = True
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task

    # --- receiving -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        decoder = FrameDecoder(DEFAULT_MAX_MESSAGE_SIZE)
        while True:
            try:
                chunk = await self._reader.read(_READ_SIZE)
            except OSError as exc:  # reset by peer etc.
                self._finish(f"connection error: {exc.__class__.__name__}: {exc}")
                return
            if not chunk:
                for event in decoder.feed_eof():
                    if isinstance(event, Truncated):
                        self._violation(
                            f"the runner closed the connection inside a message "
                            f"({event.where}: {event.received} bytes received)"
                        )
                self._finish("closed by the runner (EOF)")
                return
            self.bytes_received += len(chunk)
            for event in decoder.feed(chunk):
                self._handle(event)

    def _finish(self, reason: str) -> None:
        closed = Closed(reason, time.monotonic())
        self.final = closed
        self._on_message(self.name, "closed", reason)
        self.inbox.put_nowait(closed)

    def _violation(self, text: str) -> None:
        self._on_violation(f"connection {self.name!r}: {text}")

    def _handle(self, event: object) -> None:
        if isinstance(event, Frame):
            try:
                message = parse_json_strict(event.body)
            except ValueError as exc:
                self._violation(f"the runner sent a body that is not UTF-8 JSON: {exc}")
                return
            violations = self._schemas.check_message(
                message, "runner-to-wm", self.runner_requests, self.driver_requests
            )
            violations += rule_violations(message)
            if not self.strict_replies:
                violations = [v for v in violations if "no outstanding request" not in v]
            self._record_output(message)
            self._on_message(self.name, "recv", message)
            for text in violations:
                self._violation(text)
            self.inbox.put_nowait(Received(message, time.monotonic(), violations))
        elif isinstance(event, OversizedFrame):
            self._violation(
                f"the runner sent a {event.size}-byte message, over the WM's limit {event.limit}"
            )
        elif isinstance(event, UnsupportedCharset):
            self._violation(f"the runner sent a message with charset {event.charset!r}")
        elif isinstance(event, FramingError):
            self._violation(f"the runner's framing is broken: {event.reason}: {event.message}")

    def _record_output(self, message: Any) -> None:
        if (
            isinstance(message, dict)
            and message.get("method") == "runner/output"
            and isinstance(message.get("params"), dict)
        ):
            params = message["params"]
            stream, text = params.get("stream"), params.get("text")
            if stream in self.output_text and isinstance(text, str):
                self.output_text[stream].append(text)
                dropped = params.get("dropped", 0)
                self.output_records.append(
                    (stream, text, params.get("runId"), dropped if isinstance(dropped, int) else 0)
                )
