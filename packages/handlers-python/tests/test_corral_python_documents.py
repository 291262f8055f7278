"""ruff's handlers on unsaved documents (SPEC.md §13.8): the text given in ``documents``
is linted, fixed and formatted instead of the file on disk, nothing is written, and the
result is never reused for (or from) the files on disk."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from runner_harness import failure, run, running
from versioned import ok

LINT = "corral_python.ruff:lint"
FORMAT = "corral_python.ruff:format"
TYPE_CHECK = "corral_python.mypy:type_check"

BUFFER = "import os\nimport sys\n\n\nprint(sys.argv)\nx = lambda: 1\n"
"""Unsaved text: F401 (os, safe fix), E731 (unsafe fix) — the file on disk has neither."""


def codes(result: Any) -> list[tuple[str, str, int]]:
    return [(d["file"], d["code"], d["range"]["start"]["line"]) for d in result["diagnostics"]]


def ruff(project: Path, *args: str, stdin: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=project,
        check=True,
        timeout=60,
    )
    return done.stdout


def snapshot(project: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".ruff" not in str(p)}


def test_lint_reports_the_documents_text_not_the_file_on_disk(sample_project: Path) -> None:
    (sample_project / "app/new.py").write_text("VALUE = 1\n")
    before = snapshot(sample_project)
    document = {"path": "app/new.py", "text": BUFFER, "version": 3}

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            result = ok(await runner.run("lint", {"documents": [document]}))
            assert codes(result) == [("app/new.py", "F401", 0), ("app/new.py", "E731", 5)]
            assert result["diagnostics"][0]["fixable"] is True
            assert result["diagnostics"][0]["tags"] == ["unnecessary"]
            assert result["summary"]["ruff"] == {"findings": 2, "fixable": 1}
            # a never-saved file, given by absolute path, with `paths` naming the project
            absolute = {"path": str(sample_project / "app/unsaved.py"), "text": "import re\n"}
            params = {"documents": [absolute], "paths": [str(sample_project / "app")]}
            unsaved = ok(await runner.run("lint", params))
            assert codes(unsaved) == [("app/unsaved.py", "F401", 0)]
            # documents ruff does not lint give nothing, not an error
            other = {"path": "web/app.js", "text": "const x = 1\n"}
            assert ok(await runner.run("lint", {"documents": [other]}))["diagnostics"] == []
            # the same run on disk afterwards sees the disk (no reuse across the two)
            disk = ok(await runner.run("lint", {"paths": ["app/new.py"]}))
            assert disk["diagnostics"] == []
        assert snapshot(sample_project) == before

    run(scenario())


def test_lint_fix_returns_rufs_fixed_text_as_an_edit_and_writes_nothing(
    sample_project: Path,
) -> None:
    before = snapshot(sample_project)
    expected = ruff(
        sample_project,
        "check",
        "--fix",
        "--exit-zero",
        "--stdin-filename",
        "app/new.py",
        "-",
        stdin=BUFFER,
    )
    assert "import os" not in expected

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            document = {"path": "app/new.py", "text": BUFFER}
            result = ok(await runner.run("lint", {"documents": [document], "fix": True}))
            (edit,) = result["edits"]
            assert edit["file"] == "app/new.py"
            assert edit["formatted"] == expected
            assert edit["original"] == hashlib.sha256(BUFFER.encode()).hexdigest()
            assert result["changed"] == []
            assert result["summary"]["ruff"]["fixed"] == 1
            assert codes(result) == [("app/new.py", "E731", 4)]  # in the fixed text
            # organize imports: only the isort rules, whatever the configuration selects
            messy = {"path": "app/new.py", "text": "import sys\nimport os\n\nprint(os, sys)\n"}
            params = {"documents": [messy], "fix": True, "only": ["I"]}
            organized = ok(await runner.run("lint", params))
            assert organized["edits"][0]["formatted"] == "import os\nimport sys\n\nprint(os, sys)\n"
            # nothing to fix: no edit
            clean = {"path": "app/new.py", "text": "VALUE = 1\n"}
            nothing = ok(await runner.run("lint", {"documents": [clean], "fix": True}))
            assert nothing["edits"] == []
        assert snapshot(sample_project) == before

    run(scenario())


def test_format_returns_the_formatted_document(sample_project: Path) -> None:
    before = snapshot(sample_project)
    text = "def f(a,b):\n  return a+b\n"
    expected = ruff(sample_project, "format", "--stdin-filename", "app/f.py", "-", stdin=text)

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"format": [("ruff-format", FORMAT)]})
            documents = [
                {"path": "app/f.py", "text": text},
                {"path": "app/same.py", "text": expected},
                {"path": "app/broken.py", "text": "def (:\n"},
            ]
            result = ok(await runner.run("format", {"documents": documents}))
            assert [(e["file"], e["formatted"]) for e in result["edits"]] == [
                ("app/f.py", expected)
            ]
            assert [(d["file"], d["severity"]) for d in result["diagnostics"]] == [
                ("app/broken.py", "error")
            ]
            assert result["summary"]["ruff-format"] == {"changed": 1, "errors": 1}
            kind, message = failure(
                await runner.run("format", {"documents": documents, "write": True})
            )
            assert kind == "UnsupportedParam"
            assert "`write` and `documents`" in message
        assert snapshot(sample_project) == before

    run(scenario())


@pytest.mark.parametrize("member", ["documents", "only"])
def test_handlers_without_documents_support_refuse_them(sample_project: Path, member: str) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"type-check": [("mypy", TYPE_CHECK)]})
            kind, message = failure(await runner.run("type-check", {member: []}))
            assert kind == "UnsupportedParam"
            assert f"`{member}`" in message

    run(scenario())
