"""``lint`` with ``fix`` (SPEC.md §13.7, issue 17 item 13): ruff's safe fixes applied in
place (unsafe ones only with ``unsafeFixes``), the fixed count, the files changed and the
findings that remain; and every handler refusing a standard param it does not support."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runner_harness import failure, run, running
from versioned import ok

WriteTree = Any

LINT = "corral_python.ruff:lint"
FORMAT = "corral_python.ruff:format"
CHECK_FORMAT = "corral_python.ruff:check_format"
TYPE_CHECK = "corral_python.mypy:type_check"

LAMBDA = "square = lambda x: x * x\n"  # E731: ruff's fix (a def) is unsafe


def codes(result: Any) -> list[tuple[str, str]]:
    return [(d["file"], d["code"]) for d in result["diagnostics"]]


def test_fix_applies_safe_fixes_and_reports_what_remains(
    sample_project: Path, write_tree: WriteTree
) -> None:
    write_tree(
        sample_project,
        {
            "app/two.py": "import os\nimport sys\n\n" + LAMBDA,
            "app/clean.py": "VALUE = 1\n",
        },
    )
    untouched = {
        p: p.read_bytes()
        for p in sample_project.rglob("*.py")
        if p.name not in ("unused.py", "two.py")
    }

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            before = ok(await runner.run("lint", {}))
            assert before["summary"]["ruff"]["fixable"] == 3  # os (twice) and sys
            fixed = ok(await runner.run("lint", {"fix": True}))
            assert fixed["changed"] == ["app/two.py", "app/unused.py"]
            assert fixed["summary"]["ruff"]["fixed"] == 3
            assert fixed["summary"]["ruff"]["findings"] == 2
            assert codes(fixed) == [("app/two.py", "E731"), ("app/unused.py", "E501")]
            # positions are those of the fixed file: the long line moved up one line
            e501 = fixed["diagnostics"][1]
            assert e501["range"]["start"]["line"] == 2
            assert (sample_project / "app/unused.py").read_text().startswith("\n\nMESSAGE")
            assert (sample_project / "app/two.py").read_text() == "\n" + LAMBDA
            assert {p: p.read_bytes() for p in untouched} == untouched

            # nothing left to fix: nothing changes
            again = ok(await runner.run("lint", {"fix": True}))
            assert again["changed"] == []
            assert again["summary"]["ruff"]["fixed"] == 0
            assert codes(again) == codes(fixed)

            # the unsafe fix, only when asked
            unsafe = ok(await runner.run("lint", {"fix": True, "unsafeFixes": True}))
            assert unsafe["changed"] == ["app/two.py"]
            assert unsafe["summary"]["ruff"]["fixed"] == 1
            assert codes(unsafe) == [("app/unused.py", "E501")]
            assert "def square(x):" in (sample_project / "app/two.py").read_text()

    run(scenario())


def test_without_fix_nothing_is_written_even_if_ruff_is_configured_to_fix(
    sample_project: Path,
) -> None:
    pyproject = sample_project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("[tool.ruff]\n", "[tool.ruff]\nfix = true\n")
    )
    unused = sample_project / "app/unused.py"
    original = unused.read_bytes()

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            result = ok(await runner.run("lint", {"fix": False}))
            assert "changed" not in result
            assert "fixed" not in result["summary"]["ruff"]
            assert unused.read_bytes() == original

    run(scenario())


@pytest.mark.parametrize(
    ("action", "params", "refused"),
    [
        ("format", {"fix": True}, "`fix`"),
        ("check-format", {"write": True}, "`write`"),
        ("check-format", {"unsafeFixes": False}, "`unsafeFixes`"),  # any value counts
        ("type-check", {"write": True, "fix": True}, "`write`, `fix`"),
        ("type-check", {"diff": True}, "`diff`"),
        ("lint", {"write": True}, "`write`"),
        ("lint", {"unsafeFixes": True}, "`unsafeFixes` needs `fix`"),
        ("format", {"write": True, "diff": True}, "`diff` and `write`"),
    ],
)
def test_a_standard_param_a_handler_does_not_support_fails_it(
    sample_project: Path, action: str, params: dict[str, Any], refused: str
) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure(
                {
                    "lint": [("ruff", LINT)],
                    "format": [("ruff-format", FORMAT)],
                    "check-format": [("ruff-format", CHECK_FORMAT)],
                    "type-check": [("mypy", TYPE_CHECK)],
                }
            )
            kind, message = failure(await runner.run(action, params))
            assert kind == "UnsupportedParam"
            assert refused in message
            assert repr(action) in message

    run(scenario())


def test_members_that_are_not_standard_are_left_to_other_handlers(sample_project: Path) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            result = ok(await runner.run("lint", {"someOtherHandlersOption": 3}))
            assert result["summary"]["ruff"]["findings"] == 2

    run(scenario())
