"""The WM's result cache: answering a run from disk while nothing it depends on changed.

Handlers declare what their result depends on (SPEC.md §9.4.1, ``HandlerInputs``). When
every handler of a segment (one ``actions/run``) declared, the WM keeps the segment's
result in ``<project>/.corral/results/<key>.json``, keyed by everything that decides it:
the project, the runner-side action, the params, each handler's name, source and
configuration, and the env's stamp (what is installed, tool versions included). The next
identical request — from any process: the server, a later command, an embedded run on CI —
is answered from that file without starting or asking a runner, marked ``reused``, while a
*stamp* of the declared inputs taken now equals the stored one:

* the metadata (path, kind, size, inode, modification and change time in nanoseconds) of
  every file of the project's tree, and the name of every directory in it (except VCS
  internals, caches, ``.corral``, and the declared ``skip`` names), of the declared
  ``ancestors`` in every directory above the project and of the declared ``files`` — a
  missing one counts as missing, so its appearance is a change; symlinks in the tree
  count with their targets;
* the declared ``key``.

Racy results are never kept (git's rule for its index): a stamp in which anything was
modified or changed less than :data:`SETTLE_NS` before the run started, or after, may not
show a change the tool did or did not see. Trees of more than :data:`MAX_TREE_ENTRIES`
entries are never stamped. Requests carrying buffer contents (``documents``) are not kept.
Per project at most :data:`MAX_ENTRIES` results are kept (the least recently used go).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
from corral_protocol.messages import HandlerInputs, RunResult

__all__ = [
    "BUILTIN_SKIP",
    "MAX_ENTRIES",
    "MAX_TREE_ENTRIES",
    "RESULT_CACHE_VARIABLE",
    "SETTLE_NS",
    "CacheKey",
    "ResultCache",
    "take_stamp",
]

FORMAT: Final = 1
MAX_ENTRIES: Final = 64
MAX_TREE_ENTRIES: Final = 20_000
SETTLE_NS: Final = 2_000_000_000
BUILTIN_SKIP: Final = frozenset(
    {".corral", ".git", ".hg", ".svn", ".bzr", "__pycache__", ".ruff_cache", ".mypy_cache"}
    | {".pytest_cache", ".pytype"}
)
"""Directories never walked: VCS internals, caches, Corral's own files."""
RESULT_CACHE_VARIABLE: Final = "CORRAL_RESULT_CACHE"
"""The environment variable that turns the cache off (``0``) where a WM starts."""
UNCACHED_PARAMS: Final = frozenset({"documents"})
"""Params members whose presence means the request is about unsaved text: never kept."""


class CacheKey(msgspec.Struct, frozen=True):
    """Everything but the inputs that decides a segment's result."""

    project: str
    action: str
    """The runner-side action (a segment's name)."""
    params: Any
    handlers: Any
    """Each handler's name, source, env, configuration and dependencies, in order."""
    env_stamp: str
    """sha256 of the env's stamp file: what is installed in it."""

    def digest(self) -> str:
        return hashlib.sha256(msgspec.json.encode(self, order="sorted")).hexdigest()


class Stamp(msgspec.Struct, frozen=True):
    """A digest of the declared inputs' metadata, and the newest time in it."""

    digest: str
    newest_ns: int


class _Entry(msgspec.Struct, frozen=True):
    format: int
    key: str
    inputs: list[HandlerInputs]
    stamp: str
    result: RunResult


def file_digest(path: Path) -> str | None:
    """sha256 of the file at ``path`` (an env's stamp), or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _record(entries: list[str], path: str) -> tuple[os.stat_result | None, int]:
    """Add ``path``'s metadata (or its absence) to ``entries``; (stat, newest time)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        entries.append(f"{path}\0absent")
        return None, 0
    if stat.S_ISDIR(info.st_mode):
        # A directory's listing is in the entries already; its own times change whenever
        # a skipped name (a tool's cache) comes or goes, which decides nothing.
        entries.append(f"{path}\0dir")
        return info, 0
    entries.append(
        f"{path}\0{info.st_mode}\0{info.st_size}\0{info.st_ino}"
        f"\0{info.st_mtime_ns}\0{info.st_ctime_ns}"
    )
    return info, max(info.st_mtime_ns, info.st_ctime_ns)


def _walk(root: str, skip: frozenset[str], entries: list[str], limit: int) -> int | None:
    """Add the tree under ``root``; the newest time, or None past ``limit`` entries."""
    newest = 0
    pending = [root]
    while pending:
        directory = pending.pop()
        _, when = _record(entries, directory)
        newest = max(newest, when)
        try:
            scan = os.scandir(directory)
        except OSError:
            continue
        with scan:
            for entry in scan:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in skip:
                            pending.append(entry.path)
                        continue
                    info, when = _record(entries, entry.path)
                    newest = max(newest, when)
                    if info is not None and entry.is_symlink():  # the tool reads the target
                        _, when = _record(entries, os.path.realpath(entry.path))
                        newest = max(newest, when)
                except OSError:
                    entries.append(f"{entry.path}\0unreadable")
        if len(entries) > limit:
            return None
    return newest


def take_stamp(project: Path, declared: Sequence[HandlerInputs]) -> Stamp | None:
    """The stamp of everything ``declared`` (see the module docstring); None when a tree is
    too large to stamp."""
    entries: list[str] = []
    newest = 0
    resolved = project.resolve()
    for inputs in declared:
        entries.append(f"key\0{inputs.key}")
        if inputs.tree:
            walked = _walk(
                str(resolved), BUILTIN_SKIP | frozenset(inputs.skip), entries, MAX_TREE_ENTRIES
            )
            if walked is None:
                return None
            newest = max(newest, walked)
        for name in inputs.ancestors:
            for directory in resolved.parents:
                newest = max(newest, _record(entries, str(directory / name))[1])
        for file in inputs.files:
            newest = max(newest, _record(entries, str(resolved / file))[1])
    digest = hashlib.sha256("\n".join(sorted(entries)).encode(errors="surrogateescape"))
    return Stamp(digest=digest.hexdigest(), newest_ns=newest)


def _declared(result: RunResult) -> list[HandlerInputs] | None:
    """Every handler's declaration, or None when one did not declare (or failed)."""
    if result.status != "ok":
        return None
    declared = []
    for outcome in result.handlers:
        if not isinstance(outcome.inputs, HandlerInputs):
            return None
        declared.append(outcome.inputs)
    return declared or None


def mark_reused(result: Any) -> Any:
    """A ToolResult-shaped ``result`` with every tool's summary marked ``reused``."""
    if not isinstance(result, dict) or not isinstance(result.get("summary"), dict):
        return result
    summary = {
        tool: ({**value, "reused": True} if isinstance(value, dict) else value)
        for tool, value in result["summary"].items()
    }
    return {**result, "summary": summary}


class ResultCache:
    """See the module docstring. File system work only: callers run it in a thread."""

    def __init__(self, *, enabled: bool = True, clock: Any = time.time_ns) -> None:
        self.enabled = enabled
        self._clock = clock

    @staticmethod
    def _directory(project: Path) -> Path:
        return project / ".corral" / "results"

    @staticmethod
    def cacheable(params: Any) -> bool:
        return not (isinstance(params, dict) and UNCACHED_PARAMS.intersection(params))

    def lookup(self, project: Path, key: CacheKey) -> RunResult | None:
        """The kept result for ``key`` if its inputs are unchanged (marked reused)."""
        if not self.enabled or not self.cacheable(key.params):
            return None
        digest = key.digest()
        path = self._directory(project) / f"{digest[:32]}.json"
        try:
            entry = msgspec.json.decode(path.read_bytes(), type=_Entry)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        if entry.format != FORMAT or entry.key != digest:
            return None
        now = take_stamp(project, entry.inputs)
        if now is None or now.digest != entry.stamp:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return msgspec.structs.replace(entry.result, result=mark_reused(entry.result.result))

    def store(self, project: Path, key: CacheKey, result: RunResult, started_ns: int) -> bool:
        """Keep ``result`` if every handler declared its inputs and none changed since the
        run started (minus :data:`SETTLE_NS`); whether it was kept."""
        declared = _declared(result)
        if not self.enabled or declared is None or not self.cacheable(key.params):
            return False
        stamp = take_stamp(project, declared)
        if stamp is None or stamp.newest_ns >= started_ns - SETTLE_NS:
            return False
        digest = key.digest()
        entry = _Entry(
            format=FORMAT, key=digest, inputs=declared, stamp=stamp.digest, result=result
        )
        directory = self._directory(project)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = directory / f"{digest[:32]}.json"
            temporary = directory / f".{digest[:32]}.{os.getpid()}.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(msgspec.json.encode(entry))
            os.replace(temporary, path)
        except OSError:
            return False  # a cache that cannot be written is no cache
        self._prune(directory)
        return True

    @staticmethod
    def _prune(directory: Path) -> None:
        try:
            files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        except OSError:
            return
        for old in files[: max(0, len(files) - MAX_ENTRIES)]:
            with contextlib.suppress(OSError):
                old.unlink()

    def forget(self, projects: Iterable[Path]) -> None:
        """Drop every kept result of ``projects``."""
        for project in projects:
            for path in self._directory(project).glob("*.json"):
                with contextlib.suppress(OSError):
                    path.unlink()
