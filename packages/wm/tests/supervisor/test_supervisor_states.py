"""The state machine, pair by pair, and the restart policy on an injected clock."""

from __future__ import annotations

import itertools

import pytest
from corral.config import RestartSettings
from corral.supervisor import (
    IllegalTransitionError,
    RestartPolicy,
    RunnerEvent,
    RunnerState,
    transition,
)

S, E = RunnerState, RunnerEvent

LEGAL = {
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


@pytest.mark.parametrize(
    ("state", "event"), list(itertools.product(RunnerState, RunnerEvent)), ids=str
)
def test_every_state_event_pair(state: RunnerState, event: RunnerEvent) -> None:
    expected = LEGAL.get((state, event))
    if expected is None:
        with pytest.raises(IllegalTransitionError) as info:
            transition(state, event)
        assert state.value in str(info.value)
        assert event.value in str(info.value)
    else:
        assert transition(state, event) is expected


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(clock: Clock, *, rng: float = 0.5, **overrides: object) -> RestartPolicy:
    settings = RestartSettings(**overrides)  # type: ignore[arg-type]
    return RestartPolicy(settings, clock=clock, rng=lambda: rng)


def test_backoff_doubles_then_gives_up_when_the_budget_is_spent() -> None:
    clock = Clock()
    p = policy(clock)
    delays = []
    for _ in range(3):
        delays.append(p.on_failure())
        clock.now += 5
    assert delays == [1.0, 2.0, 4.0]  # rng 0.5: no jitter
    assert p.on_failure() is None


@pytest.mark.parametrize(("rng", "factor"), [(0.0, 0.9), (1.0, 1.1)])
def test_jitter_stays_within_its_fraction(rng: float, factor: float) -> None:
    p = policy(Clock(), rng=rng)
    assert p.on_failure() == pytest.approx(1.0 * factor)
    assert p.on_failure() == pytest.approx(2.0 * factor)


def test_failures_older_than_the_window_no_longer_count() -> None:
    clock = Clock()
    p = policy(clock, window=60.0)
    for _ in range(3):
        p.on_failure()
    clock.now += 61
    assert p.failures == 0
    assert p.on_failure() == 1.0


def test_a_stable_start_refills_the_budget() -> None:
    clock = Clock()
    p = policy(clock, stable_after=30.0)
    for _ in range(3):
        p.on_failure()
    p.on_ready()
    clock.now += 31
    assert p.on_failure() == 1.0  # counted as the first of a new series
    p.on_ready()
    clock.now += 5  # not stable this time
    assert p.on_failure() == 2.0


def test_reset_forgets_every_failure() -> None:
    p = policy(Clock())
    for _ in range(4):
        p.on_failure()
    p.reset()
    assert p.failures == 0
    assert p.on_failure() == 1.0


def test_the_last_backoff_repeats_when_the_budget_is_larger() -> None:
    p = policy(Clock(), max_crashes=5)
    assert [p.on_failure() for _ in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert p.on_failure() is None
