"""Presets: parsing preset.toml and the merge rule (documented in corral.config.presets)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from corral.config import (
    ActionSpec,
    ConfigError,
    EnvSpec,
    HandlerRef,
    PresetConfig,
    ProjectConfig,
    apply_presets,
    parse_preset,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

Load = Callable[..., ProjectConfig]

BASE = """
[envs.dev_no_runtime]
dependencies = ["ruff>=0.8"]
python = "3.11"

[actions.lint]
mode = "sequential"
[[actions.lint.handlers]]
name = "ruff"
source = "corral_python.ruff:lint"
config = { select = ["E", "F"], format = { quotes = "double", indent = 4 } }
dependencies = ["ruff>=0.8"]
[[actions.lint.handlers]]
name = "mypy"
source = "corral_python.mypy:check"
env = "typecheck"
dependencies = ["mypy>=1.13"]

[actions.format]
[[actions.format.handlers]]
name = "ruff-format"
source = "corral_python.ruff:format"
"""


def preset(name: str, text: str) -> PresetConfig:
    return parse_preset(name, textwrap.dedent(text), Path(f"/site/{name}/preset.toml"))


def handler(project: ProjectConfig, action: str, name: str) -> HandlerRef:
    return next(h for h in project.actions[action].handlers if h.name == name)


def names(project: ProjectConfig, action: str) -> list[str]:
    return [h.name for h in project.actions[action].handlers]


def test_parse_preset_fills_defaults() -> None:
    base = preset("base", BASE)
    assert base.name == "base"
    assert base.actions["format"] == ActionSpec(
        name="format",
        handlers=(HandlerRef(name="ruff-format", source="corral_python.ruff:format"),),
    )
    assert list(base.envs) == ["dev_no_runtime", "typecheck"]
    assert base.envs["typecheck"] == EnvSpec(name="typecheck", dependencies=("mypy>=1.13",))
    assert "_layer" not in base.to_builtins()


def test_project_overrides_only_the_fields_it_sets(load: Load) -> None:
    project = load(
        """
        [tool.corral]
        presets = ["base"]
        [[tool.corral.actions.lint.handlers]]
        name = "ruff"
        config = { select = ["ALL"], format = { indent = 2 }, extend = true }
        """
    )
    merged = apply_presets(project, [preset("base", BASE)])
    ruff = handler(merged, "lint", "ruff")
    assert ruff == HandlerRef(
        name="ruff",
        source="corral_python.ruff:lint",
        env="dev_no_runtime",
        config={"select": ["ALL"], "format": {"quotes": "double", "indent": 2}, "extend": True},
        dependencies=("ruff>=0.8",),
    )
    assert names(merged, "lint") == ["ruff", "mypy"]
    assert merged.actions["lint"].mode == "sequential"


def test_override_replaces_env_and_dependencies(load: Load) -> None:
    project = load(
        """
        [tool.corral]
        presets = ["base"]
        [[tool.corral.actions.lint.handlers]]
        name = "mypy"
        env = "dev_no_runtime"
        dependencies = ["mypy==1.14"]
        """
    )
    merged = apply_presets(project, [preset("base", BASE)])
    assert handler(merged, "lint", "mypy").env == "dev_no_runtime"
    assert "typecheck" not in merged.envs
    assert merged.envs["dev_no_runtime"].dependencies == ("ruff>=0.8", "mypy==1.14")


def test_enabled_false_removes_a_preset_handler_and_empty_actions(load: Load) -> None:
    project = load(
        """
        [tool.corral]
        presets = ["base"]
        [[tool.corral.actions.lint.handlers]]
        name = "mypy"
        enabled = false
        [[tool.corral.actions.format.handlers]]
        name = "ruff-format"
        enabled = false
        """
    )
    merged = apply_presets(project, [preset("base", BASE)])
    assert names(merged, "lint") == ["ruff"]
    assert "format" not in merged.actions
    assert "typecheck" not in merged.envs


def test_a_later_layer_can_enable_again() -> None:
    off = preset("off", '[[actions.format.handlers]]\nname = "ruff-format"\nsource = "a:b"\n'
                 "enabled = false\n")  # fmt: skip
    on = preset("on", '[[actions.format.handlers]]\nname = "ruff-format"\nenabled = true\n'
                'source = "a:b"\n')  # fmt: skip
    project = ProjectConfig(root=Path("/p"), config_file=Path("/p/corral.toml"))
    assert names(apply_presets(project, [off, on]), "format") == ["ruff-format"]
    assert "format" not in apply_presets(project, [on, off]).actions


def test_presets_apply_in_order_then_the_project(load: Load) -> None:
    first = preset(
        "first",
        """
        [actions.lint]
        mode = "concurrent"
        [[actions.lint.handlers]]
        name = "a"
        source = "first:a"
        config = { level = 1, only_first = true }
        [[actions.lint.handlers]]
        name = "b"
        source = "first:b"
        """,
    )
    second = preset(
        "second",
        """
        [[actions.lint.handlers]]
        name = "c"
        source = "second:c"
        [[actions.lint.handlers]]
        name = "a"
        source = "second:a"
        config = { level = 2 }
        """,
    )
    project = load(
        """
        [tool.corral]
        presets = ["first", "second"]
        [[tool.corral.actions.lint.handlers]]
        name = "d"
        source = "project:d"
        [[tool.corral.actions.lint.handlers]]
        name = "b"
        config = { level = 3 }
        """
    )
    merged = apply_presets(project, [first, second])
    assert names(merged, "lint") == ["a", "b", "c", "d"]
    assert handler(merged, "lint", "a").source == "second:a"
    assert handler(merged, "lint", "a").config == {"level": 2, "only_first": True}
    assert handler(merged, "lint", "b").config == {"level": 3}
    assert merged.actions["lint"].mode == "concurrent"
    reversed_order = apply_presets(project, [second, first])
    assert names(reversed_order, "lint") == ["c", "a", "b", "d"]
    assert handler(reversed_order, "lint", "a").source == "first:a"
    assert handler(reversed_order, "lint", "a").config == {"level": 1, "only_first": True}


def test_mode_later_definition_wins_only_if_set(load: Load) -> None:
    concurrent = preset(
        "c",
        """
        [actions.lint]
        mode = "concurrent"
        [[actions.lint.handlers]]
        name = "ruff"
        source = "corral_python.ruff:lint"
        """,
    )
    silent = preset("s", '[[actions.lint.handlers]]\nname = "extra"\nsource = "x:y"\n')
    project = load('[tool.corral]\npresets = ["c", "s"]\n')
    assert apply_presets(project, [concurrent, silent]).actions["lint"].mode == "concurrent"
    sequential = load('[tool.corral.actions.lint]\nmode = "sequential"\n')
    assert apply_presets(sequential, [concurrent]).actions["lint"].mode == "sequential"


def test_env_settings_merge(load: Load) -> None:
    other = preset(
        "other",
        """
        [envs.dev_no_runtime]
        dependencies = ["black", "ruff>=0.8"]
        runner = ["node", "runner.js"]
        """,
    )
    project = load(
        """
        [dependency-groups]
        dev_no_runtime = ["pytest"]
        [tool.corral.envs.dev_no_runtime]
        dependencies = ["coverage"]
        python = "3.13"
        """
    )
    merged = apply_presets(project, [preset("base", BASE), other])
    assert merged.envs["dev_no_runtime"] == EnvSpec(
        name="dev_no_runtime",
        dependencies=("pytest", "ruff>=0.8", "black", "coverage"),
        python="3.13",
        runner=("node", "runner.js"),
    )
    assert list(merged.envs) == ["dev_workspace", "dev_no_runtime", "typecheck"]


def test_applying_again_replaces_rather_than_stacks(load: Load) -> None:
    project = load('[tool.corral]\npresets = ["base"]\n')
    base = preset("base", BASE)
    once = apply_presets(project, [base])
    assert apply_presets(once, [base]) == once
    assert apply_presets(once, []) == project


def test_handler_still_without_source_after_presets(load: Load) -> None:
    project = load(
        """
        [tool.corral]
        presets = ["base"]
        [[tool.corral.actions.lint.handlers]]
        name = "rufff"
        config = { x = 1 }
        """
    )
    with pytest.raises(ConfigError) as caught:
        apply_presets(project, [preset("base", BASE)])
    error = caught.value
    assert error.file == project.config_file
    assert error.key == "tool.corral.actions.lint.handlers[0].source"
    assert error.found == "nothing"
    assert error.hint is not None
    assert "no preset defines rufff in action lint" in error.hint


def test_hand_built_project_and_preset_merge_as_fully_written() -> None:
    project = ProjectConfig(
        root=Path("/p"),
        config_file=Path("/p/pyproject.toml"),
        actions={"lint": ActionSpec(name="lint", handlers=(HandlerRef(name="a", source="p:a"),))},
    )
    extra = PresetConfig(
        name="hand",
        actions={"lint": ActionSpec(name="lint", handlers=(HandlerRef(name="b", source="h:b"),))},
    )
    merged = apply_presets(project, [extra])
    assert names(merged, "lint") == ["b", "a"]
    assert list(merged.envs) == ["dev_workspace", "dev_no_runtime"]


# (id, preset.toml text, key, found, expected, hint)
PRESET_ERRORS = [
    (
        "runner-key",
        "[runner]\nhello_timeout = 1",
        "runner",
        "an unknown key",
        "one of the known keys (actions, envs)",
        "runner settings belong to the project, not to a preset",
    ),
    (
        "presets-key",
        'presets = ["x"]',
        "presets",
        "an unknown key",
        "one of the known keys (actions, envs)",
        "a preset cannot list other presets",
    ),
    (
        "tool-key",
        "[tool.corral.actions]",
        "tool",
        "an unknown key",
        "one of the known keys (actions, envs)",
        "in preset.toml the keys go at the top level",
    ),
    (
        "no-source",
        '[[actions.lint.handlers]]\nname = "ruff"',
        "actions.lint.handlers[0].source",
        "nothing",
        "a handler source string (module:attr or entrypoint:NAME)",
        None,
    ),
    (
        "bad-mode",
        '[actions.lint]\nmode = "parallel"',
        "actions.lint.mode",
        '"parallel" (str)',
        'one of "sequential", "concurrent"',
        None,
    ),
    (
        "bad-env",
        '[envs."a b"]',
        'envs."a b"',
        '"a b" (str)',
        (
            "an environment name: letters, digits, '.', '_' or '-', starting with a letter or "
            "digit, at most 100 characters"
        ),
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "found", "expected", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in PRESET_ERRORS],
)
def test_preset_errors_name_the_preset_and_its_file(
    text: str, key: str, found: str, expected: str, hint: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        preset("corral-python", text)
    error = caught.value
    assert error.preset == "corral-python"
    assert error.file == Path("/site/corral-python/preset.toml").resolve()
    assert (error.key, error.found, error.expected, error.hint) == (key, found, expected, hint)
    text = f'preset "corral-python" (preset.toml): {key}: expected {expected}, found {found}'
    assert str(error) == (f"{text} ({hint})" if hint else text)


def test_preset_syntax_error() -> None:
    with pytest.raises(ConfigError) as caught:
        preset("corral-python", "[actions.lint]\nmode = \n")
    assert (caught.value.line, caught.value.column) == (2, 8)
    assert str(caught.value).startswith('preset "corral-python" (preset.toml:2:8): expected valid')


def test_preset_needs_a_name() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        parse_preset(" ", "", Path("preset.toml"))


def _normalise(data: Any, root: Path) -> Any:
    return json.loads(json.dumps(data).replace(str(root), "<project>"))


def test_fully_merged_config_snapshot(
    load: Load, tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    project = load(
        """
        [dependency-groups]
        dev_workspace = ["corral-python"]
        dev-no-runtime = [{include-group = "test"}, "coverage"]
        test = ["pytest>=8"]

        [tool.corral]
        presets = ["base", "extras"]

        [tool.corral.envs.node]
        runner = ["node", "runner.js"]

        [tool.corral.actions.lint]
        mode = "concurrent"
        [[tool.corral.actions.lint.handlers]]
        name = "ruff"
        config = { select = ["ALL"], format = { indent = 2 } }
        [[tool.corral.actions.lint.handlers]]
        name = "eslint"
        source = "eslint-handler:lint"
        env = "node"
        config = { fix = true }

        [tool.corral.actions.format]
        [[tool.corral.actions.format.handlers]]
        name = "ruff-format"
        enabled = false

        [tool.corral.runner]
        idle_shutdown = 0
        [tool.corral.runner.restart]
        max_crashes = 5
        """
    )
    extras = preset(
        "extras",
        """
        [envs.typecheck]
        python = "3.12"
        [[actions.lint.handlers]]
        name = "mypy"
        config = { strict = true }
        source = "corral_python.mypy:check_strict"
        env = "typecheck"
        [[actions.test.handlers]]
        name = "pytest"
        source = "corral_python.pytest:run"
        dependencies = ["pytest>=8.3"]
        """,
    )
    merged = apply_presets(project, [preset("base", BASE), extras])
    # The JSON snapshot sorts keys, so pin the meaningful orders here.
    assert list(merged.envs) == ["dev_workspace", "dev_no_runtime", "typecheck", "node"]
    assert list(merged.actions) == ["lint", "test"]
    rendered = _normalise(merged.to_builtins(), tmp_path.resolve())
    assert rendered == snapshot.use_extension(JSONSnapshotExtension)


def test_install_project_merges_like_python(load: Load) -> None:
    runtime = preset("runtime", "[envs.runtime]\ninstall_project = true\n")
    merged = apply_presets(load("[tool.corral]\n"), [runtime])
    assert merged.envs["runtime"] == EnvSpec(name="runtime", install_project=True)
    opted_out = load("[tool.corral.envs.runtime]\ninstall_project = false\n")
    assert apply_presets(opted_out, [runtime]).envs["runtime"].install_project is False
    with pytest.raises(ConfigError, match=r"install_project.*a boolean"):
        load("[tool.corral.envs.runtime]\ninstall_project = 'yes'\n")
