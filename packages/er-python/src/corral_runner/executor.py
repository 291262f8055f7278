"""Running actions inside this runner (the local scope of docs/architecture.md#execution-scopes).

:class:`Executor` runs ``actions/run`` requests and local nested runs; :class:`RunScope` is one
run's state (ids, depth, tokens, cancellation) shared by its handlers' contexts.

Rules (SPEC.md §8):

* sequential: handlers run in configuration order, each seeing the previous result; the
  run's result is the last handler's. After a failure the rest are ``skipped`` and the
  result is ``null``.
* concurrent: all handlers run together; the result is :func:`merge_results` of the ok
  ones, in configuration order. Any failure makes the run ``failed``.
* work-done progress (SPEC.md §10.1): handlers report begin/report/end; the run forwards
  exactly one ``begin`` (a ``report`` before any ``begin`` first sends one titled with the
  action), ``report``s, and one ``end`` just before the reply - or nothing if no handler
  reported. Nothing is sent after the reply.
* local nested runs get ids ``<parent runId>/<n>`` and fail deeper than
  :data:`MAX_LOCAL_DEPTH` (``DepthLimitExceeded``).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec
from corral_protocol import ErrorCode, RpcError
from corral_protocol.errordata import ActionNotFoundData, DepthLimitExceededData
from corral_protocol.merge import merge_results
from corral_protocol.messages import (
    ErrorDetail,
    HandlerOutcome,
    PartialResult,
    ProgressParams,
    ProgressToken,
    ProjectRunParams,
    ProjectRunResult,
    RunParams,
    RunResult,
    WorkDoneBegin,
    WorkDoneEnd,
    WorkDoneReport,
    WorkspaceRunParams,
    WorkspaceRunResult,
)
from corral_wal import (
    HANDLER_CANCELLED,
    HANDLER_FAILED,
    HANDLER_FINISHED,
    HANDLER_STARTED,
    RUN_ACCEPTED,
    RUN_CANCELLED,
    RUN_FAILED,
    RUN_FINISHED,
    RUN_STARTED,
)
from corral_wal.journal import RunRecorder, run_recorder
from msgspec import UNSET, UnsetType

from .errors import DepthLimitExceeded, from_rpc_error
from .loader import LoadedAction, LoadedHandler, error_detail
from .processes import ProcessGroups
from .sdk import ActionContext

if TYPE_CHECKING:
    from corral_protocol import Connection
    from corral_wal.journal import Journal

__all__ = [
    "CURRENT_RUN_ID",
    "MAX_LOCAL_DEPTH",
    "OUTER_RUN_ID",
    "Executor",
    "RunScope",
]

T = TypeVar("T")

MAX_SYNC_THREADS: Final = 1024
"""Worker threads for sync handlers (created on demand, reused when idle)."""

MAX_LOCAL_DEPTH: Final = 8
"""Local nested runs deeper than this fail (guards a handler that runs its own action)."""

CURRENT_RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "corral_current_run_id", default=None
)
"""The run a piece of code is working for, nested local runs included (for logs)."""

OUTER_RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "corral_outer_run_id", default=None
)
"""The ``actions/run`` a piece of code ultimately works for (for output, SPEC.md §10.3)."""


class RunScope:
    """One run: its identity, tokens and cancellation, shared by its handlers' contexts."""

    def __init__(
        self,
        executor: Executor,
        *,
        action: str,
        run_id: str,
        parent_run_id: str | None,
        depth: int,
        work_done_token: ProgressToken | None = None,
        partial_result_token: ProgressToken | None = None,
        record: RunRecorder | None = None,
    ) -> None:
        self.executor = executor
        self.record: RunRecorder = record or run_recorder(
            None, run_id=run_id, parent_run_id=parent_run_id, project=None, env=None, action=None
        )
        """Appends this run's WAL records (a no-op without a WAL)."""
        self.action = action
        self.run_id = run_id
        self.parent_run_id = parent_run_id
        self.depth = depth
        self.work_done_token = work_done_token
        self.partial_result_token = partial_result_token
        self.cancelled = False  # a plain flag: reads and writes are atomic under the GIL
        self.finished = False
        self._begun = False
        self._percentage = 0  # the last percentage sent: a later begin never moves it back
        self._end_message: str | UnsetType = UNSET
        self._children = 0

    # Called from handler code, possibly in a worker thread; state changes on the loop.

    def report_begin(
        self, title: str, message: str | None, percentage: int | None, cancellable: bool | None
    ) -> None:
        if self.work_done_token is None:
            return
        value = WorkDoneBegin(
            title=title,
            message=_opt(message),
            percentage=_opt(_clamp(percentage)),
            cancellable=_opt(cancellable),
        )
        self.executor.call_in_loop(self._forward, value)

    def report_progress(self, message: str | None, percentage: int | None) -> None:
        if self.work_done_token is None:
            return
        value = WorkDoneReport(message=_opt(message), percentage=_opt(_clamp(percentage)))
        self.executor.call_in_loop(self._forward, value)

    def report_end(self, message: str | None) -> None:
        if self.work_done_token is None:
            return
        self.executor.call_in_loop(self._remember_end, message)

    def _remember_end(self, message: str | None) -> None:
        self._end_message = _opt(message)

    def _forward(self, value: WorkDoneBegin | WorkDoneReport) -> None:
        """Normalise to one begin, then reports (SPEC.md §10.1)."""
        if self.finished:
            return
        forwarded: WorkDoneBegin | WorkDoneReport = value
        if isinstance(value, WorkDoneBegin):
            if self._begun:
                percentage = value.percentage
                if isinstance(percentage, int) and percentage < self._percentage:
                    percentage = UNSET
                forwarded = WorkDoneReport(message=value.message, percentage=percentage)
        elif not self._begun:
            self._send(WorkDoneBegin(title=self.action))
        self._begun = True
        if isinstance(forwarded.percentage, int):
            self._percentage = forwarded.percentage
        self._send(forwarded)

    def finish(self, *, cancelled: bool = False) -> None:
        """Send the held-back ``end`` (if a ``begin`` went out); nothing is sent after this."""
        if self._begun and not self.finished:
            self._send(WorkDoneEnd(message="cancelled" if cancelled else self._end_message))
        self.finished = True

    def send_partial(self, handler: str, data: Any) -> None:
        if self.partial_result_token is None:
            return
        self.executor.call_in_loop(self._send_partial, handler, data)

    def _send_partial(self, handler: str, data: Any) -> None:
        if self.partial_result_token is not None:
            self._send(PartialResult(handler=handler, data=data), self.partial_result_token)

    def _send(self, value: Any, token: ProgressToken | None = None) -> None:
        """Runs on the loop: the ``finished`` check makes 'nothing after the reply' hold."""
        token = self.work_done_token if token is None else token
        if self.finished or token is None:
            return
        self.executor.notify("$/progress", ProgressParams(token=token, value=value))

    async def run_local(self, action: str, params: Any) -> RunResult:
        depth = self.depth + 1
        if depth > MAX_LOCAL_DEPTH:
            raise DepthLimitExceeded(
                f"local run of {action!r} at depth {depth} exceeds the limit {MAX_LOCAL_DEPTH}",
                ErrorCode.DEPTH_LIMIT_EXCEEDED,
                DepthLimitExceededData(depth=depth, limit=MAX_LOCAL_DEPTH),
            )
        self._children += 1
        try:
            return await self.executor.run_action(
                action,
                params,
                run_id=f"{self.run_id}/{self._children}",
                parent_run_id=self.run_id,
                depth=depth,
            )
        except RpcError as error:
            raise from_rpc_error(error) from None

    async def run_in_project(
        self, action: str, params: Any, project: str | None
    ) -> ProjectRunResult:
        request = ProjectRunParams(
            action=action,
            params=params,
            parent_run_id=self.run_id,
            depth=self.depth + 1,
            project=UNSET if project is None else project,
        )
        try:
            return await self.executor.wm_request("project/runAction", request, ProjectRunResult)
        except RpcError as error:
            raise from_rpc_error(error) from None

    async def run_in_workspace(
        self, action: str, params: Any, projects: list[str] | None
    ) -> WorkspaceRunResult:
        request = WorkspaceRunParams(
            action=action,
            params=params,
            parent_run_id=self.run_id,
            depth=self.depth + 1,
            projects=projects,
        )
        try:
            return await self.executor.wm_request(
                "workspace/runAction", request, WorkspaceRunResult
            )
        except RpcError as error:
            raise from_rpc_error(error) from None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _opt(value: T | None) -> T | UnsetType:
    return UNSET if value is None else value


def _clamp(percentage: int | None) -> int | None:
    return None if percentage is None else max(0, min(100, int(percentage)))


class Executor:
    """Runs configured actions; owns the worker threads of sync handlers."""

    def __init__(
        self,
        *,
        project: Path,
        env: str,
        notify: Callable[[str, Any], None],
        connection: Callable[[], Connection | None],
        journal: Journal | None = None,
    ) -> None:
        self.project = project
        self.project_text = str(project)
        self.env = env
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.actions: dict[str, LoadedAction] = {}
        self._notify = notify
        self._connection = connection
        self.journal = journal
        self.processes = ProcessGroups()
        """Process groups handlers started through ``ActionContext.run_process``."""
        # Idle threads are reused; the high bound only matters when sync handlers block
        # (e.g. waiting on a scope run): new runs must still start (SPEC.md §10.4).
        self._threads = ThreadPoolExecutor(
            max_workers=MAX_SYNC_THREADS, thread_name_prefix="corral-handler"
        )

    def notify(self, method: str, params: Any) -> None:
        """Send a notification to the WM (loop thread only)."""
        self._notify(method, params)

    def call_in_loop(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function(*args)`` on the loop: now if already there, else soon, in order."""
        if threading.get_ident() == self.loop_thread:
            function(*args)
        else:
            self.loop.call_soon_threadsafe(function, *args)

    async def wm_request(self, method: str, params: Any, result_type: type[T]) -> T:
        """Send a runner-to-WM request over the current connection."""
        connection = self._connection()
        if connection is None:
            raise RpcError(ErrorCode.RUNNER_UNAVAILABLE, "no connection to the WM")
        return await connection.request(method, params, result_type=result_type)

    def shutdown(self) -> None:
        """Stop accepting sync work; running threads are abandoned (the process exits)."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def run(self, params: RunParams) -> RunResult:
        """Serve ``actions/run``: unknown action -> -32010; handler failures -> ``failed``."""
        OUTER_RUN_ID.set(params.run_id)  # this request's task has its own context
        return await self.run_action(
            params.action,
            params.params,
            run_id=params.run_id,
            parent_run_id=params.parent_run_id,
            depth=params.depth,
            work_done_token=None if params.work_done_token is UNSET else params.work_done_token,
            partial_result_token=(
                None if params.partial_result_token is UNSET else params.partial_result_token
            ),
        )

    async def run_action(
        self,
        action: str,
        params: Any,
        *,
        run_id: str,
        parent_run_id: str | None,
        depth: int,
        work_done_token: ProgressToken | None = None,
        partial_result_token: ProgressToken | None = None,
    ) -> RunResult:
        """Run one action; raises RpcError -32010 if it is not configured."""
        journal = self.journal
        record = run_recorder(
            journal,
            run_id=run_id,
            parent_run_id=parent_run_id,
            project=self.project_text,
            env=self.env,
            action=action,
        )
        if journal is not None:
            local = parent_run_id is not None and run_id.startswith(f"{parent_run_id}/")
            record(
                RUN_ACCEPTED,
                {
                    "scope": "local" if local else "action",
                    "source": "local" if local else "wm",
                    "depth": depth,
                },
            )
        loaded = self.actions.get(action)
        if loaded is None:
            configured = ", ".join(sorted(self.actions)) or "none"
            message = (
                f"action {action!r} is not configured in this runner (configured: {configured})"
            )
            if journal is not None:
                error = {"type": "ActionNotFound", "message": message, "code": -32010}
                record(RUN_FAILED, {"error": error})
            raise RpcError(ErrorCode.ACTION_NOT_FOUND, message, ActionNotFoundData(action=action))
        scope = RunScope(
            self,
            action=action,
            run_id=run_id,
            parent_run_id=parent_run_id,
            depth=depth,
            work_done_token=work_done_token,
            partial_result_token=partial_result_token,
            record=record,
        )
        token = CURRENT_RUN_ID.set(run_id)
        started = time.perf_counter()
        if journal is not None:
            handlers = [handler.name for handler in loaded.handlers]
            record(RUN_STARTED, {"handlers": handlers})
        try:
            if loaded.mode == "sequential":
                result = await self._sequential(scope, loaded, params)
            else:
                result = await self._concurrent(scope, loaded, params)
        except asyncio.CancelledError:
            scope.cancelled = True
            self.processes.kill_run(run_id)  # abandoned or sync handler code: its tools too
            scope.finish(cancelled=True)
            record(RUN_CANCELLED, {"durationMs": _ms(started)})
            raise
        finally:
            scope.finish()  # no-op if done above; guarantees `end` before any reply
            CURRENT_RUN_ID.reset(token)
        record(RUN_FINISHED, {"status": result.status, "durationMs": _ms(started)})
        return result

    async def _sequential(self, scope: RunScope, action: LoadedAction, params: Any) -> RunResult:
        outcomes: list[HandlerOutcome] = []
        result: Any = None
        failed = False
        for handler in action.handlers:
            if failed:
                outcomes.append(
                    HandlerOutcome(name=handler.name, status="skipped", duration_ms=0.0, error=None)
                )
                continue
            outcome, value = await self._invoke(scope, handler, params, result)
            outcomes.append(outcome)
            if outcome.status == "ok":
                result = value
            else:
                failed = True
                result = None
        return RunResult(status="failed" if failed else "ok", result=result, handlers=outcomes)

    async def _concurrent(self, scope: RunScope, action: LoadedAction, params: Any) -> RunResult:
        pairs = await asyncio.gather(
            *(self._invoke(scope, handler, params, None) for handler in action.handlers)
        )
        outcomes = [outcome for outcome, _ in pairs]
        ok = [value for outcome, value in pairs if outcome.status == "ok"]
        failed = any(outcome.status != "ok" for outcome in outcomes)
        return RunResult(
            status="failed" if failed else "ok", result=merge_results(ok), handlers=outcomes
        )

    async def _invoke(
        self, scope: RunScope, handler: LoadedHandler, params: Any, previous: Any
    ) -> tuple[HandlerOutcome, Any]:
        """Run one handler; its failure becomes a ``failed`` outcome, never an exception."""
        started = time.perf_counter()
        if handler.function is None:  # failed to load: durationMs 0 (SPEC.md §9.4)
            return (
                HandlerOutcome(
                    name=handler.name, status="failed", duration_ms=0.0, error=handler.error
                ),
                None,
            )
        scope.record(HANDLER_STARTED, {"handler": handler.name})
        try:
            typed = (
                params
                if handler.params_type is Any
                else msgspec.convert(params, handler.params_type)
            )
            ctx = ActionContext(
                scope,
                handler=handler.name,
                params=typed,
                config=handler.config,
                previous_result=previous,
                logger=handler.logger,
                state=handler.state,
            )
            if handler.is_async:
                coro: Coroutine[Any, Any, Any] = handler.function(ctx)
                value = await coro
            else:
                context = contextvars.copy_context()
                value = await self.loop.run_in_executor(
                    self._threads, context.run, handler.function, ctx
                )
        except asyncio.CancelledError:
            scope.cancelled = True
            scope.record(HANDLER_CANCELLED, {"handler": handler.name, "durationMs": _ms(started)})
            raise
        except BaseException as exc:  # sys.exit() in a handler fails the handler, not the runner
            detail = error_detail(exc)
            error = {"type": detail.type, "message": detail.message}
            failed = {"handler": handler.name, "error": error, "durationMs": _ms(started)}
            scope.record(HANDLER_FAILED, failed)
            return self._failed(handler, started, detail), None
        duration = (time.perf_counter() - started) * 1000
        scope.record(HANDLER_FINISHED, {"handler": handler.name, "durationMs": duration})
        inputs = msgspec.UNSET if ctx.declared_inputs is None else ctx.declared_inputs
        outcome = HandlerOutcome(
            name=handler.name, status="ok", duration_ms=duration, error=None, inputs=inputs
        )
        return outcome, value

    @staticmethod
    def _failed(
        handler: LoadedHandler, started: float, error: ErrorDetail | None
    ) -> HandlerOutcome:
        return HandlerOutcome(
            name=handler.name,
            status="failed",
            duration_ms=(time.perf_counter() - started) * 1000,
            error=error,
        )
