"""The preset: valid TOML of the [tool.corral] shape naming real handlers, and the
package's entry points naming the same functions."""

from __future__ import annotations

import importlib
import inspect
import tomllib
from pathlib import Path
from typing import Any

import corral_python

TOOLS = {"ruff", "mypy"}
ACTIONS = {
    "lint": ("corral_python.ruff:lint", "ruff"),
    "format": ("corral_python.ruff:format", "ruff"),
    "check-format": ("corral_python.ruff:check_format", "ruff"),
    "type-check": ("corral_python.mypy:type_check", "mypy"),
}
ENTRY_POINTS = {
    "ruff-lint": "corral_python.ruff:lint",
    "ruff-format": "corral_python.ruff:format",
    "ruff-check-format": "corral_python.ruff:check_format",
    "mypy": "corral_python.mypy:type_check",
}
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def load(source: str) -> Any:
    module, _, attribute = source.partition(":")
    return getattr(importlib.import_module(module), attribute)


def requirement_name(requirement: str) -> str:
    for i, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:i]
    return requirement


def test_preset_parses_and_names_existing_handlers() -> None:
    assert corral_python.preset_path().name == "preset.toml"
    assert corral_python.preset_path().is_file()
    preset = tomllib.loads(corral_python.preset_text())
    assert set(preset) == {"envs", "actions"}
    assert preset["envs"] == {
        "dev_no_runtime": {"dependencies": []},
        "runtime": {"install_project": True},
    }
    assert set(preset["actions"]) == set(ACTIONS)

    for action, (source, tool) in ACTIONS.items():
        table = preset["actions"][action]
        assert table["mode"] in ("sequential", "concurrent")
        (handler,) = table["handlers"]
        assert handler["source"] == source
        assert handler["env"] in preset["envs"]
        function = load(handler["source"])
        assert inspect.iscoroutinefunction(function), source
        names = [requirement_name(r) for r in handler["dependencies"]]
        assert tool in names, action
        assert "corral-python" in names, action
        assert set(names) <= TOOLS | {"corral-python"}
    # mypy needs the project and its runtime dependencies; ruff needs neither
    assert preset["actions"]["type-check"]["handlers"][0]["env"] == "runtime"
    assert preset["actions"]["lint"]["handlers"][0]["env"] == "dev_no_runtime"
    # formatters must not rewrite files concurrently
    assert preset["actions"]["format"]["mode"] == "sequential"


def test_entry_points_name_the_handlers() -> None:
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    entry_points = pyproject["project"]["entry-points"]["corral.handlers"]
    assert entry_points == ENTRY_POINTS
    for source in entry_points.values():
        assert inspect.iscoroutinefunction(load(source)), source
    assert pyproject["project"]["name"] == "corral-python"
