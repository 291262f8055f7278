"""How a project's actions map onto its runners (pure; the project scope of
docs/architecture.md#execution-scopes).

An action's handlers may live in several environments, one runner each. The WM runs them as
**segments**: maximal runs of consecutive handlers in the same env (sequential mode) or one
segment per env (concurrent mode). All handlers of a segment go to their runner in ONE
``actions/run``; the runner knows the segment as an action of its own configuration:

* sequential: segments run in order; a failed segment skips the rest (their handlers are
  reported ``skipped``); the project's result is the last segment's result. Protocol 1.0
  carries no previous result across runners, so the first handler of a segment sees none.
* concurrent: all segments run together and their results are merged by
  :func:`corral_protocol.merge.merge_results` (as handlers within one runner are).

A segment's runner-side action name is the action's name, or ``<action>#<n>`` when the same
env holds several segments of one sequential action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from corral_protocol.messages import ActionConfig, ConfigureParams, HandlerSpec

from .config import ActionSpec, HandlerRef, ProjectConfig
from .pyrunner import PRESET_RESOLVER_SOURCE

__all__ = [
    "PRESET_ACTION",
    "Segment",
    "plan_action",
    "runner_configuration",
]

PRESET_ACTION: Final = "corral.resolve-presets"
"""The built-in action every ``dev_workspace`` runner serves (preset resolution)."""
_PRESET_HANDLER: Final = HandlerSpec(name="resolve-presets", source=PRESET_RESOLVER_SOURCE)


@dataclass(frozen=True)
class Segment:
    """Handlers of one action that run in one ``actions/run`` on one runner."""

    env: str
    runner_action: str
    handlers: tuple[HandlerRef, ...]


def plan_action(action: ActionSpec) -> list[Segment]:
    """The segments of ``action``, in configuration order (see the module docstring)."""
    if action.mode == "concurrent":
        by_env: dict[str, list[HandlerRef]] = {}
        for handler in action.handlers:
            by_env.setdefault(handler.env, []).append(handler)
        return [Segment(env, action.name, tuple(hs)) for env, hs in by_env.items()]
    groups: list[tuple[str, list[HandlerRef]]] = []
    for handler in action.handlers:
        if groups and groups[-1][0] == handler.env:
            groups[-1][1].append(handler)
        else:
            groups.append((handler.env, [handler]))
    per_env: dict[str, int] = {}
    for env, _ in groups:
        per_env[env] = per_env.get(env, 0) + 1
    seen: dict[str, int] = {}
    segments = []
    for env, handlers in groups:
        index = seen.get(env, 0)
        seen[env] = index + 1
        name = action.name if per_env[env] == 1 else f"{action.name}#{index}"
        segments.append(Segment(env, name, tuple(handlers)))
    return segments


def _specs(handlers: Iterable[HandlerRef]) -> list[HandlerSpec]:
    return [HandlerSpec(name=h.name, source=h.source, config=dict(h.config)) for h in handlers]


def runner_configuration(project: ProjectConfig, env: str) -> ConfigureParams:
    """The ``runner/configure`` params of the runner of ``env``: its segments as actions.

    The ``dev_workspace`` runner also gets the built-in preset resolver.
    """
    actions: dict[str, ActionConfig] = {}
    for action in project.actions.values():
        for segment in plan_action(action):
            if segment.env == env:
                actions[segment.runner_action] = ActionConfig(
                    handlers=_specs(segment.handlers), mode=action.mode
                )
    if env == "dev_workspace":
        actions[PRESET_ACTION] = ActionConfig(handlers=[_PRESET_HANDLER])
    return ConfigureParams(actions=actions)
