"""Is an environment usable? A cheap status (stat + stamp) and a deeper, probing check.

States (:data:`EnvState`):

- ``no_venv``: the environment directory or its interpreter does not exist;
- ``broken``: the interpreter entry exists but cannot run (a dangling symlink is detected
  cheaply; anything else only by :func:`check_env`, which starts it), or ``corral_runner``
  is not importable in a Python environment (:func:`check_env` only);
- ``stale``: the stamp is missing or does not match the current inputs;
- ``ready``: otherwise.

Every non-ready status carries the exact command that fixes it (``fix``, an argv, also
spelled out in ``message``): ``corral prepare-envs --project <dir> --env <name>``, with
``--recreate`` for a broken one (whose stamp may still match).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from corral.envs.own import OwnPackages
from corral.envs.paths import env_dir, env_python
from corral.envs.request import EnvRequest
from corral.envs.source import source_fingerprint
from corral.envs.stamp import EnvInputs, describe_changes, env_inputs, lock_note, read_stamp
from corral.envs.uvtool import (
    CommandTimeoutError,
    bundled_uv_version,
    run_command,
    uv_environment,
)
from corral.pyrunner import RUNNER_PACKAGE

EnvState = Literal["ready", "no_venv", "stale", "broken"]

DEFAULT_CHECK_TIMEOUT = 30.0


@dataclass(frozen=True)
class EnvStatus:
    """The state of one environment and a human message.

    ``message`` names the environment and, unless ready, what is wrong and the command
    that fixes it; ``fix`` is that command as an argv (None when ready); ``changes`` lists
    what changed for ``stale``.
    """

    state: EnvState
    message: str
    fix: tuple[str, ...] | None = None
    changes: tuple[str, ...] = ()


def fix_command(request: EnvRequest, *, recreate: bool = False) -> tuple[str, ...]:
    """``corral prepare-envs --project <dir> --env <name> [--recreate]`` as an argv."""
    argv = ("corral", "prepare-envs", "--project", str(request.project), "--env", request.name)
    return (*argv, "--recreate") if recreate else argv


def format_command(argv: tuple[str, ...] | list[str]) -> str:
    """An argv as a string a user can paste into their shell (quoted as needed)."""
    if os.name == "nt":
        return subprocess.list2cmdline(list(argv))
    return shlex.join(argv)


def what_env(request: EnvRequest) -> str:
    """``environment 'dev' of /path`` for status messages."""
    return f"environment {request.name!r} of {request.project}"


def problem_status(request: EnvRequest, state: EnvState, problem: str, **extra: Any) -> EnvStatus:
    """A non-ready status: ``problem`` (``does not exist yet``...) and the fix command."""
    recreate = state == "broken"
    fix = fix_command(request, recreate=recreate)
    verb = "recreate" if recreate else ("create" if state == "no_venv" else "update")
    message = f"{what_env(request)} {problem}; {verb} it with: {format_command(fix)}"
    return EnvStatus(state, message, fix, **extra)


def structural_status(request: EnvRequest, note: str | None = None) -> EnvStatus | None:
    """``no_venv``/``broken`` from the file system alone (stat calls), else None.
    ``note`` (e.g. about the env's lock file) is added to the problem's description."""
    directory = env_dir(request.project, request.name)
    python = env_python(request.project, request.name)
    if not directory.is_dir():
        state: EnvState = "no_venv"
        problem = f"does not exist yet ({directory})"
    elif not os.path.lexists(python):
        state, problem = "no_venv", f"has no interpreter ({python} is missing)"
    elif not python.exists():
        target = os.path.realpath(python)
        state, problem = "broken", f"is broken: its interpreter {python} points to missing {target}"
    else:
        return None
    return problem_status(request, state, problem if note is None else f"{problem}; {note}")


def status_for_inputs(request: EnvRequest, inputs: EnvInputs) -> EnvStatus:
    """The cheap status of ``request`` given its current inputs (stat + stamp read)."""
    problem = structural_status(request, note=lock_note(inputs.lock))
    if problem is not None:
        return problem
    stamp = read_stamp(request)
    if stamp is None:
        return problem_status(
            request, "stale", "was not completely prepared (no valid .corral-stamp.json)"
        )
    if stamp.schema == inputs.schema and stamp.digest == inputs.digest():
        when = f" (prepared {stamp.prepared_at})" if stamp.prepared_at else ""
        return EnvStatus("ready", f"{what_env(request)} is ready{when}")
    changes = describe_changes(stamp.inputs, inputs) or ["its inputs changed"]
    return problem_status(
        request, "stale", f"is out of date: {'; '.join(changes)}", changes=tuple(changes)
    )


def env_status(
    request: EnvRequest,
    own: OwnPackages,
    *,
    uv_version: str | None = None,
    fingerprint: Callable[[Path], str] = source_fingerprint,
) -> EnvStatus:
    """The cheap status: ``no_venv``, ``stale``, ``ready`` (or ``broken`` for a dangling
    interpreter link), from ``stat`` calls and one stamp read. No subprocess.

    ``own`` are the Corral packages the WM installs (:meth:`OwnPackages.detect`);
    ``uv_version`` defaults to the bundled uv's (pass the preparer's if it uses another
    uv, or use :meth:`EnvPreparer.status`); ``fingerprint`` fingerprints local checkouts
    (a :class:`~corral.envs.source.Fingerprints` shares the walks of many checks).
    """
    inputs = env_inputs(
        request, own, uv_version=uv_version or bundled_uv_version(), fingerprint=fingerprint
    )
    return status_for_inputs(request, inputs)


# Printed by the probe: the base interpreter, its version and the env prefix. Python envs
# import corral_runner first. ``-I`` keeps PYTHON* variables, user site and cwd out.
_PROBE = (
    "import json, os, platform, sys\n"
    "{imports}"
    "print(json.dumps({{'executable': os.path.realpath(getattr(sys, '_base_executable', '')"
    " or sys.executable), 'version': platform.python_version(), 'prefix': sys.prefix}}))\n"
)


def _same_path(a: str | Path, b: str | Path) -> bool:
    return Path(os.path.realpath(a)) == Path(os.path.realpath(b))


@dataclass(frozen=True)
class ProbeResult:
    """What the environment's interpreter said about itself (``ok`` False: ``error`` says why)."""

    ok: bool
    info: dict[str, Any]
    error: str
    argv: tuple[str, ...]


async def probe(
    request: EnvRequest,
    *,
    timeout: float = DEFAULT_CHECK_TIMEOUT,  # noqa: ASYNC109  (a hang is a result, not an error)
    import_runner: bool = True,
) -> ProbeResult:
    """Start the environment's interpreter with ``-I`` and ask it about itself.

    With ``import_runner`` (and a Python env) it also imports ``corral_runner``. ``ok`` is
    True when it exited 0, printed the expected JSON and runs inside the environment.
    """
    python = env_python(request.project, request.name)
    imports = f"import {RUNNER_PACKAGE}\n" if import_runner and request.is_python else ""
    argv = (str(python), "-I", "-c", _PROBE.format(imports=imports))
    try:
        result = await run_command(argv, cwd=request.project, env=uv_environment(), timeout=timeout)
    except OSError as exc:
        return ProbeResult(False, {}, f"cannot start {python}: {exc}", argv)
    except CommandTimeoutError:
        return ProbeResult(False, {}, f"{python} did not answer within {timeout:g} s", argv)
    lines = result.output.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = lines[-1] if lines else "no output"
        return ProbeResult(False, {}, f"{python} exited {result.returncode}: {last}", argv)
    try:
        info = json.loads(lines[-1])
    except ValueError:
        return ProbeResult(False, {}, f"{python} printed unexpected output: {lines[-1]}", argv)
    if not isinstance(info, dict):
        return ProbeResult(False, {}, f"{python} printed unexpected output: {lines[-1]}", argv)
    prefix = info.get("prefix")
    if not isinstance(prefix, str) or not _same_path(
        prefix, env_dir(request.project, request.name)
    ):
        return ProbeResult(
            False, info, f"{python} runs outside the environment (sys.prefix={prefix})", argv
        )
    return ProbeResult(True, info, "", argv)


async def check_env(
    request: EnvRequest,
    own: OwnPackages,
    *,
    uv_version: str | None = None,
    timeout: float = DEFAULT_CHECK_TIMEOUT,  # noqa: ASYNC109  (a hang means "broken")
) -> EnvStatus:
    """The deeper check: :func:`env_status`, then, if the environment exists, start its
    interpreter (and import ``corral_runner`` in a Python env) with a deadline.

    Returns ``broken`` (with the interpreter's last error line) when that fails, else the
    cheap status. Costs one interpreter start (tens of ms).
    """
    status = env_status(request, own, uv_version=uv_version)
    if status.state in ("no_venv", "broken"):
        return status
    result = await probe(request, timeout=timeout)
    if not result.ok:
        return problem_status(request, "broken", f"is broken: {result.error}")
    return status
