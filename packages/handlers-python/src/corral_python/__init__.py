"""Corral handlers and preset for Python projects (ruff, mypy).

Handlers (each an async :class:`corral_runner.sdk.ActionContext` handler):

- ``corral_python.ruff:lint`` (entry point ``ruff-lint``): ``ruff check``;
- ``corral_python.ruff:format`` (``ruff-format``): ``ruff format``, as edits or in place;
- ``corral_python.ruff:check_format`` (``ruff-check-format``): ``ruff format --check``;
- ``corral_python.mypy:type_check`` (``mypy``): ``mypy``.

Each returns ``{"diagnostics": [...], "summary": {<tool>: {...}}}`` (``format`` adds
``edits`` or ``changed``); see :mod:`corral_python.diagnostics`. The preset
(:func:`preset_path`, :func:`preset_text`) wires them to the actions ``lint``, ``format``,
``check-format`` and ``type-check``.

This module imports nothing heavy: reading the preset does not import the handlers.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PRESET_FILE", "preset_path", "preset_text"]

PRESET_FILE = "preset.toml"


def preset_path() -> Path:
    """The preset file shipped in this package: TOML with top-level ``envs`` and
    ``actions`` tables, shaped like a project's ``[tool.corral]``."""
    return Path(__file__).with_name(PRESET_FILE)


def preset_text() -> str:
    """The preset's TOML text."""
    return preset_path().read_text(encoding="utf-8")
