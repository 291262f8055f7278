"""The conformance fixture handlers (SPEC.md §10), served as ``conformance/<name>``.

They exist so the conformance suite can cause every behaviour it checks (sleeping, failing,
crashing, printing, progress, partial results, nested and WM-side runs) in any runner
language. The loader serves them only when the launch record says ``"conformance": true``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from .sdk import ActionContext

__all__ = ["FIXTURES", "ConformanceFailure"]

DEFAULT_CRASH_CODE: Final = 70


class ConformanceFailure(Exception):  # noqa: N818  (the name is part of SPEC.md §10)
    """What ``conformance/fail`` raises."""


class SleepParams(msgspec.Struct):
    seconds: float


class FailParams(msgspec.Struct):
    message: str = "conformance failure"


class CrashParams(msgspec.Struct, rename="camel"):
    exit_code: int = DEFAULT_CRASH_CODE


class PrintParams(msgspec.Struct, rename="camel"):
    stdout: str = ""
    stderr: str = ""
    bytes: int = 0


class StepsParams(msgspec.Struct):
    steps: int


class ItemsParams(msgspec.Struct):
    items: list[Any]


class NestedParams(msgspec.Struct):
    action: str
    params: Any = msgspec.field(default_factory=dict)


async def echo(ctx: ActionContext[Any]) -> Any:
    """Return the params unchanged."""
    return ctx.params


async def sleep(ctx: ActionContext[SleepParams]) -> dict[str, float]:
    """Sleep cancellably for ``seconds``."""
    await asyncio.sleep(max(0.0, ctx.params.seconds))
    return {"slept": ctx.params.seconds}


async def fail(ctx: ActionContext[FailParams]) -> None:
    """Raise :class:`ConformanceFailure`."""
    raise ConformanceFailure(ctx.params.message)


async def crash(ctx: ActionContext[CrashParams]) -> None:
    """Exit the process at once, without cleanup."""
    os._exit(ctx.params.exit_code)


def print_(ctx: ActionContext[PrintParams]) -> dict[str, int]:
    """Write to the process's stdout/stderr file descriptors (as a child process would)."""
    total = 0
    for fd, text in ((1, ctx.params.stdout), (2, ctx.params.stderr)):
        data = text.encode()
        if data:
            _write_all(fd, data)
            total += len(data)
    remaining = ctx.params.bytes
    chunk = b"x" * 65536
    while remaining > 0:
        piece = chunk[: min(remaining, len(chunk))]
        _write_all(1, piece)
        remaining -= len(piece)
        total += len(piece)
    sys.stdout.flush()
    return {"printed": total}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def progress(ctx: ActionContext[StepsParams]) -> dict[str, int]:
    """Report ``steps`` progress reports with rising percentages."""
    steps = max(0, ctx.params.steps)
    for step in range(1, steps + 1):
        ctx.progress(f"step {step} of {steps}", percentage=step * 100 // steps)
        await asyncio.sleep(0)
    return {"steps": steps}


async def partial(ctx: ActionContext[ItemsParams]) -> dict[str, int]:
    """Stream each item as a partial result, in order."""
    for item in ctx.params.items:
        ctx.partial(item)
        await asyncio.sleep(0)
    return {"count": len(ctx.params.items)}


async def nested(ctx: ActionContext[NestedParams]) -> dict[str, Any]:
    """Run another action of this runner locally and return its run result."""
    result = await ctx.run_local(ctx.params.action, ctx.params.params)
    return {"nested": msgspec.to_builtins(result)}


async def project_run(ctx: ActionContext[NestedParams]) -> dict[str, Any]:
    """Ask the WM for a project-scope run and return its result."""
    result = await ctx.run_in_project(ctx.params.action, ctx.params.params)
    return {"project": msgspec.to_builtins(result)}


FIXTURES: Final[Mapping[str, Callable[..., Any]]] = {
    "echo": echo,
    "sleep": sleep,
    "fail": fail,
    "crash": crash,
    "print": print_,
    "progress": progress,
    "partial": partial,
    "nested": nested,
    "project-run": project_run,
}
