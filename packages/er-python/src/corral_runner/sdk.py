"""The handler SDK: what an action handler receives and may call.

A handler is a sync or async callable taking one :class:`ActionContext`::

    async def lint(ctx: ActionContext[LintParams]) -> LintResult:
        ctx.progress("checking", percentage=10)
        ...

Annotating the parameter as ``ActionContext[SomeStruct]`` makes the runner convert the run's
params into ``SomeStruct`` (with msgspec) before the call; a bare ``ActionContext`` passes the
params as plain JSON data. A handler returns any msgspec-encodable value (a Struct, dicts,
lists, ...). Async handlers run as tasks on the runner's event loop; sync handlers run in
worker threads, so neither blocks ``$/ping`` or ``$/cancelRequest``.

Cancellation: an async handler is interrupted with :class:`asyncio.CancelledError`. A sync
handler cannot be interrupted; it should poll :attr:`ActionContext.cancelled` (or call
:meth:`ActionContext.check_cancelled`) in long loops. Either way the request is answered
-32800 at once and a result returned later is discarded.

Unsaved documents (SPEC.md §13.8): a lint/format-family handler may be given
``documents``, an editor's unsaved buffers, to act on *instead of* the files on disk. Put
``documents: list[Document] | None = None`` in the params Struct, feed each
:attr:`Document.text` to the tool (e.g. ``--stdin-filename PATH -``), never write and never
declare inputs for such a run, and return what would be written as ``edits``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from corral_protocol.messages import HandlerInputs

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from corral_protocol.messages import ProjectRunResult, RunResult, WorkspaceRunResult

    from .executor import RunScope
    from .processes import ProcessResult

__all__ = ["ActionContext", "Document", "Handler", "HandlerCancelledError"]

P = TypeVar("P")
T = TypeVar("T")

Handler = Callable[["ActionContext[Any]"], Any]
"""A handler: ``def handler(ctx) -> result`` or ``async def handler(ctx) -> result``."""


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the standard ``documents`` param (SPEC.md §13.8): the current text of
    a file, which may differ from (or not exist) on disk."""

    path: str
    """The file, absolute or relative to the project (use :meth:`resolve`)."""
    text: str
    """The full text to act on instead of the file's contents."""
    version: int | None = None
    """The editor's version of the text (front ends use it; handlers ignore it)."""

    def resolve(self, project: Path) -> Path:
        """The document's absolute path (relative paths are relative to ``project``)."""
        return (project / self.path).absolute()


class HandlerCancelledError(Exception):
    """Raised by :meth:`ActionContext.check_cancelled` once the run was cancelled."""


class ActionContext(Generic[P]):
    """Everything one handler invocation knows and may do.

    Attributes are read-only by convention. Methods marked *thread-safe* may be called from
    a sync handler's worker thread as well as from the event loop.
    """

    __slots__ = (
        "_scope",
        "config",
        "declared_inputs",
        "handler",
        "logger",
        "params",
        "previous_result",
        "state",
    )

    def __init__(
        self,
        scope: RunScope,
        *,
        handler: str,
        params: P,
        config: dict[str, Any],
        previous_result: Any,
        logger: logging.Logger,
        state: dict[str, Any] | None = None,
    ) -> None:
        self._scope = scope
        self.handler = handler
        """This handler's name in the action configuration."""
        self.params = params
        """The run's params, converted to the annotated type if there is one."""
        self.config = config
        """This handler's ``config`` table from the action configuration."""
        self.previous_result = previous_result
        """Sequential actions: the previous handler's result (``None`` for the first)."""
        self.logger = logger
        """A logger whose records are forwarded to the WM as ``runner/log``."""
        self.declared_inputs: HandlerInputs | None = None
        """What this invocation's result depends on, once :meth:`declare_inputs` was
        called (sent with an ``ok`` outcome, SPEC.md §9.4.1)."""
        self.state: dict[str, Any] = {} if state is None else state
        """A dict this handler keeps across runs for the runner's lifetime: the place for
        caches (why runners live long: docs/architecture.md#runner-per-env). It is
        shared by concurrent runs of the handler (sync handlers: guard it with a
        lock) and starts empty again after every ``runner/configure``, so a changed
        handler config never sees stale state."""

    # --- where and what -----------------------------------------------------------------

    @property
    def action(self) -> str:
        """The action being run."""
        return self._scope.action

    @property
    def project(self) -> Path:
        """The project directory this runner serves."""
        return self._scope.executor.project

    @property
    def env(self) -> str:
        """The execution environment this runner serves."""
        return self._scope.executor.env

    @property
    def run_id(self) -> str:
        """This run's id (a nested run has its own)."""
        return self._scope.run_id

    @property
    def parent_run_id(self) -> str | None:
        """The id of the run that started this one, if any."""
        return self._scope.parent_run_id

    @property
    def depth(self) -> int:
        """Nesting depth: 0 for a run the WM started directly."""
        return self._scope.depth

    # --- cancellation ---------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled (thread-safe)."""
        return self._scope.cancelled

    def check_cancelled(self) -> None:
        """Raise :class:`HandlerCancelledError` if the run was cancelled (thread-safe)."""
        if self._scope.cancelled:
            raise HandlerCancelledError(f"run {self.run_id} was cancelled")

    # --- reporting ------------------------------------------------------------------------

    def begin_progress(
        self,
        title: str,
        message: str | None = None,
        *,
        percentage: int | None = None,
        cancellable: bool | None = None,
    ) -> None:
        """Start work-done progress with a title (thread-safe).

        Without a ``workDoneToken`` every progress call is a no-op. A run forwards one
        ``begin`` in all; a later one (e.g. from a concurrent handler) becomes a report.
        """
        self._scope.report_begin(title, message, percentage, cancellable)

    def progress(self, message: str | None = None, *, percentage: int | None = None) -> None:
        """Report work-done progress (thread-safe); if no ``begin_progress`` came first, the
        run begins it, titled with the action."""
        self._scope.report_progress(message, percentage)

    def end_progress(self, message: str | None = None) -> None:
        """Set the final progress message (thread-safe); the ``end`` itself is sent by the
        runner just before the run's reply."""
        self._scope.report_end(message)

    def partial(self, data: Any) -> None:
        """Stream a partial result (thread-safe); ignored without a ``partialResultToken``.

        Partial results reach the WM in call order and always before the run's reply.
        """
        self._scope.send_partial(self.handler, data)

    def declare_inputs(
        self,
        *,
        tree: bool = False,
        skip: Sequence[str] = (),
        ancestors: Sequence[str] = (),
        files: Sequence[Path | str] = (),
        key: str = "",
    ) -> None:
        """Declare what this run's result depends on (SPEC.md §9.4.1): the project's tree
        (``tree``, minus directory names in ``skip``), file names looked for above the
        project (``ancestors``), more ``files``, and anything else as ``key``. While none of
        it changes, the WM may answer the same request from its result cache without asking
        this runner. Declare only what the result really depends on *all* of; a later call
        replaces an earlier one."""
        self.declared_inputs = HandlerInputs(
            tree=tree,
            skip=list(skip),
            ancestors=list(ancestors),
            files=[str(f) for f in files],
            key=key,
        )

    # --- nested runs ------------------------------------------------------------------------

    async def run_local(self, action: str, params: Any = None) -> RunResult:
        """Run another action of this runner (never crosses the wire), one level deeper.

        Raises :class:`~corral_runner.errors.ActionNotFound` or
        :class:`~corral_runner.errors.DepthLimitExceeded`; failures of the nested run's
        handlers are in the returned result, not raised.
        """
        return await self._scope.run_local(action, {} if params is None else params)

    async def run_in_project(
        self, action: str, params: Any = None, *, project: Path | str | None = None
    ) -> ProjectRunResult:
        """Ask the WM to run ``action`` across a project's envs (default: this project).

        An error reply raises a :class:`~corral_runner.errors.NestedRunError` subclass named
        after the error code (e.g. ``DepthLimitExceeded``).
        """
        if project is not None:  # the protocol carries absolute paths only
            project = (self.project / project).resolve()
        return await self._scope.run_in_project(
            action, {} if params is None else params, None if project is None else str(project)
        )

    async def run_in_workspace(
        self, action: str, params: Any = None, *, projects: list[str] | None = None
    ) -> WorkspaceRunResult:
        """Ask the WM to run ``action`` across projects (``None``: all of the workspace)."""
        return await self._scope.run_in_workspace(
            action, {} if params is None else params, projects
        )

    # --- child processes ------------------------------------------------------------------

    async def run_process(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ProcessResult:
        """Run ``argv`` (no shell; default working directory: the project) to completion,
        capturing its stdout and stderr; ``stdin``: bytes to feed it.

        The process and everything it starts end with this run when the run is cancelled
        (even if this handler is a sync one waiting in :meth:`wait`), and with the runner:
        see :mod:`corral_runner.processes`. Any exit status is returned, not raised;
        ``OSError`` when ``argv[0]`` cannot be started.
        """
        from .processes import run_process  # noqa: PLC0415  (keeps the SDK import lean)

        return await run_process(
            argv,
            cwd=self.project if cwd is None else cwd,
            stdin=stdin,
            env=env,
            groups=self._scope.executor.processes,
            run_id=self._scope.run_id,
        )

    def wait(self, awaitable: Awaitable[T]) -> T:
        """From a sync handler's thread: run ``awaitable`` on the event loop and wait for it.

        For example ``ctx.wait(ctx.run_local("format"))``. Must not be called on the loop.
        """
        import asyncio  # noqa: PLC0415  (keeps `import corral_runner` free of asyncio)

        loop = self._scope.executor.loop
        if threading.get_ident() == self._scope.executor.loop_thread:
            raise RuntimeError("ActionContext.wait() blocks: call it from sync handlers only")

        async def _call() -> T:
            return await awaitable

        coro: Coroutine[Any, Any, T] = _call()
        return asyncio.run_coroutine_threadsafe(coro, loop).result()
