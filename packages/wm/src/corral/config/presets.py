"""Presets: packages that contribute actions and envs, and how they merge with a project.

A preset ships a ``preset.toml`` whose top level has only ``actions`` and ``envs`` tables,
in the same shape as under ``[tool.corral]``; in a preset every handler names its
``source``. Finding a preset's file (through the ``dev_workspace`` runner) is the caller's
job; this module parses its text and merges it.

Merge rule
----------

1. Layers apply in order: the presets in the order given (normally the order of the
   project's ``presets`` list), then the project's own configuration last.
2. Actions are matched by name. An action's ``mode`` comes from the last layer that sets
   one (default ``"sequential"``).
3. Within an action, handlers are matched by ``name``. A handler with a new name is
   appended after those already there, in the order written. A handler whose name is
   already there updates that handler field by field, only with the fields it sets:
   ``source``, ``env``, ``dependencies`` and ``enabled`` are replaced; ``config`` tables
   are deep-merged (nested tables merge key by key; any other value, arrays included, is
   replaced). The handler keeps its original position. So a project changes one option of
   a preset's handler by writing just its ``name`` and ``config = { option = ... }``.
4. A handler whose final ``enabled`` is false is removed, and an action left without
   handlers is removed (neither is an error). A handler that ends up without a ``source``
   is an error: only a handler overriding a preset's handler may leave it out.
5. Envs are matched by name: their ``dependencies`` are concatenated in layer order;
   ``python`` and ``runner`` come from the last layer that sets them.
6. Then each env's dependencies are, in this order and without repeats (first one kept):
   the project's PEP 735 ``[dependency-groups]`` entry named like the env (with
   ``include-group`` entries expanded), the merged ``envs.<env>.dependencies``, and the
   ``dependencies`` of every remaining handler that runs in the env. Every env a handler
   names exists, and so does ``dev_workspace``.
7. ``presets`` and ``runner`` settings come from the project only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from msgspec.structs import replace

from corral.config._reader import Table, Where
from corral.config.errors import ConfigError, describe, did_you_mean, index_key
from corral.config.layers import ConfigLayer, ProjectLayer
from corral.config.merge import finalize, layer_from_specs, merge_layers
from corral.config.model import WORKSPACE_ENV, PresetConfig, ProjectConfig
from corral.config.parse_layer import read_layer
from corral.config.project import SHIPPED_PRESETS, canonical_name, declared_distributions
from corral.config.toml_files import parse_toml

PRESET_FILE = "preset.toml"
PRESET_KEYS = ("actions", "envs")
_PRESET_HINTS = {
    "presets": "a preset cannot list other presets",
    "runner": "runner settings belong to the project, not to a preset",
    "tool": "in preset.toml the keys go at the top level",
}


def parse_preset(name: str, text: str, file: Path) -> PresetConfig:
    """The preset called ``name`` from the text of its ``preset.toml`` at ``file``.

    Raises :class:`~corral.config.errors.ConfigError` (whose ``preset`` is ``name``) for
    invalid TOML, keys other than ``actions``/``envs``, or any invalid value; ValueError if
    ``name`` is empty. ``file`` is only used to name the file in errors.
    """
    if not name.strip():
        raise ValueError("a preset needs a non-empty name")
    file = Path(file).resolve()
    where = Where(file=file, display=file.name, preset=name)
    table = Table(where, "", parse_toml(text, where), known=PRESET_KEYS, hints=_PRESET_HINTS)
    layer = read_layer(table, require_source=True)
    actions, envs = finalize(layer)
    return PresetConfig(name=name, actions=actions, envs=envs, _layer=layer)


def _preset_layer(preset: PresetConfig) -> ConfigLayer:
    if preset._layer is not None:
        return preset._layer
    where = Where(file=Path(PRESET_FILE).resolve(), display=PRESET_FILE, preset=preset.name)
    return layer_from_specs(preset.actions, preset.envs, where)


def _project_layer(project: ProjectConfig) -> ProjectLayer:
    if project._layer is not None:
        return project._layer
    where = Where(file=project.config_file, display=project.config_file.name)
    return ProjectLayer(config=layer_from_specs(project.actions, project.envs, where))


def apply_presets(project: ProjectConfig, presets: Sequence[PresetConfig]) -> ProjectConfig:
    """``project`` with ``presets`` merged under it by the merge rule (module docstring).

    Always starts again from what the project file wrote: applying presets to a config
    that already has presets applied replaces them, it does not stack. Raises
    :class:`~corral.config.errors.ConfigError` when a handler ends up without a source,
    or for an invalid dependency group an env now needs. Configs and presets built by
    hand (without the parsers' private layer) merge as if every field were written.
    """
    own = _project_layer(project)
    merged = merge_layers([*(_preset_layer(p) for p in presets), own.config])
    actions, envs = finalize(merged, groups=own.groups, always_envs=(WORKSPACE_ENV,))
    return replace(project, actions=actions, envs=envs)


def check_presets(config: ProjectConfig) -> None:
    """Every preset the project names is shipped with Corral or declared as a dependency of
    its ``dev_workspace`` environment; raises :class:`ConfigError` at ``presets[i]`` otherwise.

    A preset name is never looked up in a package registry by itself: a typo must not
    install whatever package (possibly a squatted one) has that name.
    """
    spec = config.envs.get(WORKSPACE_ENV)
    declared = declared_distributions(spec.dependencies if spec else ())
    known = {canonical_name(p) for p in SHIPPED_PRESETS} | declared
    for i, preset in enumerate(config.presets):
        if canonical_name(preset) in known:
            continue
        hint = did_you_mean(preset, sorted({*SHIPPED_PRESETS, *declared})) or (
            f"declare the package that provides it in the {WORKSPACE_ENV} environment: "
            f'[dependency-groups] {WORKSPACE_ENV} = ["{preset}==<version>"] (or '
            f"envs.{WORKSPACE_ENV}.dependencies)"
        )
        raise ConfigError(
            config.config_file,
            index_key(config.config_key("presets"), i),
            found=describe(preset),
            expected="a preset shipped with Corral ("
            + ", ".join(SHIPPED_PRESETS)
            + f") or a package listed in the {WORKSPACE_ENV} environment's dependencies",
            hint=hint,
        )
