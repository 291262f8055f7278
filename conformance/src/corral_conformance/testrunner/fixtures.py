"""The conformance fixtures of SPEC "Conformance fixtures" (handler sources
``conformance/<name>``), served only when the launch record says ``conformance: true``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .rpc import RpcError
from .variants import Breaks

__all__ = ["FIXTURES", "ConformanceFailure", "FixtureContext", "Peer"]


class ConformanceFailure(Exception):
    """Raised by the ``fail`` fixture; its outcome error type is ``ConformanceFailure``."""


class Peer(Protocol):
    """What a fixture may do with the connection of its run."""

    def notify(self, method: str, params: Any) -> None: ...

    async def request(self, method: str, params: Any) -> Any: ...

    def write_raw(self, data: bytes) -> None: ...


@dataclass(slots=True)
class FixtureContext:
    """One handler invocation."""

    handler: str
    params: Any
    run_id: str
    depth: int
    work_done_token: Any
    partial_token: Any
    peer: Peer
    breaks: Breaks
    run_local: Callable[[str, Any, int, str], Awaitable[dict[str, Any]]]

    def progress(self, token: Any, value: dict[str, Any]) -> None:
        """Send ``$/progress`` (before the reply, unless a variant breaks that)."""
        if self.breaks("progress-token-stringified"):
            token = str(token)
        params = {"token": token, "value": value}
        if self.breaks("progress-after-reply"):
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, self.peer.notify, "$/progress", params)
        else:
            self.peer.notify("$/progress", params)


def _object(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise TypeError("fixture params must be an object")
    return params


async def echo(ctx: FixtureContext) -> Any:
    return ctx.params


async def sleep(ctx: FixtureContext) -> Any:
    seconds = _object(ctx.params).get("seconds")
    if type(seconds) not in (int, float):
        raise TypeError("sleep needs a number 'seconds'")
    if ctx.breaks("ping-blocked-while-busy"):
        time.sleep(seconds)  # blocks the I/O loop: the broken behaviour
    else:
        await asyncio.sleep(seconds)
    return {"slept": seconds}


async def fail(ctx: FixtureContext) -> Any:
    message = "conformance failure"
    if isinstance(ctx.params, dict) and isinstance(ctx.params.get("message"), str):
        if not ctx.breaks("fail-ignores-message"):
            message = ctx.params["message"]
    raise ConformanceFailure(message)


async def crash(ctx: FixtureContext) -> Any:
    code = ctx.params.get("exitCode", 70) if isinstance(ctx.params, dict) else 70
    if ctx.breaks("crash-ignored"):
        raise RuntimeError("crash requested")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def print_(ctx: FixtureContext) -> Any:
    params = _object(ctx.params)
    out = str(params.get("stdout", ""))
    err = str(params.get("stderr", ""))
    filler = int(params.get("bytes", 0))
    out_bytes = out.encode("utf-8") + b"x" * filler
    err_bytes = err.encode("utf-8")
    if ctx.breaks("print-corrupts-stream"):
        ctx.peer.write_raw(out_bytes + err_bytes)
    elif not ctx.breaks("print-swallowed"):
        sys.stdout.buffer.write(out_bytes)
        sys.stdout.flush()
        sys.stderr.buffer.write(err_bytes)
        sys.stderr.flush()
    if ctx.breaks("printed-counts-chars"):
        return {"printed": len(out) + len(err) + filler}
    return {"printed": len(out_bytes) + len(err_bytes)}


async def progress(ctx: FixtureContext) -> Any:
    steps = _object(ctx.params).get("steps")
    if type(steps) is not int or steps < 0:
        raise TypeError("progress needs an integer 'steps' >= 0")
    token = ctx.work_done_token
    if token is not None and not ctx.breaks("no-progress"):
        ctx.progress(token, {"kind": "begin", "title": "progress", "percentage": 0})
        for step in range(1, steps + 1):
            await asyncio.sleep(0)
            value = {"kind": "report", "message": f"step {step}", "percentage": step * 100 // steps}
            ctx.progress(token, value)
        ctx.progress(token, {"kind": "end"})
    return {"steps": steps}


async def partial(ctx: FixtureContext) -> Any:
    items = _object(ctx.params).get("items")
    if not isinstance(items, list):
        raise TypeError("partial needs an array 'items'")
    token = ctx.partial_token
    if token is not None:
        for item in reversed(items) if ctx.breaks("partial-reversed") else items:
            await asyncio.sleep(0)
            ctx.progress(token, {"kind": "partial", "handler": ctx.handler, "data": item})
    return {"count": len(items)}


async def nested(ctx: FixtureContext) -> Any:
    params = _object(ctx.params)
    result = await ctx.run_local(params["action"], params.get("params", {}), ctx.depth + 1, ctx.run_id)
    if ctx.breaks("nested-returns-value"):
        return {"nested": result["result"]}
    return {"nested": result}


class ProjectRunError(Exception):
    """The WM answered project/runAction with an error."""


async def project_run(ctx: FixtureContext) -> Any:
    params = _object(ctx.params)
    depth = ctx.depth if ctx.breaks("project-run-depth-unchanged") else ctx.depth + 1
    request = {
        "action": params["action"],
        "params": params.get("params", {}),
        "parentRunId": ctx.run_id,
        "depth": depth,
    }
    try:
        result = await ctx.peer.request("project/runAction", request)
    except RpcError as exc:
        if ctx.breaks("project-run-error-propagates"):
            raise
        raise ProjectRunError(f"project/runAction failed: {exc.code} {exc.message}") from None
    return {"project": result}


FIXTURES: dict[str, Callable[[FixtureContext], Awaitable[Any]]] = {
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
