"""The mypy handler (type-check) in a real runner with the real mypy, and its results
merged with ruff's when both handle one concurrent action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner_harness import run, running
from versioned import ok

TYPE_CHECK = "corral_python.mypy:type_check"
LINT = "corral_python.ruff:lint"

Configure = Any
WriteTree = Any

RETURN_VALUE = {
    "file": "app/typed.py",
    "range": {"start": {"line": 1, "character": 11}, "end": {"line": 1, "character": 12}},
    "code": "return-value",
    "message": 'Incompatible return value type (got "int", expected "str")',
    "severity": "error",
    "source": "mypy",
    "fixable": False,
}


def test_type_check_reports_the_type_error(sample_project: Path) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"type-check": [("mypy", TYPE_CHECK)]})
            result = ok(await runner.run("type-check", {}))
            assert result == {
                "diagnostics": [RETURN_VALUE],
                "summary": {"mypy": {"findings": 1, "errors": 1}},
            }
            clean = ok(await runner.run("type-check", {"paths": ["app/messy.py"]}))
            assert clean["diagnostics"] == []

    run(scenario())


def test_notes_hints_and_config_args(
    sample_project: Path, configure: Configure, write_tree: WriteTree
) -> None:
    write_tree(
        sample_project,
        {
            "extra/notes.py": (
                "from typing import reveal_type\n\n"
                "def total(xs: list[float]) -> float:\n    return sum(xs)\n\n"
                "ints: list[int] = [1]\n"
                "total(ints)\n"
                "reveal_type(ints)\n"
                "def untyped(x):\n    return x\n"
            ),
        },
    )

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await configure(
                runner,
                {
                    "type-check": [("mypy", TYPE_CHECK)],
                    "strict": [("mypy", TYPE_CHECK, {"args": ["--strict"]})],
                },
            )
            result = ok(await runner.run("type-check", {"paths": ["extra/notes.py"]}))
            arg_type, revealed = result["diagnostics"]
            assert arg_type["code"] == "arg-type"
            assert arg_type["severity"] == "error"
            assert arg_type["range"]["start"] == {"line": 6, "character": 6}
            first, hint = arg_type["message"].split("\n", 1)  # the hint follows the message
            assert first == 'Argument 1 to "total" has incompatible type "list[int]"; ' + (
                'expected "list[float]"'
            )
            assert '"List" is invariant' in hint or '"list" is invariant' in hint
            assert revealed == {
                "file": "extra/notes.py",
                "range": {
                    "start": {"line": 7, "character": 12},
                    "end": {"line": 7, "character": 16},
                },
                "code": "misc",
                "message": 'Revealed type is "list[int]"',
                "severity": "information",
                "source": "mypy",
                "fixable": False,
            }
            assert result["summary"] == {"mypy": {"findings": 2, "errors": 1}}

            strict = ok(await runner.run("strict", {"paths": ["extra/notes.py"]}))
            codes = [d["code"] for d in strict["diagnostics"]]
            assert codes == ["arg-type", "misc", "no-untyped-def"]

    run(scenario())


def test_default_paths_follow_mypy_files_setting(
    tmp_path: Path, write_tree: WriteTree, configure: Configure
) -> None:
    # Two top-level modules named `tool`: `mypy .` stops at "Duplicate module".
    project = write_tree(
        tmp_path / "dup",
        {
            "a/tool.py": "X: int = 1\n",
            "b/tool.py": "Y: int = 'no'\n",
            "pyproject.toml": '[project]\nname = "dup"\nversion = "0"\n',
        },
    )

    async def scenario() -> None:
        async with running(project) as runner:
            await configure(
                runner,
                {
                    "type-check": [("mypy", TYPE_CHECK)],
                    "bad-option": [("mypy", TYPE_CHECK, {"args": ["--no-such-flag"]})],
                },
            )
            # No import package: `mypy .`, which stops at a blocking error (exit status 2):
            # a failure naming it, not a finding (mypy checked nothing after it).
            blocked = await runner.run("type-check", {})
            assert blocked.status == "failed"
            (outcome,) = blocked.handlers
            assert outcome.error is not None
            assert outcome.error.type == "ToolError"
            assert outcome.error.message.startswith(
                "mypy stopped at a blocking error (exit status 2):\n"
                'b/tool.py: error: Duplicate module named "tool"'
            )

            # With `files` in the project's mypy config, no paths means "what it says".
            (project / "pyproject.toml").write_text(
                '[project]\nname = "dup"\nversion = "0"\n\n[tool.mypy]\nfiles = ["b"]\n'
            )
            result = ok(await runner.run("type-check", {}))
            assert [(d["file"], d["code"]) for d in result["diagnostics"]] == [
                ("b/tool.py", "assignment")
            ]

            # a mypy that exits 2 without reporting anything failed: its stderr is the error
            failed = await runner.run("bad-option", {})
            assert failed.status == "failed"
            (outcome,) = failed.handlers
            assert outcome.error is not None
            assert outcome.error.type == "ToolError"
            assert outcome.error.message.startswith("mypy exited with status 2:\n")
            assert "unrecognized arguments: --no-such-flag" in outcome.error.message

    run(scenario())


def test_concurrent_lint_and_type_check_merge(sample_project: Path, configure: Configure) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await configure(
                runner,
                {"check": [("ruff", LINT, {"count_files": True}), ("mypy", TYPE_CHECK)]},
                mode="concurrent",
            )
            result = ok(await runner.run("check", {}))
            # arrays concatenated in configuration order, summaries side by side
            assert [(d["source"], d["code"]) for d in result["diagnostics"]] == [
                ("ruff", "F401"),
                ("ruff", "E501"),
                ("mypy", "return-value"),
            ]
            assert result["summary"] == {
                "ruff": {"files": 5, "findings": 2, "fixable": 1},
                "mypy": {"findings": 1, "errors": 1},
            }

    run(scenario())


def test_files_that_are_not_python_are_left_out_of_explicit_paths(
    sample_project: Path, write_tree: WriteTree
) -> None:
    """``corral run type-check --changed`` passes every changed file: mypy must not try to
    parse a README (ruff leaves such files out by itself)."""
    write_tree(sample_project, {"README.md": "# Sample\n\nnot (python\n"})

    async def scenario() -> None:
        async with running(sample_project) as runner:
            await runner.configure({"type-check": [("mypy", TYPE_CHECK)]})
            mixed = ok(await runner.run("type-check", {"paths": ["README.md", "app/typed.py"]}))
            assert [(d["file"], d["code"]) for d in mixed["diagnostics"]] == [
                ("app/typed.py", "return-value")
            ]
            only = ok(await runner.run("type-check", {"paths": ["README.md", "pyproject.toml"]}))
            assert only == {"diagnostics": [], "summary": {"mypy": {"findings": 0, "errors": 0}}}

    run(scenario())


def test_default_paths_are_the_import_packages(
    tmp_path: Path, write_tree: WriteTree, configure: Configure
) -> None:
    """Without mypy settings saying what to check: the project's packages (src/*), not its
    tests, docs or scripts; mypy's ``packages`` setting is followed when present; a syntax
    error stops mypy (exit status 2): a failure."""
    wrong = "X: int = 'no'\n"
    project = write_tree(
        tmp_path / "layout",
        {
            "pyproject.toml": '[project]\nname = "layout"\nversion = "0"\n',
            "src/pkg/__init__.py": wrong,
            "src/other.py": "Y: str = 1\n",
            "tests/test_pkg.py": wrong,
            "docs/conf.py": wrong,
            "scripts/release.py": wrong,
            "setup.py": wrong,
            "broken/__init__.py": "def (:\n",
        },
    )

    async def scenario() -> None:
        async with running(project) as runner:
            await configure(runner, {"type-check": [("mypy", TYPE_CHECK)]})
            result = ok(await runner.run("type-check", {}))
            assert [(d["file"], d["code"]) for d in result["diagnostics"]] == [
                ("src/other.py", "assignment"),
                ("src/pkg/__init__.py", "assignment"),
            ]

            (project / "pyproject.toml").write_text(
                '[project]\nname = "layout"\nversion = "0"\n\n'
                '[tool.mypy]\nmypy_path = "src"\npackages = ["pkg"]\n'
            )
            result = ok(await runner.run("type-check", {}))
            assert [d["file"] for d in result["diagnostics"]] == ["src/pkg/__init__.py"]

            failed = await runner.run("type-check", {"paths": ["broken"]})
            assert failed.status == "failed"
            (outcome,) = failed.handlers
            assert outcome.error is not None
            assert outcome.error.message.startswith(
                "mypy stopped at a blocking error (exit status 2):\nbroken/__init__.py:1: error:"
            )

    run(scenario())
