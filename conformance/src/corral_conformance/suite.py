"""Running many cases concurrently and summarising the run.

Contract: :func:`run_cases` runs every case at most ``jobs`` at a time (each case has its
own processes, so cases are independent) and returns the results in the order of the
input. ``on_result`` is called as each case finishes (for live progress output).
:func:`exit_code` maps results to the CLI's exit status: 2 if any harness error, else 1 if
any runner failure or stale baseline entry, else 0.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence

from .context import RunOptions
from .engine import run_case
from .loader import LoadedCase
from .outcome import CaseResult, Status
from .protocol import ProtocolSchemas

__all__ = ["counts", "exit_code", "run_cases"]


async def run_cases(
    cases: Sequence[LoadedCase],
    options: RunOptions,
    *,
    jobs: int = 2,
    on_result: Callable[[CaseResult], None] | None = None,
    schemas: ProtocolSchemas | None = None,
) -> list[CaseResult]:
    """Run ``cases`` with at most ``jobs`` in flight; results in input order."""
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    compiled = schemas or ProtocolSchemas()
    gate = asyncio.Semaphore(jobs)

    async def one(loaded: LoadedCase) -> CaseResult:
        async with gate:
            result = await run_case(loaded, options, compiled)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(c) for c in cases)))


def counts(results: Sequence[CaseResult]) -> dict[str, int]:
    """How many results have each status (every status present, possibly 0)."""
    tally = Counter(r.status for r in results)
    return {status.value: tally.get(status, 0) for status in Status}


def exit_code(results: Sequence[CaseResult]) -> int:
    """0 all good, 1 runner failures / stale baseline, 2 harness errors."""
    statuses = {r.status for r in results}
    if Status.HARNESS_ERROR in statuses:
        return 2
    if Status.FAIL in statuses or Status.STALE in statuses:
        return 1
    return 0
