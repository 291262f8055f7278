"""Fixtures for the corral-python tests: a small sample project and a configure helper.

The handlers are exercised through the real runner (``runner_harness``), which runs with
this interpreter, so the real ruff and mypy of the dev environment are the tools.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from corral_protocol.messages import ActionConfig, ConfigureParams, ConfigureResult, HandlerSpec

LONG_LINE = 'MESSAGE = "' + "x" * 90 + '"\n'

SAMPLE_FILES = {
    "pyproject.toml": (
        '[project]\nname = "sample"\nversion = "0"\n\n'
        "[tool.ruff]\nline-length = 88\n\n"
        '[tool.ruff.lint]\nselect = ["E", "F"]\n'
    ),
    "app/__init__.py": "",
    # F401 on line 1 (`os`, columns 8-10, 1-based), E501 on line 4.
    "app/unused.py": "import os\n\n\n" + LONG_LINE,
    # Lint-clean, but not formatted the way ruff formats it.
    "app/messy.py": "def add(a,b):\n    return a+b\n\n\nVALUES = [1,2,\n  3]\n",
    # One type error: `return x` (line 2, columns 11-12, 0-based) returns int, not str.
    "app/typed.py": "def name(x: int) -> str:\n    return x\n",
}


WriteTree = Callable[[Path, dict[str, str]], Path]


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def write_tree() -> WriteTree:
    """``write_tree(root, {relative path: text})`` writes the files, returns ``root``."""
    return _write_tree


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    """A project with one lint problem file, one badly formatted file, one type error."""
    return _write_tree(tmp_path / "sample", SAMPLE_FILES)


@pytest.fixture
def long_line() -> str:
    """The line of ``app/unused.py`` that is too long (E501), with its newline."""
    return LONG_LINE


def spec(name: str, source: str, config: dict[str, Any] | None = None) -> HandlerSpec:
    """A handler of an action configuration."""
    return HandlerSpec(name=name, source=source, config=config or {})


Configure = Callable[..., Awaitable[ConfigureResult]]

HandlerEntry = tuple[str, str] | tuple[str, str, dict[str, Any]]


@pytest.fixture
def configure() -> Configure:
    """``await configure(runner, {"action": [(name, source[, config]), ...]}, mode=...)``:
    ``runner/configure`` with handler configs (the harness's helper has none); every
    handler must load."""

    async def _configure(
        runner: Any, actions: dict[str, list[HandlerEntry]], *, mode: str = "sequential"
    ) -> ConfigureResult:
        config = {
            action: ActionConfig(handlers=[spec(*e) for e in handlers], mode=mode)  # type: ignore[arg-type]
            for action, handlers in actions.items()
        }
        result: ConfigureResult = await runner.conn.request(
            "runner/configure", ConfigureParams(actions=config), result_type=ConfigureResult
        )
        failed = [h for h in result.handlers if h.status != "loaded"]
        assert not failed, failed
        return result

    return _configure
