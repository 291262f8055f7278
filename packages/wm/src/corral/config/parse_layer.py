"""Read the ``actions`` and ``envs`` tables of a ``[tool.corral]``-shaped table into a layer.

The same shape appears in a project's ``[tool.corral]``, at the top of a ``corral.toml`` and
at the top of a preset's ``preset.toml``, so this module serves all three. It validates
every value it reads (types, names, enumerations, unique handler names per action) and
records only what was written (see :mod:`corral.config.layers`).
"""

from __future__ import annotations

from corral_protocol.messages import ACTION_MODES
from msgspec import UNSET, UnsetType

from corral.config._reader import Table
from corral.config.errors import child_key, describe, did_you_mean, index_key, one_of
from corral.config.layers import ActionLayer, ConfigLayer, EnvLayer, HandlerLayer
from corral.config.model import WORKSPACE_ENV
from corral.envkind import ENV_KINDS, EnvKind
from corral.envname import ENV_NAME, ENV_NAME_EXPECTED, is_env_name

ACTION_KEYS = ("mode", "handlers")
HANDLER_KEYS = ("name", "source", "env", "config", "dependencies", "enabled")
ENV_KEYS = ("dependencies", "python", "runner", "install_project", "kind")
PYTHON_ONLY_ENV_KEYS = ("python", "install_project")
SOURCE_EXPECTED = "a handler source string (module:attr or entrypoint:NAME)"
_HANDLER_HINTS = {
    "deps": 'did you mean "dependencies"?',
    "requires": 'did you mean "dependencies"?',
    "settings": 'did you mean "config"?',
    "options": 'did you mean "config"?',
    "module": 'did you mean "source"?',
    "entrypoint": 'did you mean "source"?',
    "disabled": 'write "enabled = false"',
}
_ENV_HINTS = {"deps": 'did you mean "dependencies"?', "requires": 'did you mean "dependencies"?'}


def read_layer(table: Table, *, require_source: bool) -> ConfigLayer:
    """The ``actions`` and ``envs`` of ``table`` (whose unknown keys were already rejected).

    ``require_source``: every handler must name its ``source`` (presets); otherwise a
    handler may leave it out to override a preset's handler of the same name.
    """
    return ConfigLayer(
        actions=read_actions(table, require_source=require_source), envs=read_envs(table)
    )


def read_actions(table: Table, *, require_source: bool) -> dict[str, ActionLayer]:
    """The ``actions`` table of ``table``: action name -> action as written."""
    value = table.get("actions")
    if value is UNSET:
        return {}
    actions_key = table.key_of("actions")
    if not isinstance(value, dict):
        raise table.error("actions", value, "a table of actions")
    actions: dict[str, ActionLayer] = {}
    for name, body in value.items():
        key = child_key(actions_key, name)
        if not name.strip():
            raise table.where.error(
                key, found='an empty action name ""', expected="a non-empty action name"
            )
        actions[name] = _read_action(
            Table(table.where, key, body, known=ACTION_KEYS), name, require_source=require_source
        )
    return actions


def _read_action(table: Table, name: str, *, require_source: bool) -> ActionLayer:
    mode = table.get("mode")
    if mode is not UNSET and mode not in ACTION_MODES:
        hint = did_you_mean(mode, ACTION_MODES) if isinstance(mode, str) else None
        raise table.error("mode", mode, one_of(ACTION_MODES), hint)
    raw = table.get("handlers")
    handlers: list[HandlerLayer] = []
    if raw is not UNSET:
        handlers_key = table.key_of("handlers")
        if not isinstance(raw, list):
            hint = (
                "write each handler as [[...handlers]] (double brackets)"
                if isinstance(raw, dict)
                else None
            )
            raise table.error("handlers", raw, "an array of tables", hint)
        seen: dict[str, int] = {}
        for i, body in enumerate(raw):
            key = index_key(handlers_key, i)
            handler = _read_handler(
                Table(table.where, key, body, known=HANDLER_KEYS, hints=_HANDLER_HINTS),
                require_source=require_source,
            )
            if handler.name in seen:
                raise table.where.error(
                    child_key(key, "name"),
                    found=describe(handler.name),
                    expected="a handler name unique within the action",
                    hint=f"handlers[{seen[handler.name]}] already has this name",
                )
            seen[handler.name] = i
            handlers.append(handler)
    return ActionLayer(
        name=name, mode=mode, handlers=tuple(handlers), where=table.where, key=table.key
    )


def _read_handler(table: Table, *, require_source: bool) -> HandlerLayer:
    return HandlerLayer(
        name=table.required_string("name", expected="a handler name (a non-empty string)"),
        source=table.string("source", required=require_source, expected=SOURCE_EXPECTED),
        env=table.string("env", expected=ENV_NAME_EXPECTED, pattern=ENV_NAME),
        config=table.free_table("config"),
        dependencies=table.strings("dependencies"),
        enabled=table.boolean("enabled"),
        where=table.where,
        key=table.key,
    )


def read_envs(table: Table) -> dict[str, EnvLayer]:
    """The ``envs`` table of ``table``: env name -> env settings as written."""
    value = table.get("envs")
    if value is UNSET:
        return {}
    if not isinstance(value, dict):
        raise table.error("envs", value, "a table of environments")
    envs_key = table.key_of("envs")
    envs: dict[str, EnvLayer] = {}
    for name, body in value.items():
        key = child_key(envs_key, name)
        if not is_env_name(name):
            raise table.where.error(key, found=describe(name), expected=ENV_NAME_EXPECTED)
        env = Table(table.where, key, body, known=ENV_KEYS, hints=_ENV_HINTS)
        kind = _env_kind(env, name)
        envs[name] = EnvLayer(
            name=name,
            dependencies=env.strings("dependencies"),
            python=env.string("python", expected="a Python version or interpreter path"),
            runner=env.strings(
                "runner", expected="a non-empty array of strings (an argv list)", nonempty=True
            ),
            install_project=env.boolean("install_project"),
            kind=kind,
            where=table.where,
            key=key,
        )
    return envs


def _env_kind(env: Table, name: str) -> EnvKind | UnsetType:
    """The env's ``kind`` (one of :data:`~corral.envkind.ENV_KINDS`), checked against the
    keys that only a ``python`` env has and against the workspace env (always Python)."""
    kind: object = env.get("kind")
    if kind is UNSET:
        return UNSET
    if not isinstance(kind, str) or kind not in ENV_KINDS:
        hint = did_you_mean(kind, ENV_KINDS) if isinstance(kind, str) else None
        raise env.error("kind", kind, one_of(ENV_KINDS), hint)
    if kind != "python":
        if name == WORKSPACE_ENV:
            raise env.error(
                "kind",
                kind,
                '"python"',
                f"the {WORKSPACE_ENV} environment runs the presets: it is always a Python env",
            )
        for key in PYTHON_ONLY_ENV_KEYS:
            if env.get(key) is not UNSET:
                raise env.error(
                    key,
                    env.get(key),
                    f'nothing: {key!r} applies to kind = "python" envs only',
                    f'remove it, or drop kind = "{kind}"',
                )
    return "node" if kind == "node" else "python"


def read_presets(table: Table) -> tuple[str, ...]:
    """The ``presets`` list: preset package names, in order, without repeats."""
    presets = table.strings("presets", expected="an array of preset names (strings)")
    if presets is UNSET:
        return ()
    key = table.key_of("presets")
    seen: dict[str, int] = {}
    for i, preset in enumerate(presets):
        if preset in seen:
            raise table.where.error(
                index_key(key, i),
                found=describe(preset),
                expected="each preset listed once",
                hint=f"already listed at presets[{seen[preset]}]",
            )
        seen[preset] = i
    return presets
