"""Keeping handler output off the protocol and forwarding it as ``runner/output`` (SPEC §10.3).

Two capture paths feed one bounded buffer per stream:

* Python-level writes: ``sys.stdout``/``sys.stderr`` are replaced by text streams that append
  to the buffer synchronously, tagged with the run they belong to. The runner flushes the
  buffers right before each run's reply, so what a handler printed before it returned
  reaches the WM before the reply.
* OS-level writes (child processes inheriting the streams, C code, ``os.write(1, ...)``):
  file descriptors 1 and 2 are pipes drained by one thread each (threads, not the event
  loop: a handler printing megabytes on the loop thread would otherwise block on a full
  pipe that only the loop could drain). These arrive best effort, within ~100 ms.

Bounds: each buffer holds at most ``limit`` bytes (1 MiB); past that the **oldest** text is
discarded and counted, and the next ``runner/output`` of that stream reports the count in
``dropped``. Each notification carries at most 16 KiB of text. Text is always valid UTF-8
(split on character boundaries). The runner's own diagnostics go to
:attr:`OutputCapture.diagnostics`, a duplicate of the original stderr that the WM reads.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import io
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Final, Literal, TextIO

from corral_protocol.messages import MAX_TEXT_BYTES, OutputParams
from msgspec import UNSET

__all__ = ["OutputBuffer", "OutputCapture"]

Stream = Literal["stdout", "stderr"]
CHUNK: Final = MAX_TEXT_BYTES
"""Largest ``text`` of one ``runner/output`` in UTF-8 bytes (so a notification fits the
smallest peer limit, 64 KiB, even fully escaped), and the pipe read size."""
DEFAULT_LIMIT: Final = 1024 * 1024
RETRY_DELAY: Final = 0.05


class OutputBuffer:
    """Captured text of one stream waiting to be sent; thread-safe, bounded, drops oldest."""

    def __init__(self, stream: Stream, limit: int = DEFAULT_LIMIT) -> None:
        self.stream: Stream = stream
        self.limit = limit
        self._lock = threading.Lock()
        self._segments: collections.deque[tuple[str | None, str, int]] = collections.deque()
        self._size = 0
        self._dropped = 0

    def append(self, text: str, run_id: str | None) -> None:
        """Queue ``text``; if the buffer overflows, discard the oldest text and count it."""
        if not text:
            return
        size = len(text.encode())
        with self._lock:
            self._segments.append((run_id, text, size))
            self._size += size
            while self._size > self.limit:
                self._trim_oldest()

    def _trim_oldest(self) -> None:
        run_id, text, size = self._segments.popleft()
        excess = self._size - self.limit
        if excess < size:  # keep the newest part of this segment, cut on a character boundary
            kept = text.encode()[excess:].decode("utf-8", errors="ignore")
            kept_size = len(kept.encode())
            self._segments.appendleft((run_id, kept, kept_size))
            self._dropped += size - kept_size
            self._size -= size - kept_size
        else:
            self._dropped += size
            self._size -= size

    def take(self) -> list[OutputParams]:
        """Everything queued, as notifications of at most :data:`CHUNK` bytes of text each."""
        with self._lock:
            segments, self._segments = self._segments, collections.deque()
            dropped, self._dropped = self._dropped, 0
            self._size = 0
        messages: list[OutputParams] = []
        current_run: str | None = None
        parts: list[str] = []
        size = 0

        def emit() -> None:
            nonlocal parts, size, dropped
            if parts or dropped:
                messages.append(
                    OutputParams(
                        stream=self.stream,
                        text="".join(parts),
                        run_id=current_run,
                        dropped=dropped if dropped else UNSET,
                    )
                )
            parts, size, dropped = [], 0, 0

        for run_id, text, text_size in segments:
            if run_id != current_run or size + text_size > CHUNK:
                emit()
                current_run = run_id
            if text_size > CHUNK:
                for piece in _split(text, CHUNK):
                    parts.append(piece)
                    emit()
                    current_run = run_id
                continue
            parts.append(text)
            size += text_size
        emit()
        return messages

    def requeue(self, messages: list[OutputParams]) -> None:
        """Put unsent messages back at the front, in order (the bound still applies)."""
        with self._lock:
            for params in reversed(messages):
                text_size = len(params.text.encode())
                run_id = params.run_id if isinstance(params.run_id, str) else None
                self._segments.appendleft((run_id, params.text, text_size))
                self._size += text_size
                self._dropped += params.dropped if isinstance(params.dropped, int) else 0
            while self._size > self.limit:
                self._trim_oldest()

    @property
    def pending(self) -> bool:
        """Whether there is text or a drop count to send."""
        with self._lock:
            return bool(self._segments) or self._dropped > 0


def _split(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes, on character boundaries."""
    data = text.encode()
    pieces = []
    while data:
        cut = min(limit, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        pieces.append(data[:cut].decode())
        data = data[cut:]
    return pieces


class _CapturedText(io.TextIOBase):
    """What ``sys.stdout``/``sys.stderr`` become: writes go to a buffer, tagged with a run."""

    def __init__(self, capture: OutputCapture, buffer: OutputBuffer, fd: int) -> None:
        self._capture = capture
        self._buffer = buffer
        self._fd = fd
        self._binary = _CapturedBytes(self)

    encoding = "utf-8"
    errors = "replace"

    @property
    def buffer(self) -> _CapturedBytes:
        """The binary side, as ``sys.stdout.buffer`` has: bytes are decoded (UTF-8,
        undecodable bytes replaced) and captured like text."""
        return self._binary

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd  # an OS-level write lands in the pipe: still captured

    def write(self, text: str) -> int:
        self._buffer.append(text, self._capture.run_id())
        self._capture.schedule_flush()
        return len(text)

    def flush(self) -> None:
        """Nothing to do: text is queued as soon as it is written."""


class _CapturedBytes(io.RawIOBase):
    """``sys.stdout.buffer`` of a captured stream (see :class:`_CapturedText`)."""

    def __init__(self, text: _CapturedText) -> None:
        self._text = text

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._text.fileno()

    def write(self, data: Any) -> int:
        chunk = bytes(data)  # decoded per write: no partial character waits for another run
        self._text.write(chunk.decode("utf-8", errors="replace"))
        return len(chunk)


class OutputCapture:
    """Owns both capture paths and forwards through ``send``.

    ``send(params)`` sends one ``runner/output`` and returns False if it cannot send now
    (not initialized yet, or too much unread data queued for the WM); the text then waits
    in the buffer (bounded) and is retried.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[OutputParams], bool],
        run_id: Callable[[], str | None],
        fallback_run_id: Callable[[], str | None],
        *,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self._loop = loop
        self._send = send
        self.run_id = run_id
        self._fallback_run_id = fallback_run_id
        self.buffers = {
            "stdout": OutputBuffer("stdout", limit),
            "stderr": OutputBuffer("stderr", limit),
        }
        self._scheduled = threading.Event()
        self._loop_thread = threading.get_ident()
        self.diagnostics: TextIO | None = None

    def start(self) -> None:
        """Swap fds 1/2 for drained pipes and ``sys.stdout``/``sys.stderr`` for buffers."""
        self.diagnostics = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8")
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            threading.Thread(
                target=self._drain,
                args=(read_end, self.buffers[stream]),
                name=f"corral-capture-{stream}",
                daemon=True,
            ).start()
        sys.stdout = _CapturedText(self, self.buffers["stdout"], 1)
        sys.stderr = _CapturedText(self, self.buffers["stderr"], 2)

    def _drain(self, fd: int, buffer: OutputBuffer) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                data = os.read(fd, CHUNK)
            except OSError:
                return
            if not data:
                return
            buffer.append(decoder.decode(data), self._fallback_run_id())
            self.schedule_flush()

    def schedule_flush(self) -> None:
        """Arrange for :meth:`flush` to run soon on the loop (thread-safe, coalesced)."""
        if self._scheduled.is_set():
            return
        self._scheduled.set()
        try:
            if threading.get_ident() == self._loop_thread:
                self._loop.call_soon(self.flush)
            else:
                self._loop.call_soon_threadsafe(self.flush)
        except RuntimeError:  # the loop is closed: the process is exiting
            return

    def flush(self) -> None:
        """Send what is queued (loop thread only); keep it queued if sending must wait."""
        self._scheduled.clear()
        for buffer in self.buffers.values():
            if not buffer.pending:
                continue
            messages = buffer.take()
            for index, params in enumerate(messages):
                if not self._send(params):
                    buffer.requeue(messages[index:])
                    self._retry_later()
                    break

    def _retry_later(self) -> None:
        if not self._scheduled.is_set():
            self._scheduled.set()
            self._loop.call_later(RETRY_DELAY, self.flush)
