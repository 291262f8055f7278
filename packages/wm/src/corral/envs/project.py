"""The project itself as a package of its environments (``install_project = true``).

Such an environment gets the project installed editable, with its runtime dependencies,
so tools that import or analyse it (mypy, pytest) see what its code imports. A project
is installable when its ``pyproject.toml`` has a ``[project]`` table or it has a
``setup.py``/``setup.cfg``; otherwise the environment gets only its other dependencies.

:attr:`ProjectMetadata.identity` is what the environment's stamp (and lock) records about
it: the parts of the project's metadata that decide what installing it installs
(dependencies, optional dependencies, requires-python, what is dynamic, the build
system), not its version or description, so editing code or bumping the version keeps
the environment.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ProjectMetadata", "project_metadata"]

_METADATA_KEYS = ("name", "dependencies", "optional-dependencies", "requires-python", "dynamic")
_SETUP_FILES = ("setup.py", "setup.cfg")
_REQUIRES_FLOOR = re.compile(r"(?:>=|~=|==)\s*3\.(\d+)")


@dataclass(frozen=True)
class ProjectMetadata:
    """What Corral reads of a project's packaging metadata (one ``pyproject.toml`` parse).

    ``installable``: see the module doc; ``identity``: ``"not installable"`` or
    ``"editable <sha256>"``; ``python_minor``: the ``N`` of the highest ``>=3.N`` (or
    ``~=``/``==``) in ``requires-python``, None without one.
    """

    installable: bool
    identity: str
    python_minor: int | None


def _pyproject(project: Path) -> dict[str, Any] | None:
    try:
        with (project / "pyproject.toml").open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return None


def project_metadata(project: Path) -> ProjectMetadata:
    """The :class:`ProjectMetadata` of ``project`` (a parse and a few small reads)."""
    data = _pyproject(project) or {}
    table = data.get("project")
    has_table = isinstance(table, dict)
    spec = table.get("requires-python") if isinstance(table, dict) else None
    spec = spec if isinstance(spec, str) else ""
    minor = max((int(m.group(1)) for m in _REQUIRES_FLOOR.finditer(spec)), default=None)
    setup = {name: project / name for name in _SETUP_FILES}
    installable = has_table or any(path.is_file() for path in setup.values())
    if not installable:
        return ProjectMetadata(False, "not installable", minor)
    metadata = {k: table.get(k) for k in _METADATA_KEYS} if isinstance(table, dict) else {}
    digest = hashlib.sha256()
    digest.update(json.dumps(metadata, sort_keys=True, default=str).encode())
    digest.update(json.dumps(data.get("build-system"), sort_keys=True, default=str).encode())
    for name, path in setup.items():
        try:
            digest.update(name.encode() + b"\0" + path.read_bytes())
        except OSError:
            continue
    return ProjectMetadata(True, f"editable {digest.hexdigest()}", minor)
