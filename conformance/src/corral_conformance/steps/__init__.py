"""Step execution: one async function per step kind, and :func:`run_steps`.

Contract: :func:`run_steps` runs steps in order; after each it raises for protocol
violations noticed in the background and evaluates the case's requirements as soon as the
runner's capabilities are known (raising SkipCase when one is unmet). Step functions raise
:class:`~corral_conformance.outcome.RunnerFailure` or ``HarnessError``; the position of the
failing step is kept in ``ctx.step_path``/``ctx.step_kind``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from ..context import CaseContext
from ..model import (
    AssertDistinct,
    CloseConnection,
    Connect,
    Expect,
    ExpectClosed,
    ExpectExit,
    ExpectHello,
    ExpectNothing,
    ExpectOutput,
    ExpectUnordered,
    ExpectWal,
    Initialize,
    KillParent,
    Launch,
    Repeat,
    Send,
    SendRaw,
    ServeWm,
    Signal,
    Sleep,
    Step,
)
from ..variables import substitute
from . import control_steps, expect_steps, message_steps, process_steps, wal_steps

__all__ = ["run_steps", "step_name"]

_Handler = Callable[[CaseContext, Any], Awaitable[None]]

_HANDLERS: Mapping[type, _Handler] = MappingProxyType(
    {
        Launch: process_steps.launch,
        ExpectHello: process_steps.expect_hello,
        ExpectExit: process_steps.expect_exit,
        KillParent: process_steps.kill_parent,
        Signal: process_steps.signal,
        ExpectOutput: process_steps.expect_output,
        ExpectWal: wal_steps.expect_wal,
        Connect: message_steps.connect,
        Initialize: message_steps.initialize,
        Send: message_steps.send,
        SendRaw: message_steps.send_raw,
        CloseConnection: message_steps.close_connection,
        ServeWm: message_steps.serve_wm,
        Expect: expect_steps.expect,
        ExpectUnordered: expect_steps.expect_unordered,
        ExpectNothing: expect_steps.expect_nothing,
        ExpectClosed: expect_steps.expect_closed,
        Sleep: control_steps.sleep,
        AssertDistinct: control_steps.assert_distinct,
    }
)


def _resolve_names(ctx: CaseContext, step: Step) -> Step:
    """Substitute ``${var}`` in a step's ``process``/``connection`` names (e.g. ``r${i}``)."""
    changes = {}
    for field in ("process", "connection"):
        value = getattr(step, field, None)
        if isinstance(value, str) and "${" in value:
            changes[field] = str(substitute(value, ctx.vars))
    return msgspec.structs.replace(step, **changes) if changes else step


def step_name(step: Step) -> str:
    """The ``"step"`` tag of a step object."""
    return str(type(step).__struct_config__.tag)


async def run_steps(
    ctx: CaseContext, steps: list[Step], requires: list[str], prefix: str = ""
) -> None:
    """Run ``steps`` (recursively for ``repeat``)."""
    for index, step in enumerate(steps, 1):
        path = f"{prefix}{index}"
        ctx.step_path, ctx.step_kind = path, step_name(step)
        if isinstance(step, Repeat):
            for value in range(step.from_, step.to):
                ctx.vars.set(step.var, value)
                await run_steps(ctx, step.steps, requires, f"{path}[{step.var}={value}].")
            continue
        await _HANDLERS[type(step)](ctx, _resolve_names(ctx, step))
        ctx.check_violations()
        ctx.evaluate_requirements(requires)
