"""End to end through the ``corral`` CLI: a project with a Node env (``kind = "node"``).

Real npm builds the env, the real Node runner (packages/er-node, copied into the env) runs
a handler from a project file and one from an npm package installed in the env, next to a
Python project in the same workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CORRAL = [sys.executable, "-m", "corral"]

WEB_CONFIG = """
[envs.web]
kind = "node"
dependencies = ["file:./tools/greet"]

[[actions.hello.handlers]]
name = "local"
source = "./tools/local.mjs:hello"
env = "web"

[[actions.hello.handlers]]
name = "packaged"
source = "greet-handler:hello"
env = "web"
"""

LOCAL_HANDLER = """
export async function hello(ctx) {
  return { from: "local", project: ctx.project, env: ctx.env, node: process.version };
}
"""

PACKAGED_HANDLER = """
export async function hello(ctx) {
  return { from: "packaged", previous: ctx.previousResult?.from ?? null, who: ctx.params.who };
}
"""

BROKEN_CONFIG = """
[envs.web]
kind = "node"
dependencies = ["corral-no-such-package-4e1f9"]
"""


def corral(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CORRAL, "-C", str(root), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=root,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nodews")
    web = root / "web"
    (web / "tools" / "greet").mkdir(parents=True)
    (web / "corral.toml").write_text(WEB_CONFIG)
    (web / "tools" / "local.mjs").write_text(LOCAL_HANDLER)
    manifest = {"name": "greet-handler", "version": "1.0.0", "type": "module"}
    (web / "tools" / "greet" / "package.json").write_text(json.dumps(manifest))
    (web / "tools" / "greet" / "index.js").write_text(PACKAGED_HANDLER)
    (root / "broken").mkdir()
    (root / "broken" / "corral.toml").write_text(BROKEN_CONFIG)
    return root


def test_prepare_envs_builds_the_node_env_and_reports_the_bad_one_per_project(
    workspace: Path,
) -> None:
    prepared = corral(workspace, "prepare-envs")
    assert prepared.returncode == 3, prepared.stdout + prepared.stderr
    out = prepared.stdout + prepared.stderr
    assert "created    web:web" in out
    assert "failed     broken:web" in out
    assert f"environment 'web' of project {workspace / 'broken'}: installing npm packages" in out
    assert "corral-no-such-package-4e1f9" in out

    again = corral(workspace, "prepare-envs", "--project", "web")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unchanged  web:web" in again.stdout + again.stderr

    status = corral(workspace, "status", "--format", "json")
    envs = {(Path(e["project"]).name, e["env"]): e for e in json.loads(status.stdout)["envs"]}
    assert envs["web", "web"]["state"] == "ready"
    assert "runs on node " in envs["web", "web"]["message"]
    assert envs["broken", "web"]["state"] != "ready"


def test_a_handler_in_the_node_env_runs_through_corral_run(workspace: Path) -> None:
    prepared = corral(workspace, "prepare-envs", "--project", "web")
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    result = corral(
        workspace, "run", "hello", "--project", "web", "--format", "json", "-p", "who=corral"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    project = json.loads(result.stdout)
    assert project["status"] == "ok", project
    assert [(h["name"], h["status"]) for h in project["handlers"]] == [
        ("local", "ok"),
        ("packaged", "ok"),
    ]
    assert project["result"] == {"from": "packaged", "previous": "local", "who": "corral"}
