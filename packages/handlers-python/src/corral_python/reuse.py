"""Reusing a tool's last result while nothing it reads has changed.

A runner lives long (docs/architecture.md#runner-per-env), so a handler can remember what
``ruff check`` said about the project and answer the next identical request without starting
ruff again. The result is reused only when a :class:`TreeStamp` taken now equals the one
taken just before the tool ran last time. A stamp covers:

* every file and directory under the tool's working directory (path, kind, size, inode,
  mtime and ctime in nanoseconds), so an edit, a new file, a deletion or a rename anywhere
  in the project is noticed — including files the tool does not lint but reads, such as
  ``pyproject.toml``, ``ruff.toml`` and ``.gitignore``;
* the config files the tool may read above the project (``pyproject.toml``, ``ruff.toml``,
  ``.ruff.toml``, ``.gitignore``, ``.ignore`` in every ancestor directory,
  ``.git/info/exclude`` there and in the project), the files symlinks in the project point
  to, and the tool's executable;
* the exact command line.

Not walked, on purpose: version-control internals, caches and Corral's own environments
(:data:`SKIPPED_DIRECTORIES`) and the directories ruff excludes by default
(:data:`TOOL_EXCLUDED_DIRECTORIES`, e.g. ``.venv`` and ``node_modules``: walking them would
cost more than running the tool). A project whose ruff ``exclude`` setting brings those
back should turn reuse off (``reuse = false`` in the handler's config). So should one whose
tool reads something else that can change while the runner is up: a config outside the
project that is neither an ancestor's nor in the tree (``extend = "../../base.toml"``,
``--config`` in ``args``), the user-level ruff config, git's global excludes file,
environment variables. A tree larger than :data:`MAX_ENTRIES` is never reused.

Racy stamps: file times have a coarse granularity (a few milliseconds), so a file written
twice within one tick, with the same size, looks unchanged. A stamp in which any entry was
modified less than :data:`SETTLE_NS` before the stamp was taken is therefore never stored
(the next run goes to the tool again) — the rule git uses for its index.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

__all__ = [
    "MAX_ENTRIES",
    "SETTLE_NS",
    "SKIPPED_DIRECTORIES",
    "TOOL_EXCLUDED_DIRECTORIES",
    "TreeStamp",
    "declare_tree_inputs",
    "reuse_or_run",
]

T = TypeVar("T")

MAX_ENTRIES = 20_000
"""Above this many files and directories a tree is not stamped (the tool always runs)."""

SETTLE_NS = 2_000_000_000
"""An entry modified (mtime) less than this long (2 s) before the stamp makes it racy."""

SKIPPED_DIRECTORIES = frozenset(
    {".corral", ".git", ".hg", ".svn", ".bzr", "__pycache__", ".ruff_cache", ".mypy_cache"}
    | {".pytest_cache", ".pytype"}
)
"""Directories whose contents no linter reads: VCS internals, caches, Corral's envs."""

TOOL_EXCLUDED_DIRECTORIES = frozenset(
    {".direnv", ".eggs", ".git-rewrite", ".ipynb_checkpoints", ".nox", ".pants.d", ".pyenv"}
    | {".tox", ".venv", ".vscode", "__pypackages__", "_build", "buck-out", "dist"}
    | {"node_modules", "site-packages", "venv"}
)
"""ruff's default ``exclude`` list (the names not already in :data:`SKIPPED_DIRECTORIES`)."""

ANCESTOR_FILES = ("pyproject.toml", "ruff.toml", ".ruff.toml", ".gitignore", ".ignore")
"""Files in directories above the project that can change what ruff does."""

_Entry = tuple[str, int, int, int, int, int]
"""(path, mode, size, inode, mtime_ns, ctime_ns)"""


@dataclass(frozen=True, slots=True)
class TreeStamp:
    """What a tool run could have read, as file metadata; compare two with ``==``."""

    command: tuple[str, ...]
    entries: frozenset[_Entry]
    racy: bool

    @classmethod
    def take(
        cls, root: Path, command: Sequence[str], *, extra: Sequence[Path] = ()
    ) -> TreeStamp | None:
        """Stamp ``root`` (walked), its ancestors' config files and ``extra`` files.

        ``None`` when the tree has more than :data:`MAX_ENTRIES` entries or ``root`` cannot
        be read: such a tree is never reused.
        """
        now = time.time_ns()
        entries: set[_Entry] = set()
        resolved = root.resolve()
        for directory in resolved.parents:
            for name in ANCESTOR_FILES:
                _add(entries, directory / name)
        for directory in (resolved, *resolved.parents):  # .git itself is not walked
            _add(entries, directory / ".git" / "info" / "exclude")
        for path in extra:
            _add(entries, path)
        if not _walk(str(root), entries, MAX_ENTRIES + len(entries)):
            return None
        racy = any(abs(now - entry[4]) < SETTLE_NS for entry in entries)
        return cls(command=tuple(command), entries=frozenset(entries), racy=racy)


def _entry(path: str, info: os.stat_result, size: int) -> _Entry:
    return (path, info.st_mode, size, info.st_ino, info.st_mtime_ns, info.st_ctime_ns)


def _add(entries: set[_Entry], path: Path) -> None:
    try:
        info = os.stat(path)
    except OSError:
        return  # absent: nothing to record (its appearance changes its directory's stamp
        # only inside the walked tree -- above it, a new config file is seen next run)
    entries.add(_entry(str(path), info, info.st_size))


def _walk(top: str, entries: set[_Entry], limit: int) -> bool:
    """Add every entry under ``top`` (iteratively; symlinks are stamped, not followed)."""
    pending = [top]
    while pending:
        directory = pending.pop()
        try:
            info = os.stat(directory)
            scan = os.scandir(directory)
        except OSError:
            return False
        entries.add(_entry(directory, info, 0))  # a directory's size says nothing new
        with scan:
            for entry in scan:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if is_dir:
                        if (
                            entry.name in SKIPPED_DIRECTORIES
                            or entry.name in TOOL_EXCLUDED_DIRECTORIES
                        ):
                            continue
                        pending.append(entry.path)
                        continue
                    stat = entry.stat(follow_symlinks=False)
                    if entry.is_symlink():  # ruff reads the file it points to
                        _add(entries, Path(entry.path).resolve())
                except OSError:
                    return False
                entries.add(_entry(entry.path, stat, stat.st_size))
        if len(entries) > limit:
            return False
    return True


def declare_tree_inputs(ctx: Any, key: str, *, tool: str) -> None:
    """Declare to the WM (SPEC.md §9.4.1) what a :class:`TreeStamp` covers: the project's
    tree (minus what the tool excludes by default), the configs above it, git's exclude
    files there, the tool's executable (``tool``, when it is a path) and ``key``."""
    project = Path(ctx.project).resolve()
    files = [directory / ".git" / "info" / "exclude" for directory in (project, *project.parents)]
    if os.path.isabs(tool):
        files.append(Path(tool))
    ctx.declare_inputs(
        tree=True,
        skip=sorted(TOOL_EXCLUDED_DIRECTORIES),
        ancestors=ANCESTOR_FILES,
        files=files,
        key=key,
    )


async def reuse_or_run(
    state: dict[str, Any],
    key: str,
    stamp: Callable[[], TreeStamp | None],
    run: Callable[[], Awaitable[T]],
    *,
    enabled: bool = True,
) -> tuple[T, bool]:
    """``run()``'s result, or the one remembered under ``key`` if nothing changed since.

    Returns ``(result, reused)``. The stamp is taken *before* ``run()``, so a change made
    while the tool runs is seen by the next call. Only successful results are kept; a
    racy or missing stamp keeps nothing. ``state`` is the handler's
    :attr:`~corral_runner.sdk.ActionContext.state`; one entry per key. A result is kept
    msgspec-encoded and decoded as its type on reuse (a fresh copy, far cheaper than
    ``copy.deepcopy``), so it must be a value that round-trips: a Struct result does.
    """
    if not enabled:
        return await run(), False
    before = await asyncio.to_thread(stamp)
    remembered = state.get(key)
    if before is not None and remembered is not None and remembered[0] == before:
        _, kind, encoded = remembered  # kept encoded: callers may change what they get
        return msgspec.json.decode(encoded, type=kind), True
    state.pop(key, None)
    result = await run()
    if before is not None and not before.racy:
        state[key] = (before, type(result), msgspec.json.encode(result))
    return result, False
