"""The JSON nesting limit of both protocols (SPEC.md §5.7).

A body's *nesting depth* is lexical: the largest number of ``[``/``{`` outside strings that
are open at once (``{}`` is 1, ``{"a":[1]}`` is 2, a scalar body is 0). It is defined for any
bytes, valid JSON or not, so a receiver can check it before parsing - which it must, because
a recursive parser runs out of stack on ``[`` x 1000 (a Python one raises RecursionError).

Checking costs two ``bytes.count`` calls for almost every body: only a body with more than
:data:`MAX_NESTING_DEPTH` opening brackets in total is scanned, and that scan runs at C speed
(regular expressions, ``bytes.translate``, ``itertools.accumulate``).
"""

from __future__ import annotations

import itertools
import re
from typing import Final

__all__ = ["MAX_NESTING_DEPTH", "nesting_depth", "over_deep_prefix", "too_deep"]

MAX_NESTING_DEPTH: Final = 128
"""Deepest nesting a body may have (SPEC.md §5.7); deeper bodies are answered -32600."""

# A string, possibly unterminated (then it runs to the end: linear, never backtracks).
_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\Z)', re.DOTALL)
_TOKEN: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\Z)|[\[\]{}]', re.DOTALL)
_KEEP: Final = b"[]{}"
_DROP: Final = bytes(b for b in range(256) if b not in _KEEP)
_STEP: Final = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_PREFIX_SCAN: Final = 65536
"""Bytes :func:`over_deep_prefix` looks at, at most (it runs in Python: keep it bounded)."""


def too_deep(body: bytes, limit: int = MAX_NESTING_DEPTH) -> bool:
    """Whether ``body`` nests deeper than ``limit`` (cheap unless it has many brackets)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    return nesting_depth(body) > limit


def nesting_depth(body: bytes) -> int:
    """The lexical nesting depth of ``body`` (see the module docstring); unmatched closers
    count as nothing."""
    brackets = _STRING.sub(b"", body).translate(None, _DROP)
    if not brackets:
        return 0
    depths = list(itertools.accumulate(map(_STEP.__getitem__, brackets)))
    if min(depths) < 0:  # a stray closer: count from the top level again (rare, invalid)
        return _clamped_depth(brackets)
    return max(depths)


def _clamped_depth(brackets: bytes) -> int:
    """Slow path of :func:`nesting_depth` for bracket strings with stray closers."""
    depth = deepest = 0
    for step in map(_STEP.__getitem__, brackets):
        depth = max(0, depth + step)
        deepest = max(deepest, depth)
    return deepest


def over_deep_prefix(body: bytes, limit: int = MAX_NESTING_DEPTH) -> bytes | None:
    """A shallow stand-in for an over-deep top-level object, to read its ``id`` from.

    The body up to the top-level member whose value nests too deep, that value replaced by
    ``null`` and the object closed: ``{"jsonrpc":"2.0","id":7,"params":[[[…`` gives
    ``{"jsonrpc":"2.0","id":7,"params":null}``. None when the body is not an object or the
    over-deep point is not within its first 64 KiB (then the id cannot be read cheaply).
    """
    if body.lstrip()[:1] != b"{":
        return None
    depth = 0
    member_start = 0
    for match in _TOKEN.finditer(body, 0, min(len(body), _PREFIX_SCAN)):
        token = match.group()
        if token[0] == ord('"'):
            continue
        if token in (b"[", b"{"):
            depth += 1
            if depth == 2:
                member_start = match.start()
            if depth > limit:
                return body[:member_start] + b"null}"
        else:
            depth -= 1
            if depth <= 0:
                return None
    return None
