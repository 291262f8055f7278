"""The ``python`` env backend: a virtual environment made and filled by uv.

:meth:`PythonBackend.build` (the env's cross-process lock held by the caller):

- delete the stamp;
- **create** (``uv venv``) when there is no usable venv, ``recreate`` was asked, the
  Python or the stamp schema changed, or the existing interpreter does not start;
  otherwise update in place;
- a **locked** env (:attr:`EnvRequest.locked`): **lock** (resolve its lock file) when the
  lock is missing or stale, then **install** exactly the lock plus the wheels of Corral's
  packages (:mod:`corral.envs.locking`); an unlocked env: one ``uv pip install --exact``
  of the dependencies plus those wheels. Either way packages no longer wanted are removed;
- **verify**: start the env's interpreter (``-I``) and import ``corral_runner``;
- write the stamp.

The wheels of Corral's own packages (corral-runner for every Python env, see
:mod:`corral.envs.own`) come from :class:`~corral.envs.wheels.OwnWheels`: made once per
backend, installed by path, never asked from a package index. The runner starts with
``<env python> -m corral_runner``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from corral.envkind import EnvKind
from corral.envs.backend import BuildJob, Built
from corral.envs.errors import EnvPrepareError, command_failure, what
from corral.envs.locking import LockOutcome, install_locked, write_lock
from corral.envs.own import OwnPackages, missing_message
from corral.envs.paths import base_interpreter, env_dir, env_python, interpreter_version
from corral.envs.project import project_metadata
from corral.envs.pylock import lock_inputs, lock_state, locks, pylock_path
from corral.envs.request import EnvRequest, runner_command
from corral.envs.stamp import env_inputs, read_stamp, remove_stamp, write_stamp
from corral.envs.status import (
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

__all__ = ["PythonBackend"]


class PythonBackend:
    """The ``python`` backend (see the module doc). ``uv``: the uv binary building envs;
    ``timeout``: deadline per uv command; ``check_timeout``: per interpreter probe."""

    kind: EnvKind = "python"

    def __init__(
        self, own: OwnPackages, uv: UvTool, *, timeout: float, check_timeout: float
    ) -> None:
        self.own = own
        self.uv = uv
        self.timeout = timeout
        self.check_timeout = check_timeout
        self._wheels = OwnWheels(uv, self._uv)
        self._wheel_errors: dict[str, str] = {}

    # -- the interface ---------------------------------------------------------------

    def status(self, request: EnvRequest, fingerprint: Callable[[Path], str]) -> EnvStatus:
        inputs = env_inputs(request, self.own, uv_version=self.uv.version, fingerprint=fingerprint)
        return status_for_inputs(request, inputs)

    async def check(self, request: EnvRequest) -> EnvStatus:
        return await check_env(
            request, self.own, uv_version=self.uv.version, timeout=self.check_timeout
        )

    def runner_command(self, request: EnvRequest) -> list[str]:
        """``[<absolute env python>, "-m", "corral_runner"]`` (the env's own interpreter
        path, not a shim and not symlink-resolved), or the request's ``runner`` as given."""
        return runner_command(request)

    def describe(self, request: EnvRequest) -> str:
        if request.python is not None:
            return f"python {request.python!r} (uv {self.uv.version})"
        return f"python {interpreter_version()} at {base_interpreter()} (uv {self.uv.version})"

    def close(self) -> None:
        self._wheels.close()

    async def lock(self, request: EnvRequest, *, upgrade: bool) -> LockOutcome:
        """Resolve ``request``'s lock when it is missing or stale (or ``upgrade``)."""
        inputs = lock_inputs(request, self.own)
        state = lock_state(request, inputs)
        path = pylock_path(request)
        if not locks(request, self.own) or (state.status == "fresh" and not upgrade):
            return LockOutcome(request, path, "unchanged")
        interpreter = base_interpreter()
        wheels = await self._own_wheels(request, interpreter)
        return await write_lock(
            self.uv, self._uv, request, inputs, wheels, interpreter=interpreter, upgrade=upgrade
        )

    async def build(self, request: EnvRequest, job: BuildJob) -> Built:
        interpreter = base_interpreter()
        inputs = env_inputs(request, self.own, uv_version=self.uv.version, interpreter=interpreter)
        status = status_for_inputs(request, inputs)
        if not job.recreate and status.state == "ready":  # another process just did it
            return Built("unchanged")
        create = job.recreate or status.state in ("no_venv", "broken")
        stamp = read_stamp(request)
        if stamp is not None and not create:
            stored = stamp.inputs
            create = stamp.schema != inputs.schema or any(
                stored.get(key) != getattr(inputs, key)
                for key in ("python_request", "python_interpreter", "python_version")
            )
        own = self.own.needed(request)
        wheels = await self._own_wheels(request, interpreter) if own else []
        editable = request.install_project and project_metadata(request.project).installable
        has_packages = bool(own) or bool(request.dependencies) or editable
        # An env with nothing to install is emptied by making it anew.
        create = create or not has_packages
        if not create:
            alive = await probe(request, timeout=self.check_timeout, import_runner=False)
            create = not alive.ok
        remove_stamp(request)
        if create:
            python = request.python or str(interpreter)
            job.emit("creating", f"creating virtual environment (python {python})")
            await self._create_venv(request, python)
        written: LockOutcome | None = None
        if has_packages and locks(request, self.own):
            if lock_state(request, lock_inputs(request, self.own)).status != "fresh":
                job.emit("locking", f"resolving {pylock_path(request).name}")
                written = await self.lock(request, upgrade=False)
            job.emit("installing", f"installing {pylock_path(request).name}")
            await install_locked(self.uv, self._uv, request, wheels, list(own))
        elif has_packages:
            count = len(set(request.dependencies) | set(own)) + editable
            job.emit("installing", f"installing {count} requirement(s)")
            packages = [*sorted(set(request.dependencies)), *(str(w) for w in wheels)]
            await self._install(request, packages, own, editable=editable)
        else:
            job.emit("installing", "nothing to install")
        verified = await probe(request, timeout=self.check_timeout)
        if not verified.ok:
            raise EnvPrepareError(
                f"{what(request)}: the installed environment does not work: {verified.error}\n"
                f"command: {format_command(list(verified.argv[:3]))} <probe>"
            )
        if written is not None:  # the lock changed: so did the inputs
            inputs = env_inputs(
                request, self.own, uv_version=self.uv.version, interpreter=interpreter
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
        lock = written if written is not None and written.status != "unchanged" else None
        return Built("created" if create else "updated", lock=lock)

    # -- steps -----------------------------------------------------------------------

    async def _own_wheels(self, request: EnvRequest, interpreter: Path) -> list[Path]:
        names = self.own.needed(request)
        missing = self.own.missing(names)
        if missing:
            raise EnvPrepareError(f"{what(request)}: {missing_message(missing[0])}")
        packages = [p for name in names if (p := self.own.get(name)) is not None]
        return await self._wheels.wheels(
            request, packages, interpreter=interpreter, errors=self._wheel_errors
        )

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
        await asyncio.to_thread(remove_env_dir, directory)
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


def remove_env_dir(directory: Path) -> None:
    """Remove an env directory (a symlink is unlinked, never followed)."""
    if directory.is_symlink():
        directory.unlink()
    elif directory.exists():
        shutil.rmtree(directory)
