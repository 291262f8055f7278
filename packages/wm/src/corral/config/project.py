"""Projects: which directories are projects, and loading one project's configuration.

A **project** is a directory holding a ``corral.toml`` or a ``pyproject.toml`` with a
``[tool.corral]`` table. When both exist, ``corral.toml`` wins and ``[tool.corral]`` in
``pyproject.toml`` is ignored (this is not an error). The top level of ``corral.toml`` is
the same table as ``[tool.corral]``. PEP 735 ``[dependency-groups]`` are always read from
``pyproject.toml`` (when there is one), whichever file holds the Corral settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from corral.config._reader import Table, Where
from corral.config.groups import TABLE_KEY, DependencyGroups
from corral.config.layers import ProjectLayer
from corral.config.merge import finalize
from corral.config.model import WORKSPACE_ENV, ProjectConfig
from corral.config.parse_layer import read_layer, read_presets
from corral.config.parse_runner import read_runner
from corral.config.toml_files import read_toml
from corral.locate import (
    CONFIG_FILE_NAMES,
    CORRAL_TOML,
    PYPROJECT_TOML,
    is_project,
    pyproject_declares_corral,
)

__all__ = [
    "CONFIG_FILE_NAMES",
    "CORRAL_TOML",
    "PYPROJECT_TOML",
    "SHIPPED_PRESETS",
    "WM_PRESETS",
    "canonical_name",
    "declared_distributions",
    "display_name",
    "is_project",
    "load_project",
    "pyproject_declares_corral",
]

PROJECT_KEYS = ("presets", "actions", "envs", "runner")


def display_name(file: Path, workspace_root: Path | None) -> str:
    """How messages name ``file``: relative to the workspace root if inside it, else its name."""
    if workspace_root is not None and file.is_relative_to(workspace_root):
        return file.relative_to(workspace_root).as_posix()
    return file.name


def load_project(directory: Path, *, workspace_root: Path | None = None) -> ProjectConfig:
    """The configuration of the project in ``directory``, without presets applied.

    Raises :class:`ConfigError` when ``directory`` is not a project or its configuration
    is invalid. ``workspace_root`` only changes how errors name files. The result's
    ``envs`` always contain ``dev_workspace``. When the project lists presets, a handler
    that gives no ``source`` may be overriding a preset's handler, so it is left out until
    :func:`corral.config.presets.apply_presets` (which raises if it is still incomplete);
    without presets it is an error here.
    """
    root = Path(directory).resolve()
    workspace = Path(workspace_root).resolve() if workspace_root is not None else None

    def where(name: str) -> Where:
        file = root / name
        return Where(file=file, display=display_name(file, workspace))

    pyproject: dict[str, Any] | None = None
    if (root / PYPROJECT_TOML).is_file():
        pyproject = read_toml(where(PYPROJECT_TOML))
    if (root / CORRAL_TOML).is_file():
        config_where = where(CORRAL_TOML)
        table = Table(
            config_where,
            "",
            read_toml(config_where),
            known=PROJECT_KEYS,
            hints={"tool": "in corral.toml the keys of [tool.corral] go at the top level"},
        )
    else:
        config_where = where(PYPROJECT_TOML)
        tool = (pyproject or {}).get("tool")
        if not isinstance(tool, dict) or "corral" not in tool:
            raise config_where.error(
                "tool.corral",
                found="nothing",
                expected=f"a [tool.corral] table in {PYPROJECT_TOML} or a {CORRAL_TOML} file",
                hint=f"{root} is not a Corral project",
            )
        table = Table(config_where, "tool.corral", tool["corral"], known=PROJECT_KEYS)
    presets = read_presets(table)
    layer = read_layer(table, require_source=False)
    runner = read_runner(table)
    groups = _dependency_groups(pyproject, where(PYPROJECT_TOML))
    actions, envs = finalize(
        layer, groups=groups, always_envs=(WORKSPACE_ENV,), sources_pending=bool(presets)
    )
    return ProjectConfig(
        root=root,
        config_file=config_where.file,
        presets=presets,
        actions=actions,
        envs=envs,
        runner=runner,
        _layer=ProjectLayer(config=layer, groups=groups),
    )


SHIPPED_PRESETS: tuple[str, ...] = ("corral-python", "corral-js")
"""Presets that come with Corral itself: a project may name them without declaring them."""
WM_PRESETS: tuple[str, ...] = ("corral-js",)
"""Shipped presets the Workspace Manager reads itself (``corral-js``: the ``preset.toml``
of ``packages/handlers-js`` in the checkout it runs from) instead of asking the project's
``dev_workspace`` runner: they are not Python distributions, so they are never added to
that env's dependencies."""
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical_name(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Corral_Python`` -> ``corral-python``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(requirements: tuple[str, ...]) -> set[str]:
    """The canonical distribution names the requirement strings ask for."""
    names = set()
    for requirement in requirements:
        match = _REQUIREMENT_NAME.match(requirement)
        if match is not None:
            names.add(canonical_name(match.group(1)))
    return names


def _dependency_groups(pyproject: dict[str, Any] | None, where: Where) -> DependencyGroups | None:
    if pyproject is None or TABLE_KEY not in pyproject:
        return None
    table = pyproject[TABLE_KEY]
    if not isinstance(table, dict):
        raise Table(where, "", pyproject, known=list(pyproject)).error(
            TABLE_KEY, table, "a table of dependency groups"
        )
    return DependencyGroups(table=table, where=where)
