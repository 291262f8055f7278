"""The example's JavaScript project end to end through the ``corral`` CLI.

Real everything: the ``corral-js`` preset applied by the WM, a Node env built by real npm
(ESLint and Prettier from the registry, corral-handlers-js and the Node runner from this
checkout), the real Node runner supervised by a real WM server. The envs are prepared once
per module (embedded) and the prepared workspace is copied per test.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from example_workspace import WITH_WEB
from server_harness import ServerWorld, alive, no_leftovers, wait_until

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "examples" / "workspace" / "web"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def prepared_web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding a copy of examples/workspace/web, its envs prepared."""
    root = tmp_path_factory.mktemp("js") / "workspace"
    shutil.copytree(WEB, root / "web", ignore=WITH_WEB)
    world = ServerWorld(root, tmp_path_factory.mktemp("runtime"))
    prepared = world.corral("--no-server", "prepare-envs")
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert "web:js_tools" in prepared.stdout + prepared.stderr
    return root


@pytest.fixture
def world(prepared_web: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    root = tmp_path / "ws"
    shutil.copytree(prepared_web, root, symlinks=True)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    world = ServerWorld(root, runtime)
    with no_leftovers(world):
        yield world


def run_json(world: ServerWorld, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.corral("run", *args, "--format", "json")
    assert result.stdout, result.stderr
    return result.returncode, msgspec.json.decode(result.stdout)


def test_lint_reports_the_eslint_finding_as_a_diagnostic(world: ServerWorld) -> None:
    code, report = run_json(world, "lint", "--workspace")

    assert code == 1, report
    [project] = report["projects"]
    assert Path(project["project"]).name == "web"
    assert [(h["name"], h["status"]) for h in project["handlers"]] == [("eslint", "ok")]
    [diagnostic] = project["result"]["diagnostics"]
    assert diagnostic == {
        "file": "src/greet.js",
        "range": {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 14}},
        "code": "no-unused-vars",
        "message": "'unused' is assigned a value but never used.",
        "severity": "error",
        "source": "eslint",
        "fixable": False,
        "tags": ["unnecessary"],
        "url": "https://eslint.org/docs/latest/rules/no-unused-vars",
    }
    assert project["result"]["summary"]["eslint"]["version"].startswith("9.")


def test_check_format_is_clean_until_a_file_is_misformatted(world: ServerWorld) -> None:
    clean = world.corral("run", "check-format", "--workspace")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "check-format: 0 findings (1 project" in clean.stdout

    source = world.root / "web" / "src" / "greet.js"
    source.write_text(source.read_text().replace("return `Hello", "return    `Hello"))
    code, report = run_json(world, "check-format", "--workspace")

    assert code == 1, report
    [diagnostic] = report["projects"][0]["result"]["diagnostics"]
    assert (diagnostic["file"], diagnostic["code"], diagnostic["fixable"]) == (
        "src/greet.js",
        "format",
        True,
    )
    diff = world.corral("run", "check-format", "--workspace", "--diff")
    assert "-  return    `Hello, ${name}!`;" in diff.stdout, diff.stdout
    assert "+  return `Hello, ${name}!`;" in diff.stdout


def node_runner_pid(world: ServerWorld) -> int:
    [runner] = [r for r in world.status()["runners"] if r["env"] == "js_tools"]
    assert runner["state"] == "running", runner
    return int(runner["pid"])


def test_a_killed_node_runner_is_restarted_and_the_next_run_succeeds(world: ServerWorld) -> None:
    first = world.corral("run", "lint", "--workspace")
    assert first.returncode == 1, first.stdout + first.stderr
    pid = node_runner_pid(world)

    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), "the Node runner to die", 15)
    again = world.corral("run", "lint", "--workspace")

    assert again.returncode == 1, again.stdout + again.stderr
    assert "no-unused-vars" in again.stdout
    assert node_runner_pid(world) != pid


def test_a_node_env_without_eslint_fails_naming_env_and_dependency(world: ServerWorld) -> None:
    config = world.root / "web" / "corral.toml"
    config.write_text(
        config.read_text()
        + "\n[[actions.lint.handlers]]\n"
        + 'name = "eslint"\n'
        + 'dependencies = ["corral-handlers-js"]  # ESLint left out\n'
    )
    prepared = world.corral("prepare-envs")
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert not (
        world.root / "web" / ".corral" / "envs" / "js_tools" / "node_modules" / "eslint"
    ).exists()

    result = world.corral("run", "lint", "--workspace")

    assert result.returncode == 3, result.stdout + result.stderr  # a handler failed
    out = result.stdout + result.stderr
    assert "ToolMissing" in out, out
    assert 'eslint is not installed in environment "js_tools"' in out
    assert 'add "eslint@^9" to [tool.corral.envs.js_tools].dependencies' in out
