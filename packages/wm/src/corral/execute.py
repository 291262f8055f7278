"""Running an action at project and workspace scope, action-agnostic.

See docs/architecture.md#execution-scopes.

* :func:`run_project` runs one action for one project: its segments (:mod:`.plan`) go to
  their runners, sequentially or concurrently, and the outcomes are assembled into one
  ``ProjectRunResult`` (handlers in configuration order). A runner that cannot serve
  (no venv, crashed, died mid-run) fails the handlers of its segment with an ErrorDetail
  whose type names the problem; it never hides the other handlers' results.
* :func:`run_workspace` fans one action out over projects with a concurrency bound, a
  fan-out limit and per-project outcomes: one project's failure never hides another's.
* Depth: a run asked for at depth *d* sends its ``actions/run`` at depth *d*; a scope
  request deeper than ``Limits.max_depth`` is refused before anything runs.

Refusals are domain errors (:mod:`corral.errors`); a project's outcome in a workspace run
carries its error as the JSON-RPC error object of :func:`corral.rpcerrors.error_object`.
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
from corral_protocol.errordata import HandlerFailedData
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
from corral_wal.events import RUN_ACCEPTED, RUN_CANCELLED, RUN_FAILED, RUN_FINISHED
from corral_wal.journal import Journal, run_recorder

from .config import ActionSpec, ProjectConfig
from .errors import CorralError, DepthLimitError, FanOutLimitError, UnknownActionError
from .plan import Segment, plan_action
from .resultcache import CacheKey, ResultCache
from .rpcerrors import error_object
from .runids import new_run_id
from .supervisor import ManagedRunner, RunnerUnavailableError

__all__ = [
    "ExecutionContext",
    "Limits",
    "ProjectSelection",
    "WorkspaceRun",
    "run_project",
    "run_workspace",
    "select_projects",
]


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

    journal: Journal | None
    results: ResultCache

    @property
    def limits(self) -> Limits: ...

    def runner(self, project: Path, env: str) -> ManagedRunner: ...

    def env_stamp(self, project: Path, env: str) -> str | None:
        """A digest of what is installed in ``env`` (None when it is not prepared)."""
        ...

    async def project_config(self, root: Path) -> ProjectConfig: ...

    def project_roots(self) -> Sequence[Path]: ...

    def run_started(self, run_id: str, parent_run_id: str | None) -> None: ...

    def segment_started(self, run_id: str, parent_run_id: str, project: Path, env: str) -> None: ...


def _check_depth(limits: Limits, depth: int) -> None:
    if depth > limits.max_depth:
        raise DepthLimitError(depth, limits.max_depth)


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
    record(RUN_ACCEPTED, {"scope": "action", "source": "wm", "depth": depth})
    started = time.perf_counter()
    key = _cache_key(ctx, project, segment, params)
    if key is not None:
        kept = await asyncio.to_thread(ctx.results.lookup, project.root, key)
        if kept is not None:
            record(
                RUN_FINISHED, {"status": kept.status, "durationMs": _ms(started), "reused": True}
            )
            return kept
    started_ns = time.time_ns()
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
    limit = project.runner.run_timeout
    try:
        async with asyncio.timeout(limit or None):
            result = await runner.request("actions/run", request, RunResult)
    except TimeoutError:  # the request was cancelled ($/cancelRequest to the runner)
        message = (
            f"{segment.runner_action} did not finish within {limit:g} s in {project.root} "
            f"({segment.env} runner): cancelled. Raise [tool.corral.runner] run_timeout "
            "(seconds; 0: no limit) if it needs longer"
        )
        record(RUN_FAILED, {"error": {"type": "RunTimeout", "message": message}})
        return RunResult(
            status="failed", result=None, handlers=_failed_outcomes(segment, "RunTimeout", message)
        )
    except RunnerUnavailableError as exc:
        kind = exc.kind
        record(RUN_FAILED, {"error": {"type": kind, "message": exc.reason}})
        return RunResult(
            status="failed", result=None, handlers=_failed_outcomes(segment, kind, str(exc))
        )
    except RpcError as exc:
        kind = _code_name(exc.code)
        record(RUN_FAILED, {"error": {"type": kind, "message": exc.message, "code": exc.code}})
        return RunResult(
            status="failed", result=None, handlers=_failed_outcomes(segment, kind, exc.message)
        )
    except asyncio.CancelledError:
        record(RUN_CANCELLED, {"durationMs": _ms(started)})
        raise
    result = _checked(segment, result)
    record(RUN_FINISHED, {"status": result.status, "durationMs": _ms(started)})
    if key is not None and result.status == "ok":
        await asyncio.to_thread(ctx.results.store, project.root, key, result, started_ns)
    return result


def _cache_key(
    ctx: ExecutionContext, project: ProjectConfig, segment: Segment, params: Any
) -> CacheKey | None:
    """The result cache's key for this segment, or None when it cannot be cached (cache
    off, buffer contents in the params, env not prepared)."""
    if not ctx.results.enabled or not ctx.results.cacheable(params):
        return None
    env_stamp = ctx.env_stamp(project.root, segment.env)
    if env_stamp is None:
        return None
    return CacheKey(
        project=str(project.root),
        action=segment.runner_action,
        params=params,
        handlers=list(segment.handlers),
        env_stamp=env_stamp,
    )


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
    """Run ``action`` in ``project`` across its environments; raises
    :class:`~corral.errors.UnknownActionError` and :class:`~corral.errors.DepthLimitError`."""
    _check_depth(ctx.limits, depth)
    spec = project.actions.get(action)
    if spec is None:
        raise UnknownActionError(action, project=project.root, known=project.actions)
    run_id = run_id or new_run_id()
    ctx.run_started(run_id, parent_run_id)
    record = run_recorder(
        ctx.journal,
        run_id=run_id,
        parent_run_id=parent_run_id,
        project=str(project.root),
        env=None,
        action=action,
    )
    record(RUN_ACCEPTED, {"scope": "project", "source": source, "depth": depth})
    started = time.perf_counter()
    try:
        result = await _run_segments(ctx, project, spec, params, run_id=run_id, depth=depth)
    except asyncio.CancelledError:
        record(RUN_CANCELLED, {"durationMs": _ms(started)})
        raise
    record(RUN_FINISHED, {"status": result.status, "durationMs": _ms(started)})
    # Declared inputs are for the result cache, not for front ends.
    handlers = [msgspec.structs.replace(h, inputs=msgspec.UNSET) for h in result.handlers]
    return ProjectRunResult(
        run_id=run_id, status=result.status, result=result.result, handlers=handlers
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
    jobs: int | None = None,
) -> WorkspaceRun:
    """Run ``action`` in many projects (default: every project that has it).

    ``params_for`` gives per-project params (e.g. the paths of that project) instead of
    ``params``; ``jobs`` how many projects run at once (default: the limits'). Raises
    :class:`~corral.errors.DepthLimitError` and :class:`~corral.errors.FanOutLimitError`
    before anything runs. With ``projects`` None
    and no project defining the action, nothing runs and the result is ``ok`` with no
    outcomes (SPEC.md §9.13); front ends refuse that case first
    (:meth:`ProjectSelection.require`).
    """
    _check_depth(ctx.limits, depth)
    if projects is None:
        selected = (await select_projects(ctx, action)).selected
    else:
        selected = list(dict.fromkeys(Path(p) for p in projects))
    if len(selected) > ctx.limits.max_fanout:
        raise FanOutLimitError(action, len(selected), ctx.limits.max_fanout)
    run_id = run_id or new_run_id()
    ctx.run_started(run_id, parent_run_id)
    record = run_recorder(
        ctx.journal,
        run_id=run_id,
        parent_run_id=parent_run_id,
        project=None,
        env=None,
        action=action,
    )
    record(RUN_ACCEPTED, {"scope": "workspace", "source": source, "depth": depth})
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(jobs or ctx.limits.jobs)

    async def one(root: Path) -> tuple[ProjectOutcome, ProjectRunResult | None]:
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

    done = await asyncio.gather(*(one(root) for root in selected))
    outcomes = [outcome for outcome, _ in done]
    status: Literal["ok", "failed"] = "ok" if all(o.status == "ok" for o in outcomes) else "failed"
    record(RUN_FINISHED, {"status": status, "durationMs": _ms(started)})
    result = WorkspaceRunResult(run_id=run_id, status=status, projects=outcomes)
    return WorkspaceRun(result=result, runs={o.project: run for o, run in done if run is not None})


@dataclass(frozen=True)
class WorkspaceRun:
    """A workspace run's result, and each project run that ran (by project path) with its
    run id and every handler outcome, which the protocol's result leaves out."""

    result: WorkspaceRunResult
    runs: dict[str, ProjectRunResult]


@dataclass(frozen=True)
class ProjectSelection:
    """The projects a workspace-scope run of an action goes to, and those it skips."""

    selected: list[Path]
    """Projects that define the action, and projects whose configuration is broken (their
    outcome reports the error)."""
    skipped: list[Path]
    """Projects that do not define the action."""
    known: frozenset[str]
    """Every action the loadable candidates define (for "did you mean" hints)."""
    broken: list[Path]
    """The selected projects whose configuration cannot be loaded or resolved."""

    def require(self, action: str) -> ProjectSelection:
        """Self, or :class:`~corral.errors.UnknownActionError` when no loadable project
        defines ``action`` while some loadable project exists (then a front end's request
        for it can only be a mistake; with only broken projects, their errors are the news)."""
        defining = [p for p in self.selected if p not in self.broken]
        if not defining and (self.known or self.skipped or not self.selected):
            raise UnknownActionError(action, project=None, known=self.known)
        return self


async def select_projects(
    ctx: ExecutionContext, action: str, candidates: Sequence[Path] | None = None
) -> ProjectSelection:
    """Which of ``candidates`` (default: every project) run ``action``: those that define
    it and those whose configuration is broken (their error is worth reporting)."""
    selected: list[Path] = []
    skipped: list[Path] = []
    broken: list[Path] = []
    known: set[str] = set()
    roots = ctx.project_roots() if candidates is None else sorted({Path(p) for p in candidates})
    for root in roots:
        try:
            config = await ctx.project_config(root)
        except CorralError:
            selected.append(root)  # reported as an error outcome
            broken.append(root)
            continue
        known.update(config.actions)
        (selected if action in config.actions else skipped).append(root)
    return ProjectSelection(
        selected=selected, skipped=skipped, known=frozenset(known), broken=broken
    )


async def _project_outcome(
    ctx: ExecutionContext,
    root: Path,
    *,
    action: str,
    params: Any,
    parent_run_id: str,
    depth: int,
    source: str,
) -> tuple[ProjectOutcome, ProjectRunResult | None]:
    try:
        config = await ctx.project_config(root)
        result = await run_project(
            ctx, config, action, params, parent_run_id=parent_run_id, depth=depth, source=source
        )
    except CorralError as exc:
        error = error_object(exc)
        return ProjectOutcome(project=str(root), status="error", result=None, error=error), None
    if result.status == "ok":
        outcome = ProjectOutcome(project=str(root), status="ok", result=result.result, error=None)
        return outcome, result
    failed = [h for h in result.handlers if h.status == "failed"]
    error = ErrorObject(
        code=ErrorCode.HANDLER_FAILED,
        message=f"{len(failed)} handler(s) of {action} failed in {root}",
        data=HandlerFailedData(handlers=failed),
    )
    outcome = ProjectOutcome(project=str(root), status="failed", result=result.result, error=error)
    return outcome, result


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).protocol_name
    except ValueError:
        return "RemoteError"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
