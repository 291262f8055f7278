"""The Node runner passes every conformance case, with no expected failures.

Like ``conformance/tests/test_reference_runner.py`` for the Python runner: the whole suite
runs once against ``node bin/corral-runner.js`` (two cases at a time) and each case is one
test that requires ``pass`` and compares the case's normalised transcript with its syrupy
snapshot (refresh with ``--snapshot-update`` after reading the diff).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from corral_conformance.batch import run_pairs, shipped_cases
from corral_conformance.outcome import CaseResult, Status
from corral_conformance.report import failure_block
from corral_conformance.transcript import collapse_standard, render, standard_handshake
from syrupy.assertion import SnapshotAssertion

CASE_IDS = [case.id for case in shipped_cases()]
# Where the runner searched for modules appears in its errors: the checkout's path differs.
ER_NODE_DIR = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="session")
def node_results(runner_argv: tuple[str, ...]) -> dict[str, CaseResult]:
    """Every shipped case against the Node runner, run once."""
    cases = shipped_cases()
    results = run_pairs([(case, runner_argv) for case in cases], jobs=3)
    return {result.case_id: result for result in results}


@pytest.fixture(scope="session")
def standard(node_results: dict[str, CaseResult]) -> dict[str, Any]:
    """The handshake most cases share."""
    return standard_handshake(result.normalised for result in node_results.values())


@pytest.mark.timeout(600)
def test_node_standard_handshake(standard: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert json.dumps(standard, indent=2, ensure_ascii=False) == snapshot


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_node_runner_passes(
    node_results: dict[str, CaseResult],
    standard: dict[str, Any],
    case_id: str,
    snapshot: SnapshotAssertion,
) -> None:
    result = node_results[case_id]
    assert result.status is Status.PASS, failure_block(result)
    transcript = render(collapse_standard(result.normalised, standard))
    assert transcript.replace(ER_NODE_DIR, "<er-node>") == snapshot
