"""A per-project cache of resolved preset texts, so cold starts skip the dev_workspace runner.

Resolving presets means asking the project's ``dev_workspace`` runner
(docs/architecture.md#runner-per-env); its
answer only changes when the project's configuration or that environment changes. The
answer is stored in ``<project>/.corral/presets.json`` under a key hashing the config file's
bytes, the preset names and the environment's stamp (rewritten whenever the env is
prepared). Any mismatch, a missing stamp or an unreadable file is a miss; a miss costs
only the resolution the cache exists to avoid.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Final

import msgspec

from .envs.paths import stamp_path
from .statedir import STATE_DIR, ensure_state_dir

__all__ = ["CachedPreset", "PresetCache"]

FORMAT: Final = 1


class CachedPreset(msgspec.Struct, frozen=True):
    """One preset's text as the dev_workspace runner returned it."""

    name: str
    text: str
    file: str | None = None


class _Entry(msgspec.Struct, frozen=True):
    format: int
    key: str
    presets: list[CachedPreset]


class PresetCache:
    """The cache of one project (see the module docstring)."""

    def __init__(self, project: Path, config_file: Path, names: tuple[str, ...], env: str) -> None:
        self.path = project / STATE_DIR / "presets.json"
        self._config_file = config_file
        self._names = names
        self._stamp = stamp_path(project, env)

    def _key(self) -> str | None:
        try:
            config = self._config_file.read_bytes()
            stamp = self._stamp.read_bytes()
        except OSError:
            return None
        digest = hashlib.sha256()
        for part in (config, b"\0", "\0".join(self._names).encode(), b"\0", stamp):
            digest.update(part)
        return digest.hexdigest()

    def load(self) -> list[CachedPreset] | None:
        """The cached presets, or None on any miss."""
        key = self._key()
        if key is None:
            return None
        try:
            entry = msgspec.json.decode(self.path.read_bytes(), type=_Entry)
        except (OSError, msgspec.DecodeError):
            return None
        if entry.format != FORMAT or entry.key != key:
            return None
        return entry.presets

    def store(self, presets: list[CachedPreset]) -> None:
        """Remember ``presets`` (best effort: a cache that cannot be written is no cache)."""
        key = self._key()
        if key is None:
            return
        data = msgspec.json.encode(_Entry(format=FORMAT, key=key, presets=presets))
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            ensure_state_dir(self.path.parent.parent)
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
