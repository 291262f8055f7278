"""Handlers the runner tests configure (copied into each test's project directory)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from typing import Any

import msgspec
from corral_runner import ActionContext


class Greeting(msgspec.Struct):
    name: str
    times: int = 1


class Greeted(msgspec.Struct):
    text: str


async def greet(ctx: ActionContext[Greeting]) -> Greeted:
    return Greeted(text=" ".join([f"hello {ctx.params.name}"] * ctx.params.times))


def shout(ctx: ActionContext[Any]) -> dict[str, Any]:
    previous = msgspec.to_builtins(ctx.previous_result)
    return {"text": previous["text"].upper(), "thread": threading.current_thread().name}


def sync_sleep(ctx: ActionContext[Any]) -> dict[str, Any]:
    """Sleeps in a worker thread, polling for cancellation."""
    deadline = time.monotonic() + float(ctx.params.get("seconds", 5))
    while time.monotonic() < deadline:
        if ctx.cancelled:
            return {"cancelled": True}
        time.sleep(0.01)
    return {"slept": True}


def busy(ctx: ActionContext[Any]) -> str:
    """Blocks its thread without polling (a CPU-bound tool, say); logs ``busy: done`` as it
    returns, so that a test can tell when an abandoned one has really finished."""
    time.sleep(float(ctx.params.get("seconds", 1)))
    ctx.logger.warning("busy: done")
    return "done"


def diagnostics_a(ctx: ActionContext[Any]) -> dict[str, Any]:
    return {"diagnostics": [{"code": "A1"}], "summary": {"a": 1}, "tool": "a"}


async def diagnostics_b(ctx: ActionContext[Any]) -> dict[str, Any]:
    return {"diagnostics": [{"code": "B1"}, {"code": "B2"}], "summary": {"b": 2}, "tool": "b"}


def raises(ctx: ActionContext[Any]) -> None:
    raise ValueError("handler exploded")


def child_process_prints(ctx: ActionContext[Any]) -> int:
    code = "import sys; print('from child'); print('child err', file=sys.stderr)"
    return subprocess.run([sys.executable, "-c", code], check=True).returncode


def prints_bytes(ctx: ActionContext[Any]) -> None:
    """Binary writes, as tools and libraries do: ``sys.stdout.buffer`` must exist."""
    sys.stdout.buffer.write("bytes é ".encode() + b"\xff\n")
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(b"binary err\n")


async def logs(ctx: ActionContext[Any]) -> None:
    ctx.logger.warning("careful: %s", ctx.params.get("what", "x"))


NOT_CALLABLE = 42


def exits(ctx: ActionContext[Any]) -> None:
    raise SystemExit(3)


async def unencodable(ctx: ActionContext[Any]) -> object:
    return object()


async def stubborn(ctx: ActionContext[Any]) -> str:
    """Swallows cancellation (bad handler code) for ``seconds`` (default 5): the runner must
    answer -32800 anyway."""
    deadline = time.monotonic() + float(ctx.params.get("seconds", 5))
    while time.monotonic() < deadline:
        try:
            await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            continue
    return "finished late"
