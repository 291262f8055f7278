"""The whole suite passes against the correct test-only runner.

The test-only runner was written from the SPEC alone (own framing, no ``corral_protocol``),
so this proves that the cases are implementable independently of the reference runner.
"""

from __future__ import annotations

import sys

import pytest
from corral_conformance.batch import run_pairs, shipped_cases
from corral_conformance.outcome import Status
from corral_conformance.report import failure_block

TESTRUNNER = (sys.executable, "-m", "corral_conformance.testrunner")


@pytest.mark.timeout(600)
def test_every_case_passes_against_the_test_only_runner() -> None:
    cases = shipped_cases()
    results = run_pairs([(case, TESTRUNNER) for case in cases], jobs=4)
    bad = [r for r in results if r.status is not Status.PASS]
    assert not bad, "\n\n".join(failure_block(r) for r in bad)
