"""``corral``: run a workspace's dev tooling in isolated, reused runner processes.

The entry point imports only the standard library before it has started a fork server
for a ``corral run`` (:mod:`corral.forkhint`): the server's start-up then overlaps the
import of the Workspace Manager instead of following it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    from ..forkhint import prestart  # noqa: PLC0415  (standard library only)

    early = prestart(sys.argv[1:] if argv is None else argv)
    from .app import main as run  # noqa: PLC0415  (after the fork server has started)

    return run(argv, early=early)
