"""Corral's configuration layer: find projects, read ``[tool.corral]``, merge presets.

Typical use::

    for directory in discover_projects(workspace_root):
        project = load_project(directory, workspace_root=workspace_root)
        # ... resolve project.presets through the dev_workspace runner, then:
        project = apply_presets(project, [parse_preset(name, text, file), ...])

Every problem in a configuration file is a :class:`ConfigError` that names the file, the
key, what was found and what was expected. The file format is documented in
:mod:`corral.config.project`, :mod:`corral.config.parse_layer` and
:mod:`corral.config.parse_runner`; the preset merge rule in :mod:`corral.config.presets`.
"""

from corral_protocol.messages import ActionMode

from corral.config.errors import ConfigError
from corral.config.model import (
    DEFAULT_ENV,
    WORKSPACE_ENV,
    ActionSpec,
    EnvSpec,
    HandlerRef,
    PresetConfig,
    ProjectConfig,
    RestartSettings,
    RunnerSettings,
)
from corral.config.presets import PRESET_FILE, apply_presets, check_presets, parse_preset
from corral.config.project import CONFIG_FILE_NAMES, is_project, load_project
from corral.locate import SKIPPED_DIRS, discover_projects

__all__ = [
    "CONFIG_FILE_NAMES",
    "DEFAULT_ENV",
    "PRESET_FILE",
    "SKIPPED_DIRS",
    "WORKSPACE_ENV",
    "ActionMode",
    "ActionSpec",
    "ConfigError",
    "EnvSpec",
    "HandlerRef",
    "PresetConfig",
    "ProjectConfig",
    "RestartSettings",
    "RunnerSettings",
    "apply_presets",
    "check_presets",
    "discover_projects",
    "is_project",
    "load_project",
    "parse_preset",
]
