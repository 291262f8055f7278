"""The driver keeps runner failures, skips and harness errors apart, in every output.

Synthetic cases (written to a temporary cases directory) run against the test-only runner;
the CLI is called in-process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from corral_conformance.cli import main, parse_runner_argv, resolve_relative_paths
from corral_conformance.context import RunOptions
from corral_conformance.engine import run_case
from corral_conformance.loader import CaseLoader
from corral_conformance.outcome import CaseResult, Status
from corral_conformance.protocol import ProtocolSchemas

RUNNER = [sys.executable, "-m", "corral_conformance.testrunner"]
START = [{"step": "launch"}, {"step": "expectHello"}, {"step": "connect"}, {"step": "initialize"}]
PING = {"step": "send", "message": {"jsonrpc": "2.0", "id": 1, "method": "$/ping"}}

CASES: dict[str, dict[str, Any]] = {
    "demo/passes": {
        "description": "ping",
        "steps": [*START, PING, {"step": "expect", "pattern": {"id": 1, "result": {}}}],
    },
    "demo/fails": {
        "description": "expects an error where the runner answers",
        "steps": [*START, PING, {"step": "expect", "pattern": {"id": 1, "error": {"code": -1}}}],
    },
    "demo/skips": {
        "description": "needs a capability nobody has",
        "requires": ["teleportation"],
        "steps": [*START, PING],
    },
    "demo/bad-file": {"description": "not a case", "steps": [{"step": "teleport"}]},
    "demo/unknown-variable": {
        "description": "uses an unbound variable",
        "steps": [*START, {"step": "send", "message": {"id": "${nope}"}, "validate": False}],
    },
    "demo/never-initializes": {
        "description": "requires a capability but never learns the capabilities",
        "requires": ["conformanceFixtures"],
        "steps": [{"step": "launch"}, {"step": "expectHello"}],
    },
    "demo/over-budget": {
        "description": "outlives its budget",
        "timeoutMs": 200,
        "steps": [{"step": "launch"}, {"step": "sleep", "ms": 2000}],
    },
    "demo/invalid-message": {
        "description": "sends a schema-invalid message without saying so",
        "steps": [
            *START,
            {"step": "send", "message": {"jsonrpc": "2.0", "id": 1.5, "method": "x"}},
        ],
    },
}


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    for case_id, document in CASES.items():
        path = tmp_path / f"{case_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document), encoding="utf-8")
    return tmp_path


def _run(cases: Path, case_id: str, argv: list[str] | None = None, **options: Any) -> CaseResult:
    loaded = CaseLoader(cases).load(cases / f"{case_id}.json")
    run_options = RunOptions(tuple(argv or RUNNER), **options)
    return asyncio.run(run_case(loaded, run_options, ProtocolSchemas()))


def test_pass(cases: Path) -> None:
    result = _run(cases, "demo/passes")
    assert result.status is Status.PASS, result.message
    assert [r["step"] for r in result.normalised][:4] == [
        "launch",
        "expectHello",
        "connect",
        "initialize",
    ]


def test_runner_failure_names_step_expected_and_got(cases: Path) -> None:
    result = _run(cases, "demo/fails")
    assert result.status is Status.FAIL
    assert (result.step, result.step_kind) == ("6", "expect")
    assert result.expected is not None
    assert "-1" in result.expected
    assert result.got is not None
    assert '"result":{}' in result.got


def test_failure_reports_the_stderr_tail(cases: Path) -> None:
    broken = [*RUNNER, "--break", "exit-before-initialize"]
    case = {
        "description": "the runner dies",
        "steps": [
            {"step": "launch"},
            {"step": "expectHello"},
            {"step": "connect"},
            {"step": "send", "message": {"jsonrpc": "2.0", "method": "exit"}},
            {"step": "expectNothing", "forMs": 500},
        ],
    }
    (cases / "demo" / "dies.json").write_text(json.dumps(case), encoding="utf-8")
    result = _run(cases, "demo/dies", broken)
    assert result.status is Status.FAIL
    assert "exited with code 1" in result.message


def test_skip_says_why(cases: Path) -> None:
    result = _run(cases, "demo/skips")
    assert result.status is Status.SKIP
    assert "teleportation" in result.message


def test_platform_requirement_skips_without_launching(cases: Path) -> None:
    case = {"description": "x", "requires": ["posixSignals"], "steps": [{"step": "launch"}]}
    (cases / "demo" / "posix.json").write_text(json.dumps(case), encoding="utf-8")
    result = _run(cases, "demo/posix", features=frozenset())
    assert result.status is Status.SKIP
    assert result.transcript == []


@pytest.mark.parametrize(
    ("case_id", "needle"),
    [
        ("demo/bad-file", "case.schema.json"),
        ("demo/unknown-variable", "unknown variable"),
        ("demo/never-initializes", "never initializes"),
        ("demo/invalid-message", "validate"),
    ],
)
def test_harness_errors(cases: Path, case_id: str, needle: str) -> None:
    result = _run(cases, case_id)
    assert result.status is Status.HARNESS_ERROR
    assert needle in result.message


def test_missing_runner_command_is_a_harness_error(cases: Path) -> None:
    result = _run(cases, "demo/passes", ["/nonexistent/corral-runner"])
    assert result.status is Status.HARNESS_ERROR
    assert "cannot start the runner command" in result.message


def test_budget_overrun_is_a_runner_failure(cases: Path) -> None:
    result = _run(cases, "demo/over-budget")
    assert result.status is Status.FAIL
    assert "budget" in result.message


def _cli(cases: Path, *args: str) -> int:
    return main(["run", "--runner-argv", json.dumps(RUNNER), "--cases-dir", str(cases), *args])


def test_cli_exit_codes(cases: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(cases, "--case", "demo/passes", "--case", "demo/skips") == 0
    assert _cli(cases, "--case", "demo/passes", "--case", "demo/fails") == 1
    assert _cli(cases, "--case", "demo/fails", "--case", "demo/bad-file") == 2
    assert _cli(cases, "--case", "nothing/*") == 2
    assert main(["run", "--cases-dir", str(cases), "--runner", ""]) == 2
    output = capsys.readouterr().out
    assert "Runner failures (the runner broke a rule): 1" in output
    assert "Harness errors (the driver or a case file is at fault): 1" in output


def test_cli_reports(cases: Path, tmp_path: Path) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    code = _cli(cases, "--case", "demo/*", "--json", str(report), "--junit", str(junit), "-q")
    assert code == 2
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["exitCode"] == 2
    statuses = {case["id"]: case["status"] for case in document["cases"]}
    assert statuses["demo/passes"] == "pass"
    assert statuses["demo/fails"] == "fail"
    assert statuses["demo/skips"] == "skip"
    assert statuses["demo/bad-file"] == "harness-error"
    failed = next(c for c in document["cases"] if c["id"] == "demo/fails")
    assert failed["transcript"]
    launch = next(e for e in failed["transcript"] if e["kind"] == "stdin")
    assert '"token":"<token>"' in launch["line"]  # the driver never logs the token
    suite = ET.parse(junit).getroot()  # noqa: S314 - our own output
    assert suite.get("failures") == "2"  # fails + over-budget
    assert suite.get("errors") == "4"
    assert suite.get("skipped") == "1"


def test_baseline_xfail_and_stale(
    cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "expected.txt"
    baseline.write_text("# known bugs\ndemo/fails  # answers instead of failing\n", "utf-8")
    assert (
        _cli(
            cases,
            "--case",
            "demo/fails",
            "--case",
            "demo/passes",
            "--expected-failures",
            str(baseline),
        )
        == 0
    )
    assert "XFAIL demo/fails" in capsys.readouterr().out
    baseline.write_text(
        json.dumps({"demo/passes": "thought broken", "demo/gone": "renamed"}), "utf-8"
    )
    assert _cli(cases, "--case", "demo/passes", "--expected-failures", str(baseline)) == 1
    output = capsys.readouterr().out
    assert "STALE demo/passes" in output
    assert "STALE demo/gone" in output


def test_runner_argv_parsing(tmp_path: Path) -> None:
    assert parse_runner_argv('node "my runner.js" --x', None) == ["node", "my runner.js", "--x"]
    assert parse_runner_argv(None, '["C:\\\\r.exe", "a b"]') == ["C:\\r.exe", "a b"]
    with pytest.raises(ValueError, match="JSON array"):
        parse_runner_argv(None, '"node"')
    script = tmp_path / "runner.js"
    script.write_text("", "utf-8")
    resolved = resolve_relative_paths(["node", "runner.js", "-m", "pkg"], cwd=tmp_path)
    assert resolved == ["node", str(script), "-m", "pkg"]
