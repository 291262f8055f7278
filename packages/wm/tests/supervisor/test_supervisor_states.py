"""The state machine against expectations stated independently of its table, and the restart
policy on an injected clock.

The table in :mod:`corral.supervisor.states` is not restated here (a copy would agree with
any mistake). Instead:

* :func:`expected` is a reference model written as rules about what each event *means*
  (which states have a process, which are at rest), from the rules of
  docs/architecture.md#lifecycle; every (state, event) pair is compared with it.
* Named properties state the invariants one by one (Running only through Starting, a
  deliberate stop never becomes a crash, Crashed is left only by START/STOP/ENV_MISSING,
  every state can reach Stopped, ...), each checked over the graph of the table.
* Hypothesis drives random event sequences through both and random legal walks through the
  table, checking history invariants along the way.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from corral.config import RestartSettings
from corral.supervisor import (
    IllegalTransitionError,
    RestartPolicy,
    RunnerEvent,
    RunnerState,
    transition,
)
from corral.supervisor.states import TRANSITIONS
from hypothesis import given, settings
from hypothesis import strategies as st

S, E = RunnerState, RunnerEvent

AT_REST = frozenset({S.STOPPED, S.NO_VENV, S.CRASHED})
"""No process and nothing scheduled: only an explicit START (or STOP) moves these on."""
LIVE = frozenset({S.STARTING, S.RUNNING, S.UNHEALTHY})
"""A process exists (or is being started) and may fail: the states the restart policy
watches."""
NO_PROCESS = AT_REST | {S.RESTARTING}
"""No process: the env may be checked (and found missing) before one is spawned."""
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)


def expected(state: RunnerState, event: RunnerEvent) -> RunnerState | None:
    """The reference model: the state after ``event``, or None where it cannot happen."""
    if event is E.START:  # only an explicit start leaves a resting state for Starting
        return S.STARTING if state in AT_REST else None
    if event is E.ENV_MISSING:  # checked before every spawn, i.e. only without a process
        return S.NO_VENV if state in NO_PROCESS else None
    if event is E.READY:  # hello + initialize succeeded: only a start can succeed
        return S.RUNNING if state is S.STARTING else None
    if event is E.UNRESPONSIVE:  # $/ping is only monitored while Running
        return S.UNHEALTHY if state is S.RUNNING else None
    if event is E.RESPONSIVE:
        return S.RUNNING if state is S.UNHEALTHY else None
    if event is E.FAILED_RETRY:  # a start failed, the process died or was killed
        return S.RESTARTING if state in LIVE else None
    if event is E.FAILED_FATAL:  # ... and the crash budget is spent
        return S.CRASHED if state in LIVE else None
    if event is E.BACKOFF_DONE:
        return S.STARTING if state is S.RESTARTING else None
    if event is E.STOP:  # deliberate: a process is shut down, anything else just stops
        if state in LIVE:
            return S.STOPPING
        return S.STOPPED if state in NO_PROCESS else None  # Stopping: already on its way
    if event is E.STOPPED_DONE:
        return S.STOPPED if state is S.STOPPING else None
    raise AssertionError(f"the reference model does not know {event}")


def apply(state: RunnerState, event: RunnerEvent) -> RunnerState | None:
    """``transition`` with illegal pairs as None."""
    try:
        return transition(state, event)
    except IllegalTransitionError:
        return None


def reachable(
    start: RunnerState,
    events: Iterable[RunnerEvent] = tuple(RunnerEvent),
    *,
    avoiding: frozenset[RunnerState] = frozenset(),
) -> set[RunnerState]:
    """Every state reachable from ``start`` through the table by ``events``, never entering
    a state in ``avoiding``."""
    allowed = set(events)
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for (source, event), target in TRANSITIONS.items():
            if source is not state or event not in allowed or target in avoiding:
                continue
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def edges_into(target: RunnerState) -> set[tuple[RunnerState, RunnerEvent]]:
    return {pair for pair, to in TRANSITIONS.items() if to is target and pair[0] is not target}


# --- every pair against the reference model ------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event"), list(itertools.product(RunnerState, RunnerEvent)), ids=str
)
def test_every_state_event_pair_matches_the_reference_model(
    state: RunnerState, event: RunnerEvent
) -> None:
    want = expected(state, event)
    if want is None:
        with pytest.raises(IllegalTransitionError) as info:
            transition(state, event)
        assert (info.value.state, info.value.event) == (state, event)
        assert state.value in str(info.value)
        assert event.value in str(info.value)
    else:
        assert transition(state, event) is want


def test_the_table_names_only_known_states_and_events() -> None:
    for (state, event), target in TRANSITIONS.items():
        assert isinstance(state, RunnerState)
        assert isinstance(event, RunnerEvent)
        assert isinstance(target, RunnerState)


# --- the classic extension-host transitions ------------------------------------------------

# The extension-host state machine this one completes (docs/architecture.md#lifecycle), in
# our events. Two are deliberately different: its "Running -> Unhealthy (process exited)"
# is split into UNRESPONSIVE (no $/ping answer: Unhealthy, the process lives) and FAILED_*
# (an exit is noticed at once and goes straight to the restart policy); and Starting can
# also back off.
EXTENSION_HOST_TRANSITIONS = [
    (S.STOPPED, E.START, S.STARTING),
    (S.STARTING, E.READY, S.RUNNING),
    (S.STARTING, E.FAILED_FATAL, S.CRASHED),
    (S.RUNNING, E.UNRESPONSIVE, S.UNHEALTHY),
    (S.RUNNING, E.STOP, S.STOPPING),
    (S.UNHEALTHY, E.FAILED_RETRY, S.RESTARTING),
    (S.UNHEALTHY, E.FAILED_FATAL, S.CRASHED),
    (S.RESTARTING, E.BACKOFF_DONE, S.STARTING),
    (S.STOPPING, E.STOPPED_DONE, S.STOPPED),
    (S.CRASHED, E.START, S.STARTING),
]


@pytest.mark.parametrize(("state", "event", "target"), EXTENSION_HOST_TRANSITIONS, ids=str)
def test_every_extension_host_transition_is_kept(
    state: RunnerState, event: RunnerEvent, target: RunnerState
) -> None:
    assert transition(state, event) is target


def test_a_process_that_dies_while_running_goes_to_the_restart_policy_at_once() -> None:
    assert transition(S.RUNNING, E.FAILED_RETRY) is S.RESTARTING
    assert transition(S.RUNNING, E.FAILED_FATAL) is S.CRASHED


# --- invariants, each over the whole table -------------------------------------------------


def test_running_is_reachable_only_through_starting() -> None:
    assert S.RUNNING in reachable(S.STOPPED)
    for state in RunnerState:
        if state not in (S.STARTING, S.RUNNING, S.UNHEALTHY):
            assert S.RUNNING not in reachable(state, avoiding=frozenset({S.STARTING})), state
    assert edges_into(S.RUNNING) == {(S.STARTING, E.READY), (S.UNHEALTHY, E.RESPONSIVE)}
    assert edges_into(S.UNHEALTHY) == {(S.RUNNING, E.UNRESPONSIVE)}


def test_starting_is_entered_only_by_start_or_a_finished_backoff() -> None:
    assert {event for _, event in edges_into(S.STARTING)} == {E.START, E.BACKOFF_DONE}
    assert {state for state, _ in edges_into(S.STARTING)} == AT_REST | {S.RESTARTING}


def test_ready_leads_only_from_starting_to_running() -> None:
    assert {(s, t) for (s, e), t in TRANSITIONS.items() if e is E.READY} == {
        (S.STARTING, S.RUNNING)
    }


def test_a_deliberate_stop_never_leads_to_a_crash_or_a_restart() -> None:
    failure_side = {S.CRASHED, S.RESTARTING, S.UNHEALTHY, S.RUNNING, S.STARTING}
    for state in RunnerState:
        after = apply(state, E.STOP)
        if after is None:
            continue
        assert after in (S.STOPPING, S.STOPPED), state
        # Whatever else happens until the next START, the runner only finishes stopping.
        without_start = [e for e in RunnerEvent if e is not E.START]
        assert not reachable(after, without_start) & failure_side, state


def test_stop_is_accepted_everywhere_except_while_already_stopping() -> None:
    for state in RunnerState:
        if state is S.STOPPING:
            assert apply(state, E.STOP) is None  # stop() waits for the stop in progress
        else:
            assert apply(state, E.STOP) is not None, state
    assert transition(S.STOPPED, E.STOP) is S.STOPPED  # idempotent


def test_crashed_is_left_only_by_start_stop_or_env_missing() -> None:
    leaving = {e for (s, e), t in TRANSITIONS.items() if s is S.CRASHED and t is not S.CRASHED}
    assert leaving == {E.START, E.STOP, E.ENV_MISSING}
    assert edges_into(S.CRASHED) == {
        (S.STARTING, E.FAILED_FATAL),
        (S.RUNNING, E.FAILED_FATAL),
        (S.UNHEALTHY, E.FAILED_FATAL),
    }


def test_restarting_is_entered_only_by_a_failure_within_the_budget() -> None:
    assert {event for _, event in edges_into(S.RESTARTING)} == {E.FAILED_RETRY}


@pytest.mark.parametrize("state", list(RunnerState), ids=str)
def test_every_state_reaches_stopped_by_stop_and_at_most_one_more_step(
    state: RunnerState,
) -> None:
    after = transition(state, E.STOP) if state is not S.STOPPING else state
    if after is S.STOPPING:
        after = transition(after, E.STOPPED_DONE)
    assert after is S.STOPPED


def test_stopped_is_reachable_from_every_state() -> None:
    for state in RunnerState:
        assert S.STOPPED in reachable(state), state


def test_every_state_is_reachable_from_stopped() -> None:
    assert reachable(S.STOPPED) == set(RunnerState)


@pytest.mark.parametrize(
    ("event", "only_in"),
    [
        (E.READY, {S.STARTING}),
        (E.BACKOFF_DONE, {S.RESTARTING}),
        (E.STOPPED_DONE, {S.STOPPING}),
        (E.UNRESPONSIVE, {S.RUNNING}),
        (E.RESPONSIVE, {S.UNHEALTHY}),
        (E.FAILED_RETRY, LIVE),
        (E.FAILED_FATAL, LIVE),
        (E.START, AT_REST),
        (E.ENV_MISSING, NO_PROCESS),
    ],
    ids=str,
)
def test_no_transition_for_an_event_that_cannot_happen_in_a_state(
    event: RunnerEvent, only_in: set[RunnerState]
) -> None:
    """A process event needs a process; a start needs none; a stop in progress ends once."""
    legal_in = {state for state, e in TRANSITIONS if e is event}
    assert legal_in == only_in


def test_a_stopping_runner_cannot_crash_or_restart() -> None:
    """Its process exiting is the stop finishing, never a crash (deliberate stops
    never count as crashes)."""
    assert {e for s, e in TRANSITIONS if s is S.STOPPING} == {E.STOPPED_DONE}


def test_a_missing_env_is_a_status_reached_only_without_a_process() -> None:
    assert {state for state, _ in edges_into(S.NO_VENV)} == NO_PROCESS - {S.NO_VENV}
    leaving = {e for (s, e), t in TRANSITIONS.items() if s is S.NO_VENV and t is not S.NO_VENV}
    assert leaving == {E.START, E.STOP}


# --- random sequences (Hypothesis) ------------------------------------------------------------

events = st.sampled_from(list(RunnerEvent))
states = st.sampled_from(list(RunnerState))


@PROPERTY_SETTINGS
@given(start=states, sequence=st.lists(events, max_size=40))
def test_random_event_sequences_agree_with_the_reference_model(
    start: RunnerState, sequence: list[RunnerEvent]
) -> None:
    """Fold any sequence through both; an illegal event leaves the state unchanged (the
    supervisor never applies it), and both must reject the same events."""
    ours, model = start, start
    for event in sequence:
        got, want = apply(ours, event), expected(model, event)
        assert got is want, (ours, event)
        if got is not None:
            ours = model = got


@PROPERTY_SETTINGS
@given(data=st.data(), length=st.integers(1, 60))
def test_history_invariants_hold_along_random_legal_walks(data: st.DataObject, length: int) -> None:
    """Walk the table from Stopped by legal events only and check, at every step, facts
    about the history that no single transition shows."""
    state = S.STOPPED
    started_since_rest = False  # a START or BACKOFF_DONE since the last resting state
    stopped_deliberately = False  # a STOP since the last START
    for _ in range(length):
        legal = [e for e in RunnerEvent if (state, e) in TRANSITIONS]
        assert legal, f"{state} is a dead end"
        event = data.draw(st.sampled_from(legal))
        new = transition(state, event)
        if event in (E.START, E.BACKOFF_DONE):
            started_since_rest = True
        if event is E.START:
            stopped_deliberately = False
        if event is E.STOP:
            stopped_deliberately = True
        if new is S.RUNNING:
            assert started_since_rest, "Running without a start"
            assert state in (S.STARTING, S.UNHEALTHY)
        if stopped_deliberately:
            assert new in (S.STOPPING, S.STOPPED, S.NO_VENV), "a stop turned into " + new
        if state is S.CRASHED and new is not S.CRASHED:
            assert event in (E.START, E.STOP, E.ENV_MISSING)
        if new is S.RESTARTING:
            assert event is E.FAILED_RETRY
        if new in AT_REST:
            started_since_rest = False
        # From wherever the walk is, a STOP (and the stop finishing) reaches Stopped.
        if new is not S.STOPPING:
            parked = transition(new, E.STOP)
            assert parked is S.STOPPED or transition(parked, E.STOPPED_DONE) is S.STOPPED
        state = new


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
