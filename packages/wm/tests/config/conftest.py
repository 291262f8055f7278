"""Helpers for the configuration tests: write project files, load them, catch errors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from corral.config import ConfigError, ProjectConfig, load_project

WriteFile = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """``write(text, name="pyproject.toml", directory="")`` -> the file (text dedented)."""

    def _write(text: str, name: str = "pyproject.toml", directory: str = "") -> Path:
        folder = tmp_path / directory
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / name
        file.write_text(textwrap.dedent(text), encoding="utf-8")
        return file

    return _write


@pytest.fixture
def load(write: WriteFile) -> Callable[..., ProjectConfig]:
    """``load(text, name="pyproject.toml")`` -> the project in tmp_path."""

    def _load(text: str, name: str = "pyproject.toml") -> ProjectConfig:
        return load_project(write(text, name).parent)

    return _load


@pytest.fixture
def load_error(write: WriteFile) -> Callable[..., ConfigError]:
    """``load_error(text, name="pyproject.toml")`` -> the ConfigError loading it raises."""

    def _load_error(text: str, name: str = "pyproject.toml") -> ConfigError:
        directory = write(text, name).parent
        with pytest.raises(ConfigError) as caught:
            load_project(directory)
        return caught.value

    return _load_error
