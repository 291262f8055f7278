"""``corral run --changed [REF]`` and ``--staged``: act on the files git says changed.

The run's scope is chosen first as without these options (``--project``, ``PATHS``, the
project around the current directory, or the workspace: :mod:`.scope`);
:func:`narrow_to_changed` then keeps, of the files git lists (:mod:`corral.vcs`), those
inside the scope's projects (and under ``PATHS`` when given), and turns the run into one
over exactly those files (the projects that hold them run, each given its own files). A
project with no changed file does not run at all; when no project has one, the command
prints that nothing changed and exits 0.

Each project is asked about the git repository holding it, so a workspace may be one
repository or several. Projects outside any repository are skipped with a note, unless no
project is in one: that is a usage error (exit 2), as are a missing git and an unknown ref.
Files under a ``.corral/`` directory are Corral's own and never count.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
from corral_protocol.client import RunRequest

from ..locate import ProjectTree
from ..vcs import (
    Base,
    VcsError,
    changed_files,
    default_base,
    repository_root,
    resolve_base,
    staged_files,
)

__all__ = ["DEFAULT_BASE", "Changed", "add_changed_options", "narrow_to_changed", "select"]

DEFAULT_BASE: Final = "@merge-base"
"""What ``--changed`` without a value stands for: the merge base with the default branch."""
CORRAL_DIRECTORY: Final = ".corral"
"""Environments, WAL and caches Corral keeps in a project: never a change to act on, even
where no ignore file says so."""
EXIT_OK: Final = 0
EXIT_USAGE: Final = 2


def add_changed_options(run: argparse.ArgumentParser) -> None:
    """Add ``--changed [REF]`` and ``--staged`` (exclusive) to the ``run`` parser."""
    group = run.add_argument_group("changed files (git)")
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "--changed",
        nargs="?",
        const=DEFAULT_BASE,
        default=None,
        metavar="REF",
        help="only files changed since REF (default: the merge base with the default "
        "branch), committed or not, untracked ones included; deleted files are skipped",
    )
    which.add_argument(
        "--staged",
        action="store_true",
        help="only files staged in git's index (as a pre-commit hook would)",
    )


@dataclass
class Changed:
    """The changed files of the scope's projects, by project."""

    files: dict[Path, list[Path]]
    what: str
    """``changed since the merge base of HEAD and main`` / ``staged``."""
    skipped: list[Path] = field(default_factory=list)
    """Projects outside any git repository."""

    @property
    def count(self) -> int:
        return sum(len(f) for f in self.files.values())


def _under(path: Path, limits: Sequence[Path]) -> bool:
    return not limits or any(path == limit or path.is_relative_to(limit) for limit in limits)


def select(
    projects: Sequence[Path],
    owner_of: Any,
    *,
    ref: str | None,
    staged: bool,
    limits: Sequence[Path] = (),
) -> Changed:
    """The changed (``ref``: ``DEFAULT_BASE`` or a ref) or ``staged`` files of ``projects``
    (``owner_of(path)``: the project holding a path), under ``limits`` if any. Raises
    :class:`~corral.vcs.VcsError`."""
    repos: dict[Path, set[Path]] = {}
    skipped: list[Path] = []
    first_error: VcsError | None = None
    for project in projects:
        try:
            repos.setdefault(repository_root(project), set()).add(project)
        except VcsError as exc:
            if "not inside a git repository" not in str(exc):
                raise
            first_error = first_error or exc
            skipped.append(project)
    if not repos:
        raise first_error or VcsError("no project to look for changed files in")
    files: dict[Path, list[Path]] = {}
    bases: list[Base] = []
    for repo, members in repos.items():
        if staged:
            listed = staged_files(repo)
        else:
            base = default_base(repo) if ref == DEFAULT_BASE else resolve_base(repo, ref or "")
            bases.append(base)
            listed = changed_files(repo, base)
        for path in listed:
            if CORRAL_DIRECTORY in path.relative_to(repo).parts:  # Corral's own files
                continue
            owner = owner_of(path)
            if owner in members and _under(path, limits):
                files.setdefault(owner, []).append(path)
    if staged:
        what = "staged"
    elif len({b.description for b in bases}) == 1:
        what = f"changed since {bases[0].description}"
    else:
        what = "changed since the merge base with each repository's default branch"
    return Changed(files, what, skipped)


async def narrow_to_changed(
    args: argparse.Namespace, tree: ProjectTree, request: RunRequest
) -> RunRequest | int:
    """The request narrowed to the changed files (see the module docstring), or the exit
    code when the command ends here (nothing changed: 0; a git problem: 2, said on
    stderr). Without ``--changed``/``--staged``: ``request`` unchanged."""
    if args.changed is None and not args.staged:
        return request
    limits: list[Path] = []
    if request.project is not None:
        targets = [Path(request.project)]
    elif request.paths is not None:
        limits = [Path(p) for p in request.paths]
        owners = {tree.project_of(p) for p in limits}
        inside = {r for r in tree.roots for p in limits if r.is_relative_to(p)}
        targets = sorted({o for o in owners if o is not None} | inside)
    else:
        targets = list(tree.roots)
    try:
        changed = await asyncio.to_thread(
            select,
            targets,
            tree.project_of,
            ref=args.changed,
            staged=args.staged,
            limits=limits,
        )
    except VcsError as exc:
        sys.stderr.write(f"corral: error: {exc}\n")
        return EXIT_USAGE
    for skipped in changed.skipped:
        sys.stderr.write(f"note: skipping {skipped}: not in a git repository\n")
    if not changed.files:
        subject = "no staged files" if args.staged else f"no files {changed.what}"
        where = f"{len(targets)} project{'s' if len(targets) != 1 else ''}"
        line = f"{args.action}: {subject} in {where}: nothing to do"
        if getattr(args, "output", "text") == "json":
            sys.stderr.write(line + "\n")
            payload = {"status": "ok", "projects": [], "changedFiles": 0}
            sys.stdout.write(msgspec.json.encode(payload).decode() + "\n")
        else:
            sys.stdout.write(line + "\n")
        return EXIT_OK
    count = changed.count
    sys.stderr.write(
        f"note: {args.action} on {count} file{'s' if count != 1 else ''} {changed.what}\n"
    )
    files = sorted(str(f) for listed in changed.files.values() for f in listed)
    return msgspec.structs.replace(request, project=None, workspace=False, paths=files)
