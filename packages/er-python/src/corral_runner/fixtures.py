"""The conformance fixture handlers (SPEC.md §11), served as ``conformance/<name>``.

They exist so the conformance suite can cause every behaviour it checks (sleeping, failing,
crashing, printing, progress, partial results, nested and WM-side runs) in any runner
language. The loader serves them only when the launch record says ``"conformance": true``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeVar

import msgspec

from .sdk import ActionContext

__all__ = ["FIXTURES", "ConformanceFailure", "ConformanceParamsError"]

DEFAULT_CRASH_CODE: Final = 70


class ConformanceFailure(Exception):  # noqa: N818  (the name is part of SPEC.md §11)
    """What ``conformance/fail`` raises."""


class ConformanceParamsError(Exception):
    """A fixture got params of the wrong shape."""


P = TypeVar("P")

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class SleepParams(msgspec.Struct):
    seconds: NonNegative


class FailParams(msgspec.Struct):
    message: str = "conformance failure"


class CrashParams(msgspec.Struct, rename="camel"):
    exit_code: Annotated[int, msgspec.Meta(ge=0, le=255)] = DEFAULT_CRASH_CODE


class PrintParams(msgspec.Struct):
    stdout: str = ""
    stderr: str = ""
    bytes: Count = 0


class StepsParams(msgspec.Struct):
    steps: Count


class ItemsParams(msgspec.Struct):
    items: list[Any]


class NestedParams(msgspec.Struct):
    action: str
    params: Any = msgspec.field(default_factory=dict)


def _params(ctx: ActionContext[Any], kind: type[P]) -> P:
    """The run's params as ``kind``, or :class:`ConformanceParamsError` (SPEC.md §11)."""
    try:
        return msgspec.convert(ctx.params, kind)
    except msgspec.ValidationError as exc:
        raise ConformanceParamsError(f"{ctx.handler}: {exc}") from None


async def echo(ctx: ActionContext[Any]) -> Any:
    """Return the params unchanged."""
    return ctx.params


async def sleep(ctx: ActionContext[Any]) -> dict[str, float]:
    """Sleep cancellably for ``seconds`` (the event loop keeps serving meanwhile)."""
    params = _params(ctx, SleepParams)
    await asyncio.sleep(params.seconds)
    return {"slept": ctx.params["seconds"]}


async def fail(ctx: ActionContext[Any]) -> None:
    """Raise :class:`ConformanceFailure`."""
    raise ConformanceFailure(_params(ctx, FailParams).message)


async def crash(ctx: ActionContext[Any]) -> None:
    """Exit the process at once: no reply, no flushing, no cleanup."""
    os._exit(_params(ctx, CrashParams).exit_code)


def print_(ctx: ActionContext[Any]) -> dict[str, int]:
    """Write ``stdout``, then ``bytes`` x's, to standard output, then ``stderr`` to standard
    error, through the ordinary handler output path (``sys.stdout``/``sys.stderr``)."""
    params = _params(ctx, PrintParams)
    sys.stdout.write(params.stdout)
    remaining = params.bytes
    chunk = "x" * 65536
    while remaining > 0:
        piece = chunk[: min(remaining, len(chunk))]
        sys.stdout.write(piece)
        remaining -= len(piece)
    sys.stdout.flush()
    sys.stderr.write(params.stderr)
    sys.stderr.flush()
    return {"printed": len(params.stdout.encode()) + params.bytes + len(params.stderr.encode())}


async def progress(ctx: ActionContext[Any]) -> dict[str, int]:
    """begin, ``steps`` reports ("step i/steps", floor(100 i / steps) %), end."""
    steps = _params(ctx, StepsParams).steps
    ctx.begin_progress("conformance progress", percentage=0, cancellable=True)
    for step in range(1, steps + 1):
        ctx.progress(f"step {step}/{steps}", percentage=100 * step // steps)
        await asyncio.sleep(0)
    ctx.end_progress()
    return {"steps": steps}


async def partial(ctx: ActionContext[Any]) -> dict[str, int]:
    """Stream each item as a partial result, in order."""
    items = _params(ctx, ItemsParams).items
    for item in items:
        ctx.partial(item)
        await asyncio.sleep(0)
    return {"count": len(items)}


async def nested(ctx: ActionContext[Any]) -> dict[str, Any]:
    """Run another action of this runner locally; succeed whatever its status."""
    params = _params(ctx, NestedParams)
    result = await ctx.run_local(params.action, params.params)
    return {"nested": msgspec.to_builtins(result)}


async def project_run(ctx: ActionContext[Any]) -> dict[str, Any]:
    """Ask the WM for a project-scope run; succeed whatever its status."""
    params = _params(ctx, NestedParams)
    result = await ctx.run_in_project(params.action, params.params)
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
