"""Steps that wait for what the runner sends: expect, expectUnordered, expectNothing,
expectClosed - and :func:`next_message`, the one way every step reads a connection.

Reading rule (README "Skipping"): a step passes over the messages its ``skip`` list
describes - a string names a notification method, an object is a pattern any message may
match - (default: the ``runner/log`` and ``runner/output`` notifications); any other message
is the "next message" and must be accounted for by the step. A message that violates the
protocol fails the case as soon as a step reaches it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..context import CaseContext
from ..matcher import describe, match
from ..model import DEFAULT_SKIP, Expect, ExpectClosed, ExpectNothing, ExpectUnordered
from ..outcome import HarnessError, RunnerFailure
from ..variables import substitute
from ..wire import Closed, Received, WireConnection

__all__ = [
    "closed_failure",
    "expect",
    "expect_closed",
    "expect_nothing",
    "expect_unordered",
    "next_message",
]


SkipList = tuple[str, ...] | list[Any]


def _skippable(message: Any, skip: SkipList) -> bool:
    for entry in skip:
        if isinstance(entry, str):
            if isinstance(message, dict) and "id" not in message and message.get("method") == entry:
                return True
        elif match(entry, message):
            return True
    return False


async def next_message(
    conn: WireConnection, skip: SkipList | None, deadline: float
) -> Received | Closed | None:
    """The next message not skipped, the close, or ``None`` at ``deadline`` (monotonic)."""
    skip = DEFAULT_SKIP if skip is None else skip
    while True:
        if conn.inbox.empty() and conn.final is not None:
            return conn.final
        remaining = deadline - time.monotonic()
        if remaining <= 0 and conn.inbox.empty():
            return None
        try:
            item = await asyncio.wait_for(conn.inbox.get(), max(remaining, 0.0))
        except TimeoutError:
            return None
        if isinstance(item, Closed):
            return item
        if item.violations:
            raise RunnerFailure(
                f"protocol violation: {item.violations[0]}", got=describe(item.message, 400)
            )
        if _skippable(item.message, skip):
            continue
        return item


async def closed_failure(
    ctx: CaseContext, conn: WireConnection, closed: Closed, expected: str
) -> RunnerFailure:
    """A RunnerFailure for an unexpected close, with the exit code if the process ended."""
    proc = ctx.processes.get(conn.process_name)
    status = ""
    if proc is not None:
        exited, code = await proc.wait_exit(0.3)
        if exited:
            status = f"; the runner exited with code {code}"
    return RunnerFailure(
        f"the runner closed connection {conn.name!r} ({closed.reason}){status}",
        expected=expected,
        got="connection closed",
    )


def _deadline(ctx: CaseContext, ms: int) -> float:
    return time.monotonic() + ctx.seconds(ms)


async def expect(ctx: CaseContext, step: Expect) -> None:
    """The next message matches the pattern."""
    conn = ctx.connection(step.connection)
    pattern = substitute(step.pattern, ctx.vars)
    item = await next_message(conn, step.skip, _deadline(ctx, step.within_ms))
    if item is None:
        raise RunnerFailure(
            f"no message within {step.within_ms} ms", expected=describe(pattern, 400), got="nothing"
        )
    if isinstance(item, Closed):
        raise await closed_failure(ctx, conn, item, describe(pattern, 400))
    result = match(pattern, item.message)
    if not result:
        raise RunnerFailure(
            f"message does not match at {result.path}: {result.reason}",
            expected=describe(pattern, 400),
            got=describe(item.message, 400),
        )
    ctx.commit(result.captures)
    got: Any = "<volatile>" if step.volatile else item.message
    ctx.transcript.step({"step": "expect", "connection": step.connection, "got": got})


def _patterns(ctx: CaseContext, step: ExpectUnordered) -> list[Any]:
    """The explicit patterns followed by the generated ones."""
    if (step.for_each is None) != (step.pattern is None):
        raise HarnessError("expectUnordered: forEach and pattern go together")
    patterns = [substitute(p, ctx.vars) for p in step.patterns or []]
    each = step.for_each
    if each is not None:
        base = ctx.vars.as_dict()
        patterns += [
            substitute(step.pattern, {**base, each.var: i}) for i in range(each.from_, each.to)
        ]
    if not patterns:
        raise HarnessError("expectUnordered needs patterns, or forEach + pattern")
    return patterns


async def expect_unordered(ctx: CaseContext, step: ExpectUnordered) -> None:
    """The next ``len(patterns)`` messages match the patterns, in any order."""
    conn = ctx.connection(step.connection)
    patterns = _patterns(ctx, step)
    matched: list[Any] = [None] * len(patterns)
    remaining = list(range(len(patterns)))
    deadline = _deadline(ctx, step.within_ms)
    while remaining:
        missing = describe([patterns[i] for i in remaining[:3]], 400)
        item = await next_message(conn, step.skip, deadline)
        if item is None:
            raise RunnerFailure(
                f"{len(remaining)} of {len(patterns)} expected messages did not arrive "
                f"within {step.within_ms} ms",
                expected=missing,
                got="nothing more",
            )
        if isinstance(item, Closed):
            raise await closed_failure(ctx, conn, item, missing)
        for position, index in enumerate(remaining):
            result = match(patterns[index], item.message)
            if result:
                ctx.commit(result.captures)
                matched[index] = item.message
                del remaining[position]
                break
        else:
            raise RunnerFailure(
                f"message matches none of the {len(remaining)} remaining patterns",
                expected=missing,
                got=describe(item.message, 400),
            )
    got: Any = "<volatile>" if step.volatile else matched
    ctx.transcript.step({"step": "expectUnordered", "connection": step.connection, "got": got})


async def expect_nothing(ctx: CaseContext, step: ExpectNothing) -> None:
    """Nothing arrives and the connection stays open for ``forMs``."""
    conn = ctx.connection(step.connection)
    item = await next_message(conn, step.skip, _deadline(ctx, step.for_ms))
    if isinstance(item, Closed):
        raise await closed_failure(ctx, conn, item, f"no message for {step.for_ms} ms")
    if item is not None:
        raise RunnerFailure(
            f"unexpected message (nothing should arrive for {step.for_ms} ms)",
            expected="nothing",
            got=describe(item.message, 400),
        )
    ctx.transcript.step({"step": "expectNothing", "connection": step.connection})


async def expect_closed(ctx: CaseContext, step: ExpectClosed) -> None:
    """The runner closes the connection (without a byte, with ``noBytes``)."""
    conn = ctx.connection(step.connection)
    item = await next_message(conn, step.skip, _deadline(ctx, step.within_ms))
    if item is None:
        raise RunnerFailure(
            f"the connection is still open after {step.within_ms} ms",
            expected="the runner closes the connection",
            got="still open",
        )
    if isinstance(item, Received):
        raise RunnerFailure(
            "a message arrived where the runner should close the connection",
            expected="the runner closes the connection",
            got=describe(item.message, 400),
        )
    if step.no_bytes and conn.bytes_received:
        raise RunnerFailure(
            f"the runner wrote {conn.bytes_received} bytes before closing",
            expected="closed without a byte written",
            got=f"{conn.bytes_received} bytes",
        )
    ctx.transcript.step({"step": "expectClosed", "connection": step.connection})
