"""``pyproject_declares_corral``: which ``pyproject.toml`` contents make a project."""

from __future__ import annotations

from corral.locate import pyproject_declares_corral


def test_tables_inline_tables_and_other_tools() -> None:
    assert pyproject_declares_corral(b"[tool.corral]\npresets = []\n")
    assert pyproject_declares_corral(b"[tool]\ncorral = {presets = []}\n")
    assert not pyproject_declares_corral(b"[tool.ruff]\nline-length = 88\n")
    assert not pyproject_declares_corral(b'[project]\nname = "corral-fan"\n')  # only a name


def test_invalid_toml_counts_only_with_a_corral_header() -> None:
    assert pyproject_declares_corral(b"[tool.corral]\npresets = [\n")
    assert not pyproject_declares_corral(b'[project]\nname = "corral" x\n')


def test_toml_nested_too_deep_to_parse_counts_so_the_error_is_reported() -> None:
    depth = 3000
    data = b"[tool]\ncorral = " + b"{a = " * depth + b"1" + b"}" * depth + b"\n"
    assert pyproject_declares_corral(data)
