"""The pytest plugin: inert without a runner, one test item per case with one."""

from __future__ import annotations

import json
import sys

import pytest

pytest_plugins = ["pytester"]

RUNNER = json.dumps([sys.executable, "-m", "corral_conformance.testrunner"])


def test_plugin_does_nothing_without_a_runner(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "conformance" not in result.stdout.str()


def test_plugin_runs_selected_cases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-q",
        "-p",
        "no:cacheprovider",
        "--corral-runner-argv",
        RUNNER,
        "--corral-case",
        "jsonrpc/*batch-rejected",
        "--corral-case",
        "lifecycle/sigterm-ends-runner",
        "--corral-only",
    )
    result.assert_outcomes(passed=3, deselected=1)


def test_plugin_reports_failures_and_expected_failures(pytester: pytest.Pytester) -> None:
    broken = json.dumps([*json.loads(RUNNER), "--break", "batch-silent"])
    baseline = pytester.path / "expected.txt"
    baseline.write_text("jsonrpc/empty-batch-rejected\n", encoding="utf-8")
    result = pytester.runpytest_subprocess(
        "-q",
        "-p",
        "no:cacheprovider",
        "--corral-runner-argv",
        broken,
        "--corral-case",
        "jsonrpc/*batch-rejected",
        "--corral-expected-failures",
        str(baseline),
    )
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*FAIL  jsonrpc/batch-rejected*", "*no message within 2000 ms*"])


def test_plugin_rejects_a_bad_runner_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--corral-runner-argv", "not json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
