"""Env preparation as LSP work-done progress (``window/workDoneProgress/create`` and
``$/progress``), when the client supports it; as log messages otherwise."""

from __future__ import annotations

import uuid
from typing import Any

from corral_protocol.client import PrepareProgress
from lsprotocol import types

from ..sinks import RunSinks

__all__ = ["PrepareProgressReporter"]


class PrepareProgressReporter:
    """One run's env preparation: ``begin`` at the first event, a report per event,
    ``end`` at :meth:`finish` (called when the run is over)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.token: str | None = None

    def _supported(self) -> bool:
        window = self.server.client_capabilities.window
        return bool(window and window.work_done_progress)

    def sinks(self) -> RunSinks:
        return RunSinks(prepare=self.on_prepare)

    def on_prepare(self, event: PrepareProgress) -> None:
        label = f"{event.project} [{event.env}]: {event.phase}"
        if event.message:
            label += f" ({event.message})"
        if not self._supported():
            self.server.window_log_message(
                types.LogMessageParams(type=types.MessageType.Info, message=f"Corral: {label}")
            )
            return
        progress = self.server.work_done_progress
        if self.token is None:
            self.token = f"corral-prepare-{uuid.uuid4()}"
            progress.create(self.token)
            progress.begin(
                self.token,
                types.WorkDoneProgressBegin(
                    title="Corral: preparing environments", message=label, cancellable=False
                ),
            )
        else:
            progress.report(self.token, types.WorkDoneProgressReport(message=label))

    def finish(self) -> None:
        if self.token is not None:
            self.server.work_done_progress.end(
                self.token, types.WorkDoneProgressEnd(message="environments ready")
            )
            self.token = None
