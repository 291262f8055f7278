"""The long fuzz run: many inputs per target, with counts, rates and the runner's memory.

    uv run python fuzz/run.py [--wire 100000] [--config 10000] [--wal 10000] [--seed 0]

Each target runs until its count of inputs is reached or an input breaks a property; then
Hypothesis shrinks that input and it is printed (exit status 1). The targets and their
properties are in ``fuzz/targets.py``; ``tests/test_fuzz_slice.py`` runs a short, fixed
slice of them in the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).parent))
from targets import (
    Finding,
    WireTarget,
    check_config,
    check_wal,
    config_tables,
    wal_segments,
    wire_cases,
)


class _OutOfTime(BaseException):
    """The target's time budget is spent (a BaseException: Hypothesis lets it through
    without shrinking, unlike a failure)."""


def _run(
    name: str,
    count: int,
    rng_seed: int,
    strategy: Any,
    check: Callable[[Any], None],
    *,
    minutes: float,
) -> bool:
    if count <= 0:
        return True
    tried = 0
    started = time.perf_counter()
    deadline = started + minutes * 60

    @seed(rng_seed)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(strategy)
    def target(value: Any) -> None:
        nonlocal tried
        if time.perf_counter() > deadline:
            raise _OutOfTime
        tried += 1
        check(value)
        if tried % 2000 == 0:
            rate = tried / (time.perf_counter() - started)
            print(f"{name}: {tried} inputs, {rate:.0f}/s, no finding so far", flush=True)

    try:
        target()
    except Finding as finding:
        print(f"{name}: FINDING after {tried} inputs: {finding}")
        return False
    except _OutOfTime:
        print(f"{name}: time budget spent", flush=True)
    seconds = time.perf_counter() - started
    print(
        f"{name}: {tried} inputs in {seconds:.1f} s ({tried / seconds:.0f}/s), no finding",
        flush=True,
    )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wire", type=int, default=100_000)
    parser.add_argument("--config", type=int, default=10_000)
    parser.add_argument("--wal", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--minutes", type=float, default=60.0, help="time budget of each target (default 60)"
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="corral-fuzz-"))
    project = scratch / "project"
    project.mkdir()
    wire = WireTarget(project)
    wire.start()
    try:
        ok = _run("wire", args.wire, args.seed, wire_cases, wire.check_case, minutes=args.minutes)
        stats = wire.stats
        print(
            f"  runner: {stats.replies} replies checked, {stats.candidates} inputs on "
            f"unauthenticated connections, {stats.sessions_ended} inputs closed the "
            f"connection (the runner exited 1, a new one started); peak RSS "
            f"{stats.peak_rss_kib / 1024:.1f} MiB, largest growth of one runner "
            f"{stats.rss_growth_kib / 1024:.1f} MiB"
        )
    finally:
        wire.close()
    ok &= _run(
        "config",
        args.config,
        args.seed,
        config_tables,
        lambda t: check_config(t, scratch),
        minutes=args.minutes,
    )
    ok &= _run(
        "wal",
        args.wal,
        args.seed,
        wal_segments,
        lambda c: check_wal(c, scratch),
        minutes=args.minutes,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
