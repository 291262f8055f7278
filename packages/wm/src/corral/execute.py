"""Running an action at project and workspace scope (ADR-0016), action-agnostic.

* :func:`run_project` runs one action for one project: its segments (:mod:`.plan`) go to
  their runners, sequentially or concurrently, and the outcomes are assembled into one
  ``ProjectRunResult`` (handlers in configuration order). A runner that cannot serve
  (no venv, crashed, died mid-run) fails the handlers of its segment with an ErrorDetail
  whose type names the problem; it never hides the other handlers' results.
* :func:`run_workspace` fans one action out over projects with a concurrency bound, a
  fan-out limit and per-project outcomes: one project's failure never hides another's.
* Depth: a run asked for at depth *d* sends its ``actions/run`` at depth *d*; a scope
  request deeper than ``Limits.max_depth`` is refused -32012 before anything runs.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec
from corral_protocol import ErrorCode, RpcError
from corral_protocol.merge import merge_results
from corral_protocol.messages import (
    ErrorDetail,
    ErrorObject,
    HandlerOutcome,
    ProjectOutcome,
    ProjectRunResult,
    RunParams,
    RunResult,
    WorkspaceRunResult,
)
from corral_protocol.results import as_tool_result
from corral_wal.journal import Journal, run_recorder

from .config import ActionSpec, ConfigError, ProjectConfig
from .plan import Segment, plan_action
from .runids import new_run_id
from .supervisor import ManagedRunner, RunnerUnavailableError

__all__ = ["ExecutionContext", "Limits", "run_project", "run_workspace"]


@dataclass(frozen=True)
class Limits:
    """Orchestration safeguards (SPEC.md §10.4)."""

    max_depth: int = 8
    max_fanout: int = 256
    jobs: int = field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)))
    """Projects run at once. Twice the cores: a project's run is mostly a wait on its
    runner's tool process (measured on 2 cores: 2 -> 144 ms, 8 -> 111 ms for 20 projects)."""


class ExecutionContext(Protocol):
    """What execution needs from the Workspace Manager."""

    limits: Limits
    journal: Journal | None

    def runner(self, project: Path, env: str) -> ManagedRunner: ...

    async def project_config(self, root: Path) -> ProjectConfig: ...

    def project_roots(self) -> Sequence[Path]: ...

    def segment_started(self, run_id: str, parent_run_id: str, project: Path, env: str) -> None: ...


def _check_depth(limits: Limits, depth: int) -> None:
    if depth > limits.max_depth:
        raise RpcError(
            ErrorCode.DEPTH_LIMIT_EXCEEDED,
            f"run depth {depth} exceeds the limit {limits.max_depth}",
            {"depth": depth, "limit": limits.max_depth},
        )


def _failed_outcomes(segment: Segment, kind: str, message: str) -> list[HandlerOutcome]:
    error = ErrorDetail(type=kind, message=message, traceback=None)
    return [
        HandlerOutcome(name=h.name, status="failed", duration_ms=0.0, error=error)
        for h in segment.handlers
    ]


def _skipped(segment: Segment) -> list[HandlerOutcome]:
    return [
        HandlerOutcome(name=h.name, status="skipped", duration_ms=0.0, error=None)
        for h in segment.handlers
    ]


async def _run_segment(
    ctx: ExecutionContext,
    project: ProjectConfig,
    segment: Segment,
    params: Any,
    *,
    parent_run_id: str,
    depth: int,
) -> RunResult:
    """One ``actions/run`` on one runner; runner problems become failed outcomes."""
    run_id = new_run_id()
    journal = ctx.journal
    ctx.segment_started(run_id, parent_run_id, project.root, segment.env)
    record = run_recorder(
        journal,
        run_id=run_id,
        parent_run_id=parent_run_id,
        project=str(project.root),
        env=segment.env,
        action=segment.runner_action,
    )
    record("run.accepted", {"scope": "action", "source": "wm", "depth": depth})
    started = time.perf_counter()
    runner = ctx.runner(project.root, segment.env)
    request = RunParams(
        action=segment.runner_action,
        params=params,
        run_id=run_id,
        parent_run_id=parent_run_id,
        depth=depth,
        work_done_token=f"{run_id}:work",
        partial_result_token=f"{run_id}:partial",
    )
    try:
        result = await runner.request("actions/run", request, RunResult)
    except RunnerUnavailableError as exc:
        kind = type(exc).__name__.removesuffix("Error")
        record("run.failed", {"error": {"type": kind, "message": exc.reason}})
        return RunResult(
            status="failed", result=None, handlers=_failed_outcomes(segment, kind, str(exc))
        )
    except RpcError as exc:
        kind = _code_name(exc.code)
        record("run.failed", {"error": {"type": kind, "message": exc.message, "code": exc.code}})
        return RunResult(
            status="failed", result=None, handlers=_failed_outcomes(segment, kind, exc.message)
        )
    except asyncio.CancelledError:
        record("run.cancelled", {"durationMs": _ms(started)})
        raise
    result = _checked(segment, result)
    record("run.finished", {"status": result.status, "durationMs": _ms(started)})
    return result


def _checked(segment: Segment, result: RunResult) -> RunResult:
    """``result``, or a failed one when its result claims the standard shape of SPEC.md §13
    (a ToolResult) and breaks it. The result itself is kept as the runner sent it (members
    the shape does not know included); front ends read it with ``as_tool_result``."""
    if result.status != "ok":
        return result
    try:
        as_tool_result(result.result)
    except msgspec.ValidationError as exc:
        message = (
            f"the result of {segment.runner_action!r} breaks the standard result shape "
            f"(SPEC.md §13): {exc}"
        )
        return RunResult(
            status="failed",
            result=None,
            handlers=_failed_outcomes(segment, "InvalidResult", message),
        )
    return result


async def run_project(
    ctx: ExecutionContext,
    project: ProjectConfig,
    action: str,
    params: Any,
    *,
    parent_run_id: str | None = None,
    depth: int = 0,
    source: str = "wm",
    run_id: str | None = None,
) -> ProjectRunResult:
    """Run ``action`` in ``project`` across its environments; raises RpcError -32010/-32012."""
    _check_depth(ctx.limits, depth)
    spec = project.actions.get(action)
    if spec is None:
        known = ", ".join(sorted(project.actions)) or "none"
        raise RpcError(
            ErrorCode.ACTION_NOT_FOUND,
            f"project {project.root} has no action {action!r} (its actions: {known})",
            {"action": action},
        )
    run_id = run_id or new_run_id()
    record = run_recorder(
        ctx.journal,
        run_id=run_id,
        parent_run_id=parent_run_id,
        project=str(project.root),
        env=None,
        action=action,
    )
    record("run.accepted", {"scope": "project", "source": source, "depth": depth})
    started = time.perf_counter()
    try:
        result = await _run_segments(ctx, project, spec, params, run_id=run_id, depth=depth)
    except asyncio.CancelledError:
        record("run.cancelled", {"durationMs": _ms(started)})
        raise
    record("run.finished", {"status": result.status, "durationMs": _ms(started)})
    return ProjectRunResult(
        run_id=run_id, status=result.status, result=result.result, handlers=result.handlers
    )


async def _run_segments(
    ctx: ExecutionContext,
    project: ProjectConfig,
    spec: ActionSpec,
    params: Any,
    *,
    run_id: str,
    depth: int,
) -> RunResult:
    segments = plan_action(spec)
    if spec.mode == "concurrent":
        results = await asyncio.gather(
            *(
                _run_segment(ctx, project, s, params, parent_run_id=run_id, depth=depth)
                for s in segments
            )
        )
        outcomes = [o for r in results for o in r.handlers]
        ok = [r.result for r in results if r.status == "ok"]
        failed = any(r.status != "ok" for r in results)
        return RunResult(
            status="failed" if failed else "ok", result=merge_results(ok), handlers=outcomes
        )
    outcomes = []
    last: Any = None
    failed = False
    for segment in segments:
        if failed:
            outcomes.extend(_skipped(segment))
            continue
        result = await _run_segment(
            ctx, project, segment, params, parent_run_id=run_id, depth=depth
        )
        outcomes.extend(result.handlers)
        if result.status == "ok":
            last = result.result
        else:
            failed, last = True, None
    return RunResult(status="failed" if failed else "ok", result=last, handlers=outcomes)


async def run_workspace(
    ctx: ExecutionContext,
    action: str,
    params: Any,
    projects: Sequence[Path] | None = None,
    *,
    parent_run_id: str | None = None,
    depth: int = 0,
    source: str = "wm",
    params_for: dict[Path, Any] | None = None,
    run_id: str | None = None,
) -> WorkspaceRunResult:
    """Run ``action`` in many projects (default: every project that has it).

    ``params_for`` gives per-project params (e.g. the paths of that project) instead of
    ``params``. Raises RpcError -32012 (depth) and -32013 (fan-out) before anything runs.
    """
    _check_depth(ctx.limits, depth)
    if projects is None:
        selected = []
        for root in ctx.project_roots():
            try:
                config = await ctx.project_config(root)
            except ConfigError:
                selected.append(root)  # reported as an error outcome below
                continue
            if action in config.actions:
                selected.append(root)
    else:
        selected = sorted({Path(p) for p in projects})
    if len(selected) > ctx.limits.max_fanout:
        raise RpcError(
            ErrorCode.FAN_OUT_LIMIT_EXCEEDED,
            f"{action} would run in {len(selected)} projects; the limit is {ctx.limits.max_fanout}",
            {"count": len(selected), "limit": ctx.limits.max_fanout},
        )
    run_id = run_id or new_run_id()
    record = run_recorder(
        ctx.journal,
        run_id=run_id,
        parent_run_id=parent_run_id,
        project=None,
        env=None,
        action=action,
    )
    record("run.accepted", {"scope": "workspace", "source": source, "depth": depth})
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(ctx.limits.jobs)

    async def one(root: Path) -> ProjectOutcome:
        async with semaphore:
            project_params = params if params_for is None else params_for.get(root, params)
            return await _project_outcome(
                ctx,
                root,
                action=action,
                params=project_params,
                parent_run_id=run_id,
                depth=depth,
                source=source,
            )

    outcomes = list(await asyncio.gather(*(one(root) for root in selected)))
    status: Literal["ok", "failed"] = "ok" if all(o.status == "ok" for o in outcomes) else "failed"
    record("run.finished", {"status": status, "durationMs": _ms(started)})
    return WorkspaceRunResult(run_id=run_id, status=status, projects=outcomes)


async def _project_outcome(
    ctx: ExecutionContext,
    root: Path,
    *,
    action: str,
    params: Any,
    parent_run_id: str,
    depth: int,
    source: str,
) -> ProjectOutcome:
    try:
        config = await ctx.project_config(root)
        result = await run_project(
            ctx, config, action, params, parent_run_id=parent_run_id, depth=depth, source=source
        )
    except ConfigError as exc:
        return _error_outcome(root, ErrorCode.INVALID_PARAMS, str(exc), {"file": str(exc.file)})
    except RpcError as exc:
        return _error_outcome(root, exc.code, exc.message, exc.data)
    except RunnerUnavailableError as exc:
        return _error_outcome(root, ErrorCode.RUNNER_UNAVAILABLE, str(exc), None)
    if result.status == "ok":
        return ProjectOutcome(project=str(root), status="ok", result=result.result, error=None)
    failed = [h for h in result.handlers if h.status == "failed"]
    error = ErrorObject(
        code=ErrorCode.HANDLER_FAILED,
        message=f"{len(failed)} handler(s) of {action} failed in {root}",
        data={"handlers": [_outcome_data(h) for h in failed]},
    )
    return ProjectOutcome(project=str(root), status="failed", result=result.result, error=error)


def _outcome_data(outcome: HandlerOutcome) -> dict[str, Any]:
    """A failed handler as the -32011 error's ``data.handlers`` entry (SPEC.md §6.7)."""
    data: dict[str, Any] = msgspec.to_builtins(outcome)
    return data


def _error_outcome(root: Path, code: int, message: str, data: Any) -> ProjectOutcome:
    try:
        error = (
            ErrorObject(code=code, message=message)
            if data is None
            else ErrorObject(code=code, message=message, data=data)
        )
        return ProjectOutcome(project=str(root), status="error", result=None, error=error)
    except (ValueError, TypeError):  # data not in the documented shape: keep the message
        return ProjectOutcome(
            project=str(root),
            status="error",
            result=None,
            error=ErrorObject(code=code, message=message),
        )


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).protocol_name
    except ValueError:
        return "RemoteError"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
