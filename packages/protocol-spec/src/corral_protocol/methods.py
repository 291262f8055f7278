"""The methods of protocol v1: name, direction, kind and typed params/result.

This is the Python mirror of ``schemas/index.json``; a test proves the two list the same
methods with the same shapes. Routers and the conformance tooling look methods up here
instead of spelling names and types again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from . import messages as m

__all__ = ["METHODS", "MethodSpec", "method_spec", "params_type"]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One method: ``params``/``result`` are msgspec types, ``None`` meaning JSON null/none."""

    name: str
    direction: Literal["wm-to-runner", "runner-to-wm"]
    kind: Literal["request", "notification"]
    params: type | None
    result: type | None
    since: str = "1.0"


_W2R: Final = "wm-to-runner"
_R2W: Final = "runner-to-wm"

METHODS: Final[tuple[MethodSpec, ...]] = (
    MethodSpec("initialize", _W2R, "request", m.InitializeParams, m.InitializeResult),
    MethodSpec("initialized", _W2R, "notification", m.InitializedParams, None),
    MethodSpec("runner/configure", _W2R, "request", m.ConfigureParams, m.ConfigureResult),
    MethodSpec("actions/run", _W2R, "request", m.RunParams, m.RunResult),
    MethodSpec("$/cancelRequest", _W2R, "notification", m.CancelParams, None),
    MethodSpec("$/ping", _W2R, "request", m.PingParams, m.PingResult),
    MethodSpec("shutdown", _W2R, "request", None, None),
    MethodSpec("exit", _W2R, "notification", None, None),
    MethodSpec("$/progress", _R2W, "notification", m.ProgressParams, None),
    MethodSpec("runner/log", _R2W, "notification", m.LogParams, None),
    MethodSpec("runner/output", _R2W, "notification", m.OutputParams, None),
    MethodSpec("project/runAction", _R2W, "request", m.ProjectRunParams, m.ProjectRunResult),
    MethodSpec("workspace/runAction", _R2W, "request", m.WorkspaceRunParams, m.WorkspaceRunResult),
)


def method_spec(name: str) -> MethodSpec | None:
    """The spec of method ``name``, or ``None`` if v1 does not define it."""
    for spec in METHODS:
        if spec.name == name:
            return spec
    return None


def params_type(name: str, direction: Literal["wm-to-runner", "runner-to-wm"]) -> type | None:
    """The params type of method ``name`` sent in ``direction``, for registering a handler
    of it (``router.add_request(name, handler, params_type(name, ...))``); raises
    LookupError when v1 has no such method in that direction (a typo, caught at start-up)."""
    spec = method_spec(name)
    if spec is None or spec.direction != direction:
        raise LookupError(f"protocol v1 has no {direction} method {name!r}")
    return spec.params
