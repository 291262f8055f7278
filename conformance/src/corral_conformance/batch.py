"""Run many (case, runner command) pairs in one go - for test suites, including this one's.

:func:`run_pairs` is what ``test_suite_can_fail.py`` uses to run every case against the
broken variants it names, and what a runner author's own pytest suite can use to run the
cases programmatically. It is synchronous (it owns an event loop) and never raises for a
failing case: each pair ends in a :class:`~corral_conformance.outcome.CaseResult`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .context import RunOptions
from .engine import run_case
from .loader import CaseLoader, LoadedCase
from .outcome import CaseResult
from .paths import cases_dir
from .protocol import ProtocolSchemas

__all__ = ["run_pairs", "shipped_cases"]


def shipped_cases() -> list[LoadedCase]:
    """Every shipped case, sorted by id."""
    return CaseLoader(cases_dir()).select()


def run_pairs(
    pairs: Sequence[tuple[LoadedCase, Sequence[str]]],
    *,
    jobs: int = 2,
    timeout_scale: float = 1.0,
) -> list[CaseResult]:
    """Run each case against its runner argv, ``jobs`` at a time; results in input order."""

    async def main() -> list[CaseResult]:
        schemas = ProtocolSchemas()
        gate = asyncio.Semaphore(jobs)

        async def one(loaded: LoadedCase, argv: Sequence[str]) -> CaseResult:
            options = RunOptions(tuple(argv), timeout_scale=timeout_scale)
            async with gate:
                return await run_case(loaded, options, schemas)

        return list(await asyncio.gather(*(one(c, a) for c, a in pairs)))

    return asyncio.run(main())
