"""What a fork server preloaded, whether an env may be forked from it, and how a child
moves the preloaded modules' paths into its own env (see :mod:`corral_runner.forkserver`).

An env (and the project a runner serves in it) may be forked from a template only if a
fresh ``<env python> -m corral_runner`` in that project would have imported the same code:

* same base interpreter (``pyvenv.cfg``: ``home``, ``version_info``, ``implementation``,
  ``include-system-site-packages``);
* the same top-level entries in ``site-packages`` (so no package, ``.pth`` file or
  ``sitecustomize`` that the template lacks, including optional dependencies a preloaded
  module looked for and did not find) and byte-identical ``.pth`` files;
* for every distribution a preloaded module came from, the same ``RECORD`` lines (path,
  SHA-256, size) for its ``site-packages`` files, and each loaded file of the same size
  on disk (a cheap guard against a hand-edited file); identical bytes for loaded files
  no ``RECORD`` lists;
* the template's own loaded files unchanged since it loaded them;
* no module in the project directory (first on ``sys.path`` under ``-m``) with the name
  of a preloaded top-level module or of one the preload found missing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["Misses", "Relocation", "Template", "site_packages"]

VENV_KEYS: Final = ("home", "version_info", "implementation", "include-system-site-packages")
MODULE_SUFFIXES: Final = (".py", ".pyc", ".so", ".pyd")


def site_packages(prefix: str) -> str:
    """The purelib directory of the environment at ``prefix``."""
    return sysconfig.get_path("purelib", vars={"base": prefix, "platbase": prefix})


def _venv_config(prefix: str) -> dict[str, str]:
    """The ``pyvenv.cfg`` entries that decide which interpreter an env runs on."""
    try:
        text = (Path(prefix) / "pyvenv.cfg").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    entries = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in VENV_KEYS:
            entries[key.strip()] = value.strip()
    return entries


def _records(site_dir: str) -> dict[str, set[str]]:
    """``{<name>.dist-info: files its RECORD lists}`` of ``site_dir``."""
    owners: dict[str, set[str]] = {}
    with contextlib.suppress(OSError), os.scandir(site_dir) as entries:
        for entry in entries:
            if not entry.name.endswith(".dist-info"):
                continue
            try:
                lines = Path(entry.path, "RECORD").read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            owners[entry.name] = {
                os.path.normpath(line.rsplit(",", 2)[0]) for line in lines if line
            }
    return owners


def _installed(record: Path) -> frozenset[str]:
    """The lines of a ``RECORD`` naming files inside ``site-packages`` (path, SHA-256,
    size). Scripts (``../../../bin/...``) are left out: their shebang names the env's own
    interpreter, so they differ between envs made from the same wheel."""
    lines = record.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith(".."))


def _top_level(entry: str) -> str:
    """The module name a directory entry would provide (``x.py``, ``x.cpython-311.so``,
    ``x/`` all give ``x``)."""
    for suffix in MODULE_SUFFIXES:
        if entry.endswith(suffix):
            return entry.partition(".")[0]
    return entry


class Misses:
    """Last on ``sys.meta_path``: records top-level imports no other finder found (a meta
    path finder needs only ``find_spec``; importlib.abc costs ~12 ms to import)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if path is None:
            self.names.add(fullname)


class Template:
    """What the server preloaded, and the test an env must pass to be forked from it."""

    def __init__(self, prefix: str, loaded: Sequence[str], *, missing: Iterable[str] = ()) -> None:
        self.prefix = prefix
        self.site_dir = site_packages(prefix)
        self.venv = _venv_config(prefix)
        self.entries = self._entries(self.site_dir)
        """The top-level entries of ``site-packages`` (``__pycache__`` aside)."""
        self.pth = {
            name: Path(self.site_dir, name).read_bytes()
            for name in self.entries
            if name.endswith(".pth")
        }
        self.records: dict[str, frozenset[str]] = {}
        """``{<name>.dist-info: its RECORD lines for files in site-packages}`` of every
        distribution a loaded file is from."""
        self.loose: dict[str, bytes] = {}
        """Loaded files under ``site-packages`` that no RECORD lists: their bytes."""
        self.sizes: dict[str, tuple[int, int]] = {}
        """Loaded files under ``site-packages``: (size, mtime_ns) when they were loaded."""
        self.foreign: list[str] = []
        """Loaded files neither from the base interpreter nor from ``site-packages``."""
        self.names = frozenset(missing)
        """Top-level names a project directory must not provide: preloaded modules' and
        those the preload looked for and did not find."""
        owners = _records(self.site_dir)
        base = os.path.join(os.path.realpath(sys.base_prefix), "")
        site_root = os.path.join(self.site_dir, "")
        for path in loaded:
            if path.startswith(site_root):
                relative = os.path.normpath(path[len(site_root) :])
                info = os.stat(path)
                self.sizes[relative] = (info.st_size, info.st_mtime_ns)
                owner = next((d for d, files in owners.items() if relative in files), None)
                if owner is not None:
                    if owner not in self.records:
                        self.records[owner] = _installed(Path(self.site_dir, owner, "RECORD"))
                else:
                    self.loose[relative] = Path(path).read_bytes()
            elif not os.path.realpath(path).startswith(base):
                self.foreign.append(path)

    @staticmethod
    def _entries(site_dir: str) -> frozenset[str]:
        try:
            return frozenset(name for name in os.listdir(site_dir) if name != "__pycache__")
        except OSError:
            return frozenset()

    @classmethod
    def capture(cls, *, missing: Iterable[str] = ()) -> Template:
        """The template of this (already preloaded) process; ``missing``: top-level
        modules its imports looked for and did not find."""
        loaded = []
        names = set(missing)
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                loaded.append(os.path.abspath(path))
                names.add(name.partition(".")[0])
        template = cls(sys.prefix, loaded, missing=names)
        return template

    def refusal(self, prefix: str, project: str | None = None) -> str | None:
        """Why the env at ``prefix`` (serving ``project``, the runner's working directory
        and first import path entry) cannot be forked from this template (None: it can)."""
        if self.foreign:
            return f"preloaded modules from outside the environment: {self.foreign[:3]}"
        if _venv_config(prefix) != self.venv or not self.venv:
            return "the environment was made from another interpreter"
        site_dir = site_packages(prefix)
        entries = self._entries(site_dir)
        if entries != self.entries:
            extra, lacking = sorted(entries - self.entries), sorted(self.entries - entries)
            return f"other packages installed (extra: {extra[:3]}, lacking: {lacking[:3]})"
        return (
            self._stale()
            or self._differs(site_dir)
            or (None if project is None else self._shadowed(project))
        )

    def _stale(self) -> str | None:
        """Whether a file the template loaded changed since (then it runs old code)."""
        for relative, (size, mtime) in self.sizes.items():
            try:
                info = os.stat(os.path.join(self.site_dir, relative))
            except OSError:
                return f"the server's {relative} is gone"
            if (info.st_size, info.st_mtime_ns) != (size, mtime):
                return f"the server's {relative} changed since it was loaded"
        return None

    def _differs(self, site_dir: str) -> str | None:
        for name, data in self.pth.items():
            try:
                if Path(site_dir, name).read_bytes() != data:
                    return f"{name} differs"
            except OSError:
                return f"{name} is missing"
        for owner, record in self.records.items():
            try:
                if _installed(Path(site_dir, owner, "RECORD")) != record:
                    return f"{owner} differs"
            except (OSError, UnicodeDecodeError):
                return f"{owner} is not installed"
        for relative, data in self.loose.items():
            try:
                if Path(site_dir, relative).read_bytes() != data:
                    return f"{relative} differs"
            except OSError:
                return f"{relative} is missing"
        for relative, (size, _) in self.sizes.items():
            try:
                if os.stat(os.path.join(site_dir, relative)).st_size != size:
                    return f"{relative} differs from its RECORD"
            except OSError:
                return f"{relative} is missing"
        return None

    def _shadowed(self, project: str) -> str | None:
        if sys.flags.safe_path:  # the project directory is not on sys.path
            return None
        try:
            present = os.listdir(project)
        except OSError:  # nothing there to import from either (the child reports why)
            return None
        for entry in present:
            name = _top_level(entry)
            if name in self.names:
                return f"the project's {entry} would shadow the preloaded module {name}"
        return None


@dataclass(frozen=True, slots=True)
class Relocation:
    """Every place a preloaded module records a path under the template's
    ``site-packages``, planned before forking so that a child only writes strings (few
    pages copied): ``(object, attribute, path relative to site-packages)`` and the path
    lists of packages with their entries (relative, or ``None`` for one left as it is).

    Not moved: ``co_filename`` of code objects (tracebacks name the template's file, same
    contents) and paths a module computed into its own globals at import."""

    attributes: tuple[tuple[object, str, str], ...]
    lists: tuple[tuple[list[str], tuple[tuple[str | None, str], ...]], ...]

    @classmethod
    def plan(cls, root: str) -> Relocation:
        """The relocation of every module loaded from under ``root`` (ends with a sep)."""
        attributes: list[tuple[object, str, str]] = []
        lists: dict[int, tuple[list[str], tuple[tuple[str | None, str], ...]]] = {}

        def note(owner: object, attribute: str) -> None:
            value = getattr(owner, attribute, None)
            if isinstance(value, str) and value.startswith(root):
                attributes.append((owner, attribute, value[len(root) :]))

        def note_list(value: object) -> None:
            if isinstance(value, list) and id(value) not in lists:
                entries = tuple(
                    (p[len(root) :], p) if isinstance(p, str) and p.startswith(root) else (None, p)
                    for p in value
                )
                lists[id(value)] = (value, entries)

        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if not (isinstance(path, str) and path.startswith(root)):
                continue
            note(module, "__file__")
            note(module, "__cached__")
            note_list(getattr(module, "__path__", None))
            spec = getattr(module, "__spec__", None)
            if spec is not None:
                note(spec, "origin")
                if spec.has_location:
                    note(spec, "cached")
                note_list(spec.submodule_search_locations)
            note(getattr(module, "__loader__", None), "path")
        return cls(tuple(attributes), tuple(lists.values()))

    def apply(self, root: str) -> None:
        """Point everything planned at the same relative path under ``root``."""
        for owner, attribute, relative in self.attributes:
            setattr(owner, attribute, root + relative)
        for paths, entries in self.lists:
            paths[:] = [path if relative is None else root + relative for relative, path in entries]
        sys.path_importer_cache.clear()
