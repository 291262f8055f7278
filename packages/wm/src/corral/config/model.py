"""The typed, merged configuration of a project: what the rest of the Workspace Manager reads.

All types are frozen msgspec Structs with keyword-only fields. Values are validated by the
parsers that build them (:mod:`corral.config.project`, :mod:`corral.config.presets`);
constructing them by hand (in tests, say) performs no validation. Defaults are the
documented defaults of the ``[tool.corral]`` format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from corral_protocol.messages import ActionMode

from corral.config.layers import ConfigLayer, ProjectLayer
from corral.envkind import EnvKind

DEFAULT_ENV = "dev_no_runtime"
"""The environment a handler runs in when it names none."""
WORKSPACE_ENV = "dev_workspace"
"""The environment every project has: it resolves presets and is started first."""


class HandlerRef(msgspec.Struct, frozen=True, kw_only=True):
    """One handler of an action: where its code is, which env runs it, its settings.

    ``source`` is ``module:attr`` or ``entrypoint:NAME`` for the Python runner; other
    runners define their own forms (Corral only requires a non-empty string).
    ``dependencies`` are what the handler needs installed in ``env``. ``enabled`` is
    always true in a merged config (disabled handlers are removed by the merge).
    """

    name: str
    source: str
    env: str = DEFAULT_ENV
    config: dict[str, Any] = {}
    dependencies: tuple[str, ...] = ()
    enabled: bool = True


class ActionSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An action (lint, format, ...): its handlers in run order, and how they run."""

    name: str
    mode: ActionMode = "sequential"
    handlers: tuple[HandlerRef, ...] = ()


class EnvSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An execution environment: the complete, de-duplicated dependency list of its venv.

    ``python`` is an interpreter request (a version such as ``"3.12"`` or a path) or None
    for the default. ``runner`` is the argv of a non-Python runner, or None for Corral's
    Python runner. ``install_project``: the project itself is installed too (editable,
    with its runtime dependencies), for tools that import or analyse it (type checkers,
    test runners). ``kind`` picks how the env is built and its runner started
    (:mod:`corral.envkind`): ``python`` (a uv venv, dependencies are PEP 508 requirements)
    or ``node`` (an npm package directory, dependencies are npm package specs).
    """

    name: str
    dependencies: tuple[str, ...] = ()
    python: str | None = None
    runner: tuple[str, ...] | None = None
    install_project: bool = False
    kind: EnvKind = "python"


class RestartSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Restart policy after crashes: backoff delays, jitter, and a time-windowed budget.

    The n-th consecutive restart waits ``backoff[min(n, len(backoff)) - 1]`` seconds, each
    delay varied by up to ``jitter`` times itself. More than ``max_crashes`` crashes within
    ``window`` seconds stop restarting; a runner up ``stable_after`` seconds refills it.
    """

    backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    jitter: float = 0.1
    max_crashes: int = 3
    window: float = 300.0
    stable_after: float = 30.0


class RunnerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Supervision deadlines (seconds) for the runners of a project.

    ``idle_shutdown`` is how long a runner may sit idle before it is stopped; 0 disables it.
    ``run_timeout`` is how long one ``actions/run`` may take before the WM cancels it and
    reports it failed; 0 disables it (the wait is then unbounded, as asked). All other
    values are > 0.
    """

    hello_timeout: float = 10.0
    initialize_timeout: float = 10.0
    ping_interval: float = 2.0
    ping_timeout: float = 2.0
    unhealthy_grace: float = 10.0
    shutdown_timeout: float = 3.0
    terminate_timeout: float = 3.0
    idle_shutdown: float = 1800.0
    run_timeout: float = 3600.0
    restart: RestartSettings = msgspec.field(default_factory=RestartSettings)


def _to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value, enc_hook=_encode_path)


def _encode_path(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(type(value))


class ProjectConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A project's merged configuration. All paths are absolute and resolved.

    ``actions`` and ``envs`` are the merged result (presets applied, if any, see
    :func:`corral.config.presets.apply_presets`). ``envs`` always holds ``dev_workspace``
    (first) and every env a handler names. ``_layer`` is private: what the project file
    itself wrote, kept so that presets can be applied later; it is None for configs built
    by hand. Use :meth:`to_builtins` rather than encoding the Struct directly.
    """

    root: Path
    config_file: Path
    presets: tuple[str, ...] = ()
    actions: dict[str, ActionSpec] = {}
    envs: dict[str, EnvSpec] = {}
    runner: RunnerSettings = msgspec.field(default_factory=RunnerSettings)
    _layer: ProjectLayer | None = None

    def config_key(self, key: str) -> str:
        """The full key path of ``key`` (e.g. ``"presets"``) in :attr:`config_file`.

        ``tool.corral.presets`` in a ``pyproject.toml``, ``presets`` in a ``corral.toml``:
        use it to build a :class:`~corral.config.errors.ConfigError` about this project.
        """
        if self.config_file.name == "pyproject.toml":
            return f"tool.corral.{key}" if key else "tool.corral"
        return key

    def to_builtins(self) -> dict[str, Any]:
        """The config as JSON-ready builtins (paths as strings), without the private layer."""
        data: dict[str, Any] = _to_builtins(msgspec.structs.replace(self, _layer=None))
        data.pop("_layer", None)
        return data


class PresetConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What one preset contributes: actions and envs, in the shape of ``[tool.corral]``.

    ``actions``/``envs`` are the preset's own contribution with defaults filled in (its
    envs include those its handlers name, without dependency groups). ``_layer`` is
    private: the fields as written, which the merge needs; None for presets built by hand.
    """

    name: str
    actions: dict[str, ActionSpec] = {}
    envs: dict[str, EnvSpec] = {}
    _layer: ConfigLayer | None = None

    def to_builtins(self) -> dict[str, Any]:
        """The preset as JSON-ready builtins, without the private layer."""
        data: dict[str, Any] = _to_builtins(msgspec.structs.replace(self, _layer=None))
        data.pop("_layer", None)
        return data
