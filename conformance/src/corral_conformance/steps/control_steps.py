"""Control steps that touch neither processes nor connections: sleep, assertDistinct."""

from __future__ import annotations

import asyncio

from ..context import CaseContext
from ..matcher import describe, json_equal
from ..model import AssertDistinct, Sleep
from ..outcome import HarnessError, RunnerFailure

__all__ = ["assert_distinct", "sleep"]


async def sleep(ctx: CaseContext, step: Sleep) -> None:
    """Wait (scaled by --timeout-scale)."""
    await asyncio.sleep(ctx.seconds(step.ms))
    ctx.transcript.step({"step": "sleep", "ms": step.ms})


async def assert_distinct(ctx: CaseContext, step: AssertDistinct) -> None:
    """The list variable holds pairwise different values (and ``count`` of them)."""
    values = ctx.vars.get(step.var)
    if not isinstance(values, list):
        raise HarnessError(f"variable {step.var!r} is not a list")
    if step.count is not None and len(values) != step.count:
        raise HarnessError(f"variable {step.var!r} holds {len(values)} values, not {step.count}")
    for i, left in enumerate(values):
        for right in values[i + 1 :]:
            if json_equal(left, right):
                raise RunnerFailure(
                    f"values captured in {step.var!r} are not distinct",
                    expected="pairwise different values",
                    got=describe(values),
                )
    ctx.transcript.step({"step": "assertDistinct", "var": step.var, "count": len(values)})
