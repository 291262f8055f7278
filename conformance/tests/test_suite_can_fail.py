"""The suite can fail: every case fails against each broken runner variant it names.

A case that no broken runner fails proves nothing. Each case lists in ``mustFailWith`` the
variants of the test-only runner (``--break VARIANT``) that break its rule; here every such
(case, variant) pair must end in ``fail`` - not ``pass``, not ``skip``, and not
``harness-error`` (which would mean the case or the driver broke, not the runner).
"""

from __future__ import annotations

import sys

import pytest
from corral_conformance.batch import run_pairs, shipped_cases
from corral_conformance.outcome import CaseResult, Status
from corral_conformance.testrunner.variants import VARIANTS

TESTRUNNER = (sys.executable, "-m", "corral_conformance.testrunner")
PAIRS = [
    (case.id, variant)
    for case in shipped_cases()
    if case.case is not None
    for variant in case.case.must_fail_with
]


@pytest.fixture(scope="session")
def variant_results() -> dict[tuple[str, str], CaseResult]:
    """Every (case, variant) pair, run once, concurrently (most pairs fail fast)."""
    cases = {case.id: case for case in shipped_cases()}
    runs = [(cases[cid], (*TESTRUNNER, "--break", variant)) for cid, variant in PAIRS]
    return dict(zip(PAIRS, run_pairs(runs, jobs=6), strict=True))


def test_every_case_names_a_known_variant() -> None:
    for case in shipped_cases():
        assert case.case is not None
        assert case.case.must_fail_with, f"{case.id} names no variant that must fail it"
        assert set(case.case.must_fail_with) <= VARIANTS.keys(), case.id


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("case_id", "variant"), PAIRS, ids=[f"{c}@{v}" for c, v in PAIRS])
def test_case_fails_against_its_broken_variant(
    variant_results: dict[tuple[str, str], CaseResult], case_id: str, variant: str
) -> None:
    result = variant_results[(case_id, variant)]
    assert result.status is Status.FAIL, (
        f"{case_id} against --break {variant}: {result.status.value} ({result.message})"
    )
