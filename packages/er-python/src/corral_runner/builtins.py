"""Handlers built into the Python runner for the WM's own use.

``corral_runner.builtins:resolve_presets`` runs in a project's ``dev_workspace`` environment
(the one started first, docs/architecture.md#runner-per-env): it finds each named preset
among the entry points of group ``corral.presets`` installed there and returns its
``preset.toml`` text, so the WM never imports preset packages itself. A preset is named by
its distribution (``corral-python``); the entry point's name is the distribution name and
its value a callable returning the text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import msgspec

from .sdk import ActionContext

__all__ = ["PRESET_GROUP", "resolve_presets"]

PRESET_GROUP: Final = "corral.presets"
_NAME: Final = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class PresetsParams(msgspec.Struct):
    presets: list[str]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve_presets(ctx: ActionContext[PresetsParams]) -> dict[str, Any]:
    """``{"presets": [{"name", "text", "file"} | {"name", "error"}]}``, in request order.

    ``file`` is the preset's ``preset.toml`` when it sits next to the entry point's module
    (for error messages), else the module's file.
    """
    import importlib  # noqa: PLC0415  (only needed here)
    from importlib import metadata  # noqa: PLC0415  (slow import, needed only here)

    available = {_canonical(ep.name): ep for ep in metadata.entry_points(group=PRESET_GROUP)}
    resolved: list[dict[str, Any]] = []
    for requirement in ctx.params.presets:
        match = _NAME.match(requirement)
        name = _canonical(match.group(1)) if match else requirement
        entry = available.get(name)
        if entry is None:
            known = ", ".join(sorted(available)) or "none"
            resolved.append(
                {
                    "name": requirement,
                    "error": f"no preset {name!r} is installed in environment "
                    f"{ctx.env!r} (installed presets: {known})",
                }
            )
            continue
        try:
            text = entry.load()()
        except Exception as exc:
            resolved.append({"name": requirement, "error": f"{type(exc).__name__}: {exc}"})
            continue
        module_file = getattr(importlib.import_module(entry.module), "__file__", None) or ""
        candidate = Path(module_file).parent / "preset.toml" if module_file else None
        file = str(candidate) if candidate and candidate.is_file() else module_file
        resolved.append({"name": requirement, "text": str(text), "file": file})
    return {"presets": resolved}
