"""``corral run --format sarif`` and ``--format github`` (issue 15), on run reports made
here: the SARIF log is valid against the official SARIF 2.1.0 schema (a copy in
tests/schemas/, see its README) and snapshotted; columns are UTF-16 code units; the GitHub
workflow commands escape what would break them. The end-to-end runs with real ruff are in
``test_e2e_cli_ux.py``."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from corral.cli.github import escape_data, escape_property, render_github, workflow_command
from corral.cli.sarif import sarif_log, utf16_column
from corral.reports import ProjectReport, WorkspaceReport
from corral_protocol.messages import ErrorDetail, HandlerOutcome
from syrupy.assertion import SnapshotAssertion

SCHEMAS = Path(__file__).parent / "schemas"
SARIF_SCHEMA = SCHEMAS / "sarif-2.1.0-rtm.5.json"
SARIF_SHA256 = "2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8"
URL = "https://docs.astral.sh/ruff/rules/unused-import"


def validate_sarif(log: dict[str, Any]) -> None:
    """Raise if ``log`` (as JSON) breaks the SARIF 2.1.0 schema."""
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(json.loads(json.dumps(log))), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def span(line: int, start: int, end: int) -> dict[str, Any]:
    return {
        "start": {"line": line, "character": start},
        "end": {"line": line, "character": end},
    }


def diagnostic(code: str | None, line: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "file": "src/a.py",
        "range": span(line, 7, 9),
        "code": code,
        "message": "msg",
        "severity": "warning",
        "source": "ruff",
        "fixable": False,
        **extra,
    }


def report(
    project: Path, result: Any, *, failed: ErrorDetail | None = None, handler: str = "ruff"
) -> ProjectReport:
    outcome = HandlerOutcome(
        name=handler, status="failed" if failed else "ok", duration_ms=1.0, error=failed
    )
    return ProjectReport(
        run_id="r1",
        project=str(project),
        status="failed" if failed else "ok",
        result=result,
        handlers=[outcome],
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "proj" / "src").mkdir(parents=True)
    (tmp_path / "proj" / "src" / "a.py").write_text("import os\n😀 = 1; import sys\n")
    return tmp_path / "proj"


def lint_result() -> dict[str, Any]:
    fix = {
        "applicability": "safe",
        "message": "Remove unused import: `os`",
        "edits": [{"range": span(0, 0, 9), "newText": ""}],
    }
    return {
        "diagnostics": [
            diagnostic("F401", 0, url=URL, fixable=True, fix=fix, severity="error"),
            diagnostic("F401", 1, range=span(1, 12, 15), url=URL),
            diagnostic(None, 1, severity="hint", source="mypy", message="a\nb"),
        ],
        "summary": {"ruff": {"findings": 2, "version": "0.8.4"}, "mypy": {"findings": 1}},
    }


def test_the_schema_copy_is_the_published_one() -> None:
    assert hashlib.sha256(SARIF_SCHEMA.read_bytes()).hexdigest() == SARIF_SHA256


def test_sarif_log_is_valid_with_one_run_per_tool(
    project: Path, snapshot: SnapshotAssertion
) -> None:
    log = sarif_log(report(project, lint_result()), root=project.parent)
    validate_sarif(log)
    log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] = "file:///ROOT/"
    log["runs"][1]["originalUriBaseIds"]["%SRCROOT%"]["uri"] = "file:///ROOT/"
    assert log == snapshot
    assert [run["tool"]["driver"]["name"] for run in log["runs"]] == ["mypy", "ruff"]
    ruff = log["runs"][1]
    assert ruff["tool"]["driver"]["version"] == "0.8.4"
    assert ruff["tool"]["driver"]["rules"] == [{"id": "F401", "helpUri": URL}]
    first, second = ruff["results"]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "proj/src/a.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 1, "startColumn": 8, "endLine": 1, "endColumn": 10}
    assert first["level"] == "error"
    assert first["fixes"][0]["description"] == {"text": "Remove unused import: `os`"}
    # the emoji before the finding is two UTF-16 code units: the columns move by one
    region = second["locations"][0]["physicalLocation"]["region"]
    assert (region["startColumn"], region["endColumn"]) == (14, 17)
    assert log["runs"][0]["results"][0]["level"] == "note"
    assert "ruleId" not in log["runs"][0]["results"][0]


def test_a_tool_that_found_nothing_has_an_empty_run(project: Path) -> None:
    result = {"diagnostics": [], "summary": {"ruff": {"findings": 0}}}
    log = sarif_log(report(project, result), root=project.parent)
    validate_sarif(log)
    assert [(r["tool"]["driver"]["name"], r["results"]) for r in log["runs"]] == [("ruff", [])]


def test_files_to_reformat_and_failures_are_in_the_log(project: Path) -> None:
    edits = [{"file": "src/a.py", "original": "0" * 64, "formatted": "x\n"}]
    result = {"diagnostics": [], "summary": {"ruff-format": {"files": 1}}, "edits": edits}
    failed = ErrorDetail(type="ToolCrashed", message="ruff died: signal 9", traceback=None)
    broken = report(project.parent / "other", None, failed=failed)
    workspace = WorkspaceReport(
        run_id="r1", status="failed", projects=[report(project, result), broken]
    )
    log = sarif_log(workspace, root=project.parent)
    validate_sarif(log)
    formatted, failures = log["runs"]
    assert formatted["tool"]["driver"]["name"] == "ruff-format"
    assert formatted["results"][0]["ruleId"] == "format"
    assert formatted["results"][0]["message"] == {"text": "File would be reformatted"}
    assert failures["tool"]["driver"]["name"] == "corral"
    (invocation,) = failures["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"] == (
        "other: ruff failed: ToolCrashed: ruff died: signal 9"
    )


def test_a_file_outside_the_root_gets_an_absolute_uri(project: Path, tmp_path: Path) -> None:
    log = sarif_log(report(project, lint_result()), root=tmp_path / "elsewhere")
    validate_sarif(log)
    uri = log["runs"][1]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": (project / "src" / "a.py").as_uri()}


def test_utf16_columns() -> None:
    assert utf16_column("abc", 2) == 3
    assert utf16_column("é😀x", 2) == 4  # é is one unit, 😀 two
    assert utf16_column("😀😀x", 1) == 3
    assert utf16_column(None, 5) == 6


def test_workflow_command_escaping() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = workflow_command("warning", "m:1,\n::error::x", file="we,ird:na%me.py", line=3)
    assert line == "::warning file=we%2Cird%3Ana%25me.py,line=3::m:1,%0A::error::x"
    assert "\n" not in line


def test_github_annotations(project: Path, tmp_path: Path) -> None:
    stream = io.StringIO()
    env = {"GITHUB_WORKSPACE": str(tmp_path)}
    summary = render_github(
        report(project, lint_result()), stream, root=project, action="lint", environ=env
    )
    lines = stream.getvalue().splitlines()
    assert summary.exit_code == 1
    assert lines == [
        "::error file=proj/src/a.py,line=1,col=8,endLine=1,endColumn=10,title=ruff F401::msg",
        "::warning file=proj/src/a.py,line=2,col=13,endLine=2,endColumn=16,title=ruff F401::msg",
        "::notice file=proj/src/a.py,line=2,col=8,endLine=2,endColumn=10,title=mypy::a%0Ab",
        "lint: 3 findings in 1 file, 1 fixable with --fix (1 project)",
    ]


def test_github_failures_and_formatting(project: Path) -> None:
    edits = [{"file": "src/a.py", "original": "0" * 64, "formatted": "x\n"}]
    result = {"diagnostics": [], "summary": {}, "edits": edits}
    failed = ErrorDetail(type="ToolCrashed", message="died,\nbadly", traceback=None)
    outcome = WorkspaceReport(
        run_id="r1",
        status="failed",
        projects=[report(project, result), report(project.parent / "b", None, failed=failed)],
    )
    stream = io.StringIO()
    summary = render_github(outcome, stream, root=project.parent, action="check-format", environ={})
    assert summary.exit_code == 3
    assert stream.getvalue().splitlines()[:2] == [
        "::error file=proj/src/a.py,title=check-format::File would be reformatted",
        "::error title=ruff failed in b::ToolCrashed: died,%0Abadly",
    ]


def test_report_types_round_trip_unchanged() -> None:
    """The formats read the reports; they do not change them (json output stays as is)."""
    value = report(Path("/p"), lint_result())
    before = msgspec.json.encode(value)
    sarif_log(value, root=Path("/"))
    render_github(value, io.StringIO(), root=Path("/"), action="lint", environ={})
    assert msgspec.json.encode(value) == before
