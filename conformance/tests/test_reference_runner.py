"""The Python reference runner passes every case, with no expected failures.

The whole suite runs once against ``python -m corral_runner`` (concurrently, like the CLI);
each case is then one test that requires ``pass`` and compares the case's *normalised*
transcript (volatile values replaced, messages in the case's own order, one JSON line per
step) with its syrupy snapshot, so a behaviour change of the reference runner shows up as a
snapshot diff even when every case still passes.

The hello and ``initialize`` result that most cases share are pinned once, in
``test_standard_handshake``'s snapshot; in every case's transcript they appear as the
markers ``"<standard hello>"`` and ``"<standard initialize result>"`` and only a handshake
that differs is shown in full. So a new capability is one snapshot diff, not one per case.
Refresh with ``pytest conformance/tests/test_reference_runner.py --snapshot-update`` after
reading the diff.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from corral_conformance.batch import run_pairs, shipped_cases
from corral_conformance.outcome import CaseResult, Status
from corral_conformance.report import failure_block
from corral_conformance.transcript import collapse_standard, render, standard_handshake
from syrupy.assertion import SnapshotAssertion

REFERENCE_RUNNER = (sys.executable, "-m", "corral_runner")
CASE_IDS = [case.id for case in shipped_cases()]


@pytest.fixture(scope="session")
def reference_results() -> dict[str, CaseResult]:
    """Every shipped case against the reference runner, run once."""
    cases = shipped_cases()
    results = run_pairs([(case, REFERENCE_RUNNER) for case in cases], jobs=3)
    return {result.case_id: result for result in results}


@pytest.fixture(scope="session")
def standard(reference_results: dict[str, CaseResult]) -> dict[str, Any]:
    """The handshake most cases share (the markers' meaning)."""
    return standard_handshake(result.normalised for result in reference_results.values())


@pytest.mark.timeout(600)
def test_standard_handshake(standard: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert json.dumps(standard, indent=2, ensure_ascii=False) == snapshot


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_reference_runner_passes(
    reference_results: dict[str, CaseResult],
    standard: dict[str, Any],
    case_id: str,
    snapshot: SnapshotAssertion,
) -> None:
    result = reference_results[case_id]
    assert result.status is Status.PASS, failure_block(result)
    assert render(collapse_standard(result.normalised, standard)) == snapshot
