"""The WM API end to end: restarts between runs, nested project and workspace scopes.

A workspace of two projects whose actions use a handler module in the project itself
(``handlers.py``, on the runner's path) next to the corral-python preset.
"""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest
from corral.errors import RunCancelledError
from corral.reports import ProjectReport, WorkspaceReport
from corral.supervisor import RunnerState
from corral.workspace import RunProgress, WorkspaceManager
from corral_protocol import ErrorCode
from corral_protocol.messages import PartialResult
from workspaces import make_handler_workspace, with_wm

HANDLERS = textwrap.dedent(
    """
    from corral_runner import ActionContext


    async def hello(ctx: ActionContext) -> dict:
        return {"hello": ctx.project.name, "depth": ctx.depth}


    async def in_project(ctx: ActionContext) -> dict:
        result = await ctx.run_in_project("hello")
        return {"inner": result.result, "runId": result.run_id}


    async def in_workspace(ctx: ActionContext) -> dict:
        result = await ctx.run_in_workspace("hello")
        return {"projects": sorted(p.result["hello"] for p in result.projects)}


    async def slow(ctx: ActionContext) -> dict:
        import asyncio

        for step in range(300):
            ctx.progress(f"step {step}", percentage=step // 3)
            ctx.partial({"step": step})
            await asyncio.sleep(0.1)
        return {"done": True}


    async def picky(ctx: ActionContext) -> dict:
        if ctx.project.name == "beta":
            raise ValueError("beta is not allowed")
        return {"ok": ctx.project.name}


    async def broken_shape(ctx: ActionContext) -> dict:
        return {"diagnostics": [{"file": "a.py", "message": "no range"}], "summary": {}}


    async def forever(ctx: ActionContext) -> dict:
        result = await ctx.run_in_project("forever")  # raises at the deepest level
        if result.status != "ok":
            error = result.handlers[0].error
            raise RuntimeError(f"depth {ctx.depth}: {error.type}: {error.message}")
        return {}
    """
)

PROJECT = textwrap.dedent(
    """
    [envs.dev_no_runtime]
    dependencies = []

    [[actions.hello.handlers]]
    name = "hello"
    source = "handlers:hello"

    [[actions.in-project.handlers]]
    name = "in-project"
    source = "handlers:in_project"

    [[actions.in-workspace.handlers]]
    name = "in-workspace"
    source = "handlers:in_workspace"

    [[actions.forever.handlers]]
    name = "forever"
    source = "handlers:forever"

    [[actions.picky.handlers]]
    name = "picky"
    source = "handlers:picky"

    [[actions.slow.handlers]]
    name = "slow"
    source = "handlers:slow"

    [[actions.broken-shape.handlers]]
    name = "broken-shape"
    source = "handlers:broken_shape"
    """
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scopes")
    return make_handler_workspace(root, ("alpha", "beta"), PROJECT, HANDLERS)


def test_a_runner_killed_between_two_runs_is_restarted_for_the_next(workspace: Path) -> None:
    async def body(wm: WorkspaceManager) -> None:
        alpha = workspace / "alpha"
        first = await wm.run("hello", project=alpha)
        assert isinstance(first, ProjectReport)
        assert first.result == {"hello": "alpha", "depth": 0}
        runner = wm.runner(alpha, "dev_no_runtime")
        pid = runner.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        while runner.state is RunnerState.RUNNING:
            await runner.wait_for_change()
        second = await wm.run("hello", project=alpha)
        assert isinstance(second, ProjectReport)
        assert second.status == "ok"
        assert runner.status().pid != pid
        assert runner.restarts == 1

    with_wm(workspace, body)


def test_nested_project_and_workspace_scopes(workspace: Path) -> None:
    async def body(wm: WorkspaceManager) -> None:
        alpha = workspace / "alpha"
        nested = await wm.run("in-project", project=alpha)
        assert isinstance(nested, ProjectReport)
        assert nested.status == "ok", nested.handlers
        assert nested.result["inner"] == {"hello": "alpha", "depth": 1}
        fanned = await wm.run("in-workspace", project=alpha)
        assert isinstance(fanned, ProjectReport)
        assert fanned.result == {"projects": ["alpha", "beta"]}
        everywhere = await wm.run("hello")
        assert isinstance(everywhere, WorkspaceReport)
        assert [o.status for o in everywhere.projects] == ["ok", "ok"]

    with_wm(workspace, body)


def test_a_failing_handler_fails_only_its_project_at_workspace_scope(workspace: Path) -> None:
    async def body(wm: WorkspaceManager) -> None:
        result = await wm.run("picky")
        assert isinstance(result, WorkspaceReport)
        alpha, beta = result.projects
        assert (alpha.status, alpha.result) == ("ok", {"ok": "alpha"})
        assert beta.status == "failed"
        assert beta.error is not None
        assert beta.error.code == ErrorCode.HANDLER_FAILED
        (handler,) = beta.handlers
        assert handler.name == "picky"
        assert handler.status == "failed"
        assert handler.duration_ms >= 0
        assert handler.error is not None
        assert handler.error.type == "ValueError"
        assert handler.error.message == "beta is not allowed"
        assert "raise ValueError" in (handler.error.traceback or "")

    with_wm(workspace, body)


def test_a_result_that_breaks_the_standard_shape_fails_its_handler(workspace: Path) -> None:
    """SPEC.md §13: a result claiming the ToolResult shape is checked by the WM; a broken
    one fails the handler with InvalidResult naming the path at fault."""

    async def body(wm: WorkspaceManager) -> None:
        result = await wm.run("broken-shape", project=workspace / "alpha")
        assert isinstance(result, ProjectReport)
        assert result.status == "failed"
        (outcome,) = result.handlers
        assert outcome.status == "failed"
        assert outcome.error is not None
        assert outcome.error.type == "InvalidResult"
        assert "missing required field `range`" in outcome.error.message
        assert "$.diagnostics[0]" in outcome.error.message

    with_wm(workspace, body)


def test_unbounded_recursion_stops_at_the_depth_limit(workspace: Path) -> None:
    async def body(wm: WorkspaceManager) -> None:
        result = await wm.run("forever", project=workspace / "alpha")
        assert isinstance(result, ProjectReport)
        assert result.status == "failed"
        (outcome,) = result.handlers
        assert outcome.error is not None
        # The handler at depth 8 asked for depth 9: -32012, raised to it as
        # DepthLimitExceeded; every outer level failed in turn. No deadlock, no runaway.
        message = outcome.error.message
        assert message.startswith("depth 0: RuntimeError: depth 1:")
        assert message.endswith("depth 7: DepthLimitExceeded: run depth 9 exceeds the limit 8")

    with_wm(workspace, body)


def test_progress_is_published_and_a_run_can_be_cancelled(workspace: Path) -> None:
    async def body(wm: WorkspaceManager) -> None:
        alpha = workspace / "alpha"
        seen: list[RunProgress] = []
        partial_seen = asyncio.Event()

        async def watch() -> None:
            async for update in wm.progress():
                seen.append(update)
                if isinstance(update.value, PartialResult):
                    partial_seen.set()

        watcher = asyncio.create_task(watch())
        run = asyncio.create_task(wm.run("slow", project=alpha, run_id="run-to-cancel"))
        async with asyncio.timeout(30):
            await partial_seen.wait()
        kinds = {type(u.value).__name__ for u in seen}
        assert {"WorkDoneBegin", "WorkDoneReport", "PartialResult"} <= kinds
        assert {u.parent_run_id for u in seen} == {"run-to-cancel"}
        assert {(u.project, u.env) for u in seen} == {(alpha, "dev_no_runtime")}
        assert wm.cancel("run-to-cancel")
        started = time.perf_counter()
        with pytest.raises(RunCancelledError) as info:
            await run
        assert info.value.run_id == "run-to-cancel"
        assert time.perf_counter() - started < 3
        assert not wm.cancel("run-to-cancel")
        watcher.cancel()
        again = await wm.run("hello", project=alpha)  # the runner kept serving
        assert isinstance(again, ProjectReport)
        assert again.status == "ok"

    with_wm(workspace, body)


def test_a_ready_env_status_is_shared_for_a_moment_and_forgotten_by_prepare(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command checks its envs and then starts their runners: the second check reuses
    the first's ``ready`` (READY_TTL); a non-ready answer is never reused, and preparing
    envs forgets every answer."""
    from corral import envservice as module  # noqa: PLC0415
    from corral.envs.paths import stamp_path  # noqa: PLC0415

    async def body(wm: WorkspaceManager) -> None:
        request = next(r for r in wm.env_requests() if r.name == "dev_no_runtime")
        stamp = stamp_path(request.project, request.name)
        first = wm.env_status(request)
        assert first.state == "ready"
        stamp.unlink()
        assert wm.env_status(request) is first  # shared
        monkeypatch.setattr(module, "READY_TTL", 0.0)
        assert wm.env_status(request).state == "stale"  # past the moment: looked at again
        monkeypatch.undo()
        assert wm.env_status(request).state == "stale"  # not ready: never shared
        results = await wm.prepare_envs([request.project], [request.name])
        assert [r.status for r in results] != ["failed"]
        assert wm.env_status(request).state == "ready"
        stamp.unlink()
        assert wm.env_status(request).state == "ready"  # shared again (the new answer)
        await wm.prepare_envs([request.project], [request.name])  # forgets it
        stamp.unlink()
        assert wm.env_status(request).state == "stale"
        await wm.prepare_envs([request.project], [request.name])  # leave it prepared

    with_wm(workspace, body, wal=False)
