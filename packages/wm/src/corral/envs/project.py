"""The project itself as a package of its environments (``install_project = true``).

Such an environment gets the project installed editable, with its runtime dependencies,
so tools that import or analyse it (mypy, pytest) see what its code imports. A project
is installable when its ``pyproject.toml`` has a ``[project]`` table or it has a
``setup.py``/``setup.cfg``; otherwise the environment gets only its other dependencies.

:func:`install_identity` is what the environment's stamp (and lock) records about it: the
parts of the project's metadata that decide what installing it installs (dependencies,
optional dependencies, requires-python, what is dynamic, the build system), not its
version or description, so editing code or bumping the version keeps the environment.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["install_identity", "installable"]

_METADATA_KEYS = ("name", "dependencies", "optional-dependencies", "requires-python", "dynamic")
_SETUP_FILES = ("setup.py", "setup.cfg")


def _pyproject(project: Path) -> dict[str, Any] | None:
    try:
        with (project / "pyproject.toml").open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return None


def installable(project: Path) -> bool:
    """Whether ``project`` can be installed as a package (see the module doc)."""
    data = _pyproject(project)
    if data is not None and isinstance(data.get("project"), dict):
        return True
    return any((project / name).is_file() for name in _SETUP_FILES)


def install_identity(project: Path) -> str:
    """``"not installable"``, or ``"editable <sha256>"`` of what decides the install."""
    if not installable(project):
        return "not installable"
    data = _pyproject(project) or {}
    table = data.get("project")
    metadata = {k: table.get(k) for k in _METADATA_KEYS} if isinstance(table, dict) else {}
    digest = hashlib.sha256()
    digest.update(json.dumps(metadata, sort_keys=True, default=str).encode())
    digest.update(json.dumps(data.get("build-system"), sort_keys=True, default=str).encode())
    for name in _SETUP_FILES:
        try:
            digest.update(name.encode() + b"\0" + (project / name).read_bytes())
        except OSError:
            continue
    return f"editable {digest.hexdigest()}"
