"""The runner's own WAL stream: written when the launch record names a walDir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from corral_wal import read_wal, verify_wal
from runner_harness import run, running


def test_runs_and_handlers_are_journaled_with_correlated_ids(project: Path) -> None:
    wal_dir = project / ".corral" / "wal"

    async def scenario() -> None:
        async with running(project, wal_dir=str(wal_dir)) as runner:
            await runner.configure(
                {
                    "outer": [("nest", "conformance/nested")],
                    "echo": [("e", "conformance/echo")],
                    "bad": [("f", "conformance/fail")],
                }
            )
            await runner.run("outer", {"action": "echo"})
            await runner.run("bad")
            await runner.conn.request("shutdown")
            runner.conn.notify("exit")
            assert await runner.wait_exit() == 0

    run(scenario())
    report = verify_wal(wal_dir)
    assert report.ok, report.damage
    scan = read_wal(wal_dir)
    (writer,) = scan.streams
    assert writer.startswith("runner-test-")
    events = [(r.event, r.run_id, r.parent_run_id, r.action) for r in scan.records]
    assert events[0][0] == "wal.opened"
    assert events[-1][0] == "wal.closed"
    body = [e for e in events if not e[0].startswith("wal.")]
    assert body == [
        ("run.accepted", "run-1", None, "outer"),
        ("run.started", "run-1", None, "outer"),
        ("handler.started", "run-1", None, "outer"),
        ("run.accepted", "run-1/1", "run-1", "echo"),
        ("run.started", "run-1/1", "run-1", "echo"),
        ("handler.started", "run-1/1", "run-1", "echo"),
        ("handler.finished", "run-1/1", "run-1", "echo"),
        ("run.finished", "run-1/1", "run-1", "echo"),
        ("handler.finished", "run-1", None, "outer"),
        ("run.finished", "run-1", None, "outer"),
        ("run.accepted", "run-2", None, "bad"),
        ("run.started", "run-2", None, "bad"),
        ("handler.started", "run-2", None, "bad"),
        ("handler.failed", "run-2", None, "bad"),
        ("run.finished", "run-2", None, "bad"),
    ]
    by_event = {r.event: r for r in scan.records if r.run_id == "run-2"}
    assert by_event["handler.failed"].payload["error"]["type"] == "ConformanceFailure"
    assert by_event["run.finished"].payload["status"] == "failed"
    assert by_event["run.accepted"].payload == {"scope": "action", "source": "wm", "depth": 0}
    nested = next(r for r in scan.records if r.run_id == "run-1/1" and r.event == "run.accepted")
    assert nested.payload == {"scope": "local", "source": "local", "depth": 1}
    assert all(r.env == "test" and r.project == str(project) for r in scan.records[1:-1])

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "corral_wal",
            "show",
            "--dir",
            str(wal_dir),
            "--run",
            "run-1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "run-1/1" in shown.stdout
    assert "echo" in shown.stdout


def test_an_unwritable_wal_dir_disables_the_journal_but_not_the_runner(project: Path) -> None:
    blocker = project / "not-a-dir"
    blocker.write_text("a file where the WAL directory should be")

    async def scenario() -> None:
        async with running(project, wal_dir=str(blocker / "wal")) as runner:
            await runner.configure({"echo": [("e", "conformance/echo")]})
            assert (await runner.run("echo", {"x": 1})).result == {"x": 1}

    run(scenario())
