"""Issue 17 items 7, 13, 14 and 15 through the ``corral`` CLI on a copy of the example
workspace: ``--fix``, tool notes, ``--diff``, ``--show-urls``, colour, ``--changed`` and
``--staged``, and a handler's own output.

Real everything: uv environments from this checkout's packages, real runners, real ruff.
The environments are prepared once per module; each test starts from the example's files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from example_workspace import PYTHON_ONLY
from gitrepo import GIT_ENV, git
from workspaces import make_handler_workspace

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workspace"
APP_INIT = Path("app", "src", "app", "__init__.py")
UTIL = Path("app", "src", "app", "util.py")
UTIL_TEXT = "import json\nimport os\n\n\ndef cwd() -> str:\n    return os.getcwd()\n"
"""Added to the example: an unused import ruff can remove safely (F401 in a package's
``__init__.py`` has no fix: it may be a re-export)."""


def corral(
    root: Path, *args: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [sys.executable, "-m", "corral", "-C", str(root), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=root,
        timeout=600,
        env={**env, **(environ or {})},
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws") / "workspace"
    shutil.copytree(EXAMPLE, root, ignore=PYTHON_ONLY)
    done = corral(root, "prepare-envs")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def workspace(prepared: Path) -> Iterator[Path]:
    """The prepared workspace with ``util.py``; the example's sources and configs restored
    afterwards."""
    (prepared / UTIL).write_text(UTIL_TEXT)
    yield prepared
    (prepared / UTIL).unlink()
    shutil.rmtree(prepared / ".git", ignore_errors=True)
    for relative in (APP_INIT, Path("app", "pyproject.toml")):
        shutil.copyfile(EXAMPLE / relative, prepared / relative)


def test_lint_counts_fixable_findings_and_fix_fixes_them(workspace: Path) -> None:
    app = workspace / "app"
    found = corral(workspace, "run", "lint", "--project", str(app))
    assert found.returncode == 1, found.stdout + found.stderr
    assert found.stdout.splitlines()[-1].startswith(
        "lint: 2 findings in 2 files, 1 fixable with --fix (1 project, "
    )

    fixed = corral(workspace, "run", "lint", "--fix", "--project", str(app))
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr  # __init__.py's F401 remains
    assert "fixed app/src/app/util.py\n" in fixed.stdout
    assert fixed.stdout.splitlines()[-1].startswith(
        "lint: fixed 1, 1 remaining in 1 file (1 project, "
    )
    assert (workspace / UTIL).read_text() == UTIL_TEXT.replace("import json\n", "")
    assert (workspace / APP_INIT).read_text() == (EXAMPLE / APP_INIT).read_text()

    again = corral(workspace, "run", "lint", "--fix", "--format", "json", "--project", str(app))
    assert again.returncode == 1, again.stderr
    data = msgspec.json.decode(again.stdout)
    assert data["result"]["changed"] == []
    assert data["result"]["summary"]["ruff"]["fixed"] == 0


def test_fix_options_that_do_not_fit_are_usage_errors(workspace: Path) -> None:
    alone = corral(workspace, "run", "lint", "--unsafe-fixes", "--workspace")
    assert alone.returncode == 2
    assert "--unsafe-fixes applies fixes only with --fix" in alone.stderr
    refused = corral(workspace, "run", "format", "--fix", "--project", str(workspace / "app"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "UnsupportedParam" in refused.stdout
    assert "does not support `fix`" in refused.stdout
    assert (workspace / APP_INIT).read_text() == (EXAMPLE / APP_INIT).read_text()


def test_ruff_warnings_reach_the_text_and_the_json(workspace: Path) -> None:
    pyproject = workspace / "app" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.ruff.lint]\nignore = ["UP038"]\n')
    text = corral(workspace, "run", "lint", "--workspace")
    assert text.returncode == 1, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    (warning,) = [i for i, line in enumerate(lines) if line.startswith("note: ")]
    assert lines[warning].startswith("note: app: ruff: warning: The following rules have been")
    assert "UP038" in lines[warning + 1]
    assert warning > lines.index("app/src/app/__init__.py")  # after the findings
    data = msgspec.json.decode(corral(workspace, "run", "lint", "--format", "json").stdout)
    (app,) = [p for p in data["projects"] if p["project"].endswith("app")]
    assert "UP038" in app["result"]["notes"][0]["message"]


def test_check_format_diff_shows_the_change(workspace: Path) -> None:
    result = corral(workspace, "run", "check-format", "--diff", "--workspace")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--- a/app/src/app/__init__.py\n+++ b/app/src/app/__init__.py\n" in result.stdout
    assert '-    return   "hello " + name\n+    return "hello " + name\n' in result.stdout
    assert result.stdout.splitlines()[-1].startswith(
        "check-format: 1 finding in 1 file, 1 fixable (2 projects, "
    )
    assert (workspace / APP_INIT).read_text() == (EXAMPLE / APP_INIT).read_text()


def test_rule_urls_and_colour(workspace: Path) -> None:
    plain = corral(workspace, "run", "lint", "--workspace")
    assert "\x1b[" not in plain.stdout  # a pipe: no colour
    assert "https://docs.astral.sh/ruff/rules/" not in plain.stdout
    urls = corral(workspace, "run", "lint", "--workspace", "--show-urls")
    assert "      https://docs.astral.sh/ruff/rules/unused-import\n" in urls.stdout
    forced = corral(workspace, "run", "lint", "--workspace", environ={"FORCE_COLOR": "1"})
    assert "\x1b[1mapp/src/app/__init__.py\x1b[0m" in forced.stdout
    never = corral(
        workspace, "run", "lint", "--workspace", "--color", "never", environ={"FORCE_COLOR": "1"}
    )
    assert "\x1b[" not in never.stdout
    always = corral(
        workspace, "run", "lint", "--workspace", "--color=always", environ={"NO_COLOR": "1"}
    )
    assert "\x1b[" in always.stdout


def test_changed_and_staged_files_only(workspace: Path) -> None:
    environ = {**GIT_ENV, "GIT_CEILING_DIRECTORIES": str(workspace.parent)}
    outside = corral(workspace, "run", "lint", "--changed", "--workspace", environ=environ)
    assert outside.returncode == 2, outside.stdout + outside.stderr
    assert "is not inside a git repository: --changed and --staged need one" in outside.stderr

    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")  # .corral/ included where nothing ignores it: never a change
    git(workspace, "commit", "-q", "-m", "base")
    git(workspace, "switch", "-q", "-c", "feature")
    nothing = corral(workspace, "run", "lint", "--changed", "--workspace", environ=environ)
    assert nothing.returncode == 0, nothing.stdout + nothing.stderr
    assert nothing.stdout == (
        "lint: no files changed since the merge base of HEAD and main in 2 projects: "
        "nothing to do\n"
    )

    # one changed file, in app: only app runs, and only on that file
    util = workspace / UTIL
    util.write_text(UTIL_TEXT + "\n\nimport sys\n")
    (workspace / "lib" / "notes with spaces.md").write_text("# not Python\n")
    (workspace / "lib" / "deploy.yaml").write_text("key: value\n")  # ruff, named it: F821
    changed = corral(workspace, "run", "lint", "--changed", "--workspace", environ=environ)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "app/src/app/util.py" in changed.stdout
    assert "app/src/app/__init__.py" not in changed.stdout  # unchanged: not linted
    # lib's markdown and YAML files changed too: lib ran, and found nothing in them
    assert changed.stdout.splitlines()[-1].startswith(
        "lint: 2 findings in 1 file, 2 fixable with --fix (2 projects, "
    )
    assert "note: lint on 3 files changed since the merge base of HEAD and main" in (changed.stderr)
    data = msgspec.json.decode(
        corral(
            workspace,
            "run",
            "type-check",
            "--changed",
            "main",
            "--format",
            "json",
            environ=environ,
        ).stdout
    )
    assert sorted(Path(p["project"]).name for p in data["projects"]) == ["app", "lib"]
    assert all(p["status"] == "ok" for p in data["projects"]), data  # no README for mypy

    staged = corral(workspace, "run", "lint", "--staged", environ=environ)
    assert staged.returncode == 0
    assert staged.stdout == "lint: no staged files in 2 projects: nothing to do\n"
    git(workspace, "add", str(util))
    staged = corral(workspace, "run", "lint", "--staged", environ=environ)
    assert staged.returncode == 1, staged.stdout + staged.stderr
    assert "(1 project" in staged.stdout
    assert "note: lint on 1 file staged" in staged.stderr

    bad = corral(workspace, "run", "lint", "--changed", "nope", environ=environ)
    assert bad.returncode == 2
    assert "--changed nope: no such commit, branch or tag" in bad.stderr
    both = corral(workspace, "run", "lint", "--changed", "--staged", environ=environ)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


PRINTING = textwrap.dedent(
    """
    import logging
    import sys


    def talk(ctx):
        print("hello from the handler")
        print("a warning on stderr", file=sys.stderr)
        logging.getLogger("talker").warning("logged by the handler")
        return {"ok": True}
    """
)

PRINTING_PROJECT = textwrap.dedent(
    """
    [envs.dev_no_runtime]
    dependencies = []

    [[actions.talk.handlers]]
    name = "talk"
    source = "handlers:talk"
    """
)


def test_a_handlers_print_and_log_output_reach_the_user(tmp_path: Path) -> None:
    """runner/output and runner/log of a run (SPEC.md §9.10-§9.11) are shown with its
    result, dimmed after the findings (issue 17 item 7)."""
    root = make_handler_workspace(tmp_path, ("proj",), PRINTING_PROJECT, PRINTING)
    result = corral(root, "run", "talk", "--project", str(root / "proj"))
    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "hello from the handler" in shown
    assert "a warning on stderr" in shown
    assert "logged by the handler" in shown
