"""Handlers the runner bench configures (the bench directory is the runner's project)."""

from __future__ import annotations

from typing import Any

from corral_runner import ActionContext

DIAGNOSTICS = {
    "diagnostics": [
        {
            "file": f"src/package/module_{i % 17}.py",
            "range": {"start": {"line": i, "character": 4}, "end": {"line": i, "character": 30}},
            "code": f"E{100 + i % 50}",
            "message": "line too long (112 > 100 characters) in an expression of some length",
            "severity": "warning",
            "fixable": i % 3 == 0,
        }
        for i in range(200)
    ]
}


async def noop(ctx: ActionContext[Any]) -> None:
    return None


async def diagnostics(ctx: ActionContext[Any]) -> dict[str, Any]:
    return DIAGNOSTICS
