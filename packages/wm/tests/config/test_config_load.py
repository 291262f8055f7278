"""Loading a valid project: which file counts, defaults, env dependencies, dev_workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from corral.config import (
    ActionSpec,
    ConfigError,
    EnvSpec,
    HandlerRef,
    ProjectConfig,
    RestartSettings,
    RunnerSettings,
    is_project,
    load_project,
)

Load = Callable[..., ProjectConfig]
WriteFile = Callable[..., Path]
LINT = """
[tool.corral.actions.lint]
[[tool.corral.actions.lint.handlers]]
name = "ruff"
source = "corral_python.ruff:lint"
"""


def test_empty_tool_corral_is_a_project_with_defaults(load: Load, tmp_path: Path) -> None:
    project = load("[tool.corral]\n")
    assert project.root == tmp_path.resolve()
    assert project.config_file == tmp_path.resolve() / "pyproject.toml"
    assert project.presets == ()
    assert project.actions == {}
    assert project.envs == {"dev_workspace": EnvSpec(name="dev_workspace")}
    assert project.runner == RunnerSettings()
    assert project.runner.restart == RestartSettings(
        backoff=(1.0, 2.0, 4.0), jitter=0.1, max_crashes=3, window=300.0, stable_after=30.0
    )
    assert (project.runner.hello_timeout, project.runner.idle_shutdown) == (10.0, 1800.0)


def test_handler_defaults(load: Load) -> None:
    project = load(LINT)
    assert project.actions == {
        "lint": ActionSpec(
            name="lint",
            mode="sequential",
            handlers=(
                HandlerRef(
                    name="ruff",
                    source="corral_python.ruff:lint",
                    env="dev_no_runtime",
                    config={},
                    dependencies=(),
                    enabled=True,
                ),
            ),
        )
    }
    assert list(project.envs) == ["dev_workspace", "dev_no_runtime"]


def test_corral_toml_is_a_project(write: WriteFile) -> None:
    directory = write('presets = ["corral-python"]\n', name="corral.toml").parent
    assert is_project(directory)
    project = load_project(directory)
    assert project.config_file == directory.resolve() / "corral.toml"
    assert project.presets == ("corral-python",)


def test_corral_toml_wins_over_tool_corral(write: WriteFile) -> None:
    write('[tool.corral]\npresets = ["from-pyproject"]\n')
    directory = write('presets = ["from-corral-toml"]\n', name="corral.toml").parent
    project = load_project(directory)
    assert project.config_file.name == "corral.toml"
    assert project.presets == ("from-corral-toml",)


def test_broken_tool_corral_is_ignored_when_corral_toml_wins(write: WriteFile) -> None:
    write("[tool.corral]\nactoins = 1\n")
    directory = write("", name="corral.toml").parent
    assert load_project(directory).actions == {}


def test_pyproject_without_tool_corral_is_not_a_project(write: WriteFile) -> None:
    directory = write('[project]\nname = "corral-python"\n').parent
    assert not is_project(directory)
    assert not is_project(directory / "missing")


def test_broken_pyproject_with_corral_header_is_a_project(write: WriteFile) -> None:
    directory = write("[tool.corral]\npresets = [\n").parent
    assert is_project(directory)
    with pytest.raises(ConfigError):
        load_project(directory)


def test_full_example_from_the_docs(load: Load) -> None:
    project = load(
        """
        [tool.corral]
        presets = ["corral-python"]

        [tool.corral.envs.dev_no_runtime]
        dependencies = ["ruff>=0.8"]
        python = "3.12"
        runner = ["node", "runner.js"]

        [tool.corral.actions.lint]
        mode = "concurrent"
        [[tool.corral.actions.lint.handlers]]
        name = "ruff"
        source = "corral_python.ruff:lint"
        env = "dev_no_runtime"
        config = { select = ["E", "F"] }
        dependencies = ["ruff>=0.8"]
        enabled = true

        [tool.corral.runner]
        hello_timeout = 10.0
        initialize_timeout = 10.0
        ping_interval = 2.0
        ping_timeout = 2.0
        unhealthy_grace = 10.0
        shutdown_timeout = 3.0
        terminate_timeout = 3.0
        idle_shutdown = 1800.0
        [tool.corral.runner.restart]
        backoff = [1.0, 2.0, 4.0]
        jitter = 0.1
        max_crashes = 3
        window = 300.0
        stable_after = 30.0
        """
    )
    assert project.actions["lint"].mode == "concurrent"
    assert project.actions["lint"].handlers[0].config == {"select": ["E", "F"]}
    assert project.envs["dev_no_runtime"] == EnvSpec(
        name="dev_no_runtime",
        dependencies=("ruff>=0.8",),
        python="3.12",
        runner=("node", "runner.js"),
    )
    assert project.runner == RunnerSettings()


def test_runner_settings_override_defaults(load: Load) -> None:
    project = load(
        """
        [tool.corral.runner]
        hello_timeout = 2
        idle_shutdown = 0
        [tool.corral.runner.restart]
        backoff = [0, 0.5]
        max_crashes = 10
        jitter = 0
        """
    )
    assert project.runner == RunnerSettings(
        hello_timeout=2.0,
        idle_shutdown=0.0,
        restart=RestartSettings(backoff=(0.0, 0.5), max_crashes=10, jitter=0.0),
    )
    assert isinstance(project.runner.hello_timeout, float)


def test_env_dependencies_groups_then_env_then_handlers(load: Load) -> None:
    project = load(
        """
        [dependency-groups]
        dev-no-runtime = ["pytest>=8", {include-group = "Typing"}, "ruff>=0.8"]
        typing = ["mypy", {include-group = "stubs"}]
        stubs = ["types-requests", "pytest>=8"]
        unrelated = [{include-group = "missing"}]

        [tool.corral.envs.dev_no_runtime]
        dependencies = ["ruff >= 0.8", "coverage"]

        [tool.corral.actions.lint]
        [[tool.corral.actions.lint.handlers]]
        name = "ruff"
        source = "corral_python.ruff:lint"
        dependencies = ["ruff>=0.8", "ruff-lsp"]
        [[tool.corral.actions.lint.handlers]]
        name = "mypy"
        source = "corral_python.mypy:check"
        env = "typecheck"
        dependencies = ["mypy>=1.13"]

        [tool.corral.actions.format]
        [[tool.corral.actions.format.handlers]]
        name = "black"
        source = "x:y"
        dependencies = ["black"]
        """
    )
    assert project.envs["dev_no_runtime"].dependencies == (
        "pytest>=8",
        "mypy",
        "types-requests",
        "ruff>=0.8",
        "coverage",
        "ruff-lsp",
        "black",
    )
    assert project.envs["typecheck"].dependencies == ("mypy>=1.13",)
    assert list(project.envs) == ["dev_workspace", "dev_no_runtime", "typecheck"]


def test_dev_workspace_takes_its_dependency_group(load: Load) -> None:
    project = load('[dependency-groups]\ndev_workspace = ["corral-python"]\n[tool.corral]\n')
    assert project.envs["dev_workspace"].dependencies == ("corral-python",)


def test_dependency_groups_come_from_pyproject_with_corral_toml(write: WriteFile) -> None:
    write('[dependency-groups]\nlint = ["ruff"]\n')
    directory = write('[envs.lint]\npython = "3.13"\n', name="corral.toml").parent
    assert load_project(directory).envs["lint"].dependencies == ("ruff",)


def test_configured_env_without_handlers_exists(load: Load) -> None:
    project = load('[tool.corral.envs."runtime.py3"]\ndependencies = ["attrs"]\n')
    assert project.envs["runtime.py3"] == EnvSpec(name="runtime.py3", dependencies=("attrs",))


def test_disabled_handler_is_removed_and_empty_action_too(load: Load) -> None:
    project = load(LINT + "enabled = false\ndependencies = ['ruff']\n")
    assert project.actions == {}
    assert project.envs["dev_workspace"] == EnvSpec(name="dev_workspace")
    assert "dev_no_runtime" not in project.envs


def test_handler_without_source_waits_for_presets(load: Load) -> None:
    project = load(
        """
        [tool.corral]
        presets = ["corral-python"]
        [[tool.corral.actions.lint.handlers]]
        name = "ruff"
        config = { line-length = 100 }
        [[tool.corral.actions.lint.handlers]]
        name = "mine"
        source = "my.module:lint"
        """
    )
    assert [handler.name for handler in project.actions["lint"].handlers] == ["mine"]


def test_paths_are_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "corral.toml").write_text("", encoding="utf-8")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    project = load_project(tmp_path / "link" / ".." / "link")
    assert project.root == real.resolve()
    assert project.config_file == real.resolve() / "corral.toml"


def test_to_builtins_is_json_ready(load: Load) -> None:
    data = load(LINT).to_builtins()
    assert isinstance(data["root"], str)
    assert "_layer" not in data
    assert data["actions"]["lint"]["handlers"][0]["env"] == "dev_no_runtime"


def test_config_key_follows_the_config_file(load: Load, write: WriteFile) -> None:
    assert load("[tool.corral]\n").config_key("presets") == "tool.corral.presets"
    directory = write("", name="corral.toml", directory="other").parent
    assert load_project(directory).config_key("presets") == "presets"
