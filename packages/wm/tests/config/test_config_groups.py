"""PEP 735 dependency groups as env dependencies: includes, normalisation, errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from corral.config import ConfigError, ProjectConfig

Load = Callable[..., ProjectConfig]
LoadError = Callable[..., ConfigError]
ENV = '\n[tool.corral.envs.dev]\npython = "3.12"\n'


def test_include_group_expands_in_place_without_repeats(load: Load) -> None:
    project = load(
        """
        [dependency-groups]
        dev = ["a", {include-group = "Test_Tools"}, "d", "b"]
        test-tools = ["b", {include-group = "base"}]
        base = ["c", "a"]
        """
        + ENV
    )
    assert project.envs["dev"].dependencies == ("a", "b", "c", "d")


def test_group_names_are_normalised(load: Load) -> None:
    project = load('[dependency-groups]\n"DEV"= ["x"]\n' + ENV)
    assert project.envs["dev"].dependencies == ("x",)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            (
                'dev = [{include-group = "test"}]\ntest = [{include-group = "dev"}]',
                "dependency-groups.test[0].include-group",
                "an include cycle (dev -> test -> dev)",
                "include-group entries that do not form a cycle",
                None,
            ),
            id="cycle",
        ),
        pytest.param(
            (
                'dev = ["a", {include-group = "dev"}]',
                "dependency-groups.dev[1].include-group",
                "an include cycle (dev -> dev)",
                "include-group entries that do not form a cycle",
                None,
            ),
            id="self-include",
        ),
        pytest.param(
            (
                'dev = [{include-group = "tset"}]\ntest = ["pytest"]',
                "dependency-groups.dev[0].include-group",
                '"tset" (str)',
                "the name of a group in [dependency-groups] (dev, test)",
                'did you mean "test"?',
            ),
            id="unknown-include",
        ),
        pytest.param(
            (
                "dev = [{include-group = 1}]",
                "dependency-groups.dev[0].include-group",
                "1 (int)",
                "the name of a group in [dependency-groups] (dev)",
                None,
            ),
            id="include-not-string",
        ),
        pytest.param(
            (
                'dev = [{include = "x"}]',
                "dependency-groups.dev[0]",
                '{include = "x"} (table)',
                'a requirement string or {include-group = "<group>"}',
                None,
            ),
            id="bad-entry",
        ),
        pytest.param(
            (
                'dev = "pytest"',
                "dependency-groups.dev",
                '"pytest" (str)',
                "an array",
                None,
            ),
            id="group-not-array",
        ),
        pytest.param(
            (
                'dev = ["a"]\nDev = ["b"]',
                "dependency-groups.Dev",
                'a second group named "dev" after normalisation',
                "group names that are unique after PEP 503 normalisation",
                'it clashes with "dev"',
            ),
            id="duplicate-normalised",
        ),
    ],
)
def test_group_errors(load_error: LoadError, case: tuple[str, str, str, str, str | None]) -> None:
    groups, key, found, expected, hint = case
    error = load_error(f"[dependency-groups]\n{groups}\n{ENV}")
    assert (error.key, error.found, error.expected, error.hint) == (key, found, expected, hint)
    text = f"pyproject.toml: {key}: expected {expected}, found {found}"
    assert str(error) == (f"{text} ({hint})" if hint else text)


def test_dependency_groups_not_a_table(load_error: LoadError) -> None:
    error = load_error('dependency-groups = ["x"]\n' + ENV)
    assert (error.key, error.found, error.expected) == (
        "dependency-groups",
        '["x"] (array)',
        "a table of dependency groups",
    )


def test_broken_groups_that_no_env_uses_are_not_checked(load: Load) -> None:
    project = load('[dependency-groups]\ndocs = [{include-group = "nope"}]\n' + ENV)
    assert project.envs["dev"].dependencies == ()
