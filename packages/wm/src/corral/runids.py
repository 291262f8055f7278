"""Run ids the WM assigns: time-ordered, unique, URL- and file-safe.

``<12 hex digits of milliseconds since the epoch><10 random hex digits>`` - sortable by
creation time (handy in WAL listings), with enough randomness to never collide in one
workspace.
"""

from __future__ import annotations

import secrets
import time

__all__ = ["new_run_id"]


def new_run_id() -> str:
    """A fresh run id, e.g. ``0193a1b2c3d4e8f01a2b3c4d``."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(5)}"
