"""What a new user hit on real projects (issue: wrong answers), through the real CLI.

Each test reproduces one report: a misspelled action at workspace scope, an unknown
preset, one project whose environment cannot be created, configuration errors at
workspace scope, paths that do not exist or are relative to the current directory, and the
environment-preparation note.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from example_workspace import PYTHON_ONLY
from test_e2e_cli import EXAMPLE, corral


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("answers") / "workspace"
    shutil.copytree(EXAMPLE, root, ignore=PYTHON_ONLY)
    prepared = corral(root, "prepare-envs")
    assert prepared.returncode == 0, prepared.stderr
    return root


@pytest.fixture
def extra_project(workspace: Path) -> Iterator[Path]:
    """A third project, removed after the test."""
    project = workspace / "extra"
    project.mkdir()
    yield project
    if project.exists():
        for path in project.rglob("*"):  # a test may have made parts read-only
            if path.is_dir():
                path.chmod(0o700)
        shutil.rmtree(project)


def test_a_misspelled_action_is_a_usage_error_at_every_scope(workspace: Path) -> None:
    for scope in (["--workspace"], ["--project", str(workspace / "app")], [str(workspace)]):
        result = corral(workspace, "run", "lnit", *scope)
        assert result.returncode == 2, (scope, result.stdout, result.stderr)
        assert "no action 'lnit'" in result.stderr
        assert "did you mean 'lint'" in result.stderr
        assert result.stdout == ""


def test_projects_without_the_action_are_named_as_skipped(
    workspace: Path, extra_project: Path
) -> None:
    (extra_project / "corral.toml").write_text(
        '[[actions.hello.handlers]]\nname = "hello"\nsource = "corral_runner.fixtures:echo"\n'
    )
    result = corral(workspace, "run", "lint", "--workspace")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "skipped 1 project without lint: extra" in result.stdout
    data = msgspec.json.decode(corral(workspace, "run", "lint", "--format", "json").stdout)
    assert data["skipped"] == [str(extra_project.resolve())]


def test_an_unknown_preset_is_a_configuration_error_and_nothing_is_installed(
    workspace: Path, extra_project: Path
) -> None:
    (extra_project / "corral.toml").write_text('presets = ["corral-pyhton"]\n')
    for scope in (["--project", str(extra_project)], ["--workspace"]):
        result = corral(workspace, "run", "lint", *scope)
        assert result.returncode == 2, (scope, result.stdout, result.stderr)
        text = result.stdout + result.stderr
        assert "presets[0]" in text
        assert "corral-pyhton" in text
        assert 'did you mean "corral-python"?' in text
    env = extra_project / ".corral" / "envs" / "dev_workspace"
    installed = {p.name.lower() for p in env.glob("lib/python*/site-packages/*")}
    assert not any("pyhton" in name for name in installed)


def test_configuration_errors_exit_2_at_workspace_scope_too(
    workspace: Path, extra_project: Path
) -> None:
    (extra_project / "corral.toml").write_text('[actions.lint]\nmode = "fast"\n')
    result = corral(workspace, "run", "lint", "--workspace")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "actions.lint.mode" in result.stdout
    assert "app/src/app/__init__.py" in result.stdout  # the healthy projects still ran


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_project_whose_env_cannot_be_created_fails_alone(
    workspace: Path, extra_project: Path
) -> None:
    (extra_project / "corral.toml").write_text('presets = ["corral-python"]\n')
    (extra_project / "x.py").write_text("import os\n")
    corral_dir = extra_project / ".corral"
    corral_dir.mkdir()
    corral_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    result = corral(workspace, "run", "lint", "--workspace")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert "app/src/app/__init__.py" in result.stdout
    assert "extra" in result.stdout


def test_a_project_whose_env_cannot_be_created_fails_alone_as_root(
    workspace: Path, extra_project: Path
) -> None:
    """The same as above where permissions cannot stop root: a ``.corral`` that is a file."""
    (extra_project / "corral.toml").write_text('presets = ["corral-python"]\n')
    (extra_project / "x.py").write_text("import os\n")
    (extra_project / ".corral").write_text("not a directory\n")
    result = corral(workspace, "run", "lint", "--workspace")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr
    assert "app/src/app/__init__.py" in result.stdout  # the healthy projects were linted
    assert "extra" in result.stdout


def test_a_path_that_does_not_exist_is_a_usage_error(workspace: Path) -> None:
    result = corral(workspace, "run", "lint", str(workspace / "app" / "nope.py"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nope.py: no such file or directory" in result.stderr
    assert "E902" not in result.stdout


def test_relative_paths_are_relative_to_the_current_directory(workspace: Path) -> None:
    app_src = workspace / "app" / "src"
    result = corral(workspace, "run", "lint", "app/__init__.py", cwd=app_src)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "F401" in result.stdout
    outside = corral(workspace, "run", "lint", "src/app/__init__.py", cwd=workspace.parent)
    assert outside.returncode == 2
    assert "no such file or directory" in outside.stderr


def test_the_preparing_note_appears_only_when_something_is_prepared(
    workspace: Path, extra_project: Path
) -> None:
    (extra_project / "corral.toml").write_text(
        '[[actions.hello.handlers]]\nname = "hello"\nsource = "corral_runner.fixtures:echo"\n'
    )
    first = corral(workspace, "run", "hello", "--project", str(extra_project))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "preparing" in first.stderr
    second = corral(workspace, "run", "hello", "--project", str(extra_project))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "preparing" not in second.stderr


def test_what_a_handler_prints_reaches_the_report_and_the_wal(
    workspace: Path, extra_project: Path
) -> None:
    (extra_project / "corral.toml").write_text(
        '[[actions.say.handlers]]\nname = "say"\nsource = "corral_runner.fixtures:print_"\n'
    )
    result = corral(
        workspace,
        "run",
        "say",
        "--project",
        str(extra_project),
        "--format",
        "json",
        "-p",
        "stdout=hello from the handler\n",
        "-p",
        "stderr=and a warning\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = msgspec.json.decode(result.stdout)
    streams = {(o["stream"], o["text"]) for o in report["output"]}
    assert ("stdout", "hello from the handler\n") in streams
    assert ("stderr", "and a warning\n") in streams
    shown = corral(workspace, "wal", "show", "--run", report["runId"], "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert "hello from the handler" in shown.stdout
