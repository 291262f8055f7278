"""Create and fill environments with uv, in parallel, skipping the unchanged ones.

Per environment (:meth:`EnvPreparer.prepare`):

1. **skip** if the cheap status is ``ready`` (stamp digest equals the current inputs',
   which include the lock file's digest), unless ``recreate``: a few ``stat`` calls and
   small reads, no subprocess;
2. otherwise, within a slot (at most ``jobs`` at once) and holding the env's cross-process
   lock (then re-checking, in case another process just finished it):
   - delete the stamp;
   - **create** (``uv venv``) when there is no usable venv, ``recreate`` was asked, the
     Python or the stamp schema changed, or the existing interpreter does not start;
     otherwise update in place;
   - a **locked** env (:attr:`EnvRequest.locked`): **lock** (resolve its lock file) when
     the lock is missing or stale, then **install** exactly the lock plus the wheels of
     Corral's packages (:mod:`corral.envs.locking`); an unlocked env: one ``uv pip
     install --exact`` of the dependencies plus those wheels. Either way packages no
     longer wanted are removed;
   - **verify**: start the env's interpreter (``-I``) and import ``corral_runner``;
   - write the stamp.

The wheels of Corral's own packages (corral-runner for every Python env, see
:mod:`corral.envs.own`) come from :class:`~corral.envs.wheels.OwnWheels`: made once per
preparer, installed by path, never asked from a package index. Nothing is written outside
``<project>/.corral/``, the project's lock files and a private temporary directory.

:meth:`EnvPreparer.lock` resolves lock files without installing anything (``corral lock``).

A failure of one environment (uv error, timeout, lock held, unexpected exception) becomes
its :class:`PrepareResult` and never stops the others; only cancellation propagates (and
kills the running uv process group).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from corral.envs.errors import ERROR_TAIL_LINES, EnvPrepareError, command_failure, what
from corral.envs.lock import LockTimeoutError, env_lock
from corral.envs.locking import LockOutcome, install_locked, write_lock
from corral.envs.own import OwnPackages, missing_message
from corral.envs.paths import base_interpreter, env_dir, env_python, envs_root, lock_path
from corral.envs.project import project_metadata
from corral.envs.pylock import lock_inputs, lock_state, locks, pylock_path
from corral.envs.request import EnvRequest
from corral.envs.stamp import EnvInputs, env_inputs, read_stamp, remove_stamp, write_stamp
from corral.envs.status import (
    DEFAULT_CHECK_TIMEOUT,
    EnvStatus,
    check_env,
    format_command,
    probe,
    status_for_inputs,
)
from corral.envs.uvtool import (
    CommandResult,
    CommandTimeoutError,
    UvTool,
    run_command,
    uv_environment,
)
from corral.envs.wheels import OwnWheels
from corral.statedir import ensure_state_dir

logger = logging.getLogger(__name__)

PreparePhase = Literal["skipped", "creating", "locking", "installing", "done", "failed"]
PrepareStatus = Literal["unchanged", "created", "updated", "failed"]

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
    says which step failed, the command, and ends with the last lines of uv's output.
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
    interpreter: Path
    own: OwnPackages
    uv_version: str
    wheel_errors: dict[str, str] = field(default_factory=dict)

    def inputs(self, request: EnvRequest) -> EnvInputs:
        return env_inputs(
            request, self.own, uv_version=self.uv_version, interpreter=self.interpreter
        )

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
    """Prepares environments with uv. Reusable across calls and event loops.

    - ``own``: Corral's own packages, installed from these files (default
      :meth:`OwnPackages.detect`: the installation the WM runs from);
    - ``jobs``: environments prepared at once (default ``min(4, cpu count)``);
    - ``uv``: a uv binary (default: the one from corral's ``uv`` dependency; never PATH);
    - ``timeout``: deadline in seconds for each uv command (and for waiting on another
      process's lock); past it the command's process group is killed;
    - ``check_timeout``: deadline for starting the env's interpreter to verify it.

    Call :meth:`close` (or use ``with``) to delete the wheels of Corral's packages early.
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
        self._wheels = OwnWheels(self.uv, self._uv)

    # -- status ----------------------------------------------------------------------

    def status(self, request: EnvRequest) -> EnvStatus:
        """The cheap status of ``request`` as this preparer sees it (its packages and uv)."""
        return self.statuses([request])[0]

    def statuses(self, requests: Sequence[EnvRequest]) -> list[EnvStatus]:
        """:meth:`status` of many requests."""
        interpreter = base_interpreter()
        return [
            status_for_inputs(
                request,
                env_inputs(request, self.own, uv_version=self.uv.version, interpreter=interpreter),
            )
            for request in requests
        ]

    async def check(self, request: EnvRequest) -> EnvStatus:
        """The deeper check (:func:`check_env`) with this preparer's packages and uv."""
        return await check_env(
            request, self.own, uv_version=self.uv.version, timeout=self.check_timeout
        )

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Delete the wheels made so far (they are made again when needed)."""
        self._wheels.close()

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
        run = self._new_run(recreate=recreate, progress=progress)
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
        run = self._new_run(recreate=False, progress=None)
        return await self._each(requests, lambda request: self._lock_one(run, request, upgrade))

    def _new_run(self, *, recreate: bool, progress: Callable[[PrepareEvent], None] | None) -> _Run:
        return _Run(
            recreate=recreate,
            progress=progress,
            slots=asyncio.Semaphore(self.jobs),
            interpreter=base_interpreter(),
            own=self.own,
            uv_version=self.uv.version,
        )

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
        inputs = run.inputs(request)
        if not run.recreate and status_for_inputs(request, inputs).state == "ready":
            run.emit(request, "skipped", start, "unchanged", "unchanged")
            return PrepareResult(request, "unchanged", time.monotonic() - start)
        async with run.slots:
            start = time.monotonic()
            try:
                return await self._holding(
                    request, lambda: self._rebuild_locked(run, request, inputs, start)
                )
            except EnvPrepareError as exc:
                error = str(exc)
            except OSError as exc:  # the file system refused (permissions, a file in the way)
                where = f" {exc.filename}" if exc.filename else ""
                error = f"{what(request)}: cannot write{where}: {exc.strerror or exc}"
            except Exception as exc:  # one env's failure never stops the others
                error = _internal_error(request, exc)
            headline = error.splitlines()[0].removeprefix(f"{what(request)}: ")
            run.emit(request, "failed", start, headline, "failed")
            return PrepareResult(request, "failed", time.monotonic() - start, error)

    async def _lock_one(self, run: _Run, request: EnvRequest, upgrade: bool) -> LockOutcome:
        async with run.slots:
            try:
                return await self._holding(
                    request, lambda: self._write_lock(run, request, upgrade=upgrade)
                )
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

    async def _write_lock(self, run: _Run, request: EnvRequest, *, upgrade: bool) -> LockOutcome:
        """Resolve ``request``'s lock when it is missing or stale (or ``upgrade``)."""
        inputs = lock_inputs(request, self.own)
        state = lock_state(request, inputs)
        path = pylock_path(request)
        if not locks(request, self.own) or (state.status == "fresh" and not upgrade):
            return LockOutcome(request, path, "unchanged")
        wheels = await self._own_wheels(run, request)
        return await write_lock(
            self.uv, self._uv, request, inputs, wheels, interpreter=run.interpreter, upgrade=upgrade
        )

    async def _own_wheels(self, run: _Run, request: EnvRequest) -> list[Path]:
        names = self.own.needed(request)
        missing = self.own.missing(names)
        if missing:
            raise EnvPrepareError(f"{what(request)}: {missing_message(missing[0])}")
        packages = [p for name in names if (p := self.own.get(name)) is not None]
        return await self._wheels.wheels(
            request, packages, interpreter=run.interpreter, errors=run.wheel_errors
        )

    async def _rebuild_locked(
        self, run: _Run, request: EnvRequest, inputs: EnvInputs, start: float
    ) -> PrepareResult:
        status = status_for_inputs(request, inputs)
        if not run.recreate and status.state == "ready":  # another process just did it
            run.emit(request, "skipped", start, "unchanged", "unchanged")
            return PrepareResult(request, "unchanged", time.monotonic() - start)
        create = run.recreate or status.state in ("no_venv", "broken")
        stamp = read_stamp(request)
        if stamp is not None and not create:
            stored = stamp.inputs
            create = stamp.schema != inputs.schema or any(
                stored.get(key) != getattr(inputs, key)
                for key in ("python_request", "python_interpreter", "python_version")
            )
        own = self.own.needed(request)
        wheels = await self._own_wheels(run, request) if own else []
        editable = request.install_project and project_metadata(request.project).installable
        has_packages = bool(own) or bool(request.dependencies) or editable
        # An env with nothing to install is emptied by making it anew.
        create = create or not has_packages
        if not create:
            alive = await probe(request, timeout=self.check_timeout, import_runner=False)
            create = not alive.ok
        remove_stamp(request)
        if create:
            python = request.python or str(run.interpreter)
            run.emit(request, "creating", start, f"creating virtual environment (python {python})")
            await self._create_venv(request, python)
        written: LockOutcome | None = None
        if has_packages and locks(request, self.own):
            if lock_state(request, lock_inputs(request, self.own)).status != "fresh":
                run.emit(request, "locking", start, f"resolving {pylock_path(request).name}")
                written = await self._write_lock(run, request, upgrade=False)
            run.emit(request, "installing", start, f"installing {pylock_path(request).name}")
            await install_locked(self.uv, self._uv, request, wheels, list(own))
        elif has_packages:
            count = len(set(request.dependencies) | set(own)) + editable
            run.emit(request, "installing", start, f"installing {count} requirement(s)")
            packages = [*sorted(set(request.dependencies)), *(str(w) for w in wheels)]
            await self._install(request, packages, own, editable=editable)
        else:
            run.emit(request, "installing", start, "nothing to install")
        verified = await probe(request, timeout=self.check_timeout)
        if not verified.ok:
            raise EnvPrepareError(
                f"{what(request)}: the installed environment does not work: {verified.error}\n"
                f"command: {format_command(list(verified.argv[:3]))} <probe>"
            )
        write_stamp(
            request,
            run.inputs(request) if written is not None else inputs,  # the lock changed
            python={
                "executable": verified.info.get("executable"),
                "version": verified.info.get("version"),
            },
            source=", ".join(p.describe() for n in own if (p := self.own.get(n))) or "none",
        )
        outcome: PrepareStatus = "created" if create else "updated"
        duration = time.monotonic() - start
        run.emit(request, "done", start, outcome, outcome)
        lock = written if written is not None and written.status != "unchanged" else None
        return PrepareResult(request, outcome, duration, lock=lock)

    # -- steps -----------------------------------------------------------------------

    async def _uv(self, request: EnvRequest, step: str, argv: list[str]) -> CommandResult:
        """Run a uv command for ``request``; raise :class:`EnvPrepareError` on failure."""
        try:
            result = await run_command(
                argv, cwd=request.project, env=uv_environment(), timeout=self.timeout
            )
        except CommandTimeoutError as exc:
            raise EnvPrepareError(
                command_failure(request, step, exc.result, f"timed out after {exc.timeout:g} s")
            ) from exc
        except OSError as exc:
            raise EnvPrepareError(
                f"{what(request)}: {step} failed: cannot run {argv[0]}: {exc}\n"
                f"command: {format_command(argv)}"
            ) from exc
        if result.returncode != 0:
            raise EnvPrepareError(
                command_failure(request, step, result, f"exit status {result.returncode}")
            )
        return result

    async def _create_venv(self, request: EnvRequest, python: str) -> None:
        directory = env_dir(request.project, request.name)
        await asyncio.to_thread(_remove_env_dir, directory)
        argv = self.uv.argv(
            "venv", "--no-project", "--python", python, "--prompt", request.name, str(directory)
        )
        await self._uv(request, "creating the virtual environment", argv)

    async def _install(
        self, request: EnvRequest, packages: list[str], own: Sequence[str], *, editable: bool
    ) -> None:
        python = env_python(request.project, request.name)
        # Wheels of Corral's packages keep their version across changes (a new checkout
        # build, a reinstalled corral): always replace them.
        reinstall = [arg for name in own for arg in ("--reinstall-package", name)]
        # --no-sources: a dependency given as a path inside a uv workspace must not pull
        # the workspace's editable members; its requirements resolve against the packages
        # of this very command (e.g. the wheels of Corral's packages).
        # --compile-bytecode: runners start often; without .pyc files every start recompiles
        # its imports wherever bytecode cannot be cached (PYTHONDONTWRITEBYTECODE, read-only
        # site-packages): measured 0.27 s -> 0.12 s to import the runner and its handlers.
        argv = self.uv.argv(
            "pip",
            "install",
            "--python",
            str(python),
            "--exact",
            "--no-sources",
            "--compile-bytecode",
            *reinstall,
            *(("--editable", str(request.project)) if editable else ()),
            "--",
            *packages,
        )
        await self._uv(request, "installing packages", argv)


def _internal_error(request: EnvRequest, exc: Exception) -> str:
    return f"{what(request)}: internal error: {type(exc).__name__}: {exc}\n" + "".join(
        traceback.format_exception(exc)[-ERROR_TAIL_LINES:]
    )


def _definition(request: EnvRequest) -> tuple[object, ...]:
    """What makes two requests for one (project, name) the same environment."""
    return (
        frozenset(request.dependencies),
        request.python,
        request.runner,
        request.install_project,
        request.locked,
    )


def _remove_env_dir(directory: Path) -> None:
    """Remove an env directory (a symlink is unlinked, never followed)."""
    if directory.is_symlink():
        directory.unlink()
    elif directory.exists():
        shutil.rmtree(directory)
