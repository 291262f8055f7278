"""Which scope ``corral run`` asks for, decided on the client's side of the protocol.

* ``--project DIR``: that project;
* ``PATHS``: the projects holding them (each given its own files; relative paths are
  relative to the current directory; a path that does not exist is a usage error);
* ``--workspace``: every project that defines the action;
* none of these: the project around the current directory when it is not the workspace
  root, else the root when it is a project, else the whole workspace.

``--changed``/``--staged`` then narrow the scope to the files git lists
(:mod:`corral.cli.changed`). The result is a :class:`~corral_protocol.client.RunRequest`:
what the embedded WM and the server run alike.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from corral_protocol.client import RunRequest

from ..errors import UsageError
from ..locate import ProjectTree, is_project

__all__ = ["inside_projects", "run_request"]


def inside_projects(paths: list[Path], tree: ProjectTree) -> list[Path]:
    """The ``paths`` (relative to the current directory) that some project holds."""
    cwd = Path.cwd()
    return [path for path in paths if tree.project_of(cwd / path) is not None]


def run_request(
    args: argparse.Namespace, root: Path, tree: ProjectTree, params: dict[str, Any]
) -> RunRequest:
    """The request the arguments ask for (before ``--changed``/``--staged``)."""
    cwd = Path.cwd()
    common: dict[str, Any] = {"action": args.action, "params": params, "source": "cli"}
    if args.project is not None:
        project = (cwd / args.project).resolve()
        if project not in tree.roots:
            raise UsageError(f"{args.project} is not a Corral project of {root}")
        return RunRequest(project=str(project), **common)
    if args.paths:
        paths = []
        for path in args.paths:
            absolute = (cwd / path).resolve()
            if not absolute.exists():
                raise UsageError(f"{path}: no such file or directory")
            paths.append(str(absolute))
        return RunRequest(paths=paths, **common)
    if not tree.roots:
        raise UsageError(
            f"no Corral project under {root} "
            "(a project has [tool.corral] in pyproject.toml or a corral.toml)"
        )
    if not args.workspace and is_project(cwd) and cwd.resolve() != root:
        return RunRequest(project=str(cwd.resolve()), **common)
    if not args.workspace and is_project(root):
        return RunRequest(project=str(root), **common)
    return RunRequest(workspace=True, **common)
