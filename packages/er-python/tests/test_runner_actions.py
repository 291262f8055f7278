"""Handlers in a real runner: loading, running, cancelling, output, nesting, hot reload."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corral_protocol import ErrorCode, RpcError
from corral_protocol.messages import (
    PartialResult,
    ProjectRunParams,
    ProjectRunResult,
    RunResult,
    WorkDoneBegin,
    WorkDoneEnd,
)
from corral_wal import HANDLER_STARTED
from runner_harness import RunnerProcess, run, running, wait_until


def late_replies(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Replies the test's WM connection dropped because it no longer awaited them."""
    return [
        r.getMessage().split("unknown id ")[1]
        for r in caplog.records
        if "response to unknown id" in r.getMessage()
    ]


def test_configure_reports_each_load_error_and_never_crashes(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            result = await runner.configure(
                {
                    "a": [
                        ("ok", "sample_handlers:greet"),
                        ("missing-module", "no_such_module:x"),
                        ("missing-attr", "sample_handlers:nope"),
                        ("not-callable", "sample_handlers:NOT_CALLABLE"),
                        ("import-fails", "broken_import:x"),
                        ("bad-source", "just-a-name"),
                        ("no-entry-point", "entrypoint:nothing-here"),
                    ]
                }
            )
            by_name = {h.name: h for h in result.handlers}
            assert by_name["ok"].status == "loaded"
            assert by_name["ok"].error is None
            expected = {
                "missing-module": ("ModuleNotFoundError", "no_such_module"),
                "missing-attr": ("HandlerLoadError", "no attribute 'nope'"),
                "not-callable": ("HandlerLoadError", "not a callable"),
                "import-fails": ("RuntimeError", "import-time failure"),
                "bad-source": ("UnsupportedSource", "expected 'package.module:attribute'"),
                "no-entry-point": ("HandlerLoadError", "corral.handlers"),
            }
            for name, (kind, text) in expected.items():
                error = by_name[name].error
                assert by_name[name].status == "failed", name
                assert error is not None
                assert error.type == kind, name
                assert text in error.message, name
                assert error.traceback
            assert "broken_import.py" in (by_name["import-fails"].error.traceback or "")
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


def test_fixtures_are_refused_without_conformance_mode(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, conformance=False) as runner:
            result = await runner.configure({"echo": [("e", "conformance/echo")]})
            (status,) = result.handlers
            assert status.status == "failed"
            assert status.error is not None
            assert '"conformance": true' in status.error.message

    run(scenario())


def test_unknown_action_is_32010(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            with pytest.raises(RpcError) as info:
                await runner.run("lint")
            assert info.value.code == ErrorCode.ACTION_NOT_FOUND
            assert info.value.data == {"action": "lint"}

    run(scenario())


def test_typed_params_and_sequential_handlers_see_the_previous_result(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure(
                {"greet": [("greet", "sample_handlers:greet"), ("shout", "sample_handlers:shout")]}
            )
            result = await runner.run("greet", {"name": "ada", "times": 2})
            assert result.status == "ok"
            assert result.result["text"] == "HELLO ADA HELLO ADA"
            assert result.result["thread"].startswith("corral-handler")  # sync -> worker thread
            assert [h.status for h in result.handlers] == ["ok", "ok"]
            bad = await runner.run("greet", {"name": 5})
            assert bad.status == "failed"
            assert bad.handlers[0].error is not None
            assert bad.handlers[0].error.type == "ValidationError"
            assert bad.handlers[1].status == "skipped"
            assert bad.result is None

    run(scenario())


def test_a_handler_that_raises_makes_a_failed_run_not_an_rpc_error(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"x": [("boom", "sample_handlers:raises")]})
            result = await runner.run("x")
            assert result.status == "failed"
            (outcome,) = result.handlers
            assert outcome.error is not None
            assert (outcome.error.type, outcome.error.message) == ("ValueError", "handler exploded")
            assert "sample_handlers.py" in (outcome.error.traceback or "")

    run(scenario())


def test_concurrent_handlers_are_merged_in_configuration_order(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure(
                {
                    "lint": (
                        "concurrent",
                        [
                            ("a", "sample_handlers:diagnostics_a"),
                            ("b", "sample_handlers:diagnostics_b"),
                        ],
                    ),
                    "mixed": (
                        "concurrent",
                        [
                            ("a", "sample_handlers:diagnostics_a"),
                            ("boom", "sample_handlers:raises"),
                        ],
                    ),
                }
            )
            result = await runner.run("lint")
            assert result.status == "ok"
            assert result.result == {
                "diagnostics": [{"code": "A1"}, {"code": "B1"}, {"code": "B2"}],
                "summary": {"a": 1, "b": 2},
                "tool": "b",
            }
            mixed = await runner.run("mixed")
            assert mixed.status == "failed"
            assert mixed.result["tool"] == "a"
            assert [h.status for h in mixed.handlers] == ["ok", "failed"]

    run(scenario())


def test_ping_is_answered_promptly_while_handlers_are_busy(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, wal_dir=str(project / "wal")) as runner:
            await runner.configure(
                {"busy": [("b", "sample_handlers:busy")], "sleep": [("s", "conformance/sleep")]}
            )
            runs = [runner.start_run("busy", {"seconds": 1.5}) for _ in range(3)]
            runs.append(runner.start_run("sleep", {"seconds": 1.5}))
            for run_id, _ in runs:  # every handler is in its sleep before the pings
                await runner.until_recorded(run_id, HANDLER_STARTED)
            worst = 0.0
            for _ in range(5):
                started = time.perf_counter()
                assert await runner.conn.request("$/ping") == {}
                worst = max(worst, time.perf_counter() - started)
            assert worst < 0.5, f"ping took {worst:.3f}s while handlers were busy"
            results = await asyncio.gather(*(task for _, task in runs))
            assert all(r.status == "ok" for r in results)

    run(scenario())


async def cancel_pending(runner: RunnerProcess, action: str, params: dict[str, Any]) -> float:
    """Start a run, cancel it at the peer with $/cancelRequest once its handler has started;
    return the reply latency."""
    run_id, task = runner.start_run(action, params)
    await runner.until_recorded(run_id, HANDLER_STARTED)
    (request_id,) = runner.conn.protocol.pending_outgoing
    started = time.perf_counter()
    runner.conn.notify("$/cancelRequest", {"id": request_id})
    with pytest.raises(RpcError) as info:
        await task
    assert info.value.code == ErrorCode.REQUEST_CANCELLED
    return time.perf_counter() - started


def test_cancelling_a_running_async_handler_interrupts_it(project: Path) -> None:
    async def scenario() -> None:
        async with running(project, wal_dir=str(project / "wal")) as runner:
            await runner.configure({"sleep": [("s", "conformance/sleep")]})
            assert await cancel_pending(runner, "sleep", {"seconds": 30}) < 1.0
            assert (await runner.run("sleep", {"seconds": 0})).status == "ok"

    run(scenario())


def test_cancelling_a_sync_handler_answers_at_once_and_discards_its_result(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="corral_protocol.connection")

    async def scenario() -> None:
        async with running(project, wal_dir=str(project / "wal")) as runner:
            await runner.configure(
                {"s": [("s", "sample_handlers:sync_sleep")], "b": [("b", "sample_handlers:busy")]}
            )
            # A polling handler sees ctx.cancelled; a blocking one is abandoned: both are
            # answered -32800 at once and their late results never reach the WM.
            assert await cancel_pending(runner, "s", {"seconds": 30}) < 1.0
            assert await cancel_pending(runner, "b", {"seconds": 2}) < 1.0
            await wait_until(  # the abandoned thread really finished, ~2 s later
                lambda: any(log.message == "busy: done" for log in runner.logs), "busy's end"
            )
            assert await runner.conn.request("$/ping") == {}  # anything sent before is in
            assert (await runner.run("s", {"seconds": 0})).result == {"slept": True}

    run(scenario())
    assert late_replies(caplog) == []


def test_cancel_racing_completion_gives_at_most_one_reply(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="corral_protocol.connection")

    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"echo": [("e", "conformance/echo")]})
            outcomes: list[str] = []
            for i in range(30):
                task = asyncio.create_task(runner.run("echo", {"i": i}))
                await asyncio.sleep(0)
                task.cancel()
                try:
                    await task
                    outcomes.append("result")
                except asyncio.CancelledError:
                    outcomes.append("cancelled")
            assert len(outcomes) == 30
            # The replies of the 30 requests precede the answer to one sent after them.
            assert (await runner.run("echo", {"last": 1})).result == {"last": 1}
            assert runner.conn.protocol.pending_outgoing == frozenset()
            dropped = late_replies(caplog)  # replies to requests the WM had stopped awaiting
            assert len(dropped) == len(set(dropped)), "a request was answered twice"
            assert len(dropped) <= outcomes.count("cancelled")

    run(scenario())


def test_hundred_concurrent_runs_are_each_answered_once(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"sleep": [("s", "conformance/sleep")]})
            results = await asyncio.gather(
                *(runner.run("sleep", {"seconds": (i % 5) / 50}) for i in range(100))
            )
            assert [r.result["slept"] for r in results] == [(i % 5) / 50 for i in range(100)]

    run(scenario())


def test_progress_and_partial_results_arrive_in_order_before_the_reply(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure(
                {
                    "partial": [("p", "conformance/partial")],
                    "progress": [("p", "conformance/progress")],
                }
            )
            items = [{"n": i} for i in range(20)]
            result = await runner.run("partial", {"items": items}, partial_result_token="pr")
            assert result.result == {"count": 20}
            partials = [p.value for p in runner.progress if p.token == "pr"]
            assert partials == [PartialResult(handler="p", data=item) for item in items]
            result = await runner.run("progress", {"steps": 4}, work_done_token=7)
            values = [p.value for p in runner.progress if p.token == 7]
            assert values[0] == WorkDoneBegin(
                title="conformance progress", percentage=0, cancellable=True
            )
            reports = values[1:-1]
            assert [v.percentage for v in reports] == [25, 50, 75, 100]  # type: ignore[union-attr]
            assert [v.message for v in reports] == [f"step {i}/4" for i in range(1, 5)]  # type: ignore[union-attr]
            assert values[-1] == WorkDoneEnd()
            count = len(runner.progress)
            assert await runner.conn.request("$/ping") == {}  # anything sent before is in
            assert len(runner.progress) == count  # nothing after the reply

    run(scenario())


def test_prints_of_handlers_and_their_children_become_runner_output(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure(
                {
                    "print": [("p", "conformance/print")],
                    "child": [("c", "sample_handlers:child_process_prints")],
                    "log": [("l", "sample_handlers:logs")],
                    "bytes": [("b", "sample_handlers:prints_bytes")],
                }
            )
            await runner.run("print", {"stdout": "out é\n", "stderr": "err\n"})
            await runner.run("child")
            await runner.run("log", {"what": "this"})
            assert (await runner.run("bytes")).status == "ok"
            expected = {
                "stdout": ["out é\n", "from child\n", "bytes é \ufffd\n"],
                "stderr": ["err\n", "child err\n", "binary err\n"],
            }
            await wait_until(  # output is forwarded by its own pipe readers, maybe later
                lambda: all(
                    text in runner.output_text(stream)
                    for stream, texts in expected.items()
                    for text in texts
                ),
                "every print to be forwarded",
            )
            assert "out é\n" in runner.output_text("stdout")
            assert "from child\n" in runner.output_text("stdout")
            assert "err\n" in runner.output_text("stderr")
            assert "child err\n" in runner.output_text("stderr")
            assert "bytes é \ufffd\n" in runner.output_text("stdout")  # undecodable: replaced
            assert "binary err\n" in runner.output_text("stderr")
            warning = [log for log in runner.logs if log.logger == "corral.handler.log.l"]
            assert warning
            assert warning[0].level == "warning"
            assert warning[0].message.endswith("careful: this")
            assert warning[0].run_id == "run-3"
            assert await runner.conn.request("$/ping") == {}

    run(scenario())


def test_a_fifty_megabyte_print_flood_is_bounded_and_never_corrupts_the_stream(
    project: Path,
) -> None:
    size = 50 * 1024 * 1024

    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"print": [("p", "conformance/print")]})
            result = await runner.run("print", {"bytes": size})
            assert result.result == {"printed": size}
            assert await runner.conn.request("$/ping") == {}
            async with asyncio.timeout(20):
                while True:
                    forwarded = sum(len(o.text) for o in runner.output)
                    dropped = sum(o.dropped or 0 for o in runner.output)
                    if forwarded + dropped >= size:
                        break
                    await asyncio.sleep(0.1)
            assert forwarded + dropped == size
            assert set("".join(o.text for o in runner.output[:5])) == {"x"}

    run(scenario(), timeout=90)


def test_nested_local_run_never_crosses_the_wire(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure(
                {"outer": [("n", "conformance/nested")], "echo": [("e", "conformance/echo")]}
            )
            result = await runner.run("outer", {"action": "echo", "params": {"deep": True}})
            nested = msgspec.convert(result.result["nested"], RunResult)
            assert nested.status == "ok"
            assert nested.result == {"deep": True}
            missing = await runner.run("outer", {"action": "nope"})
            assert missing.status == "failed"
            assert missing.handlers[0].error is not None
            assert missing.handlers[0].error.type == "ActionNotFound"

    run(scenario())


def test_project_run_asks_the_wm_with_depth_plus_one(project: Path) -> None:
    seen: list[ProjectRunParams] = []

    async def answer(params: ProjectRunParams) -> Any:
        seen.append(params)
        return ProjectRunResult(run_id="wm-1", status="ok", result={"from": "wm"}, handlers=[])

    async def scenario() -> None:
        async with running(project) as runner:
            runner.project_run = answer
            await runner.configure({"pr": [("p", "conformance/project-run")]})
            result = await runner.run("pr", {"action": "lint", "params": {"x": 1}})
            assert result.status == "ok"
            assert result.result["project"]["result"] == {"from": "wm"}
            (params,) = seen
            assert (params.action, params.params, params.depth) == ("lint", {"x": 1}, 1)
            assert params.parent_run_id == "run-1"

    run(scenario())


def test_hot_reload_picks_up_changed_handler_code(project: Path) -> None:
    module = project / "reloadable.py"

    async def scenario() -> None:
        async with running(project) as runner:
            module.write_text("def handler(ctx):\n    return 'v1'\n")
            config = {"r": [("r", "reloadable:handler")]}
            await runner.configure(config)
            assert (await runner.run("r")).result == "v1"
            module.write_text("def handler(ctx):\n    return 'version two'\n")
            await runner.configure(config)
            assert (await runner.run("r")).result == "version two"
            module.write_text("def handler(ctx):\n    return (\n")  # a syntax error
            (status,) = (await runner.configure(config)).handlers
            assert status.status == "failed"
            assert status.error is not None
            assert status.error.type == "SyntaxError"
            module.write_text("def handler(ctx):\n    return 'fixed'\n")
            await runner.configure(config)
            assert (await runner.run("r")).result == "fixed"

    run(scenario())


def test_crash_fixture_kills_the_process_with_its_code(project: Path) -> None:
    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"crash": [("c", "conformance/crash")]})
            with pytest.raises(Exception):  # noqa: B017,PT011  (connection closes mid-request)
                await runner.run("crash", {"exitCode": 9})
            assert await runner.wait_exit() == 9

    run(scenario())
