"""The runner lifecycle state machine (docs/architecture.md#lifecycle).

One pure function, :func:`transition`, decides every state change and rejects illegal
ones; the supervisor never assigns a state any other way. ``tests/supervisor`` checks every
(state, event) pair against rules stated independently of the table.

States::

    STOPPED ──START──▶ STARTING ──READY──▶ RUNNING ──UNRESPONSIVE──▶ UNHEALTHY
       ▲ │                │   ▲                │  ▲                        │
       │ ENV_MISSING      │   BACKOFF_DONE     │  └────RESPONSIVE──────────┤
       │ ▼                │   │                │                           │
    NO_VENV           FAILED_RETRY ──▶ RESTARTING ◀──FAILED_RETRY──────────┤
                      FAILED_FATAL ──▶ CRASHED    ◀──FAILED_FATAL──────────┘
    STARTING/RUNNING/UNHEALTHY ──STOP──▶ STOPPING ──STOPPED_DONE──▶ STOPPED
    RESTARTING/CRASHED/NO_VENV ──STOP──▶ STOPPED          CRASHED ──START──▶ STARTING

* ``FAILED_RETRY``/``FAILED_FATAL``: a start failed, the process died, or an unresponsive
  runner was killed; the restart policy chose between a backoff (within the crash budget)
  and giving up.
* ``STOP`` is a deliberate stop (user, idle shutdown, WM exit): never a crash.
* ``NO_VENV`` is the environment status: the runner cannot start until the env exists.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["TRANSITIONS", "IllegalTransitionError", "RunnerEvent", "RunnerState", "transition"]


class RunnerState(enum.StrEnum):
    """Where one (project, env) runner is in its life; values are the WAL/API spellings."""

    STOPPED = "stopped"
    NO_VENV = "no_venv"
    STARTING = "starting"
    RUNNING = "running"
    UNHEALTHY = "unhealthy"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    CRASHED = "crashed"


class RunnerEvent(enum.StrEnum):
    """What can happen to a runner."""

    START = "start"
    ENV_MISSING = "env_missing"
    READY = "ready"
    FAILED_RETRY = "failed_retry"
    FAILED_FATAL = "failed_fatal"
    UNRESPONSIVE = "unresponsive"
    RESPONSIVE = "responsive"
    BACKOFF_DONE = "backoff_done"
    STOP = "stop"
    STOPPED_DONE = "stopped_done"


S, E = RunnerState, RunnerEvent

TRANSITIONS: Final[dict[tuple[RunnerState, RunnerEvent], RunnerState]] = {
    (S.STOPPED, E.START): S.STARTING,
    (S.STOPPED, E.ENV_MISSING): S.NO_VENV,
    (S.STOPPED, E.STOP): S.STOPPED,
    (S.NO_VENV, E.START): S.STARTING,
    (S.NO_VENV, E.ENV_MISSING): S.NO_VENV,
    (S.NO_VENV, E.STOP): S.STOPPED,
    (S.STARTING, E.READY): S.RUNNING,
    (S.STARTING, E.FAILED_RETRY): S.RESTARTING,
    (S.STARTING, E.FAILED_FATAL): S.CRASHED,
    (S.STARTING, E.STOP): S.STOPPING,
    (S.RUNNING, E.UNRESPONSIVE): S.UNHEALTHY,
    (S.RUNNING, E.FAILED_RETRY): S.RESTARTING,
    (S.RUNNING, E.FAILED_FATAL): S.CRASHED,
    (S.RUNNING, E.STOP): S.STOPPING,
    (S.UNHEALTHY, E.RESPONSIVE): S.RUNNING,
    (S.UNHEALTHY, E.FAILED_RETRY): S.RESTARTING,
    (S.UNHEALTHY, E.FAILED_FATAL): S.CRASHED,
    (S.UNHEALTHY, E.STOP): S.STOPPING,
    (S.RESTARTING, E.BACKOFF_DONE): S.STARTING,
    (S.RESTARTING, E.ENV_MISSING): S.NO_VENV,
    (S.RESTARTING, E.STOP): S.STOPPED,
    (S.STOPPING, E.STOPPED_DONE): S.STOPPED,
    (S.CRASHED, E.START): S.STARTING,
    (S.CRASHED, E.ENV_MISSING): S.NO_VENV,
    (S.CRASHED, E.STOP): S.STOPPED,
}
"""Every legal (state, event) pair and where it leads; anything else is illegal."""


class IllegalTransitionError(RuntimeError):
    """An event that cannot happen in the current state (always a supervisor bug)."""

    def __init__(self, state: RunnerState, event: RunnerEvent) -> None:
        super().__init__(f"illegal runner transition: {event.value} in state {state.value}")
        self.state = state
        self.event = event


def transition(state: RunnerState, event: RunnerEvent) -> RunnerState:
    """The state after ``event`` in ``state``; raises :class:`IllegalTransitionError`."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransitionError(state, event) from None
