"""Where a run's notifications go: light enough for the client library to share.

:class:`RunSinks` is what :meth:`corral.service.WorkspaceService.run` (embedded or in the
server) and :meth:`corral.client.ServerSession.run` (over the socket) both call with the
run's progress values, output records and env preparation progress, in their wire shapes
(:mod:`corral_protocol.client`), so a front end handles them the same way either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from corral_protocol.client import PrepareProgress, RunOutputParams, RunProgressParams

__all__ = ["RunSinks"]


@dataclass(frozen=True)
class RunSinks:
    """Callbacks for a run's notifications (each optional)."""

    progress: Callable[[RunProgressParams], None] | None = None
    output: Callable[[RunOutputParams], None] | None = None
    prepare: Callable[[PrepareProgress], None] | None = None
