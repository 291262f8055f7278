"""Per-run progress bookkeeping of the test-only runner (SPEC "Progress and partial results").

Work-done progress is normalised to exactly one ``begin``, any ``report``s and exactly one
``end``, all before the reply: a later ``begin`` becomes a ``report``, a ``report`` before any
``begin`` gets a ``begin`` titled with the action first, and a handler's ``end`` is held back
until :meth:`RunState.finish`, which sends it just before the reply (message "cancelled" for
-32800). Nothing is forwarded after ``finish``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from .variants import Breaks

__all__ = ["Notifier", "RunState"]


class Notifier(Protocol):
    """Where notifications go (the connection)."""

    def notify(self, method: str, params: Any) -> None: ...


class RunState:
    """Progress state of one ``actions/run``."""

    def __init__(
        self,
        notifier: Notifier,
        action: str,
        work_done_token: Any,
        partial_token: Any,
        breaks: Breaks,
    ) -> None:
        self._notifier = notifier
        self._action = action
        self.work_done_token = work_done_token
        self.partial_token = partial_token
        self._breaks = breaks
        self._begun = False
        self._ended = False
        self._end_message: str | None = None
        self.closed = False

    def _send(self, token: Any, value: dict[str, Any]) -> None:
        if self._breaks("progress-token-stringified"):
            token = str(token)
        params = {"token": token, "value": value}
        if self._breaks("progress-after-reply"):
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, self._notifier.notify, "$/progress", params)
        elif not self.closed:
            self._notifier.notify("$/progress", params)

    def work_done(self, value: dict[str, Any]) -> None:
        """A handler reports work-done progress (ignored without a token)."""
        token = self.work_done_token
        if token is None or self.closed or self._ended:
            return
        kind = value.get("kind")
        if kind == "begin":
            if not self._begun or self._breaks("progress-begin-per-handler"):
                self._begun = True
                self._send(token, value)
            else:
                report = {"kind": "report"}
                report.update({k: value[k] for k in ("message", "percentage") if k in value})
                self._send(token, report)
        elif kind == "report":
            if not self._begun:
                self._begun = True
                self._send(token, {"kind": "begin", "title": self._action})
            self._send(token, value)
        elif kind == "end":
            if self._breaks("end-not-deferred"):
                self._ended = True
                self._send(token, value)
            else:
                message = value.get("message")
                self._end_message = message if isinstance(message, str) else None

    def partial(self, handler: str, data: Any) -> None:
        """A handler reports a partial result (ignored without a token)."""
        if self.partial_token is not None and not self.closed:
            self._send(self.partial_token, {"kind": "partial", "handler": handler, "data": data})

    def finish(self, cancelled: bool) -> None:
        """Just before the reply: send the held-back ``end``; forward nothing afterwards."""
        if self.closed:
            return
        if self._begun and not self._ended and self.work_done_token is not None:
            end: dict[str, Any] = {"kind": "end"}
            message = "cancelled" if cancelled else self._end_message
            if message is not None:
                end["message"] = message
            self._ended = True
            self._send(self.work_done_token, end)
        self.closed = True
