"""The nine conformance fixtures of SPEC "Conformance fixtures" (handler sources
``conformance/<name>``), served only when the launch record says ``conformance: true``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from .rpc import RpcError
from .runstate import RunState
from .variants import Breaks

__all__ = [
    "ERROR_NAMES",
    "FIXTURES",
    "ActionNotFound",
    "ConformanceFailure",
    "ConformanceParamsError",
    "FixtureContext",
    "Peer",
]

ERROR_NAMES: Mapping[int, str] = MappingProxyType(
    {
        -32700: "ParseError",
        -32600: "InvalidRequest",
        -32601: "MethodNotFound",
        -32602: "InvalidParams",
        -32603: "InternalError",
        -32001: "MessageTooLarge",
        -32002: "ServerNotInitialized",
        -32003: "AlreadyInitialized",
        -32004: "ShuttingDown",
        -32005: "UnsupportedProtocolVersion",
        -32010: "ActionNotFound",
        -32011: "HandlerFailed",
        -32012: "DepthLimitExceeded",
        -32013: "FanOutLimitExceeded",
        -32014: "ProjectNotFound",
        -32015: "RunnerUnavailable",
        -32800: "RequestCancelled",
    }
)
"""Error code -> name (SPEC "Error codes"): the ErrorDetail type of a failed scope call."""


class ConformanceFailure(Exception):  # noqa: N818 - the SPEC's ErrorDetail type name
    """Raised by the ``fail`` fixture."""


class ConformanceParamsError(Exception):
    """A fixture got params of the wrong shape."""


class ActionNotFound(Exception):  # noqa: N818 - the SPEC's ErrorDetail type name
    """A local run of an action that is not configured."""


class ScopeCallError(Exception):
    """A scope request answered with a JSON-RPC error; ``type_name`` is its ErrorDetail type."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class Peer(Protocol):
    """What a fixture may do with the connection of its run."""

    def notify(self, method: str, params: Any) -> None: ...

    async def request(self, method: str, params: Any) -> Any: ...

    def write_raw(self, data: bytes) -> None: ...


@dataclass(slots=True)
class FixtureContext:
    """One handler invocation."""

    handler: str
    action: str
    params: Any
    run_id: str
    depth: int
    run: RunState | None
    peer: Peer
    breaks: Breaks
    run_local: Callable[[str, Any, int, str], Awaitable[dict[str, Any]]]
    output: Callable[[str, str, str], None]


def _object(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ConformanceParamsError("params must be an object")
    return params


def _checked(ctx: FixtureContext, ok: bool, what: str) -> None:
    if not ok and not ctx.breaks("fixture-params-unchecked"):
        raise ConformanceParamsError(what)


async def echo(ctx: FixtureContext) -> Any:
    return ctx.params


def _member(ctx: FixtureContext, name: str) -> Any:
    return ctx.params.get(name) if isinstance(ctx.params, dict) else None


def _count(value: Any) -> int | None:
    """``value`` if it is an integer >= 0 (not a boolean), else None."""
    return value if type(value) is int and value >= 0 else None


async def sleep(ctx: FixtureContext) -> Any:
    seconds = _member(ctx, "seconds")
    valid = type(seconds) in (int, float) and seconds >= 0
    _checked(ctx, valid, "sleep needs a number 'seconds' >= 0")
    delay = float(seconds) if valid else 0.0
    if ctx.breaks("ping-blocked-while-busy"):
        time.sleep(delay)  # noqa: ASYNC251 - blocking the I/O loop is the broken behaviour
    else:
        await asyncio.sleep(delay)
    return {"slept": seconds}


async def fail(ctx: FixtureContext) -> Any:
    given = _member(ctx, "message")
    usable = isinstance(given, str) and not ctx.breaks("fail-ignores-message")
    raise ConformanceFailure(given if usable else "conformance failure")


async def crash(ctx: FixtureContext) -> Any:
    code = ctx.params.get("exitCode", 70) if isinstance(ctx.params, dict) else 70
    _checked(ctx, type(code) is int and 0 <= code <= 255, "exitCode must be 0..255")
    if ctx.breaks("crash-ignored"):
        raise RuntimeError("crash requested")
    os._exit(code)


def _chunks(text: str, limit: int = 16384) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes, on character boundaries."""
    data = text.encode("utf-8")
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


async def print_(ctx: FixtureContext) -> Any:
    params = _object(ctx.params)
    out, err, filler = params.get("stdout", ""), params.get("stderr", ""), params.get("bytes", 0)
    valid = isinstance(out, str) and isinstance(err, str) and type(filler) is int and filler >= 0
    _checked(ctx, valid, "print needs strings stdout/stderr and an integer bytes >= 0")
    writes = [("stdout", out), ("stdout", "x" * filler), ("stderr", err)]
    if ctx.breaks("print-corrupts-stream"):
        ctx.peer.write_raw("".join(text for _, text in writes).encode("utf-8"))
    elif not ctx.breaks("print-swallowed"):
        for stream, text in writes:
            pieces = [text] if ctx.breaks("output-not-split") else _chunks(text)
            for piece in pieces:
                if piece:
                    ctx.output(stream, piece, ctx.run_id)
    if ctx.breaks("printed-counts-chars"):
        return {"printed": len(out) + filler + len(err)}
    return {"printed": len(out.encode("utf-8")) + filler + len(err.encode("utf-8"))}


async def progress(ctx: FixtureContext) -> Any:
    given = _member(ctx, "steps")
    _checked(ctx, _count(given) is not None, "progress needs an integer steps >= 0")
    steps = _count(given) or 0
    run = ctx.run
    if run is not None and (
        run.work_done_token is not None or ctx.breaks("progress-without-token")
    ):
        if run.work_done_token is None:
            run.work_done_token = "progress"  # noqa: S105 - a progress token, not a secret
        if not ctx.breaks("no-progress"):
            begin = {"kind": "begin", "title": "conformance progress", "percentage": 0}
            run.work_done({**begin, "cancellable": True})
            for i in range(1, steps + 1):
                await asyncio.sleep(0)
                value = {"kind": "report", "message": f"step {i}/{steps}"}
                run.work_done({**value, "percentage": 100 * i // steps})
            run.work_done({"kind": "end"})
    return {"steps": given}


async def partial(ctx: FixtureContext) -> Any:
    given = _member(ctx, "items")
    _checked(ctx, isinstance(given, list), "partial needs an array items")
    items: list[Any] = given if isinstance(given, list) else []
    if ctx.run is not None:
        for item in reversed(items) if ctx.breaks("partial-reversed") else items:
            await asyncio.sleep(0)
            ctx.run.partial(ctx.handler, item)
    return {"count": len(items)}


async def nested(ctx: FixtureContext) -> Any:
    params = _object(ctx.params)
    _checked(ctx, isinstance(params.get("action"), str), "nested needs a string action")
    try:
        result = await ctx.run_local(
            params["action"], params.get("params", {}), ctx.depth + 1, ctx.run_id
        )
    except RpcError as exc:
        if ctx.breaks("nested-unknown-action-rpc-error"):
            raise
        raise ActionNotFound(exc.message) from None
    if ctx.breaks("nested-returns-value"):
        return {"nested": result["result"]}
    return {"nested": result}


async def project_run(ctx: FixtureContext) -> Any:
    params = _object(ctx.params)
    _checked(ctx, isinstance(params.get("action"), str), "project-run needs a string action")
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
        raise ScopeCallError(ERROR_NAMES.get(exc.code, "RemoteError"), exc.message) from None
    return {"project": result}


FIXTURES: Mapping[str, Callable[[FixtureContext], Awaitable[Any]]] = MappingProxyType(
    {
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
)
