"""The benches that are not run by other tests still run: one tiny round each, checking
only that each prints its table (timings are the benches' business, not the suite's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("node_runner_bench.py", ["--rounds", "1", "--requests", "30"], "ratio noop p50"),
        ("runner_bench.py", ["--rounds", "1", "--requests", "30"], "ratio noop p50"),
    ],
)
def test_a_bench_runs_and_prints_its_table(script: str, args: list[str], expected: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=BENCH,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert expected in done.stdout
