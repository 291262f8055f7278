"""The CLI's text output of tool results (issue 17 items 7, 13, 15): notes, fixable and
fixed counts, rule URLs, diffs of edits, colour, and the usage-error exit code."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corral.cli.render import RenderOptions, render_result
from corral.cli.style import Style, color_enabled
from corral.reports import ProjectReport, WorkspaceReport
from corral_protocol.messages import ErrorDetail, HandlerOutcome

PROJECT = "/placeholder/proj"
"""Replaced by ``<tmp_path>/proj`` when rendered (see :func:`render`)."""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
URL = "https://docs.astral.sh/ruff/rules/unused-import"


def diagnostic(
    code: str, line: int = 0, *, fix: str | None = None, message: str = "msg", **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": "src/a.py",
        "range": {
            "start": {"line": line, "character": 4},
            "end": {"line": line, "character": 6},
        },
        "code": code,
        "message": message,
        "severity": "warning",
        "source": "ruff",
        "fixable": fix == "safe",
        **extra,
    }
    if fix is not None:
        out["fix"] = {"applicability": fix, "edits": []}
    return out


def outcome(result: Any, *, failed: ErrorDetail | None = None) -> ProjectReport:
    handler = HandlerOutcome(
        name="ruff", status="failed" if failed else "ok", duration_ms=1.0, error=failed
    )
    return ProjectReport(
        run_id="r1",
        project=PROJECT,
        status="failed" if failed else "ok",
        result=result,
        handlers=[handler],
    )


def render(
    value: ProjectReport | WorkspaceReport,
    tmp_path: Path,
    action: str = "lint",
    **options: Any,
) -> tuple[str, int]:
    if isinstance(value, ProjectReport) and value.project == PROJECT:
        value = msgspec.structs.replace(value, project=str(tmp_path / "proj"))
    stream = io.StringIO()
    summary = render_result(
        value,
        stream,
        root=tmp_path,
        action=action,
        options=RenderOptions(**options),
    )
    return stream.getvalue(), summary.exit_code


def test_the_summary_counts_fixable_findings(tmp_path: Path) -> None:
    result = {
        "diagnostics": [
            diagnostic("F401", 0, fix="safe"),
            diagnostic("E731", 1, fix="unsafe"),
            diagnostic("E501", 2),
            diagnostic("X1", 3, fix="display-only"),
        ],
        "summary": {"ruff": {"findings": 4, "fixable": 1}},
    }
    text, code = render(outcome(result), tmp_path)
    assert code == 1
    assert text.splitlines()[-1] == (
        "lint: 4 findings in 1 file, 1 fixable with --fix, 1 more with --fix --unsafe-fixes "
        "(1 project)"
    )
    assert "  1:5  F401 msg [*]" in text  # 1-based, the safe fix marked
    assert "  2:5  E731 msg\n" in text
    other, _ = render(outcome(result), tmp_path, action="check-format")
    assert other.splitlines()[-1] == "check-format: 4 findings in 1 file, 1 fixable (1 project)"


def test_after_a_fix_the_summary_says_what_was_fixed_and_what_remains(tmp_path: Path) -> None:
    result = {
        "diagnostics": [diagnostic("E501"), diagnostic("E731", 1, fix="unsafe")],
        "summary": {"ruff": {"findings": 2, "fixable": 0, "fixed": 3}},
        "changed": ["src/a.py", "src/b.py"],
    }
    text, code = render(outcome(result), tmp_path)
    assert code == 1
    assert "fixed proj/src/a.py\nfixed proj/src/b.py\n" in text
    assert text.splitlines()[-1] == (
        "lint: fixed 3, 2 remaining in 1 file, 1 with --fix --unsafe-fixes (1 project)"
    )
    clean = {"diagnostics": [], "summary": {"ruff": {"fixed": 1}}, "changed": ["src/a.py"]}
    text, code = render(outcome(clean), tmp_path)
    assert code == 0
    assert text.splitlines()[-1] == "lint: fixed 1, 0 remaining (1 project)"


def test_rule_urls_on_demand(tmp_path: Path) -> None:
    result = {"diagnostics": [diagnostic("F401", url=URL)], "summary": {}}
    plain, _ = render(outcome(result), tmp_path)
    assert URL not in plain
    shown, _ = render(outcome(result), tmp_path, show_urls=True)
    assert f"  1:5  F401 msg\n      {URL}\n" in shown


def test_multi_line_messages_are_indented(tmp_path: Path) -> None:
    result = {"diagnostics": [diagnostic("arg-type", message="first\nsecond")], "summary": {}}
    text, _ = render(outcome(result), tmp_path)
    assert "  1:5  arg-type first\n      second\n" in text


def note(level: str, message: str, source: str = "ruff") -> dict[str, str]:
    return {"source": source, "level": level, "message": message}


def test_notes_come_dimmed_after_the_findings_and_all_with_verbose(tmp_path: Path) -> None:
    notes = [
        note("warning", "The following rules have been removed:\n    - UP038"),
        note("info", "checked 3 files"),
        *(note("warning", f"Invalid `# noqa` directive on a.py:{i}") for i in range(12)),
    ]
    result = {"diagnostics": [diagnostic("F401")], "summary": {}, "notes": notes}
    text, code = render(outcome(result), tmp_path)
    assert code == 1  # notes are never findings
    lines = text.splitlines()
    assert lines.index("note: ruff: warning: The following rules have been removed:") > (
        lines.index("  1:5  F401 msg")
    )
    assert "      - UP038" in lines  # a continuation line stays with its note
    assert "checked 3 files" not in text  # info: only with -v
    assert "a.py:8" in text
    assert "a.py:9" not in text  # 10 warnings at most
    assert lines[-2] == "note: 4 more notes (-v shows every note)"
    verbose, _ = render(outcome(result), tmp_path, verbose=True)
    assert "note: ruff: info: checked 3 files" in verbose
    assert "a.py:11" in verbose
    assert "more notes" not in verbose
    coloured, _ = render(outcome(result), tmp_path, style=Style(enabled=True))
    assert "\x1b[2mnote: ruff: warning: The following rules" in coloured


def test_notes_name_their_project_in_a_workspace_run(tmp_path: Path) -> None:
    def project(name: str) -> ProjectReport:
        result = {"diagnostics": [], "summary": {}, "notes": [note("warning", f"from {name}")]}
        return ProjectReport(run_id="r", project=str(tmp_path / name), status="ok", result=result)

    value = WorkspaceReport(run_id="r", status="ok", projects=[project("a"), project("b")])
    text, code = render(value, tmp_path)
    assert code == 0
    assert "note: a: ruff: warning: from a\nnote: b: ruff: warning: from b\n" in text


def test_diff_of_an_edit_against_the_file(tmp_path: Path) -> None:
    source = tmp_path / "proj" / "src" / "a.py"
    source.parent.mkdir(parents=True)
    original = b"def f(a,b):\n    return a+b\n\n\nX = 1"
    source.write_bytes(original)
    formatted = "def f(a, b):\n    return a + b\n\n\nX = 1\n"
    edit = {
        "file": "src/a.py",
        "original": hashlib.sha256(original).hexdigest(),
        "formatted": formatted,
    }
    format_diagnostic = {**diagnostic("format", fix=None), "range": diagnostic("x")["range"]}
    result = {
        "diagnostics": [format_diagnostic],
        "summary": {"ruff-format": {"changed": 1}},
        "edits": [edit],
    }
    text, code = render(outcome(result), tmp_path, action="check-format", diff=True)
    assert code == 1
    assert (
        "--- a/proj/src/a.py\n"
        "+++ b/proj/src/a.py\n"
        "@@ -1,5 +1,5 @@\n"
        "-def f(a,b):\n"
        "-    return a+b\n"
        "+def f(a, b):\n"
        "+    return a + b\n"
        " \n"
        " \n"
        "-X = 1\n"
        "\\ No newline at end of file\n"
        "+X = 1\n"
    ) in text
    # the edit's file has a diagnostic already: one finding, not two
    assert text.splitlines()[-1] == "check-format: 1 finding in 1 file (1 project)"
    without, _ = render(outcome(result), tmp_path, action="check-format")
    assert "would reformat proj/src/a.py" in without
    assert "@@" not in without
    coloured, _ = render(outcome(result), tmp_path, diff=True, style=Style(enabled=True))
    assert "\x1b[31m-def f(a,b):\x1b[0m" in coloured
    assert "\x1b[32m+def f(a, b):\x1b[0m" in coloured

    source.write_bytes(b"changed meanwhile\n")
    stale, _ = render(outcome(result), tmp_path, diff=True)
    assert "would reformat proj/src/a.py (proj/src/a.py changed since it was checked" in stale
    assert "@@" not in stale


def test_colour_marks_files_codes_and_fixes_and_is_plain_otherwise(tmp_path: Path) -> None:
    result = {"diagnostics": [diagnostic("F401", fix="safe")], "summary": {}}
    coloured, _ = render(outcome(result), tmp_path, style=Style(enabled=True))
    assert "\x1b[1mproj/src/a.py\x1b[0m" in coloured
    assert "\x1b[1;33mF401\x1b[0m" in coloured  # bold, in the warning's colour
    assert "\x1b[36m[*]\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == render(outcome(result), tmp_path)[0]


def test_a_refused_param_is_a_usage_error(tmp_path: Path) -> None:
    refused = ErrorDetail(
        type="UnsupportedParam",
        message="handler 'ruff-format' of action 'format' does not support `fix`",
        traceback=None,
    )
    text, code = render(outcome(None, failed=refused), tmp_path, action="format")
    assert code == 2
    assert "UnsupportedParam: handler 'ruff-format'" in text
    crashed = ErrorDetail(type="ToolError", message="ruff exited with status 2", traceback=None)
    assert render(outcome(None, failed=crashed), tmp_path)[1] == 3


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("choice", "tty", "environ", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),  # a pipe or a file
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # empty: not set (no-color.org)
        ("auto", False, {"FORCE_COLOR": "1"}, True),
        ("auto", False, {"FORCE_COLOR": ""}, False),
        ("auto", True, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # CPython's order
        ("auto", True, {"TERM": "dumb"}, False),
        ("always", False, {"NO_COLOR": "1"}, True),  # the flag wins over the environment
        ("never", True, {"FORCE_COLOR": "1"}, False),
    ],
)
def test_when_colour_is_used(
    choice: Any, tty: bool, environ: dict[str, str], expected: bool
) -> None:
    assert color_enabled(choice, FakeTerminal(tty), environ) is expected


def test_text_from_tools_and_files_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """Control characters in a message, a code, a file name or a note are shown escaped."""
    hostile = {
        **diagnostic("E\x1b[31m", message="clear\x1b[2J the screen\nsecond\x07 line"),
        "file": "src/evil\nname\r.py",
    }
    result = {
        "diagnostics": [hostile],
        "summary": {},
        "notes": [note("warning", "bell\x07\nnext\x1b]0;title\x07")],
    }
    text, _ = render(outcome(result), tmp_path, style=Style(enabled=True))
    plain = ANSI.sub("", text)
    assert "\x07" not in text
    assert "\x1b[2J" not in text
    assert "\x1b]0;" not in text
    assert "proj/src/evil\\x0aname\\x0d.py\n" in plain
    assert "E\\x1b[31m clear\\x1b[2J the screen\n      second\\x07 line\n" in plain
    assert "note: ruff: warning: bell\\x07\n  next\\x1b]0;title\\x07\n" in plain


@pytest.mark.parametrize(
    ("tools", "said"),
    [
        ({"ruff": {"findings": 1, "reused": True}}, True),
        ({"ruff": {"findings": 1, "reused": True}, "mypy": {"findings": 0}}, False),
        ({"ruff": {"findings": 1}}, False),
    ],
)
def test_the_summary_says_how_many_projects_were_unchanged(
    tmp_path: Path, tools: dict[str, Any], said: bool
) -> None:
    result = {"diagnostics": [diagnostic("F401")], "summary": tools}
    text, code = render(outcome(result), tmp_path)
    assert code == 1
    assert ("1 unchanged since last run" in text) is said
