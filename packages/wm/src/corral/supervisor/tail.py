"""Bounded tails of a process's output, for error reports."""

from __future__ import annotations

from collections import deque
from typing import Final

__all__ = ["TAIL_BYTES", "OutputTail"]

TAIL_BYTES: Final = 64 * 1024


class OutputTail:
    """The last ``limit`` bytes of a stream, decoded for error reports."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        while self._size - len(self._chunks[0]) >= self._limit:
            self._size -= len(self._chunks.popleft())

    def text(self, max_lines: int = 40) -> str:
        data = b"".join(self._chunks)[-self._limit :]
        lines = data.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-max_lines:])
