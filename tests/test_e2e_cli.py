"""End to end through the ``corral`` CLI on a copy of the example workspace.

Real everything: uv creates the environments (from this checkout's packages), real runner
processes serve real ruff; the JavaScript project ``web/`` gets a Node env built by npm
(ESLint and Prettier from the registry) and the Node runner. The environments are prepared
once per module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from example_workspace import WITH_WEB
from syrupy.assertion import SnapshotAssertion

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workspace"
CORRAL = [sys.executable, "-m", "corral"]


def corral(root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CORRAL, "-C", str(root), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd or root,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws") / "workspace"
    shutil.copytree(EXAMPLE, root, ignore=WITH_WEB)
    prepared = corral(root, "prepare-envs")
    assert prepared.returncode == 0, prepared.stderr
    # The example's committed lock files are current: installed as they are, not rewritten
    # (after changing the preset or the example: `uv run corral -C examples/workspace lock`).
    locks = sorted(EXAMPLE.glob("*/pylock.corral-*.toml"))
    assert len(locks) == 7  # app and lib: 3 each; web: dev_workspace (its Node env: none)
    for lock in locks:
        copied = (root / lock.relative_to(EXAMPLE)).read_text()
        assert copied == lock.read_text(), f"{lock} is stale: run corral lock on the example"
        assert str(REPO) not in copied  # paths in a lock are relative to it
    assert "locked" not in prepared.stderr
    return root


def normalise(value: Any, root: Path) -> Any:
    text = msgspec.json.encode(value).decode()
    text = text.replace(str(root), "<ws>")
    text = re.sub(r'"(runId|durationMs)":("[^"]*"|[0-9.e+-]+)', r'"\1":"<\1>"', text)
    text = re.sub(r'"version":"[^"]*"', '"version":"<tool version>"', text)
    return msgspec.json.decode(text)


def test_lint_workspace_reports_python_and_javascript_findings_by_file(workspace: Path) -> None:
    result = corral(workspace, "run", "lint", "--workspace")  # the README's command 1
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "app/src/app/__init__.py\n  3:8  F401 `os` imported but unused" in out
    assert "web/src/greet.js\n  2:9  no-unused-vars 'unused' is assigned a value" in out
    assert "lib/src" not in out
    assert re.search(r"^lint: 2 findings in 2 files \(3 projects, [0-9.]+ s\)$", out, re.M)


def test_lint_json_output(workspace: Path, snapshot: SnapshotAssertion) -> None:
    result = corral(workspace, "run", "lint", "--workspace", "--format", "json")
    assert result.returncode == 1, result.stderr
    data = msgspec.json.decode(result.stdout)
    assert data["status"] == "ok"
    assert [Path(p["project"]).name for p in data["projects"]] == ["app", "lib", "web"]
    assert normalise(data, workspace) == snapshot


def test_exit_codes_clean_project_and_check_format(workspace: Path) -> None:
    clean = corral(workspace, "run", "lint", "--project", str(workspace / "lib"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "lint: 0 findings (1 project" in clean.stdout
    check = corral(workspace, "run", "check-format", "--workspace")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "app/src/app/__init__.py" in check.stdout
    unknown = corral(workspace, "run", "no-such-action", "--project", str(workspace / "lib"))
    assert unknown.returncode == 2
    assert "no action 'no-such-action'" in unknown.stderr


def test_format_writes_then_check_format_is_clean(workspace: Path) -> None:
    app = workspace / "app"
    before = (app / "src" / "app" / "__init__.py").read_text()
    result = corral(workspace, "run", "format", "--project", str(app), "-p", "write=true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reformatted" in result.stdout
    after = (app / "src" / "app" / "__init__.py").read_text()
    assert after != before
    assert 'return "hello " + name' in after
    check = corral(workspace, "run", "check-format", "--project", str(app))
    assert check.returncode == 0, check.stdout


def test_paths_select_their_projects(workspace: Path) -> None:
    target = workspace / "app" / "src" / "app" / "__init__.py"
    result = corral(workspace, "run", "lint", str(target))
    assert result.returncode == 1
    assert "(1 project" in result.stdout


def test_a_broken_configuration_names_file_and_key(workspace: Path, tmp_path: Path) -> None:
    broken = workspace / "broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(
        '[tool.corral]\npresets = ["corral-python"]\n\n[tool.corral.actions.lint]\nmode = "fast"\n'
    )
    try:
        direct = corral(workspace, "run", "lint", "--project", str(broken))
        assert direct.returncode == 2
        assert "pyproject.toml" in direct.stderr
        assert "tool.corral.actions.lint.mode" in direct.stderr
        assert "fast" in direct.stderr
        status = corral(workspace, "status")
        assert status.returncode == 2
        assert "tool.corral.actions.lint.mode" in status.stdout
    finally:
        shutil.rmtree(broken)


def test_status_and_help(workspace: Path) -> None:
    status = corral(workspace, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    data = msgspec.json.decode(status.stdout)
    envs = {(Path(r["project"]).name, r["env"]) for r in data["runners"]}
    assert ("app", "dev_no_runtime") in envs
    assert ("lib", "dev_workspace") in envs
    for command in ([], ["run"], ["prepare-envs"], ["status"], ["runners", "restart"], ["wal"]):
        shown = subprocess.run(
            [*CORRAL, *command, "--help"], check=False, capture_output=True, text=True
        )
        assert shown.returncode == 0, (command, shown.stderr)
        assert "usage: corral" in shown.stdout
        if command and command != ["wal"]:
            assert "example" in shown.stdout, command


def test_wal_records_the_runs(workspace: Path) -> None:
    corral(workspace, "run", "lint", "--workspace")
    verify = corral(workspace, "wal", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    shown = corral(workspace, "wal", "show", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert "run.finished" in shown.stdout or "finished" in shown.stdout


def test_runners_restart_starts_and_reports_each_runner(workspace: Path) -> None:
    result = corral(workspace, "runners", "restart", "--project", str(workspace / "lib"))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert sorted((row[1], row[2]) for row in rows) == [
        ("dev_no_runtime", "running"),
        ("dev_workspace", "running"),
        ("runtime", "running"),
    ]


def test_sarif_of_a_real_run_names_the_tool_and_its_version(workspace: Path) -> None:
    from test_ci_formats import validate_sarif  # noqa: PLC0415

    result = corral(workspace, "run", "lint", "--workspace", "--format", "sarif")
    assert result.returncode == 1, result.stderr
    log = msgspec.json.decode(result.stdout)
    validate_sarif(log)
    runs = {r["tool"]["driver"]["name"]: r for r in log["runs"]}
    assert sorted(runs) == ["eslint", "ruff"]
    eslint = runs["eslint"]
    assert eslint["tool"]["driver"]["version"].startswith("9.")
    assert [r["ruleId"] for r in eslint["results"]] == ["no-unused-vars"]
    run = runs["ruff"]
    driver = run["tool"]["driver"]
    env_ruff = workspace / "app" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "ruff"
    shown = subprocess.run([env_ruff, "--version"], capture_output=True, text=True, check=True)
    assert (driver["name"], f"ruff {driver['version']}") == ("ruff", shown.stdout.strip())
    assert [r["ruleId"] for r in run["results"]] == ["F401"]
