"""Merging streams, correlating run trees, and the pinned ``show`` output of a known tree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from corral_wal import (
    ENV_PREPARED,
    HANDLER_FAILED,
    HANDLER_FINISHED,
    HANDLER_STARTED,
    RUN_ACCEPTED,
    RUN_FAILED,
    RUN_FINISHED,
    RUN_STARTED,
    RUNNER_STATE,
    WalRecord,
    WalWriter,
    build_history,
    merge_streams,
    read_wal,
    render_json,
    render_text,
)

PROJECT = "/ws/app"
RUNNER = "runner-dev-4250"


def rec(
    writer: str, seq: int, ts: str, event: str = "x.y", run: str | None = None, **kw: Any
) -> WalRecord:
    return WalRecord(
        v=1,
        writer=writer,
        seq=seq,
        ts=f"2026-11-21T07:30:00.{ts}Z",
        event=event,
        run_id=run,
        parent_run_id=kw.get("parent"),
        project=None,
        env=None,
        action=None,
        payload=kw.get("payload", {}),
    )


def ids(records: list[WalRecord]) -> list[str]:
    return [f"{r.writer}:{r.seq}" for r in records]


def test_merge_orders_by_time_then_writer_then_seq() -> None:
    a = [rec("a", 0, "000001"), rec("a", 1, "000003"), rec("a", 2, "000003")]
    b = [rec("b", 0, "000002"), rec("b", 1, "000003")]
    assert ids(merge_streams([b, a])) == ["a:0", "b:0", "a:1", "a:2", "b:1"]


def test_stream_order_wins_over_timestamps() -> None:
    a = [rec("a", 0, "000005"), rec("a", 1, "000001")]  # a foreign writer's clock stepped back
    b = [rec("b", 0, "000003")]
    assert ids(merge_streams([a, b])) == ["b:0", "a:0", "a:1"]


def test_records_of_a_run_never_precede_its_acceptance() -> None:
    wm = [rec("wm", 0, "000010", RUN_ACCEPTED, "r1")]
    runner = [rec("runner", 0, "000009", RUN_STARTED, "r1"), rec("runner", 1, "000011")]
    assert ids(merge_streams([runner, wm])) == ["wm:0", "runner:0", "runner:1"]


def test_child_runs_never_precede_their_parents_acceptance() -> None:
    wm = [rec("wm", 0, "000010", RUN_ACCEPTED, "r1"), rec("wm", 1, "000020", RUN_FINISHED, "r1")]
    runner = [rec("runner", 0, "000005", RUN_ACCEPTED, "r2", parent="r1")]
    assert ids(merge_streams([runner, wm])) == ["wm:0", "runner:0", "wm:1"]


def test_inconsistent_causality_still_yields_every_record_once() -> None:
    a = [rec("a", 0, "000001", RUN_ACCEPTED, "r1", parent="r2")]
    b = [rec("b", 0, "000002", RUN_ACCEPTED, "r2", parent="r1")]
    assert ids(merge_streams([a, b])) == ["a:0", "b:0"]
    history = build_history(merge_streams([a, b]))
    assert sorted(n.run_id for n in history.items if not isinstance(n, WalRecord)) == [
        "r1",
        "r2",
    ]


# ------------------------------------------------------------------ a known run tree
def write_known_tree(wal_dir: Path, clock: Any) -> None:
    """WM accepts r-1 (lint) and hands it to a runner; the runner runs two handlers, one
    of which runs r-2 (format) locally and asks the WM for r-3 (project scope), which
    fails. Timestamps come from one manual clock, so the output is deterministic."""
    wm = WalWriter(wal_dir, "wm", clock=clock, meta={"program": "corral-wm"})
    run1 = {"run_id": "r-1", "action": "lint", "project": PROJECT}
    clock.advance(1)
    wm.append(
        ENV_PREPARED, project=PROJECT, env="dev", payload={"status": "created", "durationMs": 15}
    )
    clock.advance(2)
    wm.append(RUNNER_STATE, project=PROJECT, env="dev", payload={"from": None, "to": "starting"})
    clock.advance(1)
    runner = WalWriter(wal_dir, RUNNER, clock=clock, meta={"program": "corral-runner"})
    clock.advance(52)
    wm.append(
        RUNNER_STATE, project=PROJECT, env="dev", payload={"from": "starting", "to": "running"}
    )
    clock.advance(10)
    wm.append(RUN_ACCEPTED, **run1, payload={"scope": "action", "source": "cli", "depth": 0})
    clock.advance(1)
    wm.append(RUN_STARTED, **run1, env="dev", payload={"runner": RUNNER})
    clock.advance(1)
    rr1 = {**run1, "env": "dev"}
    runner.append(RUN_ACCEPTED, **rr1, payload={"scope": "action", "source": "wm", "depth": 0})
    runner.append(RUN_STARTED, **rr1, payload={"handlers": ["ruff", "mypy"]})
    clock.advance(1)
    runner.append(HANDLER_STARTED, **rr1, payload={"handler": "ruff", "index": 0})
    clock.advance(120)
    runner.append(HANDLER_FINISHED, **rr1, payload={"handler": "ruff"})
    runner.append(HANDLER_STARTED, **rr1, payload={"handler": "mypy", "index": 1})
    clock.advance(5)
    run2 = {"run_id": "r-2", "parent_run_id": "r-1", "action": "format", "project": PROJECT}
    runner.append(
        RUN_ACCEPTED, **run2, env="dev", payload={"scope": "local", "source": "local", "depth": 1}
    )
    runner.append(RUN_STARTED, **run2, env="dev", payload={"handlers": ["black"]})
    runner.append(HANDLER_STARTED, **run2, env="dev", payload={"handler": "black", "index": 0})
    clock.advance(40)
    runner.append(HANDLER_FINISHED, **run2, env="dev", payload={"handler": "black"})
    runner.append(RUN_FINISHED, **run2, env="dev", payload={"status": "ok"})
    clock.advance(3)
    run3 = {"run_id": "r-3", "parent_run_id": "r-1", "action": "test", "project": PROJECT}
    wm.append(RUN_ACCEPTED, **run3, payload={"scope": "project", "source": "runner", "depth": 1})
    clock.advance(30)
    error = {"type": "RunnerUnavailable", "message": "env 'runtime' has no venv", "code": -32015}
    wm.append(RUN_FAILED, **run3, payload={"error": error})
    clock.advance(200)
    runner.append(
        HANDLER_FAILED,
        **rr1,
        payload={"handler": "mypy", "error": {"type": "TypeError", "message": "boom"}},
    )
    runner.append(RUN_FINISHED, **rr1, payload={"status": "failed"})
    clock.advance(2)
    wm.append(RUN_FINISHED, **run1, payload={"status": "failed"})
    clock.advance(1000)
    runner.close()
    wm.append(
        RUNNER_STATE,
        project=PROJECT,
        env="dev",
        payload={"from": "running", "to": "stopped", "reason": "idle"},
    )
    wm.close()


@pytest.fixture
def known_tree(tmp_path: Path, clock: Any) -> Path:
    write_known_tree(tmp_path, clock)
    return tmp_path


def normalise(text: str) -> str:
    text = re.sub(r"pid=\d+", "pid=<pid>", text)
    return re.sub(r'"pid": \d+', '"pid": "<pid>"', text)


def test_known_tree_is_correlated_across_writers(known_tree: Path) -> None:
    scan = read_wal(known_tree)
    assert scan.damage == []
    history = build_history(scan.records)
    r1 = history.runs["r-1"]
    assert r1.owner == "wm"
    assert r1.writers == ["wm", RUNNER]
    assert (r1.outcome, r1.duration_ms) == ("failed", 403.0)
    assert [(h.name, h.outcome, h.duration_ms) for h in r1.handlers] == [
        ("ruff", "ok", 120.0),
        ("mypy", "failed", 278.0),
    ]
    assert [c.run_id for c in r1.children] == ["r-2", "r-3"]
    r2, r3 = r1.children
    assert (r2.owner, r2.outcome, r2.duration_ms) == (RUNNER, "ok", 40.0)
    assert (r3.owner, r3.outcome, r3.error["type"]) == ("wm", "error", "RunnerUnavailable")
    top = [i.run_id if not isinstance(i, WalRecord) else i.event for i in history.items]
    assert top == [
        "wal.opened",
        "env.prepared",
        "runner.state",
        "wal.opened",
        "runner.state",
        "r-1",
        "wal.closed",
        "runner.state",
        "wal.closed",
    ]


def test_show_text_of_a_known_tree(known_tree: Path, snapshot: Any) -> None:
    history = build_history(read_wal(known_tree).records)
    assert render_text([history.runs["r-1"]]) == snapshot(name="run r-1")
    assert normalise(render_text(history.items)) == snapshot(name="whole history")


def test_show_json_of_a_known_tree(known_tree: Path, snapshot: Any) -> None:
    history = build_history(read_wal(known_tree).records)
    text = render_json([history.runs["r-1"]])
    document = json.loads(text)
    assert document["damage"] == []
    assert [c["runId"] for c in document["items"][0]["children"]] == ["r-2", "r-3"]
    assert text == snapshot


def test_since_keeps_items_active_after_the_cut(known_tree: Path) -> None:
    history = build_history(read_wal(known_tree).records)
    kept = history.since("2026-11-21T07:30:00.400000Z")
    assert [getattr(i, "run_id", None) or i.event for i in kept] == [  # type: ignore[union-attr]
        "r-1",
        "wal.closed",
        "runner.state",
        "wal.closed",
    ]


def test_measured_durations_win_over_timestamps_of_batched_records() -> None:
    """A journal writes a run's records in one batch, all stamped at the same moment: the
    shown duration is the measured ``durationMs`` of the terminal record, not 0."""
    same = "500000"
    records = [
        rec("wm", 0, same, RUN_ACCEPTED, "r", payload={"scope": "project", "source": "cli"}),
        rec(RUNNER, 0, same, HANDLER_STARTED, "r", payload={"handler": "ruff"}),
        rec(
            RUNNER, 1, same, HANDLER_FINISHED, "r", payload={"handler": "ruff", "durationMs": 21.6}
        ),
        rec("wm", 1, same, RUN_FINISHED, "r", payload={"status": "ok", "durationMs": 29.8}),
    ]
    (run,) = build_history(records).items
    assert run.duration_ms == 29.8
    assert [h.duration_ms for h in run.handlers] == [21.6]
    text = render_text(build_history(records).items)
    assert "ok in 0.030s" in text
    assert "ruff ok 0.022s" in text
    bogus = [*records[:3], rec("wm", 1, same, RUN_FINISHED, "r", payload={"durationMs": "x"})]
    (fallback,) = build_history(bogus).items
    assert fallback.duration_ms == 0.0  # no usable measurement: the timestamps
