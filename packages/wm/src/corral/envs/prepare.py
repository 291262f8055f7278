"""Prepare environments in parallel, skipping the unchanged ones; each kind through its backend.

Per environment (:meth:`EnvPreparer.prepare`):

1. **skip** if the cheap status of its backend (:meth:`~corral.envs.backend.EnvBackend.status`)
   is ``ready`` (the stamp digest equals the current inputs'), unless ``recreate``: a few
   ``stat`` calls and small reads, no subprocess;
2. otherwise, within a slot (at most ``jobs`` at once) and holding the env's cross-process
   lock, its backend builds it (:meth:`~corral.envs.backend.EnvBackend.build`: re-check,
   create or update, install, verify, stamp): :mod:`corral.envs.pybackend` for ``python``
   envs (uv), :mod:`corral.envs.nodebackend` for ``node`` envs (npm).

Nothing is written outside ``<project>/.corral/``, the project's lock files and a private
temporary directory.

:meth:`EnvPreparer.lock` resolves lock files without installing anything (``corral lock``).

A failure of one environment (a tool's error, timeout, lock held, unexpected exception)
becomes its :class:`PrepareResult` and never stops the others; only cancellation
propagates (and kills the running tool's process group).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from corral.envs.backend import BuildJob, EnvBackend, PreparePhase, PrepareStatus
from corral.envs.errors import ERROR_TAIL_LINES, EnvPrepareError, what
from corral.envs.lock import LockTimeoutError, env_lock
from corral.envs.locking import LockOutcome
from corral.envs.own import OwnPackages
from corral.envs.paths import envs_root, lock_path
from corral.envs.pylock import pylock_path
from corral.envs.registry import EnvBackends
from corral.envs.request import EnvRequest
from corral.envs.source import source_fingerprint
from corral.envs.status import DEFAULT_CHECK_TIMEOUT, EnvStatus
from corral.envs.uvtool import UvTool
from corral.statedir import ensure_state_dir

__all__ = [
    "DEFAULT_TIMEOUT",
    "EnvPreparer",
    "PrepareEvent",
    "PreparePhase",
    "PrepareResult",
    "PrepareStatus",
    "default_jobs",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
T = TypeVar("T")


@dataclass(frozen=True)
class PrepareEvent:
    """Progress of one environment.

    Phases per environment, in order: ``skipped`` alone (unchanged), or [``creating``]
    [``locking``] ``installing`` then ``done`` or ``failed`` (``failed`` may also come
    earlier). ``elapsed`` is seconds since the environment's work started;
    ``status`` is set on the final event (``skipped``/``done``/``failed``).
    """

    project: Path
    env: str
    phase: PreparePhase
    elapsed: float
    message: str
    status: PrepareStatus | None = None


@dataclass(frozen=True)
class PrepareResult:
    """The outcome for one request. ``error`` (failures only) names the project and env,
    says which step failed, the command, and ends with the last lines of the tool's output.
    ``lock``: the env's lock file when this preparation wrote it (created or updated)."""

    request: EnvRequest
    status: PrepareStatus
    duration: float
    error: str | None = None
    lock: LockOutcome | None = None

    @property
    def project(self) -> Path:
        return self.request.project

    @property
    def env(self) -> str:
        return self.request.name


def default_jobs() -> int:
    """``min(4, cpu count)``."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class _Run:
    """State of one :meth:`EnvPreparer.prepare` call (bound to its event loop)."""

    recreate: bool
    progress: Callable[[PrepareEvent], None] | None
    slots: asyncio.Semaphore

    def emit(
        self,
        request: EnvRequest,
        phase: PreparePhase,
        start: float,
        message: str,
        status: PrepareStatus | None = None,
    ) -> None:
        if self.progress is None:
            return
        event = PrepareEvent(
            request.project, request.name, phase, time.monotonic() - start, message, status
        )
        try:
            self.progress(event)
        except Exception:  # a broken progress display must not break preparation
            logger.exception("progress callback failed on %r", event)


class EnvPreparer:
    """Prepares environments through their backends. Reusable across calls and event loops.

    - ``own``: Corral's own packages, installed from these files (default
      :meth:`OwnPackages.detect`: the installation the WM runs from);
    - ``jobs``: environments prepared at once (default ``min(4, cpu count)``);
    - ``uv``: a uv binary (default: the one from corral's ``uv`` dependency; never PATH);
    - ``timeout``: deadline in seconds for each tool command (and for waiting on another
      process's lock); past it the command's process group is killed;
    - ``check_timeout``: deadline for starting the env's interpreter to verify it.

    Call :meth:`close` (or use ``with``) to delete what the backends made (the wheels of
    Corral's packages) early.
    """

    def __init__(
        self,
        own: OwnPackages | None = None,
        *,
        jobs: int | None = None,
        uv: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        check_timeout: float = DEFAULT_CHECK_TIMEOUT,
    ) -> None:
        if jobs is not None and jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        if timeout <= 0 or check_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.own = own if own is not None else OwnPackages.detect()
        self.jobs = jobs if jobs is not None else default_jobs()
        self.uv = UvTool.bundled() if uv is None else UvTool.at(uv)
        self.timeout = timeout
        self.check_timeout = check_timeout
        self.backends = EnvBackends(self.own, self.uv, timeout=timeout, check_timeout=check_timeout)

    def backend(self, request: EnvRequest) -> EnvBackend:
        """The backend of ``request``'s kind."""
        return self.backends.of(request)

    # -- status ----------------------------------------------------------------------

    def status(self, request: EnvRequest) -> EnvStatus:
        """The cheap status of ``request`` as this preparer sees it (its packages and uv)."""
        return self.backend(request).status(request, source_fingerprint)

    def statuses(self, requests: Sequence[EnvRequest]) -> list[EnvStatus]:
        """:meth:`status` of many requests."""
        return [self.status(request) for request in requests]

    async def check(self, request: EnvRequest) -> EnvStatus:
        """The deeper check (the backend starts the env's tool) with this preparer's tools."""
        return await self.backend(request).check(request)

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Delete what the backends made so far (made again when needed)."""
        self.backends.close()

    def __enter__(self) -> EnvPreparer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- prepare ---------------------------------------------------------------------

    async def prepare(
        self,
        requests: Sequence[EnvRequest],
        *,
        recreate: bool = False,
        progress: Callable[[PrepareEvent], None] | None = None,
    ) -> list[PrepareResult]:
        """Prepare every request (in parallel, at most ``jobs`` building at once).

        Returns one result per request, in order. Duplicate requests (equal up to the
        order of dependencies) are prepared once; two *different* requests for the same
        (project, name) raise ``ValueError`` before anything is touched. ``recreate``
        rebuilds every env from scratch. ``progress`` receives :class:`PrepareEvent` on the
        event loop's thread; an exception it raises is logged and ignored.
        """
        run = _Run(recreate=recreate, progress=progress, slots=asyncio.Semaphore(self.jobs))
        return await self._each(requests, lambda request: self._prepare_one(run, request))

    async def lock(
        self, requests: Sequence[EnvRequest], *, upgrade: bool = False
    ) -> list[LockOutcome]:
        """Resolve the lock file of every locked request (nothing is installed).

        A fresh lock is left alone unless ``upgrade``, which resolves every lock afresh
        (newest versions the requirements allow) instead of keeping its pins. One outcome
        per request, in order; requests that are not locked (or have nothing to lock) are
        ``unchanged``. Duplicates and conflicts as in :meth:`prepare`.
        """
        slots = asyncio.Semaphore(self.jobs)
        return await self._each(requests, lambda request: self._lock_one(slots, request, upgrade))

    async def _each(
        self,
        requests: Sequence[EnvRequest],
        work: Callable[[EnvRequest], Coroutine[Any, Any, T]],
    ) -> list[T]:
        """``work`` on each distinct request concurrently; results in request order."""
        unique: dict[tuple[Path, str], EnvRequest] = {}
        for request in requests:
            key = (request.project, request.name)
            known = unique.setdefault(key, request)
            if _definition(known) != _definition(request):
                raise ValueError(
                    f"conflicting definitions of {what(request)}: {known!r} and {request!r}"
                )
        async with asyncio.TaskGroup() as group:
            tasks: dict[tuple[Path, str], asyncio.Task[T]] = {
                key: group.create_task(work(request)) for key, request in unique.items()
            }
        return [tasks[(r.project, r.name)].result() for r in requests]

    async def _prepare_one(self, run: _Run, request: EnvRequest) -> PrepareResult:
        start = time.monotonic()
        try:
            backend = self.backend(request)
            ready = not run.recreate and self.status(request).state == "ready"
        except EnvPrepareError as exc:  # the backend's tools are missing
            run.emit(request, "failed", start, _headline(request, str(exc)), "failed")
            return PrepareResult(request, "failed", time.monotonic() - start, str(exc))
        if ready:
            run.emit(request, "skipped", start, "unchanged", "unchanged")
            return PrepareResult(request, "unchanged", time.monotonic() - start)
        async with run.slots:
            start = time.monotonic()

            def emit(phase: PreparePhase, message: str) -> None:
                run.emit(request, phase, start, message)

            job = BuildJob(recreate=run.recreate, emit=emit)
            try:
                built = await self._holding(request, lambda: backend.build(request, job))
            except EnvPrepareError as exc:
                error = str(exc)
            except OSError as exc:  # the file system refused (permissions, a file in the way)
                where = f" {exc.filename}" if exc.filename else ""
                error = f"{what(request)}: cannot write{where}: {exc.strerror or exc}"
            except Exception as exc:  # one env's failure never stops the others
                error = _internal_error(request, exc)
            else:
                if built.status == "unchanged":  # another process just did it
                    run.emit(request, "skipped", start, "unchanged", "unchanged")
                else:
                    run.emit(request, "done", start, built.status, built.status)
                return PrepareResult(
                    request, built.status, time.monotonic() - start, lock=built.lock
                )
            run.emit(request, "failed", start, _headline(request, error), "failed")
            return PrepareResult(request, "failed", time.monotonic() - start, error)

    async def _lock_one(
        self, slots: asyncio.Semaphore, request: EnvRequest, upgrade: bool
    ) -> LockOutcome:
        async with slots:
            try:
                backend = self.backend(request)
                return await self._holding(request, lambda: backend.lock(request, upgrade=upgrade))
            except EnvPrepareError as exc:
                error = str(exc)
            except Exception as exc:  # one env's failure never stops the others
                error = _internal_error(request, exc)
            return LockOutcome(request, pylock_path(request), "failed", error=error)

    async def _holding(self, request: EnvRequest, work: Callable[[], Awaitable[T]]) -> T:
        """``work()`` while holding the env's cross-process lock (``.corral/`` made first)."""
        if not request.project.is_dir():
            raise EnvPrepareError(
                f"{what(request)}: the project directory {request.project} does not exist"
            )
        ensure_state_dir(request.project)  # .corral/ first, with its VCS and tool markers
        envs_root(request.project).mkdir(parents=True, exist_ok=True)
        try:
            async with env_lock(lock_path(request.project, request.name), timeout=self.timeout):
                return await work()
        except LockTimeoutError as exc:
            raise EnvPrepareError(
                f"{what(request)}: another process kept preparing it for more than "
                f"{self.timeout:g} s ({exc})"
            ) from exc


def _headline(request: EnvRequest, error: str) -> str:
    return error.splitlines()[0].removeprefix(f"{what(request)}: ")


def _internal_error(request: EnvRequest, exc: Exception) -> str:
    return f"{what(request)}: internal error: {type(exc).__name__}: {exc}\n" + "".join(
        traceback.format_exception(exc)[-ERROR_TAIL_LINES:]
    )


def _definition(request: EnvRequest) -> tuple[object, ...]:
    """What makes two requests for one (project, name) the same environment."""
    return (
        request.kind,
        frozenset(request.dependencies),
        request.python,
        request.runner,
        request.install_project,
        request.locked,
    )
