"""Progress events of a real preparation, and the ProgressPrinter's output (snapshots)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable
from pathlib import Path

from corral.cli.progress import ProgressPrinter, summary_line
from corral.envs import EnvPreparer, EnvRequest, PrepareEvent, PrepareResult
from syrupy.assertion import SnapshotAssertion

Prepare = Callable[..., list[PrepareResult]]


def normalise(text: str, *paths: Path) -> str:
    for path in paths:
        text = text.replace(str(path), "<tmp>")
    return re.sub(r"\d+(\.\d+)? s\b", "X s", text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_real_preparation_events_and_plain_output(
    tmp_path: Path,
    ready_env: EnvRequest,
    preparer: EnvPreparer,
    prepare: Prepare,
    snapshot: SnapshotAssertion,
) -> None:
    fresh = EnvRequest(tmp_path / "app", "lint", ("iniconfig",))
    node = EnvRequest(tmp_path / "web", "js", (), runner=("node", "runner.js"))
    for request in (fresh, node):
        request.project.mkdir()
    out = io.StringIO()
    printer = ProgressPrinter(out, False, root=tmp_path)
    events: list[PrepareEvent] = []

    class Both(list[PrepareEvent]):
        def append(self, event: PrepareEvent) -> None:
            events.append(event)
            printer(event)

    results = prepare(preparer, [ready_env, fresh, node], events=Both())
    printer.finish(results, elapsed=2.5)

    by_env: dict[str, list[str]] = {}
    for event in events:
        by_env.setdefault(event.env, []).append(event.phase)
        assert event.elapsed >= 0
    assert by_env == {
        "dev": ["skipped"],
        "lint": ["creating", "installing", "done"],
        "js": ["creating", "installing", "done"],
    }
    finals = [e for e in events if e.phase in ("skipped", "done")]
    assert [e.status for e in finals] == ["unchanged", "created", "created"]
    # The shared env lives outside tmp_path: its label is its absolute project path.
    text = out.getvalue().replace(str(ready_env.project), "<shared>")
    assert "\x1b" not in text
    *env_lines, summary = normalise(text, tmp_path).splitlines()
    # The two created envs finish in either order (jobs=2): compare them sorted.
    assert [*sorted(env_lines), summary] == snapshot


def synthetic(tmp_path: Path) -> tuple[list[PrepareEvent], list[PrepareResult]]:
    ok = EnvRequest(tmp_path / "ws" / "app", "dev", ("six",))
    bad = EnvRequest(tmp_path / "ws" / "lib", "lint", ("corral-no-such-package-xyz",))
    same = EnvRequest(tmp_path / "ws", "tools", ())  # the root project: labelled by its name
    error = (
        f"environment 'lint' of project {bad.project}: installing packages failed "
        "(exit status 1): No solution found when resolving dependencies\n"
        "command: uv pip install -- corral-no-such-package-xyz\n"
        "output (last 40 lines):\n"
        "  error: No solution found when resolving dependencies"
    )
    events = [
        PrepareEvent(same.project, "tools", "skipped", 0.001, "unchanged", "unchanged"),
        PrepareEvent(ok.project, "dev", "creating", 0.0, "creating virtual environment"),
        PrepareEvent(bad.project, "lint", "creating", 0.0, "creating virtual environment"),
        PrepareEvent(ok.project, "dev", "installing", 0.05, "installing 2 requirement(s)"),
        PrepareEvent(bad.project, "lint", "installing", 0.04, "installing 2 requirement(s)"),
        PrepareEvent(
            bad.project,
            "lint",
            "failed",
            0.8,
            "installing packages failed (exit status 1): No solution found",
            "failed",
        ),
        PrepareEvent(ok.project, "dev", "done", 1.25, "created", "created"),
    ]
    results = [
        PrepareResult(same, "unchanged", 0.001),
        PrepareResult(ok, "created", 1.25),
        PrepareResult(bad, "failed", 0.8, error),
    ]
    return events, results


def test_plain_output_with_a_failure(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    events, results = synthetic(tmp_path)
    out = io.StringIO()
    printer = ProgressPrinter(out, False, root=tmp_path / "ws")
    for event in events:
        printer(event)
    printer.finish(results, elapsed=1.3)
    text = out.getvalue()
    assert text.count("\n") == 3 + 5 + 1  # 3 env lines, 1 + 4 error lines, the summary
    assert text.endswith("3 environments: 1 created, 0 updated, 1 unchanged, 1 failed in 1.3 s\n")
    assert normalise(text, tmp_path) == snapshot


def test_tty_output_redraws_live_lines_in_place(
    tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    events, results = synthetic(tmp_path)
    out = io.StringIO()
    clock = FakeClock()
    printer = ProgressPrinter(out, True, root=tmp_path / "ws", color=False, width=60, clock=clock)
    for event in events:
        clock.now += 0.25
        printer(event)
        printer.refresh()
    printer.finish(results, elapsed=1.3)
    text = out.getvalue()
    assert "\x1b[J" in text  # clears the live block before redrawing it
    assert "\x1b[2A\r" in text  # moves up over two live lines
    plain = [re.sub(r"\x1b\[\d*[A-Za-z]|\r", "", line) for line in text.split("\n")]
    live = [line for line in plain if line[:1] in ("|", "/", "-", "\\")]
    assert live
    assert all(len(line) < 60 for line in live)  # truncated to the terminal width
    # The fake clock makes the timers exact: only the temporary path is normalised.
    visible = text.replace(str(tmp_path), "<tmp>").replace("\x1b", "<ESC>").replace("\r", "<CR>")
    assert visible.split("\n") == snapshot


def test_summary_line_grammar(tmp_path: Path) -> None:
    assert summary_line(["updated"], 0.04) == (
        "1 environment: 0 created, 1 updated, 0 unchanged, 0 failed in 0.04 s"
    )
    assert summary_line([], 75.2) == (
        "0 environments: 0 created, 0 updated, 0 unchanged, 0 failed in 75 s"
    )


def test_live_refreshes_timers_on_a_tty_only(tmp_path: Path) -> None:
    event = PrepareEvent(tmp_path / "app", "dev", "installing", 0.0, "installing")

    async def scenario(is_tty: bool) -> str:
        out = io.StringIO()
        printer = ProgressPrinter(out, is_tty, root=tmp_path, color=False, width=80)
        printer(event)
        async with printer.live(interval=0.01):
            await asyncio.sleep(0.1)
        return out.getvalue()

    tty = asyncio.run(scenario(True))
    assert tty.count("app:dev") > 2  # redrawn by the ticker
    assert asyncio.run(scenario(False)) == ""  # plain output prints finished envs only
