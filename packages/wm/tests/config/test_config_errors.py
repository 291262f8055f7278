"""Every way a project's configuration can be wrong names the file, key, found and expected."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from corral.config import ConfigError, ProjectConfig, load_project

LoadError = Callable[..., ConfigError]
ENV_EXPECTED = (
    "an environment name: letters, digits, '.', '_' or '-', starting with a letter or "
    "digit, at most 100 characters"
)
HANDLER = """
[tool.corral.actions.lint]
[[tool.corral.actions.lint.handlers]]
name = "ruff"
source = "corral_python.ruff:lint"
"""
H0 = "tool.corral.actions.lint.handlers[0]"


def message(key: str, expected: str, found: str, hint: str | None = None) -> str:
    text = f"pyproject.toml: {key}: expected {expected}, found {found}"
    return f"{text} ({hint})" if hint else text


# (id, pyproject.toml text, key, found, expected, hint)
CASES = [
    # [tool.corral] itself and its keys
    ("corral-not-table", "[tool]\ncorral = 1", "tool.corral", "1 (int)", "a table", None),
    (
        "unknown-top-key",
        "[tool.corral]\nactoins = {}",
        "tool.corral.actoins",
        "an unknown key",
        "one of the known keys (presets, actions, envs, runner)",
        'did you mean "actions"?',
    ),
    (
        "presets-not-array",
        '[tool.corral]\npresets = "corral-python"',
        "tool.corral.presets",
        '"corral-python" (str)',
        "an array of preset names (strings)",
        'write an array: ["corral-python"]',
    ),
    (
        "preset-not-string",
        '[tool.corral]\npresets = ["a", 1]',
        "tool.corral.presets[1]",
        "1 (int)",
        "a string",
        "put it in quotes",
    ),
    (
        "preset-empty",
        '[tool.corral]\npresets = [""]',
        "tool.corral.presets[0]",
        '"" (str)',
        "a non-empty string",
        None,
    ),
    (
        "preset-twice",
        '[tool.corral]\npresets = ["a", "b", "a"]',
        "tool.corral.presets[2]",
        '"a" (str)',
        "each preset listed once",
        "already listed at presets[0]",
    ),
    # actions
    (
        "actions-not-table",
        "[tool.corral]\nactions = []",
        "tool.corral.actions",
        "[] (array)",
        "a table of actions",
        None,
    ),
    (
        "action-not-table",
        "[tool.corral.actions]\nlint = true",
        "tool.corral.actions.lint",
        "true (bool)",
        "a table",
        None,
    ),
    (
        "action-empty-name",
        '[tool.corral.actions.""]\nmode = "sequential"',
        'tool.corral.actions.""',
        'an empty action name ""',
        "a non-empty action name",
        None,
    ),
    (
        "unknown-action-key",
        "[tool.corral.actions.lint]\nhandler = []",
        "tool.corral.actions.lint.handler",
        "an unknown key",
        "one of the known keys (mode, handlers)",
        'did you mean "handlers"?',
    ),
    (
        "bad-mode",
        '[tool.corral.actions.lint]\nmode = "concurent"',
        "tool.corral.actions.lint.mode",
        '"concurent" (str)',
        'one of "sequential", "concurrent"',
        'did you mean "concurrent"?',
    ),
    (
        "mode-not-string",
        "[tool.corral.actions.lint]\nmode = 2",
        "tool.corral.actions.lint.mode",
        "2 (int)",
        'one of "sequential", "concurrent"',
        None,
    ),
    (
        "handlers-single-brackets",
        '[tool.corral.actions.lint.handlers]\nname = "ruff"',
        "tool.corral.actions.lint.handlers",
        '{name = "ruff"} (table)',
        "an array of tables",
        "write each handler as [[...handlers]] (double brackets)",
    ),
    (
        "handler-not-table",
        "[tool.corral.actions.lint]\nhandlers = [1]",
        H0,
        "1 (int)",
        "a table",
        None,
    ),
    # handler fields
    (
        "handler-no-name",
        '[[tool.corral.actions.lint.handlers]]\nsource = "m:f"',
        f"{H0}.name",
        "nothing",
        "a handler name (a non-empty string)",
        None,
    ),
    (
        "handler-empty-name",
        '[[tool.corral.actions.lint.handlers]]\nname = " "\nsource = "m:f"',
        f"{H0}.name",
        '" " (str)',
        "a handler name (a non-empty string)",
        None,
    ),
    (
        "handler-source-type",
        '[[tool.corral.actions.lint.handlers]]\nname = "ruff"\nsource = ["m:f"]',
        f"{H0}.source",
        '["m:f"] (array)',
        "a string",
        None,
    ),
    (
        "handler-env-type",
        HANDLER + "env = 42",
        f"{H0}.env",
        "42 (int)",
        "a string",
        "put it in quotes",
    ),
    (
        "handler-env-name",
        HANDLER + 'env = "-dev"',
        f"{H0}.env",
        '"-dev" (str)',
        ENV_EXPECTED,
        None,
    ),
    (
        "handler-config-type",
        HANDLER + 'config = "E,F"',
        f"{H0}.config",
        '"E,F" (str)',
        "a table",
        None,
    ),
    (
        "handler-dependencies-string",
        HANDLER + 'dependencies = "ruff>=0.8"',
        f"{H0}.dependencies",
        '"ruff>=0.8" (str)',
        "an array of non-empty strings",
        'write an array: ["ruff>=0.8"]',
    ),
    (
        "handler-dependency-type",
        HANDLER + 'dependencies = ["ruff", {name = "x"}]',
        f"{H0}.dependencies[1]",
        '{name = "x"} (table)',
        "a string",
        None,
    ),
    (
        "handler-enabled-type",
        HANDLER + 'enabled = "no"',
        f"{H0}.enabled",
        '"no" (str)',
        "a boolean (true or false)",
        None,
    ),
    (
        "handler-unknown-key",
        HANDLER + 'nmae = "x"',
        f"{H0}.nmae",
        "an unknown key",
        "one of the known keys (name, source, env, config, dependencies, enabled)",
        'did you mean "name"?',
    ),
    (
        "handler-unknown-key-hint",
        HANDLER + 'deps = ["x"]',
        f"{H0}.deps",
        "an unknown key",
        "one of the known keys (name, source, env, config, dependencies, enabled)",
        'did you mean "dependencies"?',
    ),
    (
        "handler-duplicate",
        HANDLER + '[[tool.corral.actions.lint.handlers]]\nname = "ruff"\nsource = "x:y"',
        "tool.corral.actions.lint.handlers[1].name",
        '"ruff" (str)',
        "a handler name unique within the action",
        "handlers[0] already has this name",
    ),
    (
        "handler-without-source",
        '[[tool.corral.actions.lint.handlers]]\nname = "ruff"',
        f"{H0}.source",
        "nothing",
        "a handler source string (module:attr or entrypoint:NAME)",
        "only a handler that overrides a preset's handler of the same name may leave it "
        "out, and no preset defines ruff in action lint",
    ),
    # envs
    (
        "envs-not-table",
        "[tool.corral]\nenvs = 1",
        "tool.corral.envs",
        "1 (int)",
        "a table of environments",
        None,
    ),
    (
        "env-not-table",
        '[tool.corral.envs]\ndev = "x"',
        "tool.corral.envs.dev",
        '"x" (str)',
        "a table",
        None,
    ),
    (
        "env-bad-name",
        '[tool.corral.envs."my env"]\npython = "3.12"',
        'tool.corral.envs."my env"',
        '"my env" (str)',
        ENV_EXPECTED,
        None,
    ),
    (  # a newline after the name: once accepted here and a traceback later (issue 19)
        "env-name-trailing-newline",
        '[tool.corral.envs."dev\\n"]\npython = "3.12"',
        'tool.corral.envs."dev\\n"',
        '"dev\\n" (str)',
        ENV_EXPECTED,
        None,
    ),
    (
        "env-name-too-long",
        f'[tool.corral.envs.{"e" * 101}]\npython = "3.12"',
        f"tool.corral.envs.{'e' * 101}",
        f'"{"e" * 58}… (str)',  # found values are shortened
        ENV_EXPECTED,
        None,
    ),
    (
        "env-unknown-key",
        '[tool.corral.envs.dev]\ndependency = ["x"]',
        "tool.corral.envs.dev.dependency",
        "an unknown key",
        "one of the known keys (dependencies, python, runner, install_project, kind)",
        'did you mean "dependencies"?',
    ),
    (
        "env-unknown-kind",
        '[tool.corral.envs.web]\nkind = "nod"',
        "tool.corral.envs.web.kind",
        '"nod" (str)',
        'one of "python", "node"',
        'did you mean "node"?',
    ),
    (
        "env-kind-not-string",
        "[tool.corral.envs.web]\nkind = 1",
        "tool.corral.envs.web.kind",
        "1 (int)",
        'one of "python", "node"',
        None,
    ),
    (
        "env-node-with-python",
        '[tool.corral.envs.web]\nkind = "node"\npython = "3.12"',
        "tool.corral.envs.web.python",
        '"3.12" (str)',
        "nothing: 'python' applies to kind = \"python\" envs only",
        'remove it, or drop kind = "node"',
    ),
    (
        "env-node-workspace",
        '[tool.corral.envs.dev_workspace]\nkind = "node"',
        "tool.corral.envs.dev_workspace.kind",
        '"node" (str)',
        '"python"',
        "the dev_workspace environment runs the presets: it is always a Python env",
    ),
    (
        "env-python-number",
        "[tool.corral.envs.dev]\npython = 3.12",
        "tool.corral.envs.dev.python",
        "3.12 (float)",
        "a string",
        "put it in quotes",
    ),
    (
        "env-runner-string",
        '[tool.corral.envs.js]\nrunner = "node runner.js"',
        "tool.corral.envs.js.runner",
        '"node runner.js" (str)',
        "a non-empty array of strings (an argv list)",
        'write an array: ["node", "runner.js"]',
    ),
    (
        "env-runner-empty",
        "[tool.corral.envs.js]\nrunner = []",
        "tool.corral.envs.js.runner",
        "[] (array)",
        "a non-empty array of strings (an argv list)",
        None,
    ),
    (
        "env-dependencies-item",
        '[tool.corral.envs.dev]\ndependencies = ["ok", ""]',
        "tool.corral.envs.dev.dependencies[1]",
        '"" (str)',
        "a non-empty string",
        None,
    ),
]


@pytest.mark.parametrize("case", [pytest.param(case[1:], id=case[0]) for case in CASES])
def test_invalid_value_names_file_key_found_expected(
    load_error: LoadError, case: tuple[str, str, str, str, str | None]
) -> None:
    text, key, found, expected, hint = case
    error = load_error(text)
    assert (error.key, error.found, error.expected, error.hint) == (key, found, expected, hint)
    assert error.file.name == "pyproject.toml"
    assert error.file.is_absolute()
    assert str(error) == message(key, expected, found, hint)


R = "tool.corral.runner"


RUNNER_CASES = [
    ("runner-not-table", "[tool.corral]\nrunner = 5", R, "5 (int)", "a table"),
    ("zero", "hello_timeout = 0", f"{R}.hello_timeout", "0 (int)", "a number > 0"),
    ("negative", "ping_timeout = -1.5", f"{R}.ping_timeout", "-1.5 (float)", "a number > 0"),
    ("string", 'shutdown_timeout = "3"', f"{R}.shutdown_timeout", '"3" (str)', "a number > 0"),
    ("bool", "ping_interval = true", f"{R}.ping_interval", "true (bool)", "a number > 0"),
    ("nan", "unhealthy_grace = nan", f"{R}.unhealthy_grace", "nan (float)", "a number > 0"),
    ("inf", "terminate_timeout = inf", f"{R}.terminate_timeout", "inf (float)", "a number > 0"),
    ("idle", "idle_shutdown = -1", f"{R}.idle_shutdown", "-1 (int)", "a number >= 0"),
    ("restart", "[tool.corral.runner]\nrestart = []", f"{R}.restart", "[] (array)", "a table"),
    (
        "backoff-empty",
        "restart.backoff = []",
        f"{R}.restart.backoff",
        "[] (array)",
        "a non-empty array of numbers",
    ),
    (
        "backoff-number",
        "restart.backoff = 1",
        f"{R}.restart.backoff",
        "1 (int)",
        "a non-empty array of numbers",
    ),
    (
        "backoff-item",
        "restart.backoff = [1, -2]",
        f"{R}.restart.backoff[1]",
        "-2 (int)",
        "a number >= 0",
    ),
    (
        "jitter",
        "restart.jitter = 1.5",
        f"{R}.restart.jitter",
        "1.5 (float)",
        "a number between 0 and 1",
    ),
    (
        "crashes",
        "restart.max_crashes = 0",
        f"{R}.restart.max_crashes",
        "0 (int)",
        "an integer >= 1",
    ),
    (
        "crashes-float",
        "restart.max_crashes = 2.5",
        f"{R}.restart.max_crashes",
        "2.5 (float)",
        "an integer >= 1",
    ),
    ("window", "restart.window = 0", f"{R}.restart.window", "0 (int)", "a number > 0"),
    (
        "stable",
        "restart.stable_after = -3",
        f"{R}.restart.stable_after",
        "-3 (int)",
        "a number > 0",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "found", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in RUNNER_CASES],
)
def test_invalid_runner_settings(
    load_error: LoadError, text: str, key: str, found: str, expected: str
) -> None:
    if not text.startswith("["):
        text = f"[tool.corral.runner]\n{text}"
    error = load_error(text)
    assert (error.key, error.found, error.expected) == (key, found, expected)
    assert str(error) == message(key, expected, found)


@pytest.mark.parametrize(
    ("text", "key", "known", "hint"),
    [
        ("helo_timeout = 1", f"{R}.helo_timeout", "hello_timeout, initialize_timeout", "hello_"),
        ("restart.jiter = 0", f"{R}.restart.jiter", "backoff, jitter, max_crashes", "jitter"),
        ("colour = 1", f"{R}.colour", "hello_timeout", None),
    ],
)
def test_unknown_runner_keys_list_known_keys(
    load_error: LoadError, text: str, key: str, known: str, hint: str | None
) -> None:
    error = load_error(f"[tool.corral.runner]\n{text}")
    assert error.key == key
    assert error.found == "an unknown key"
    assert error.expected.startswith(f"one of the known keys ({known}")
    if hint is None:
        assert error.hint is None
    else:
        assert error.hint is not None
        assert hint in error.hint


def test_toml_nested_too_deep_to_parse_is_a_config_error(load_error: LoadError) -> None:
    """tomllib recurses into inline tables: 3,000 levels once gave a RecursionError
    traceback of 2,986 lines. A project found only through that table is still found."""
    depth = 3000
    error = load_error("[tool]\ncorral = " + "{a = " * depth + "1" + "}" * depth + "\n")
    assert error.key == ""
    assert error.found == "tables or arrays nested too deeply to parse"
    assert error.expected == "TOML nested at most a few hundred levels"
    assert error.file.name == "pyproject.toml"


def test_toml_syntax_error_has_line_and_column(load_error: LoadError) -> None:
    error = load_error('[project]\nname = "p"\n\n[tool.corral]\npresets = ["a" "b"]\n')
    assert (error.line, error.column) == (5, 16)
    assert error.key == ""
    assert error.expected == "valid TOML"
    assert error.found.startswith("a syntax error (")
    assert str(error) == f"pyproject.toml:5:16: expected valid TOML, found {error.found}"


def test_toml_syntax_error_at_end_of_document(load_error: LoadError) -> None:
    error = load_error("[tool.corral]\npresets = ")
    assert (error.line, error.column) == (2, 11)
    assert error.found == "a syntax error (invalid value)"


def test_syntax_error_in_corral_toml_names_it(load_error: LoadError) -> None:
    error = load_error("actions = {\n", name="corral.toml")
    assert error.file.name == "corral.toml"
    assert str(error).startswith("corral.toml:1:")


def test_file_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_bytes(b'presets = ["\xff"]\n')
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert caught.value.expected == "a UTF-8 text file"
    assert caught.value.found.startswith("bytes that are not UTF-8")


def test_corral_toml_with_tool_corral_table(load_error: LoadError) -> None:
    error = load_error('[tool.corral]\npresets = ["x"]', name="corral.toml")
    assert error.key == "tool"
    assert error.hint == "in corral.toml the keys of [tool.corral] go at the top level"
    assert str(error) == (
        "corral.toml: tool: expected one of the known keys (presets, actions, envs, runner), "
        "found an unknown key (in corral.toml the keys of [tool.corral] go at the top level)"
    )


def test_corral_toml_keys_have_no_prefix(load_error: LoadError) -> None:
    error = load_error('[actions.lint]\nmode = "fast"', name="corral.toml")
    assert error.key == "actions.lint.mode"
    assert str(error).startswith("corral.toml: actions.lint.mode: expected one of")


def test_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    error = caught.value
    assert error.file == tmp_path.resolve() / "pyproject.toml"
    assert (error.key, error.found) == ("tool.corral", "nothing")
    assert error.expected == "a [tool.corral] table in pyproject.toml or a corral.toml file"


def test_error_names_file_relative_to_workspace_root(tmp_path: Path) -> None:
    project = tmp_path / "libs" / "a"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.corral]\nactions = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project(project, workspace_root=tmp_path)
    assert caught.value.display == "libs/a/pyproject.toml"
    assert str(caught.value).startswith("libs/a/pyproject.toml: tool.corral.actions: expected")
    with pytest.raises(ConfigError) as outside:
        load_project(project, workspace_root=tmp_path / "elsewhere")
    assert outside.value.display == "pyproject.toml"


def test_found_values_are_shortened(load_error: LoadError) -> None:
    error = load_error(f'[tool.corral.actions.lint]\nmode = "{"x" * 200}"')
    assert len(error.found) < 80
    assert error.found.endswith("… (str)")


def test_config_tables_are_free_form(load: Callable[..., ProjectConfig]) -> None:
    config = load(f'{HANDLER}config = {{ anything = {{ goes = [1, "two", {{ three = 3 }}] }} }}')
    (handler,) = config.actions["lint"].handlers
    assert handler.config == {"anything": {"goes": [1, "two", {"three": 3}]}}


def test_error_survives_pickling(load_error: LoadError) -> None:
    error = load_error("[tool.corral]\nactoins = {}")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes)
    assert str(copy) == str(error)
    assert (copy.file, copy.key, copy.hint) == (error.file, error.key, error.hint)
