"""Keeping handler output off the protocol and forwarding it as ``runner/output``.

After the hello, file descriptors 1 and 2 are replaced by pipes, so anything written to them
- Python ``print``, C extensions, child processes that inherit the streams - lands in the
pipes instead of the runner's real stdout/stderr. One reader thread per pipe drains it
(threads, not the event loop: an async handler printing megabytes would otherwise block the
loop on a full pipe while the loop is the only reader) and hands chunks to the loop.

Memory stays bounded: at most ``max_pending`` bytes are queued for the loop; beyond that,
bytes are dropped and counted, and the next forwarded chunk reports how many (``dropped``).
The runner's own diagnostics go to :attr:`OutputCapture.diagnostics`, a duplicate of the
original stderr that the WM reads.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import threading
from collections.abc import Callable
from typing import Final, Literal, TextIO

__all__ = ["OutputCapture"]

Stream = Literal["stdout", "stderr"]
Forward = Callable[[Stream, str, int], None]
"""``forward(stream, text, dropped_bytes)``, called on the event loop."""

CHUNK: Final = 65536
DEFAULT_MAX_PENDING: Final = 4 * 1024 * 1024


class OutputCapture:
    """Redirects fds 1 and 2 into pipes and forwards what arrives, within a memory bound."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        forward: Forward,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self._loop = loop
        self._forward = forward
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._pending = 0
        self._dropped: dict[Stream, int] = {"stdout": 0, "stderr": 0}
        self._threads: list[threading.Thread] = []
        self.diagnostics: TextIO | None = None

    def start(self) -> None:
        """Swap fds 1 and 2 for pipes and start draining them."""
        saved_stderr = os.dup(2)
        self.diagnostics = os.fdopen(saved_stderr, "w", buffering=1, encoding="utf-8")
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            thread = threading.Thread(
                target=self._drain,
                args=(read_end, stream),
                name=f"corral-capture-{stream}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        # The original stdout (the WM's pipe) is no longer referenced: after the hello the
        # protocol promises nothing more on it.

    def _drain(self, fd: int, stream: Stream) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                data = os.read(fd, CHUNK)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                if self._pending + len(data) > self._max_pending:
                    self._dropped[stream] += len(data)
                    continue
                self._pending += len(data)
            text = decoder.decode(data)
            try:
                self._loop.call_soon_threadsafe(self._deliver, stream, text, len(data))
            except RuntimeError:  # the loop is closed: the process is exiting
                return

    def _deliver(self, stream: Stream, text: str, size: int) -> None:
        with self._lock:
            self._pending -= size
            dropped, self._dropped[stream] = self._dropped[stream], 0
        if text or dropped:
            self._forward(stream, text, dropped)

    @property
    def pending_bytes(self) -> int:
        """Bytes read from the pipes but not yet forwarded."""
        with self._lock:
            return self._pending
