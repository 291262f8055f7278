"""The workspace's projects: discovery, configuration, and presets applied.

:class:`ProjectCatalog` finds every project under the workspace root, loads each one's
configuration (a broken one is kept as a *problem*, never raised at discovery), and
resolves presets on demand: a project's presets are asked of its ``dev_workspace`` runner
(:data:`corral.plan.PRESET_ACTION`, docs/architecture.md#execution-scopes) through a
callback the Workspace Manager supplies, with the answer cached on disk
(:mod:`corral.preset_cache`). The presets the WM reads itself
(:data:`~corral.config.project.WM_PRESETS`: ``corral-js``, a file of this checkout) never
need that runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from msgspec.structs import replace

from .config import (
    WORKSPACE_ENV,
    ConfigError,
    ProjectConfig,
    apply_presets,
    check_presets,
    discover_projects,
    load_project,
    parse_preset,
)
from .config.errors import index_key
from .config.project import WM_PRESETS, declared_distributions
from .envs.nodetool import NodeMissingError, js_preset_file
from .errors import UnknownProjectError
from .locate import innermost_project
from .preset_cache import CachedPreset, PresetCache

__all__ = ["FetchPresets", "ProjectCatalog"]

FetchPresets = Callable[[ProjectConfig], Awaitable[list[CachedPreset]]]
"""Asks a project's ``dev_workspace`` runner for the text of its presets; raises
:class:`ConfigError` naming the ``presets`` key when they cannot be resolved."""


class ProjectCatalog:
    """See the module docstring. Project paths are absolute and resolved."""

    def __init__(self, root: Path, fetch_presets: FetchPresets) -> None:
        self.root = root.resolve()
        self._fetch = fetch_presets
        self._raw: dict[Path, ProjectConfig] = {}
        self._problems: dict[Path, ConfigError] = {}
        self._resolved: dict[Path, ProjectConfig] = {}
        self._resolving: dict[Path, asyncio.Task[ProjectConfig]] = {}

    def reload(self) -> None:
        """Discover and load every project again (resolved presets are forgotten)."""
        self._raw.clear()
        self._problems.clear()
        self._resolved.clear()
        for directory in discover_projects(self.root):
            try:
                self._raw[directory] = load_project(directory, workspace_root=self.root)
            except ConfigError as error:
                self._problems[directory] = error

    @property
    def problems(self) -> dict[Path, ConfigError]:
        """Projects whose configuration could not be loaded, with the error."""
        return dict(self._problems)

    def roots(self) -> list[Path]:
        """Every project (loadable or not), sorted."""
        return sorted({*self._raw, *self._problems})

    def project_of(self, path: Path) -> Path | None:
        """The innermost project containing ``path`` (a file or directory), if any."""
        return innermost_project(path, self.roots())

    def current(self, root: Path) -> ProjectConfig | None:
        """The best configuration known now without resolving anything: with presets
        applied if they were resolved, else as the project file wrote it; None when the
        project cannot be loaded or is unknown."""
        root = root.resolve()
        return self._resolved.get(root) or self._raw.get(root)

    def loaded(self) -> Iterator[ProjectConfig]:
        """:meth:`current` of every loadable project, in path order."""
        for root in sorted(self._raw):
            yield self._resolved.get(root) or self._raw[root]

    async def config(self, root: Path) -> ProjectConfig:
        """The project's configuration with its presets applied (resolved once, cached).

        Raises :class:`ConfigError` naming the file and key, or
        :class:`~corral.errors.UnknownProjectError`.
        """
        root = _canonical(root)
        if root in self._problems:
            raise self._problems[root]
        if root not in self._raw:
            raise UnknownProjectError(root)
        if root in self._resolved:
            return self._resolved[root]
        task = self._resolving.get(root)
        if task is None:
            task = asyncio.ensure_future(self._resolve(self._raw[root]))
            self._resolving[root] = task
        try:
            config = await asyncio.shield(task)
        finally:
            self._resolving.pop(root, None)
        self._resolved[root] = config
        return config

    async def resolve_all(self) -> None:
        """Apply every project's presets where possible; projects whose configuration or
        presets fail keep their raw configuration (their error is reported on use)."""
        for root in self.roots():
            try:
                await self.config(root)
            except ConfigError:
                continue

    async def _resolve(self, raw: ProjectConfig) -> ProjectConfig:
        if not raw.presets:
            return raw
        check_presets(raw)
        fetched = tuple(p for p in raw.presets if not _is_wm_preset(p))
        texts: list[CachedPreset] = []
        if fetched:
            cache = PresetCache(raw.root, raw.config_file, fetched, WORKSPACE_ENV)
            cached = cache.load()
            if cached is None:
                cached = await self._fetch(replace(raw, presets=fetched))
                cache.store(cached)
            texts = cached
        answers = iter(texts)  # in the order asked
        presets = []
        for i, name in enumerate(raw.presets):
            item = _wm_preset(raw, i) if _is_wm_preset(name) else next(answers)
            file = Path(item.file) if item.file else raw.config_file
            presets.append(parse_preset(item.name, item.text, file))
        return apply_presets(raw, presets)


def _is_wm_preset(requirement: str) -> bool:
    return bool(declared_distributions((requirement,)) & set(WM_PRESETS))


def _wm_preset(raw: ProjectConfig, index: int) -> CachedPreset:
    """The text of ``raw.presets[index]``, a preset the WM reads itself; raises
    :class:`ConfigError` at ``presets[i]`` when this installation does not have it."""
    name = raw.presets[index]
    try:
        file = js_preset_file()
        text = file.read_text(encoding="utf-8")
    except (NodeMissingError, OSError) as exc:
        raise ConfigError(
            raw.config_file,
            index_key(raw.config_key("presets"), index),
            found=repr(name),
            expected=f"a preset this Corral installation has ({exc})",
        ) from exc
    return CachedPreset(name, text, str(file))


def _canonical(path: Path) -> Path:
    """How projects are keyed: the resolved absolute path."""
    return path.resolve()
