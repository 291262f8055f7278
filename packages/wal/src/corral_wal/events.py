"""The WAL event types and their payload members (SPEC §12.4).

Event names are dotted lowercase. Payload members listed as *required* must be present;
*optional* ones may be absent; readers ignore members they do not know and keep records of
event types they do not know (they render them generically). Who writes what:

======================  =========  ==========================================================
event                   writer     payload
======================  =========  ==========================================================
``wal.opened``          any        ``pid`` int; ``recovered`` null | {``segment`` str,
                                   ``offset`` int, ``discardedBytes`` int}: the torn tail the
                                   writer cut off when it opened the stream; more members
                                   from the writer's ``meta`` (e.g. ``program``)
``wal.closed``          any        {} — the stream was closed cleanly
``run.accepted``        WM, runner ``scope`` "action" | "project" | "workspace" | "local";
                                   ``source`` str ("cli", "lsp", "mcp", "wm", "runner",
                                   "local"); ``depth`` int ≥ 0; optional ``requestId``
``run.started``         WM, runner optional ``runner`` str (WM: the runner it dispatched to),
                                   optional ``handlers`` [str] (runner: in order)
``run.finished``        WM, runner ``status`` "ok" | "failed" (the action's outcome; a handler
                                   failure is a *finished* run with status "failed");
                                   optional ``durationMs`` number; optional
                                   ``reused`` true (answered from the WM's result cache)
``run.failed``          WM, runner ``error`` {``type`` str, ``message`` str, optional ``code``
                                   int}: the run could not complete (runner died, unknown
                                   action, internal error); optional ``durationMs``
``run.cancelled``       WM, runner optional ``reason`` str, optional ``durationMs``
``runner.state``        WM         ``from`` state | null, ``to`` state; optional ``reason``
                                   str, ``pid`` int | null, ``exitCode`` int | null; the
                                   record's ``project`` and ``env`` name the runner
``handler.started``     runner     ``handler`` str; optional ``index`` int
``handler.finished``    runner     ``handler`` str; optional ``durationMs``
``handler.failed``      runner     ``handler`` str; ``error`` {``type``, ``message``};
                                   optional ``durationMs``
``handler.cancelled``   runner     ``handler`` str; optional ``durationMs``
``env.prepared``        WM         ``status`` "created" | "updated" | "unchanged" |
                                   "failed"; optional ``durationMs``, ``error``
``run.output``          WM         ``stream`` "stdout" | "stderr" | "log"; ``text`` str;
                                   optional ``level`` (of a log record): what a runner's
                                   handlers printed or logged, for the run ``runId`` (null
                                   when the runner could not attribute it)
======================  =========  ==========================================================

Runner states (``runner.state`` ``from``/``to``): ``stopped``, ``starting``, ``running``,
``unhealthy``, ``restarting``, ``stopping``, ``crashed``, ``no_venv``; readers accept others.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = [
    "DEFAULT_DURABLE_EVENTS",
    "DEFAULT_EAGER_EVENTS",
    "ENV_PREPARED",
    "HANDLER_CANCELLED",
    "HANDLER_EVENTS",
    "HANDLER_FAILED",
    "HANDLER_FINISHED",
    "HANDLER_STARTED",
    "HANDLER_TERMINAL_EVENTS",
    "KNOWN_EVENTS",
    "REQUIRED_PAYLOAD",
    "RUNNER_STATE",
    "RUNNER_STATES",
    "RUN_ACCEPTED",
    "RUN_CANCELLED",
    "RUN_EVENTS",
    "RUN_FAILED",
    "RUN_FINISHED",
    "RUN_OUTPUT",
    "RUN_STARTED",
    "RUN_TERMINAL_EVENTS",
    "WAL_CLOSED",
    "WAL_OPENED",
]

WAL_OPENED: Final = "wal.opened"
WAL_CLOSED: Final = "wal.closed"
RUN_ACCEPTED: Final = "run.accepted"
RUN_STARTED: Final = "run.started"
RUN_FINISHED: Final = "run.finished"
RUN_FAILED: Final = "run.failed"
RUN_CANCELLED: Final = "run.cancelled"
RUNNER_STATE: Final = "runner.state"
HANDLER_STARTED: Final = "handler.started"
HANDLER_FINISHED: Final = "handler.finished"
HANDLER_FAILED: Final = "handler.failed"
HANDLER_CANCELLED: Final = "handler.cancelled"
ENV_PREPARED: Final = "env.prepared"
RUN_OUTPUT: Final = "run.output"

RUN_TERMINAL_EVENTS: Final = frozenset({RUN_FINISHED, RUN_FAILED, RUN_CANCELLED})
RUN_EVENTS: Final = frozenset({RUN_ACCEPTED, RUN_STARTED}) | RUN_TERMINAL_EVENTS
HANDLER_TERMINAL_EVENTS: Final = frozenset({HANDLER_FINISHED, HANDLER_FAILED, HANDLER_CANCELLED})
HANDLER_EVENTS: Final = frozenset({HANDLER_STARTED}) | HANDLER_TERMINAL_EVENTS
KNOWN_EVENTS: Final = (
    RUN_EVENTS | HANDLER_EVENTS | {WAL_OPENED, WAL_CLOSED, RUNNER_STATE, ENV_PREPARED, RUN_OUTPUT}
)

DEFAULT_DURABLE_EVENTS: Final = frozenset(
    {
        WAL_OPENED,
        WAL_CLOSED,
        RUN_FINISHED,
        RUN_FAILED,
        RUN_CANCELLED,
        RUNNER_STATE,
        ENV_PREPARED,
    }
)
"""Events the default ``boundaries`` policy makes durable before ``append`` returns: run
outcomes, runner state changes, env preparation and the stream's own open and close."""

DEFAULT_EAGER_EVENTS: Final = frozenset({RUN_ACCEPTED, RUN_STARTED})
"""Events the default ``boundaries`` policy fsyncs at once *without* making the caller wait:
the start of a run is on the action's critical path, so its fsync runs in the background
(durable about one fsync later, not a batch delay later). ``handler.*`` are batched."""

RUNNER_STATES: Final = (
    "stopped",
    "starting",
    "running",
    "unhealthy",
    "restarting",
    "stopping",
    "crashed",
    "no_venv",
)

REQUIRED_PAYLOAD: Final = MappingProxyType(
    {
        WAL_OPENED: ("pid", "recovered"),
        WAL_CLOSED: (),
        RUN_ACCEPTED: ("scope", "source", "depth"),
        RUN_STARTED: (),
        RUN_FINISHED: ("status",),
        RUN_FAILED: ("error",),
        RUN_CANCELLED: (),
        RUNNER_STATE: ("from", "to"),
        HANDLER_STARTED: ("handler",),
        HANDLER_FINISHED: ("handler",),
        HANDLER_FAILED: ("handler", "error"),
        HANDLER_CANCELLED: ("handler",),
        ENV_PREPARED: ("status",),
        RUN_OUTPUT: ("stream", "text"),
    }
)
"""Required payload members per known event (the JSON Schema's ``if``/``then`` rules)."""
