"""Create and fill environments with uv, in parallel, skipping the unchanged ones.

Per environment (:meth:`EnvPreparer.prepare`):

1. **skip** if the cheap status is ``ready`` (stamp digest equals the current inputs'),
   unless ``recreate``: a few ``stat`` calls and one small JSON read, no subprocess;
2. otherwise, within a slot (at most ``jobs`` at once) and holding the env's cross-process
   lock (then re-checking, in case another process just finished it):
   - delete the stamp;
   - **create** (``uv venv``) when there is no usable venv, ``recreate`` was asked, the
     Python or the stamp schema changed, or the existing interpreter does not start;
     otherwise update in place;
   - **install**: one ``uv pip install --exact`` of the dependencies plus the wheels of
     Corral's own packages the env gets (corral-runner for a Python env, see
     :mod:`corral.envs.own`), so packages no longer wanted are removed;
   - **verify**: start the env's interpreter (``-I``) and import ``corral_runner``;
   - write the stamp.

The wheels of Corral's own packages are made (repacked from the installation, or built
from a development checkout with ``uv build``) at most once per preparer and package
identity, in a private temporary directory removed by :meth:`EnvPreparer.close` (or at
garbage collection / exit), and installed from there by path: N environments cost one
build, not N, and no package index is ever asked for them. Nothing is written outside
``<project>/.corral/envs/`` and that directory.

A failure of one environment (uv error, timeout, lock held, unexpected exception) becomes
its :class:`PrepareResult` and never stops the others; only cancellation propagates (and
kills the running uv process group).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from corral.envs.lock import LockTimeoutError, env_lock
from corral.envs.own import OwnPackage, OwnPackageError, OwnPackages, missing_message, repack
from corral.envs.paths import base_interpreter, env_dir, env_python, envs_root, lock_path
from corral.envs.project import installable
from corral.envs.request import EnvRequest
from corral.envs.stamp import (
    EnvInputs,
    compute_inputs,
    read_stamp,
    remove_stamp,
    write_stamp,
)
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
from corral.statedir import ensure_state_dir

logger = logging.getLogger(__name__)

PreparePhase = Literal["skipped", "creating", "installing", "done", "failed"]
PrepareStatus = Literal["unchanged", "created", "updated", "failed"]

DEFAULT_TIMEOUT = 600.0
ERROR_TAIL_LINES = 40


@dataclass(frozen=True)
class PrepareEvent:
    """Progress of one environment.

    Phases per environment, in order: ``skipped`` alone (unchanged), or [``creating``]
    ``installing`` then ``done`` or ``failed`` (``failed`` may also come before
    ``installing``). ``elapsed`` is seconds since the environment's work started;
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
    says which step failed, the command, and ends with the last lines of uv's output."""

    request: EnvRequest
    status: PrepareStatus
    duration: float
    error: str | None = None


class EnvPrepareError(Exception):
    """One environment could not be prepared; ``str()`` is the full report."""


def default_jobs() -> int:
    """``min(4, cpu count)``."""
    return max(1, min(4, os.cpu_count() or 1))


def _what(request: EnvRequest) -> str:
    return f"environment {request.name!r} of project {request.project}"


def _error_line(output: str) -> str | None:
    """uv's own one-line diagnosis (its first ``error: ...`` line), if any."""
    for line in output.splitlines():
        if line.startswith("error:"):
            return line.removeprefix("error:").strip() or None
    return None


def _command_failure(request: EnvRequest, step: str, result: CommandResult, why: str) -> str:
    tail = result.tail(ERROR_TAIL_LINES) or "(no output)"
    indented = "\n".join(f"  {line}" for line in tail.splitlines())
    diagnosis = _error_line(result.output)
    headline = f"{_what(request)}: {step} failed ({why})"
    if diagnosis:
        headline += f": {diagnosis}"
    return (
        f"{headline}\n"
        f"command: {format_command(list(result.argv))}\n"
        f"output (last {ERROR_TAIL_LINES} lines):\n{indented}"
    )


@dataclass
class _Run:
    """State of one :meth:`EnvPreparer.prepare` call (bound to its event loop)."""

    recreate: bool
    progress: Callable[[PrepareEvent], None] | None
    slots: asyncio.Semaphore
    interpreter: Path
    own: OwnPackages
    uv_version: str
    wheel_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wheel_errors: dict[str, str] = field(default_factory=dict)

    def inputs(self, request: EnvRequest) -> EnvInputs:
        return compute_inputs(
            request,
            own_identity=self.own.identity(self.own.needed(request)),
            uv_version=self.uv_version,
            interpreter=self.interpreter,
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
        self._wheels: dict[str, Path] = {}
        self._wheel_root: Path | None = None
        self._finalizer: weakref.finalize[[str, bool], EnvPreparer] | None = None

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
                compute_inputs(
                    request,
                    own_identity=self.own.identity(self.own.needed(request)),
                    uv_version=self.uv.version,
                    interpreter=interpreter,
                ),
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
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._wheel_root = None
        self._wheels.clear()

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
        unique: dict[tuple[Path, str], EnvRequest] = {}
        for request in requests:
            key = (request.project, request.name)
            known = unique.setdefault(key, request)
            if _definition(known) != _definition(request):
                raise ValueError(
                    f"conflicting definitions of {_what(request)}: {known!r} and {request!r}"
                )
        run = _Run(
            recreate=recreate,
            progress=progress,
            slots=asyncio.Semaphore(self.jobs),
            interpreter=base_interpreter(),
            own=self.own,
            uv_version=self.uv.version,
        )
        async with asyncio.TaskGroup() as group:
            tasks = {
                key: group.create_task(self._prepare_one(run, request))
                for key, request in unique.items()
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
                return await self._rebuild(run, request, inputs, start)
            except EnvPrepareError as exc:
                error = str(exc)
            except Exception as exc:  # one env's failure never stops the others
                error = (
                    f"{_what(request)}: internal error: {type(exc).__name__}: {exc}\n"
                    + "".join(traceback.format_exception(exc)[-ERROR_TAIL_LINES:])
                )
            headline = error.splitlines()[0].removeprefix(f"{_what(request)}: ")
            run.emit(request, "failed", start, headline, "failed")
            return PrepareResult(request, "failed", time.monotonic() - start, error)

    async def _rebuild(
        self, run: _Run, request: EnvRequest, inputs: EnvInputs, start: float
    ) -> PrepareResult:
        if not request.project.is_dir():
            raise EnvPrepareError(
                f"{_what(request)}: the project directory {request.project} does not exist"
            )
        ensure_state_dir(request.project)  # .corral/ first, with its VCS and tool markers
        envs_root(request.project).mkdir(parents=True, exist_ok=True)
        try:
            async with env_lock(lock_path(request.project, request.name), timeout=self.timeout):
                return await self._rebuild_locked(run, request, inputs, start)
        except LockTimeoutError as exc:
            raise EnvPrepareError(
                f"{_what(request)}: another process kept preparing it for more than "
                f"{self.timeout:g} s ({exc})"
            ) from exc

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
        missing = self.own.missing(own)
        if missing:
            raise EnvPrepareError(f"{_what(request)}: {missing_message(missing[0])}")
        editable = request.install_project and installable(request.project)
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
        if has_packages:
            count = len(set(request.dependencies) | set(own)) + editable
            run.emit(request, "installing", start, f"installing {count} requirement(s)")
            packages = sorted(set(request.dependencies))
            packages += [str(w) for w in await self._own_wheels(run, request, own)]
            await self._install(request, packages, own, editable=editable)
        else:
            run.emit(request, "installing", start, "nothing to install")
        verified = await probe(request, timeout=self.check_timeout)
        if not verified.ok:
            raise EnvPrepareError(
                f"{_what(request)}: the installed environment does not work: {verified.error}\n"
                f"command: {format_command(list(verified.argv[:3]))} <probe>"
            )
        write_stamp(
            request,
            inputs,
            python={
                "executable": verified.info.get("executable"),
                "version": verified.info.get("version"),
            },
            source=", ".join(p.describe() for n in own if (p := self.own.get(n))) or "none",
        )
        outcome: PrepareStatus = "created" if create else "updated"
        duration = time.monotonic() - start
        run.emit(request, "done", start, outcome, outcome)
        return PrepareResult(request, outcome, duration)

    # -- steps -----------------------------------------------------------------------

    async def _uv(self, request: EnvRequest, step: str, argv: list[str]) -> CommandResult:
        """Run a uv command for ``request``; raise :class:`EnvPrepareError` on failure."""
        try:
            result = await run_command(
                argv, cwd=request.project, env=uv_environment(), timeout=self.timeout
            )
        except CommandTimeoutError as exc:
            raise EnvPrepareError(
                _command_failure(request, step, exc.result, f"timed out after {exc.timeout:g} s")
            ) from exc
        except OSError as exc:
            raise EnvPrepareError(
                f"{_what(request)}: {step} failed: cannot run {argv[0]}: {exc}\n"
                f"command: {format_command(argv)}"
            ) from exc
        if result.returncode != 0:
            raise EnvPrepareError(
                _command_failure(request, step, result, f"exit status {result.returncode}")
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

    async def _own_wheels(self, run: _Run, request: EnvRequest, names: Sequence[str]) -> list[Path]:
        """Wheels of Corral's packages ``names``, made once per preparer and identity."""
        packages = [p for name in names if (p := self.own.get(name)) is not None]
        async with run.wheel_lock:
            for package in packages:
                error = run.wheel_errors.get(package.name)
                if error is not None:
                    raise EnvPrepareError(f"{_what(request)}: {error}")
            wanted = {p.name: p.identity() for p in packages}
            todo = [
                p
                for p in packages
                if (w := self._wheels.get(wanted[p.name])) is None or not w.is_file()
            ]
            results = await asyncio.gather(
                *(self._make_wheel(run, request, p) for p in todo), return_exceptions=True
            )
            for package, outcome in zip(todo, results, strict=True):
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, Exception):
                        raise outcome
                    error = f"making a wheel of {package.describe()} failed:\n{outcome}"
                    run.wheel_errors[package.name] = error
                    raise EnvPrepareError(f"{_what(request)}: {error}") from outcome
                self._wheels[wanted[package.name]] = outcome
        return [self._wheels[wanted[p.name]] for p in packages]

    def _wheel_dir(self) -> Path:
        if self._wheel_root is None:
            root = Path(tempfile.mkdtemp(prefix="corral-wheels-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(root), True)
            self._wheel_root = root
        return Path(tempfile.mkdtemp(dir=self._wheel_root))

    async def _make_wheel(self, run: _Run, request: EnvRequest, package: OwnPackage) -> Path:
        """Repack an installed package, or build a checkout with ``uv build``."""
        out = self._wheel_dir()
        if package.origin == "installed":
            try:
                return await asyncio.to_thread(repack, package, out)
            except OwnPackageError as exc:
                raise EnvPrepareError(str(exc)) from exc
        argv = self.uv.argv(
            "build",
            "--wheel",
            "--no-create-gitignore",
            "--python",
            str(run.interpreter),
            "--out-dir",
            str(out),
            str(package.location),
        )
        await self._uv(request, f"building a wheel of {package.location}", argv)
        found = sorted(out.glob("*.whl"))
        if len(found) != 1:
            raise EnvPrepareError(f"building {package.location} produced {len(found)} wheels")
        return found[0]


def _definition(request: EnvRequest) -> tuple[object, ...]:
    """What makes two requests for one (project, name) the same environment."""
    return (
        frozenset(request.dependencies),
        request.python,
        request.runner,
        request.install_project,
    )


def _remove_env_dir(directory: Path) -> None:
    """Remove an env directory (a symlink is unlinked, never followed)."""
    if directory.is_symlink():
        directory.unlink()
    elif directory.exists():
        shutil.rmtree(directory)
