"""What ruff and mypy say on stderr while succeeding reaches the result as ``notes``
(SPEC.md §13.6): a removed rule in the configuration, an invalid ``# noqa``, deprecated
settings, an unknown mypy option. Never dropped (issue 17 item 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corral_protocol.results import ToolNote
from corral_python.notes import tool_notes
from runner_harness import run, running
from versioned import ok

Configure = Any
WriteTree = Any

LINT = "corral_python.ruff:lint"
CHECK_FORMAT = "corral_python.ruff:check_format"
FORMAT = "corral_python.ruff:format"
TYPE_CHECK = "corral_python.mypy:type_check"


def test_ruffs_warnings_are_notes(tmp_path: Path, write_tree: WriteTree) -> None:
    project = write_tree(
        tmp_path / "warned",
        {
            # a removed rule in `ignore`, and top-level settings ruff deprecated
            "pyproject.toml": (
                '[tool.ruff]\nselect = ["F"]\n\n[tool.ruff.lint]\nignore = ["UP038"]\n'
            ),
            "app.py": "import os  # noqa: not-a-code\n",
        },
    )

    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure(
                {
                    "lint": [("ruff", LINT)],
                    "check-format": [("ruff-format", CHECK_FORMAT)],
                    "format": [("ruff-format", FORMAT)],
                }
            )
            lint = ok(await runner.run("lint", {}))
            notes = lint["notes"]
            assert {n["source"] for n in notes} == {"ruff"}
            assert {n["level"] for n in notes} == {"warning"}
            text = "\n".join(n["message"] for n in notes)
            assert "removed" in text
            assert "UP038" in text  # the continuation line belongs to its warning
            assert "Invalid `# noqa` directive on app.py:1" in text
            assert "'select' -> 'lint.select'" in text
            assert not any(n["message"].startswith("warning:") for n in notes)
            assert len(notes) == len({n["message"] for n in notes})  # no repeats
            assert lint["summary"]["ruff"]["findings"] == 1  # and the finding is there

            for action in ("check-format", "format"):
                formatted = ok(await runner.run(action, {}))
                assert any("lint.select" in n["message"] for n in formatted["notes"]), action

    run(scenario())


def test_a_clean_run_has_no_notes(sample_project: Path) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            assert "notes" not in ok(await runner.run("lint", {}))

    run(scenario())


def test_mypys_configuration_warnings_are_notes(tmp_path: Path, write_tree: WriteTree) -> None:
    project = write_tree(
        tmp_path / "typed",
        {
            "pyproject.toml": '[tool.mypy]\nfiles = ["app.py"]\nno_such_option = true\n',
            "app.py": "x: int = 'a'\n",
        },
    )

    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"type-check": [("mypy", TYPE_CHECK)]})
            result = ok(await runner.run("type-check", {}))
            assert result["summary"]["mypy"]["findings"] == 1
            (note,) = result["notes"]
            assert note["source"] == "mypy"
            assert note["level"] == "warning"
            assert "Unrecognized option: no_such_option = True" in note["message"]

    run(scenario())


def test_tool_notes_parses_levels_continuations_and_colours() -> None:
    stderr = (
        b"\x1b[1m\x1b[33mwarning\x1b[0m: first\n"
        b"  - continued\n"
        b"\n"
        b"error: second\n"
        b"Warning: third (mypy capitalises)\n"
        b"note: fourth\n"
        b"plain line\n"
        b"warning: first\n  - continued\n"  # a repeat
    )
    assert tool_notes("t", stderr) == [
        ToolNote(source="t", level="warning", message="first\n  - continued"),
        ToolNote(source="t", level="error", message="second"),
        ToolNote(source="t", level="warning", message="third (mypy capitalises)"),
        ToolNote(source="t", level="info", message="fourth"),
        ToolNote(source="t", level="warning", message="plain line"),
    ]
    assert tool_notes("t", b"") == []
    assert tool_notes("t", b"\n  \n") == []
    assert tool_notes("t", "caf\xe9".encode("latin-1")) == [
        ToolNote(source="t", level="warning", message="caf\ufffd")
    ]


def test_a_flood_on_stderr_is_bounded_and_says_so() -> None:
    stderr = b"".join(b"warning: number %d\n" % i for i in range(1000))
    notes = tool_notes("t", stderr)
    assert len(notes) == 101
    assert notes[0].message == "number 0"
    assert notes[-1] == ToolNote(
        source="t", level="warning", message="900 more messages on stderr not shown"
    )
    huge = tool_notes("t", b"warning: " + b"x" * 100_000)
    assert len(huge[0].message) < 5000
    assert huge[0].message.endswith("[truncated]")
