"""Fingerprints of source checkouts: cheap (no file contents read) and remembered briefly.

An environment that installs a package from a source directory (one of Corral's own
packages in a development checkout, see :mod:`corral.envs.own`, or a dependency given as a
local directory) records the directory's fingerprint in its stamp, so editing the source
makes the environment stale and the next preparation reinstalls it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

# Directories never part of what gets built (tests are not in the wheels either).
_SKIP_DIRS = frozenset({"__pycache__", "tests", "build", "dist", "node_modules"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


class Fingerprints:
    """:func:`source_fingerprint` remembered for ``ttl`` seconds per checkout.

    A workspace of many projects checks the same checkouts once per env within moments;
    one walk serves them all. A checkout edited less than ``ttl`` before a check can look
    unchanged to that check (the next one sees it).
    """

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._known: dict[Path, tuple[float, str]] = {}

    def __call__(self, root: Path) -> str:
        now = self._clock()
        known = self._known.get(root)
        if known is not None and now - known[0] < self._ttl:
            return known[1]
        value = source_fingerprint(root)
        self._known[root] = (now, value)
        return value


def source_fingerprint(root: Path) -> str:
    """sha256 over (relative path, size, mtime_ns) of the files that make up a checkout.

    Skips hidden entries, ``__pycache__``, ``tests``, ``build``, ``dist``, ``*.egg-info``,
    ``node_modules`` and compiled bytecode. Reads no file contents.
    """
    entries: list[tuple[str, int, int]] = []
    pending = [""]  # directories to visit, relative to root ("" is root itself)
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(os.path.join(root, relative) if relative else root) as listing:
                children = list(listing)
        except OSError:
            continue
        for entry in children:
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{relative}/{name}" if relative else name
            try:
                if entry.is_dir():
                    if name not in _SKIP_DIRS and not name.endswith(".egg-info"):
                        pending.append(rel)
                    continue
                if name.endswith(_SKIP_SUFFIXES):
                    continue
                info = entry.stat()
            except OSError:
                continue
            entries.append((rel, info.st_size, info.st_mtime_ns))
    digest = hashlib.sha256()
    for rel, size, mtime in sorted(entries):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()
