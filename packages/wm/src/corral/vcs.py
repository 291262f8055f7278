"""Which files git says changed: for ``corral run --changed [REF]`` and ``--staged``.

Every git command is an argv list (no shell) with ``-z`` output, so any file name (spaces,
quotes, newlines, non-ASCII) comes back exactly; ``GIT_OPTIONAL_LOCKS=0`` keeps these reads
from taking the index lock an editor or a running commit may hold.

* :func:`changed_files`: files that differ between ``base`` and the working tree (committed
  since ``base``, staged or not) plus untracked files that are not ignored.
* :func:`staged_files`: files whose index entry differs from ``HEAD`` (all staged files in
  a repository without commits yet). The files are then read from the working tree, which
  may hold unstaged edits on top.
* :func:`default_base`: the merge base of ``HEAD`` with the default branch: the branch
  ``origin/HEAD`` points to, else ``main``, ``master``, ``origin/main``, ``origin/master``,
  whichever exists first; :class:`VcsError` saying to pass a ref when none does.

Deleted files are never listed (there is nothing to act on), renamed ones under their new
name, and submodules not at all (a changed submodule is a commit id, not files to lint).
Paths are returned absolute. Errors are :class:`VcsError` with a message that says what to
do: git missing, not a repository, an unknown ref.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "Base",
    "VcsError",
    "changed_files",
    "default_base",
    "repository_root",
    "resolve_base",
    "staged_files",
]

DEFAULT_BRANCHES: Final = ("main", "master", "origin/main", "origin/master")
"""Tried in this order when ``origin/HEAD`` is not set (a repository that was not cloned,
or whose remote was added by hand)."""
DIFF: Final = ("--name-only", "-z", "--no-renames", "--diff-filter=d", "--ignore-submodules=all")
"""New names only (a rename is a deletion plus an addition without rename detection, and
deletions are filtered out), NUL-separated, submodules left out."""
GIT_TIMEOUT: Final = 60.0


class VcsError(Exception):
    """git could not answer; the message names the directory or ref and what to do."""


@dataclass(frozen=True)
class Base:
    """What ``--changed`` compares against: a commit, and how it was chosen (for
    messages: ``the merge base of HEAD and origin/main``)."""

    commit: str
    description: str


def _git(repo: Path, *args: str) -> str:
    """Run ``git -C repo args`` and return its stdout; VcsError on failure."""
    git = shutil.which("git")
    if git is None:
        raise VcsError("git is not installed (or not on PATH): --changed and --staged need it")
    try:
        done = subprocess.run(  # noqa: S603  (an argv list of git's own arguments)
            [git, "-C", str(repo), *args],
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VcsError(f"git {args[0]} failed in {repo}: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise VcsError(f"git {args[0]} failed in {repo}: {message}")
    return done.stdout.decode(errors="surrogateescape")


def repository_root(path: Path) -> Path:
    """The top directory of the git work tree holding ``path``."""
    try:
        out = _git(path, "rev-parse", "--show-toplevel")
    except VcsError as exc:
        if "not a git repository" in str(exc).lower():
            raise VcsError(
                f"{path} is not inside a git repository: --changed and --staged need one "
                "(or name the files to act on instead)"
            ) from None
        raise
    return Path(out.strip())


def _exists(repo: Path, ref: str) -> bool:
    try:
        _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except VcsError:
        return False
    return True


def _origin_head(repo: Path) -> str | None:
    """The branch ``origin/HEAD`` points to (``origin/main``), if it is set."""
    try:
        out = _git(repo, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    except VcsError:
        return None
    return out.strip() or None


def default_base(repo: Path) -> Base:
    """The merge base of ``HEAD`` with the default branch (see the module docstring)."""
    if not _exists(repo, "HEAD"):
        raise VcsError(
            f"the repository at {repo} has no commit yet: nothing to compare with "
            "(use --staged, or name the files)"
        )
    head = _origin_head(repo)
    candidates = ([head] if head else []) + [b for b in DEFAULT_BRANCHES if b != head]
    for branch in candidates:
        if _exists(repo, branch):
            commit = _git(repo, "merge-base", "HEAD", branch).strip()
            return Base(commit, f"the merge base of HEAD and {branch}")
    raise VcsError(
        f"cannot tell the default branch of {repo} (no origin/HEAD, main or master): "
        "pass the ref to compare with, e.g. --changed develop or --changed HEAD~3"
    )


def resolve_base(repo: Path, ref: str) -> Base:
    """``ref`` as a commit of ``repo``; VcsError naming it if there is no such commit."""
    if ref.startswith("-") or not _exists(repo, ref):
        raise VcsError(f"--changed {ref}: no such commit, branch or tag in {repo}")
    commit = _git(repo, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}").strip()
    return Base(commit, ref)


def _paths(repo: Path, output: str) -> list[Path]:
    """NUL-separated repository-relative names as absolute paths of files that exist."""
    paths = []
    for name in output.split("\0"):
        if not name:
            continue
        path = repo / name
        if path.is_file():  # not deleted in the work tree since, not a directory
            paths.append(path)
    return paths


def changed_files(repo: Path, base: Base) -> list[Path]:
    """Files changed since ``base`` (committed, staged or not) and untracked files that
    are not ignored; sorted, each once."""
    changed = _git(repo, "diff", *DIFF, base.commit, "--")
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "-z", "--")
    return sorted(set(_paths(repo, changed) + _paths(repo, untracked)))


def staged_files(repo: Path) -> list[Path]:
    """Files staged in the index (against ``HEAD``, or all of them before the first
    commit); sorted."""
    return sorted(set(_paths(repo, _git(repo, "diff", "--cached", *DIFF, "--"))))
