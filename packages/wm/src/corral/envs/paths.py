"""Where an execution environment lives, and which interpreter the WM itself runs on.

Layout (DESIGN.md, "Execution environments")::

    <project>/.corral/                  made by :func:`corral.statedir.ensure_state_dir`,
                                        ignored by git and by tools (see there)
      envs/                             everything this package writes in a project
        .<name>.lock                    cross-process lock held while <name> is prepared
        <name>/                         the virtual environment (made by ``uv venv``)
            .corral-stamp.json          inputs of the last successful preparation
            bin/python                  (``Scripts/python.exe`` on Windows)

Every function here is pure path arithmetic or a few ``stat`` calls: no subprocess, no
network, safe to call on hot paths.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from corral.envname import is_env_name

ENVS_SUBDIR = Path(".corral") / "envs"
STAMP_NAME = ".corral-stamp.json"


def validate_env_name(name: str) -> str:
    """Return ``name`` if it is a safe environment name, else raise ``ValueError``.

    A name is one path component of letters, digits, ``.``, ``_`` and ``-`` that starts
    with a letter or digit (so it can neither escape ``.corral/envs/`` nor look like a
    command-line option), at most 100 characters.
    """
    if not is_env_name(name):
        raise ValueError(
            f"invalid environment name {name!r}: expected letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (at most 100 characters)"
        )
    return name


def absolute(path: Path) -> Path:
    """``path`` made absolute and normalised lexically (symlinks are *not* resolved)."""
    return Path(os.path.abspath(path))


def envs_root(project: Path) -> Path:
    """``<project>/.corral/envs``, absolute."""
    return absolute(project) / ENVS_SUBDIR


def env_dir(project: Path, name: str) -> Path:
    """The virtual environment directory of env ``name`` in ``project`` (absolute).

    Raises ``ValueError`` for a name that :func:`validate_env_name` rejects.
    """
    return envs_root(project) / validate_env_name(name)


def env_python(project: Path, name: str) -> Path:
    """The environment's interpreter: ``bin/python`` (POSIX) or ``Scripts/python.exe``.

    The path is absolute and must be used as is: it is usually a symlink to the base
    interpreter, and resolving it would start that interpreter *outside* the environment.
    """
    if os.name == "nt":
        return env_dir(project, name) / "Scripts" / "python.exe"
    return env_dir(project, name) / "bin" / "python"


def stamp_path(project: Path, name: str) -> Path:
    """``<env dir>/.corral-stamp.json``."""
    return env_dir(project, name) / STAMP_NAME


def lock_path(project: Path, name: str) -> Path:
    """``<project>/.corral/envs/.<name>.lock`` (outside the env dir, so it survives ``--clear``)."""
    return envs_root(project) / f".{validate_env_name(name)}.lock"


def _is_binary(path: Path) -> bool:
    """True when ``path`` is an executable file that is not a ``#!`` script (a shim)."""
    try:
        if not path.is_file() or not os.access(path, os.X_OK):
            return False
        with path.open("rb") as handle:
            return handle.read(2) != b"#!"
    except OSError:
        return False


def base_interpreter() -> Path:
    """The real interpreter running this process, by absolute, symlink-free path.

    ``sys.executable`` may be a virtual environment's ``python`` or be reached through a
    version-manager shim (pyenv's shims are shell scripts costing ~75 ms per start). This
    prefers ``sys._base_executable`` (the interpreter a venv was made from), then the base
    installation's ``bin/pythonX.Y``, each resolved with ``realpath`` and accepted only if
    it is an executable binary rather than a ``#!`` script. Cheap: a few ``stat`` calls.
    """
    major, minor = sys.version_info[:2]
    base = Path(sys.base_prefix)
    candidates: list[str | Path] = []
    base_executable = getattr(sys, "_base_executable", None)
    if isinstance(base_executable, str) and base_executable:
        candidates.append(base_executable)
    if os.name == "nt":
        candidates.append(base / "python.exe")
    else:
        candidates += [
            base / "bin" / f"python{major}.{minor}",
            base / "bin" / f"python{major}",
            base / "bin" / "python",
        ]
    candidates.append(sys.executable)
    for candidate in candidates:
        path = Path(os.path.realpath(candidate))
        if _is_binary(path):
            return path
    raise RuntimeError(
        f"cannot find the interpreter running corral as an executable file "
        f"(sys.executable={sys.executable!r}, sys.base_prefix={sys.base_prefix!r})"
    )


def interpreter_version() -> str:
    """``X.Y.Z`` of the interpreter running this process."""
    return ".".join(str(part) for part in sys.version_info[:3])
