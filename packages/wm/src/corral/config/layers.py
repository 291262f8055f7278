"""Partial configuration: exactly what one file (a preset or the project) wrote.

The merge of presets and project is field by field, so it must know which fields a file
set and which it left out: every optional field here defaults to ``msgspec.UNSET``
("not written"), never to the documented default. Each item also remembers where it was
written (:class:`~corral.config._reader.Where` plus its key path) so that errors found
only after merging (a handler without a source) still name the right file and key.
"""

from __future__ import annotations

from typing import Any

import msgspec
from corral_protocol.messages import ActionMode
from msgspec import UNSET, UnsetType

from corral.config._reader import Where
from corral.config.groups import DependencyGroups
from corral.envkind import EnvKind


class HandlerLayer(msgspec.Struct, frozen=True, kw_only=True):
    """One ``[[...actions.<action>.handlers]]`` entry as written; ``name`` is the merge key."""

    name: str
    source: str | UnsetType = UNSET
    env: str | UnsetType = UNSET
    config: dict[str, Any] | UnsetType = UNSET
    dependencies: tuple[str, ...] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    where: Where
    key: str


class ActionLayer(msgspec.Struct, frozen=True, kw_only=True):
    """One ``[...actions.<name>]`` table as written."""

    name: str
    mode: ActionMode | UnsetType = UNSET
    handlers: tuple[HandlerLayer, ...] = ()
    where: Where
    key: str


class EnvLayer(msgspec.Struct, frozen=True, kw_only=True):
    """One ``[...envs.<name>]`` table as written (or implied by a handler's ``env``)."""

    name: str
    dependencies: tuple[str, ...] | UnsetType = UNSET
    python: str | UnsetType = UNSET
    runner: tuple[str, ...] | UnsetType = UNSET
    install_project: bool | UnsetType = UNSET
    kind: EnvKind | UnsetType = UNSET
    where: Where
    key: str


class ConfigLayer(msgspec.Struct, frozen=True, kw_only=True):
    """The ``actions`` and ``envs`` of one file, in the order written."""

    actions: dict[str, ActionLayer] = {}
    envs: dict[str, EnvLayer] = {}


class ProjectLayer(msgspec.Struct, frozen=True, kw_only=True):
    """The project's own layer plus its ``[dependency-groups]`` (None when there are none)."""

    config: ConfigLayer
    groups: DependencyGroups | None = None
