"""The ruff handlers (lint, format, check-format) in a real runner with the real ruff."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from runner_harness import failure, run, running
from syrupy.assertion import SnapshotAssertion
from versioned import ok

Configure = Any
WriteTree = Any

LINT = "corral_python.ruff:lint"
COUNT = {"count_files": True}  # also report how many files ruff checked
FORMAT = "corral_python.ruff:format"
CHECK_FORMAT = "corral_python.ruff:check_format"

RUFF_URL = "https://docs.astral.sh/ruff/rules/"


def diagnostic(
    file: str,
    start: tuple[int, int],
    end: tuple[int, int],
    code: str | None,
    message: str,
    *,
    severity: str = "warning",
    source: str = "ruff",
    fixable: bool = False,
    url: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": file,
        "range": {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        },
        "code": code,
        "message": message,
        "severity": severity,
        "source": source,
        "fixable": fixable,
    }
    if url is not None:
        out["url"] = url
    return out


LONG_LINE = 'MESSAGE = "' + "x" * 90 + '"\n'  # as in conftest.SAMPLE_FILES

F401 = {
    **diagnostic(
        "app/unused.py",
        (0, 7),
        (0, 9),
        "F401",
        "`os` imported but unused",
        fixable=True,
        url=RUFF_URL + "unused-import",
    ),
    "tags": ["unnecessary"],
    "fix": {  # ruff's own fix, its 1-based edit locations made 0-based
        "applicability": "safe",
        "message": "Remove unused import: `os`",
        "edits": [
            {
                "range": {
                    "start": {"line": 0, "character": 0},
                    "end": {"line": 1, "character": 0},
                },
                "newText": "",
            }
        ],
    },
}
E501 = diagnostic(
    "app/unused.py",
    (3, 88),
    (3, len(LONG_LINE) - 1),
    "E501",
    f"Line too long ({len(LONG_LINE) - 1} > 88)",
    url=RUFF_URL + "line-too-long",
)


def ruff_formatted(project: Path, relative: str, tmp_path: Path) -> str:
    """What the ruff CLI writes for ``relative`` when it formats a copy of ``project``."""
    copy = tmp_path / "ruff-cli-copy"
    shutil.copytree(project, copy)
    subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--no-cache", "."],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    return (copy / relative).read_text(encoding="utf-8")


def test_lint_reports_exact_diagnostics(
    sample_project: Path, configure: Configure, long_line: str
) -> None:
    assert long_line == LONG_LINE

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await configure(
                runner,
                {
                    "lint": [("ruff", LINT, COUNT)],
                    "lint-f": [("ruff", LINT, {"select": ["F"]})],
                    "lint-no-f401": [("ruff", LINT, {"ignore": ["F401"]})],
                },
            )
            result = ok(await runner.run("lint", {}))
            assert result["diagnostics"] == [F401, E501]
            # pyproject.toml + app/__init__.py, messy.py, typed.py, unused.py
            assert result["summary"] == {"ruff": {"files": 5, "findings": 2, "fixable": 1}}

            # config: select / ignore override the project's rule selection
            assert ok(await runner.run("lint-f", {}))["diagnostics"] == [F401]
            assert ok(await runner.run("lint-no-f401", {}))["diagnostics"] == [E501]

            # params: project-relative paths (and absolute ones) limit what is checked
            only = ok(await runner.run("lint", {"paths": ["app/unused.py"]}))
            assert only["diagnostics"] == [F401, E501]
            assert only["summary"]["ruff"]["files"] == 1
            absolute = str(sample_project / "app" / "typed.py")
            clean = ok(await runner.run("lint", {"paths": [absolute]}))
            assert clean == {
                "diagnostics": [],
                "summary": {"ruff": {"files": 1, "findings": 0, "fixable": 0}},
            }
            # nothing was fixed in place
            assert (sample_project / "app/unused.py").read_text().startswith("import os\n")

    run(scenario())


def test_lint_result_snapshot(sample_project: Path, snapshot: SnapshotAssertion) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            assert ok(await runner.run("lint", {})) == snapshot

    run(scenario())


def test_unparsable_files_are_error_diagnostics(
    sample_project: Path, configure: Configure, write_tree: WriteTree
) -> None:
    write_tree(sample_project, {"broken/bad.py": "value = (\n", "broken/fine.py": "A = 1\n"})
    syntax = {
        "file": "broken/bad.py",
        "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}},
        "code": "invalid-syntax",
        "message": "unexpected EOF while parsing",
        "severity": "error",
        "fixable": False,
    }

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await configure(
                runner,
                {
                    "lint": [("ruff", LINT, COUNT)],
                    "format": [("ruff-format", FORMAT)],
                    "check-format": [("ruff-format", CHECK_FORMAT)],
                },
            )
            params = {"paths": ["broken"]}
            lint = ok(await runner.run("lint", params))
            assert lint["diagnostics"] == [{**syntax, "source": "ruff"}]
            assert lint["summary"]["ruff"] == {
                "files": 2,
                "findings": 1,
                "fixable": 0,
            }

            errors = [{**syntax, "source": "ruff-format"}]
            summary = {"ruff-format": {"changed": 0, "errors": 1}}
            check = ok(await runner.run("check-format", params))
            assert check == {"diagnostics": errors, "summary": summary}
            edits = ok(await runner.run("format", params))
            assert edits == {"edits": [], "diagnostics": errors, "summary": summary}
            written = ok(await runner.run("format", {**params, "write": True}))
            assert written == {"changed": [], "diagnostics": errors, "summary": summary}
            assert (sample_project / "broken/bad.py").read_text() == "value = (\n"

            # no Python files at all: no finding and no failure, but ruff's word on it
            (sample_project / "empty").mkdir()
            nothing = {"paths": ["empty"]}
            no_files = "No Python files found under the given path(s)"
            assert ok(await runner.run("lint", nothing)) == {
                "diagnostics": [],
                "summary": {"ruff": {"files": 0, "findings": 0, "fixable": 0}},
                "notes": [{"source": "ruff", "level": "warning", "message": no_files}],
            }
            empty = {
                "diagnostics": [],
                "summary": {"ruff-format": {"changed": 0, "errors": 0}},
                "notes": [{"source": "ruff-format", "level": "warning", "message": no_files}],
            }
            assert ok(await runner.run("check-format", nothing)) == empty
            assert ok(await runner.run("format", nothing)) == {"edits": [], **empty}

    run(scenario())


def test_format_check_and_write(sample_project: Path, tmp_path: Path) -> None:
    messy = sample_project / "app/messy.py"
    original = messy.read_bytes()
    expected = ruff_formatted(sample_project, "app/messy.py", tmp_path)
    assert expected != original.decode()

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure(
                {
                    "format": [("ruff-format", FORMAT)],
                    "check-format": [("ruff-format", CHECK_FORMAT)],
                }
            )
            # check-format: exactly the badly formatted file
            check = ok(await runner.run("check-format", {}))
            assert check == {
                "diagnostics": [
                    {
                        "file": "app/messy.py",
                        "range": {
                            "start": {"line": 0, "character": 0},
                            "end": {"line": 0, "character": 0},
                        },
                        "code": "format",
                        "message": "file would be reformatted",
                        "severity": "warning",
                        "source": "ruff-format",
                        "fixable": True,
                    }
                ],
                "summary": {"ruff-format": {"changed": 1, "errors": 0}},
            }

            # format (write=false): the full formatted text, the file untouched
            edits = ok(await runner.run("format", {}))
            assert edits == {
                "edits": [
                    {
                        "file": "app/messy.py",
                        "original": hashlib.sha256(original).hexdigest(),
                        "formatted": expected,
                    }
                ],
                "diagnostics": [],
                "summary": {"ruff-format": {"changed": 1, "errors": 0}},
            }
            assert messy.read_bytes() == original

            # paths limit the run; a formatted file gives no edit
            none = ok(await runner.run("format", {"paths": ["app/typed.py"]}))
            assert none["edits"] == []

            # format (write=true): ruff rewrites exactly that file
            others = {p: p.read_bytes() for p in sample_project.rglob("*.py") if p != messy}
            written = ok(await runner.run("format", {"write": True}))
            assert written == {
                "changed": ["app/messy.py"],
                "diagnostics": [],
                "summary": {"ruff-format": {"changed": 1, "errors": 0}},
            }
            assert messy.read_text(encoding="utf-8") == expected
            assert {p: p.read_bytes() for p in others} == others

            # and now everything is formatted
            assert ok(await runner.run("check-format", {}))["diagnostics"] == []
            assert ok(await runner.run("format", {}))["edits"] == []

    run(scenario())


def test_tool_failures_and_bad_config_fail_the_handler(
    sample_project: Path, configure: Configure
) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await configure(
                runner,
                {
                    "bad-rule": [("ruff", LINT, {"select": ["NOPE123"]})],
                    "bad-option": [("ruff", CHECK_FORMAT, {"args": ["--no-such-option"]})],
                    "typo": [("ruff", LINT, {"selct": ["F"]})],
                    "bad-params": [("ruff", LINT)],
                },
            )
            kind, message = failure(await runner.run("bad-rule", {}))
            assert kind == "ToolError"
            assert message.startswith("ruff check exited with status 2:\n")
            assert "NOPE123" in message  # ruff's own stderr

            kind, message = failure(await runner.run("bad-option", {}))
            assert kind == "ToolError"
            assert "--no-such-option" in message

            kind, message = failure(await runner.run("typo", {}))
            assert kind == "ConfigError"
            assert "handler 'ruff': invalid config" in message
            assert "selct" in message

            kind, _ = failure(await runner.run("bad-params", {"paths": "app"}))
            assert kind == "ValidationError"

    run(scenario())


def test_check_format_with_diff_returns_the_edits_too(sample_project: Path) -> None:
    """``diff`` (SPEC.md §13.7): check-format's diagnostics plus format's edits, so a front
    end can show a unified diff; nothing is written."""
    messy = sample_project / "app/messy.py"
    original = messy.read_bytes()

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure(
                {
                    "format": [("ruff-format", FORMAT)],
                    "check-format": [("ruff-format", CHECK_FORMAT)],
                }
            )
            plain = ok(await runner.run("check-format", {}))
            assert "edits" not in plain
            with_diff = ok(await runner.run("check-format", {"diff": True}))
            assert with_diff["diagnostics"] == plain["diagnostics"]
            assert with_diff["summary"] == plain["summary"]
            assert with_diff["edits"] == ok(await runner.run("format", {}))["edits"]
            assert [e["file"] for e in with_diff["edits"]] == ["app/messy.py"]
            # the reused plain result is not the answer to a request for a diff
            assert "edits" not in ok(await runner.run("check-format", {"diff": False}))
            assert messy.read_bytes() == original

    run(scenario())


def test_named_files_that_are_not_python_are_left_out(
    sample_project: Path, configure: Configure
) -> None:
    """ruff checks any file named on its command line (``setup.cfg``: B018, F821;
    ``notes.txt``: a syntax error), but ``corral run --changed`` names every changed file:
    only the files ruff's own walk takes reach it, ``extend-include`` honoured."""
    (sample_project / "setup.cfg").write_text("[metadata]\nname = app\n")
    (sample_project / "notes.txt").write_text("hello world\n")
    (sample_project / "app" / "tool.pyw").write_text("import os\n")

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await configure(
                runner,
                {
                    "lint": [("ruff", LINT, COUNT)],
                    "check-format": [("ruff", CHECK_FORMAT)],
                    "format": [("ruff", FORMAT)],
                },
            )
            others = {"paths": ["setup.cfg", "notes.txt", "app/tool.pyw"]}
            assert ok(await runner.run("lint", others)) == {
                "diagnostics": [],
                "summary": {"ruff": {"files": 0, "findings": 0, "fixable": 0}},
            }
            mixed = {"paths": ["notes.txt", "app/unused.py", "setup.cfg"]}
            found = ok(await runner.run("lint", mixed))
            assert found["diagnostics"] == [F401, E501]
            assert found["summary"]["ruff"]["files"] == 1
            nothing = {"diagnostics": [], "summary": {"ruff-format": {"changed": 0, "errors": 0}}}
            assert ok(await runner.run("check-format", others)) == nothing
            assert ok(await runner.run("format", others)) == {"edits": [], **nothing}
            written = ok(await runner.run("format", {**others, "write": True}))
            assert written == {"changed": [], **nothing}
            assert (sample_project / "notes.txt").read_text() == "hello world\n"

            # the project's own extend-include makes a .pyw file ruff's to check
            pyproject = sample_project / "pyproject.toml"
            pyproject.write_text(
                pyproject.read_text().replace(
                    "[tool.ruff]\n", '[tool.ruff]\nextend-include = ["*.pyw"]\n'
                )
            )
            included = ok(await runner.run("lint", others))
            assert [d["file"] for d in included["diagnostics"]] == ["app/tool.pyw"]
            assert included["diagnostics"][0]["code"] == "F401"

    run(scenario())
