"""The uv steps of locked environments: resolve a lock file, install exactly a lock.

See :mod:`corral.envs.pylock` for what a lock holds. Resolving runs ``uv pip compile
--format pylock.toml --universal`` in the project directory (relative path requirements
are relative to it, and so are the paths uv writes) into a partial file beside the lock,
named as PEP 751 requires (uv refuses other names); the previous lock is copied there
first so uv keeps its pins as preferences, unless upgrading. The result is finished
(:func:`~corral.envs.pylock.finish_lock`) and moved over the lock atomically.

Installing is three commands: ``uv pip sync`` of the lock (exact: anything else is
removed), ``uv pip install --no-deps`` of the wheels of Corral's packages, and ``uv pip
check`` (the lock must hold what those packages require).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from corral.envs.errors import EnvPrepareError, what
from corral.envs.paths import env_python
from corral.envs.pylock import LockInputs, finish_lock, locked_versions, pylock_path, read_header
from corral.envs.request import EnvRequest
from corral.envs.uvtool import UvTool
from corral.envs.wheels import RunUv

__all__ = ["LockOutcome", "install_locked", "write_lock"]


@dataclass(frozen=True)
class LockOutcome:
    """A lock written (or found unchanged) for one env: its path, whether it is new, the
    package changes (``ruff 0.17.5 -> 0.17.6``, ``+iniconfig 2.3.1``, ``-six 1.17.0``), or
    why it could not be resolved (``failed``: ``error`` is the full report)."""

    request: EnvRequest
    path: Path
    status: Literal["created", "updated", "unchanged", "failed"]
    changes: tuple[str, ...] = ()
    error: str | None = None


def _changes(old: dict[str, str], new: dict[str, str]) -> tuple[str, ...]:
    changed = [
        f"{n} {old[n]} -> {new[n]}" for n in sorted(old.keys() & new.keys()) if old[n] != new[n]
    ]
    added = [f"+{n} {new[n]}" for n in sorted(new.keys() - old.keys())]
    removed = [f"-{n} {old[n]}" for n in sorted(old.keys() - new.keys())]
    return (*changed, *added, *removed)


async def write_lock(
    uv: UvTool,
    run: RunUv,
    request: EnvRequest,
    inputs: LockInputs,
    wheels: list[Path],
    *,
    interpreter: Path,
    upgrade: bool = False,
) -> LockOutcome:
    """Resolve ``request``'s lock file from ``inputs`` (see the module doc)."""
    path = pylock_path(request)
    try:
        old: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvPrepareError(f"{what(request)}: cannot read its lock file {path}: {exc}") from exc
    partial = path.with_name(f"{path.stem}-partial{os.getpid()}.toml")
    lines = [*inputs.requirements, *(str(w) for w in wheels)]
    if inputs.editable_project:
        lines.append("-e .")  # relative: the lock records the project as "." (portable)
    with tempfile.TemporaryDirectory(prefix="corral-lock-") as scratch:
        requirements = Path(scratch) / "requirements.in"
        requirements.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        try:
            # Preferences: uv keeps the pins of the file it writes to when they still fit
            # (a lock that does not even parse, e.g. one with merge conflicts, gives none).
            if old is not None and not upgrade and read_header(old) is not None:
                partial.write_text(old, encoding="utf-8")
            argv = uv.argv(
                "pip",
                "compile",
                "--format",
                "pylock.toml",
                "--universal",
                "--python",
                str(interpreter),
                "--python-version",
                inputs.python,
                "--no-header",
                "--no-sources",
                *(("--upgrade",) if upgrade else ()),
                "--output-file",
                str(partial),
                str(requirements),
            )
            await run(request, "resolving its lock file", argv)
            try:
                text = finish_lock(partial.read_text(encoding="utf-8"), request, inputs)
            except (OSError, ValueError) as exc:
                raise EnvPrepareError(
                    f"{what(request)}: uv wrote a lock Corral cannot use ({exc})"
                ) from exc
            if text == old:
                return LockOutcome(request, path, "unchanged")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
    changes = _changes(locked_versions(old or ""), locked_versions(text))
    return LockOutcome(request, path, "created" if old is None else "updated", changes)


async def install_locked(
    uv: UvTool, run: RunUv, request: EnvRequest, wheels: list[Path], own: list[str]
) -> None:
    """Install exactly ``request``'s lock, then the wheels of Corral's packages ``own``."""
    python = str(env_python(request.project, request.name))
    lock = str(pylock_path(request))
    await run(
        request,
        "installing its lock file",
        uv.argv("pip", "sync", "--python", python, "--compile-bytecode", lock),
    )
    if wheels:
        # The lock's sync removed them; they keep their version across changes: replace.
        reinstall = [arg for name in own for arg in ("--reinstall-package", name)]
        argv = uv.argv(
            "pip",
            "install",
            "--python",
            python,
            "--no-deps",
            "--compile-bytecode",
            *reinstall,
            "--",
            *(str(w) for w in wheels),
        )
        await run(request, "installing Corral's packages", argv)
    await run(
        request,
        "checking the installed packages against each other",
        uv.argv("pip", "check", "--python", python),
    )
