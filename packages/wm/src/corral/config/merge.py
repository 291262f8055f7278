"""Merge configuration layers and turn the result into the typed config.

Implements the merge rule documented in :mod:`corral.config.presets` (layers apply in
order, later ones override field by field, handlers merge by name, ``config`` tables
deep-merge, env dependencies concatenate) and the env dependency rule: an env's
dependencies are its PEP 735 group of the same name, then its ``dependencies`` setting,
then those of every handler that runs in it, de-duplicated in that order.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from corral.config._reader import NOTHING, Where
from corral.config.errors import child_key, format_key, index_key
from corral.config.groups import DependencyGroups, dedupe
from corral.config.layers import ActionLayer, ConfigLayer, EnvLayer, HandlerLayer
from corral.config.model import DEFAULT_ENV, ActionSpec, EnvSpec, HandlerRef
from corral.config.parse_layer import SOURCE_EXPECTED


def merge_layers(layers: Iterable[ConfigLayer]) -> ConfigLayer:
    """One layer equal to applying ``layers`` in order (the last one wins where it says so)."""
    actions: dict[str, ActionLayer] = {}
    envs: dict[str, EnvLayer] = {}
    for layer in layers:
        for name, action in layer.actions.items():
            actions[name] = _merge_action(actions[name], action) if name in actions else action
        for name, env in layer.envs.items():
            envs[name] = _merge_env(envs[name], env) if name in envs else env
    return ConfigLayer(actions=actions, envs=envs)


def _later(old: Any, new: Any) -> Any:
    return old if new is UNSET else new


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``; tables present in both merge recursively.

    Any other value in ``override`` (arrays included) replaces the one in ``base``. Neither
    input is modified.
    """
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def _merge_handler(old: HandlerLayer, new: HandlerLayer) -> HandlerLayer:
    config: dict[str, Any] | UnsetType = new.config
    if isinstance(old.config, dict) and isinstance(new.config, dict):
        config = deep_merge(old.config, new.config)
    return replace(
        old,
        source=_later(old.source, new.source),
        env=_later(old.env, new.env),
        config=_later(old.config, config),
        dependencies=_later(old.dependencies, new.dependencies),
        enabled=_later(old.enabled, new.enabled),
    )


def _merge_action(old: ActionLayer, new: ActionLayer) -> ActionLayer:
    handlers = {handler.name: handler for handler in old.handlers}
    for handler in new.handlers:
        known = handlers.get(handler.name)
        handlers[handler.name] = handler if known is None else _merge_handler(known, handler)
    return replace(old, mode=_later(old.mode, new.mode), handlers=tuple(handlers.values()))


def _merge_env(old: EnvLayer, new: EnvLayer) -> EnvLayer:
    dependencies = new.dependencies
    if not isinstance(old.dependencies, UnsetType) and not isinstance(dependencies, UnsetType):
        dependencies = (*old.dependencies, *dependencies)
    return replace(
        old,
        dependencies=_later(old.dependencies, dependencies),
        python=_later(old.python, new.python),
        runner=_later(old.runner, new.runner),
        install_project=_later(old.install_project, new.install_project),
        kind=_later(old.kind, new.kind),
    )


def finalize(
    layer: ConfigLayer,
    *,
    groups: DependencyGroups | None = None,
    always_envs: Sequence[str] = (),
    sources_pending: bool = False,
) -> tuple[dict[str, ActionSpec], dict[str, EnvSpec]]:
    """The typed actions and envs of a merged layer.

    Handlers whose ``enabled`` is false are dropped, then actions left without handlers.
    Each handler's ``config`` is its own deep copy (mutating it changes no layer).
    A handler without a ``source`` is an error, unless ``sources_pending`` (presets not yet
    applied: it may override a preset's handler), in which case it is left out.
    ``envs`` holds ``always_envs`` first, then the envs the layer configures, then those
    its handlers name, each with its complete dependency list.
    """
    actions: dict[str, ActionSpec] = {}
    for name, action in layer.actions.items():
        handlers = tuple(_handlers(action, sources_pending=sources_pending))
        if handlers:
            mode = "sequential" if action.mode is UNSET else action.mode
            actions[name] = ActionSpec(name=name, mode=mode, handlers=handlers)
    names = dict.fromkeys([*always_envs, *layer.envs])
    for action_spec in actions.values():
        names.update(dict.fromkeys(handler.env for handler in action_spec.handlers))
    envs = {name: _env(name, layer.envs.get(name), actions, groups) for name in names}
    return actions, envs


def _handlers(action: ActionLayer, *, sources_pending: bool) -> Iterable[HandlerRef]:
    for handler in action.handlers:
        if handler.enabled is False:
            continue
        if isinstance(handler.source, UnsetType):
            if sources_pending:
                continue
            raise handler.where.error(
                child_key(handler.key, "source"),
                found=NOTHING,
                expected=SOURCE_EXPECTED,
                hint="only a handler that overrides a preset's handler of the same name "
                f"may leave it out, and no preset defines {format_key(handler.name)} "
                f"in action {format_key(action.name)}",
            )
        yield HandlerRef(
            name=handler.name,
            source=handler.source,
            env=DEFAULT_ENV if isinstance(handler.env, UnsetType) else handler.env,
            config={} if isinstance(handler.config, UnsetType) else copy.deepcopy(handler.config),
            dependencies=_or(handler.dependencies, ()),
            enabled=True,
        )


def _or(value: tuple[str, ...] | UnsetType, default: tuple[str, ...]) -> tuple[str, ...]:
    return default if isinstance(value, UnsetType) else value


def _env(
    name: str,
    env: EnvLayer | None,
    actions: dict[str, ActionSpec],
    groups: DependencyGroups | None,
) -> EnvSpec:
    dependencies = list(groups.resolve(name)) if groups is not None else []
    if env is not None:
        dependencies.extend(_or(env.dependencies, ()))
    for action in actions.values():
        for handler in action.handlers:
            if handler.env == name:
                dependencies.extend(handler.dependencies)
    python = None if env is None or isinstance(env.python, UnsetType) else env.python
    runner = None if env is None or isinstance(env.runner, UnsetType) else env.runner
    install = env is not None and env.install_project is True
    kind = "python" if env is None or isinstance(env.kind, UnsetType) else env.kind
    return EnvSpec(
        name=name,
        dependencies=dedupe(dependencies),
        python=python,
        runner=runner,
        install_project=install,
        kind=kind,
    )


def layer_from_specs(
    actions: dict[str, ActionSpec], envs: dict[str, EnvSpec], where: Where
) -> ConfigLayer:
    """A layer that sets every field of already-typed actions and envs.

    Used for configs built by hand (without the layer the parsers keep): merging onto it
    then behaves as if every field had been written explicitly.
    """
    action_layers: dict[str, ActionLayer] = {}
    for name, action in actions.items():
        key = child_key("actions", name)
        handlers = tuple(
            HandlerLayer(
                name=handler.name,
                source=handler.source,
                env=handler.env,
                config=handler.config,
                dependencies=handler.dependencies,
                enabled=handler.enabled,
                where=where,
                key=index_key(child_key(key, "handlers"), i),
            )
            for i, handler in enumerate(action.handlers)
        )
        action_layers[name] = ActionLayer(
            name=name, mode=action.mode, handlers=handlers, where=where, key=key
        )
    env_layers = {
        name: EnvLayer(
            name=name,
            dependencies=env.dependencies,
            python=UNSET if env.python is None else env.python,
            runner=UNSET if env.runner is None else env.runner,
            install_project=env.install_project,
            kind=env.kind,
            where=where,
            key=child_key("envs", name),
        )
        for name, env in envs.items()
    }
    return ConfigLayer(actions=action_layers, envs=env_layers)
