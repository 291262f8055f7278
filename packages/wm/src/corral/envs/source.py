"""Where the Python reference runner (``corral-runner``) installed into each env comes from.

Two kinds (:class:`RunnerSource`):

- ``local``: source checkouts (directories holding a ``pyproject.toml``), used when the WM
  itself runs from a workspace checkout. They are built into wheels once per
  :class:`~corral.envs.prepare.EnvPreparer` and installed as regular (non-editable)
  packages. Their identity includes a fingerprint of the source files (relative paths,
  sizes, mtimes: cheap, no file contents read), so editing the runner makes every env
  stale and the next preparation reinstalls it.
- ``registry``: a requirement such as ``corral-runner==0.1.0``, resolved from the package
  index like any other dependency.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from corral.envs.paths import absolute
from corral.pyrunner import RUNNER_DIST, RUNNER_PACKAGE

RUNNER_LOCAL_DEPS = (("corral_protocol", "corral-protocol"), ("corral_wal", "corral-wal"))
"""(module, distribution) of the runner's own dependencies that a checkout also provides."""

# Directories never part of what gets built (tests are not in the wheels either).
_SKIP_DIRS = frozenset({"__pycache__", "tests", "build", "dist", "node_modules"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class RunnerSource:
    """How ``corral-runner`` gets into a Python environment.

    Build one with :meth:`local` or :meth:`registry` (or :func:`detect_runner_source`).
    ``paths`` are absolute checkout directories for ``local``; ``requirement`` is the
    requirement string for ``registry``.
    """

    kind: Literal["local", "registry"]
    paths: tuple[Path, ...] = ()
    requirement: str | None = None

    @classmethod
    def local(cls, paths: Iterable[Path]) -> RunnerSource:
        """Source checkouts to build and install (the runner's and any of its local deps).

        Raises ``ValueError`` if a path has no ``pyproject.toml`` or none is given.
        """
        resolved = tuple(absolute(Path(p)) for p in paths)
        if not resolved:
            raise ValueError("a local runner source needs at least one checkout directory")
        for path in resolved:
            if not (path / "pyproject.toml").is_file():
                raise ValueError(f"{path} is not a Python project (no pyproject.toml)")
        return cls("local", paths=resolved)

    @classmethod
    def registry(cls, requirement: str) -> RunnerSource:
        """A requirement resolved from the package index, e.g. ``corral-runner==0.1.0``."""
        if not requirement.strip() or requirement.lstrip().startswith("-"):
            raise ValueError(f"invalid runner requirement {requirement!r}")
        return cls("registry", requirement=requirement)

    def identity(self, fingerprint: Callable[[Path], str] | None = None) -> str:
        """A string that changes whenever what would be installed changes.

        ``registry:<requirement>`` or ``local:<sha256 of paths + source fingerprint>``.
        Recomputed on every call (a directory walk of the checkouts, ~0.5 ms here) unless
        ``fingerprint`` (e.g. a :class:`Fingerprints`) remembers them.
        """
        if self.kind == "registry":
            return f"registry:{self.requirement}"
        fingerprint = fingerprint or source_fingerprint
        digest = hashlib.sha256()
        for path in self.paths:
            digest.update(f"{path}\0{fingerprint(path)}\n".encode())
        return f"local:{digest.hexdigest()}"

    def describe(self) -> str:
        """Human description for messages."""
        if self.kind == "registry":
            return f"{self.requirement} from the package index"
        return "local checkout " + ", ".join(str(p) for p in self.paths)

    def dist_names(self) -> tuple[str, ...]:
        """Distribution names of the local checkouts (``[project].name``); empty for registry."""
        return tuple(project_name(path) or path.name for path in self.paths)


class Fingerprints:
    """:func:`source_fingerprint` remembered for ``ttl`` seconds per checkout.

    A workspace of many projects checks the same checkouts once per env within moments;
    one walk serves them all. A checkout edited less than ``ttl`` before a check can look
    unchanged to that check (the next one sees it).
    """

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._known: dict[Path, tuple[float, str]] = {}

    def __call__(self, root: Path) -> str:
        now = self._clock()
        known = self._known.get(root)
        if known is not None and now - known[0] < self._ttl:
            return known[1]
        value = source_fingerprint(root)
        self._known[root] = (now, value)
        return value


def source_fingerprint(root: Path) -> str:
    """sha256 over (relative path, size, mtime_ns) of the files that make up a checkout.

    Skips hidden entries, ``__pycache__``, ``tests``, ``build``, ``dist``, ``*.egg-info``,
    ``node_modules`` and compiled bytecode. Reads no file contents.
    """
    entries: list[tuple[str, int, int]] = []
    pending = [""]  # directories to visit, relative to root ("" is root itself)
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(os.path.join(root, relative) if relative else root) as listing:
                children = list(listing)
        except OSError:
            continue
        for entry in children:
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{relative}/{name}" if relative else name
            try:
                if entry.is_dir():
                    if name not in _SKIP_DIRS and not name.endswith(".egg-info"):
                        pending.append(rel)
                    continue
                if name.endswith(_SKIP_SUFFIXES):
                    continue
                info = entry.stat()
            except OSError:
                continue
            entries.append((rel, info.st_size, info.st_mtime_ns))
    digest = hashlib.sha256()
    for rel, size, mtime in sorted(entries):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def project_name(path: Path) -> str | None:
    """``[project].name`` of ``path/pyproject.toml``, or None if absent or unreadable."""
    try:
        with (path / "pyproject.toml").open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    if isinstance(project, dict):
        name = project.get("name")
        if isinstance(name, str):
            return name
    return None


def checkout_root(module: str, dist: str) -> Path | None:
    """The source checkout that provides importable ``module``, if it is one.

    Walks up from the module's file to the first directory holding a ``pyproject.toml``
    and accepts it if its ``[project].name`` is ``dist``. Returns None when the module is
    not importable, lives in an installed ``site-packages``/``dist-packages``, or the
    nearest ``pyproject.toml`` belongs to another project. Does not import the module.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    start = Path(spec.origin).resolve()
    for parent in start.parents:
        if parent.name in ("site-packages", "dist-packages"):
            return None
        if (parent / "pyproject.toml").is_file():
            return parent if project_name(parent) == dist else None
    return None


def detect_runner_source() -> RunnerSource:
    """How to install the runner at the WM's own version.

    If ``corral_runner`` is importable from a source checkout (a workspace like this
    repository), that checkout, plus the checkouts of ``corral_protocol`` and ``corral_wal``
    where they are ones too (the runner depends on them at the same version, which the index
    may not have). Otherwise ``corral-runner==<version of corral>`` from the index.
    """
    runner = checkout_root(RUNNER_PACKAGE, RUNNER_DIST)
    if runner is not None:
        deps = [checkout_root(module, dist) for module, dist in RUNNER_LOCAL_DEPS]
        return RunnerSource.local([runner, *(path for path in deps if path is not None)])
    try:
        version = importlib.metadata.version("corral")
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError(
            "cannot tell which corral-runner to install: corral_runner is not in a source "
            "checkout and the 'corral' distribution is not installed"
        ) from exc
    return RunnerSource.registry(f"{RUNNER_DIST}=={version}")
