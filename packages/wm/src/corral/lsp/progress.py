"""A run's feedback as LSP work-done progress (``window/workDoneProgress/create`` and
``$/progress``) when the client supports it: env preparation always (as log messages for a
client without progress support), and the handlers' own progress of an action still running
after :data:`LONG_RUN` seconds (a check that ends sooner, as most do, shows nothing)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Final

from corral_protocol.client import PrepareProgress, RunProgressParams
from corral_protocol.messages import PartialResult
from lsprotocol import types

from ..sinks import RunSinks

__all__ = ["LONG_RUN", "PrepareProgressReporter"]

LONG_RUN: Final = 1.0
"""Seconds an action runs before its handlers' progress is shown."""


class PrepareProgressReporter:
    """One run's env preparation: ``begin`` at the first event, a report per event,
    ``end`` at :meth:`finish` (called when the run is over); and, once the run has taken
    :data:`LONG_RUN`, its handlers' progress under a token of its own."""

    def __init__(self, server: Any, action: str = "") -> None:
        self.server = server
        self.action = action
        self.token: str | None = None
        self.run_token: str | None = None
        self._latest = ""
        self._timer: asyncio.TimerHandle | None = None

    def _supported(self) -> bool:
        window = self.server.client_capabilities.window
        return bool(window and window.work_done_progress)

    def sinks(self) -> RunSinks:
        return RunSinks(prepare=self.on_prepare, progress=self.on_progress)

    def on_progress(self, params: RunProgressParams) -> None:
        value = params.value
        if isinstance(value, PartialResult) or not self._supported():
            return
        text = getattr(value, "message", None) or getattr(value, "title", None)
        if not isinstance(text, str):
            return
        self._latest = f"{params.env}: {text}"
        if self.run_token is not None:
            report = types.WorkDoneProgressReport(message=self._latest)
            self.server.work_done_progress.report(self.run_token, report)
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(LONG_RUN, self._begin_run)

    def _begin_run(self) -> None:
        self.run_token = f"corral-run-{uuid.uuid4()}"
        progress = self.server.work_done_progress
        progress.create(self.run_token)
        title = f"Corral: {self.action}" if self.action else "Corral"
        progress.begin(
            self.run_token,
            types.WorkDoneProgressBegin(title=title, message=self._latest, cancellable=False),
        )

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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.run_token is not None:
            self.server.work_done_progress.end(
                self.run_token, types.WorkDoneProgressEnd(message="done")
            )
            self.run_token = None
        if self.token is not None:
            self.server.work_done_progress.end(
                self.token, types.WorkDoneProgressEnd(message="environments ready")
            )
            self.token = None
