"""Project discovery: nesting, skipped directories, venvs, symlinks, non-projects."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from corral.config import discover_projects

CORRAL = "[tool.corral]\n"


def make(root: Path, relative: str, name: str = "pyproject.toml", text: str = CORRAL) -> Path:
    directory = root / relative
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def relative(root: Path, found: list[Path]) -> list[str]:
    return [path.relative_to(root.resolve()).as_posix() for path in found]


def test_nested_projects_root_included_sorted(tmp_path: Path) -> None:
    make(tmp_path, ".")
    make(tmp_path, "b/inner", name="corral.toml", text="")
    make(tmp_path, "b")
    make(tmp_path, "a/deep/er/still")
    make(tmp_path, "a-sibling")
    found = discover_projects(tmp_path)
    assert relative(tmp_path, found) == [".", "a/deep/er/still", "a-sibling", "b", "b/inner"]
    assert all(path.is_absolute() for path in found)
    assert found == sorted(found)


def test_skipped_directories(tmp_path: Path) -> None:
    make(tmp_path, "app")
    for skipped in [
        ".git/x",
        ".hg",
        ".svn",
        ".corral/envs/dev",
        "node_modules/pkg",
        "app/__pycache__",
        ".tox/py311",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "build/lib",
        "dist",
        ".hidden/project",
        "app/.venv/lib/site-packages/pkg",
    ]:
        make(tmp_path, skipped)
    assert relative(tmp_path, discover_projects(tmp_path)) == ["app"]


def test_any_directory_with_pyvenv_cfg_is_a_venv(tmp_path: Path) -> None:
    venv = make(tmp_path, "env", name="pyvenv.cfg", text="home = /usr/bin\n")
    make(venv, ".")
    make(venv, "lib/python3.11/site-packages/some_pkg")
    make(tmp_path, "project")
    assert relative(tmp_path, discover_projects(tmp_path)) == ["project"]


def test_pyproject_without_tool_corral_is_not_a_project(tmp_path: Path) -> None:
    make(tmp_path, "plain", text='[project]\nname = "plain"\n')
    make(tmp_path, "mentions", text='[project]\nname = "x"\ndependencies = ["corral"]\n')
    make(tmp_path, "other-tool", text="[tool.corralled]\nx = 1\n")
    make(tmp_path, "dotted", text='tool.corral.presets = ["p"]\n')
    make(tmp_path, "inline", text='tool = { corral = { presets = ["p"] } }\n')
    make(tmp_path, "broken", text="[tool.corral]\nactions = {\n")
    make(tmp_path, "broken-unrelated", text='[project]\nname = "corral-x\n')
    assert relative(tmp_path, discover_projects(tmp_path)) == ["broken", "dotted", "inline"]


def test_symlinked_directories_are_not_followed(tmp_path: Path) -> None:
    make(tmp_path, "real")
    (tmp_path / "real" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path / "self-target", target_is_directory=True)
    (tmp_path / "self-target").symlink_to(tmp_path / "self", target_is_directory=True)
    started = time.perf_counter()
    assert relative(tmp_path, discover_projects(tmp_path)) == ["real"]
    assert time.perf_counter() - started < 1.0


def test_symlinked_root_is_resolved(tmp_path: Path) -> None:
    make(tmp_path, "ws/app")
    (tmp_path / "link").symlink_to(tmp_path / "ws", target_is_directory=True)
    assert discover_projects(tmp_path / "link") == [(tmp_path / "ws" / "app").resolve()]


def test_unreadable_directories_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, "ok")
    locked = make(tmp_path, "locked/inner").parent
    if sys.platform != "win32" and os.geteuid() == 0:  # root reads everything: fake the fault
        real_scandir = os.scandir

        def scandir(path: str) -> Any:
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", path)
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    locked.chmod(0)
    try:
        assert relative(tmp_path, discover_projects(tmp_path)) == ["ok"]
    finally:
        locked.chmod(0o755)


def test_missing_root_finds_nothing(tmp_path: Path) -> None:
    assert discover_projects(tmp_path / "missing") == []


def test_two_thousand_directories_quickly(tmp_path: Path) -> None:
    for i in range(40):
        for j in range(50):
            (tmp_path / f"d{i}" / f"e{j}").mkdir(parents=True)
        make(tmp_path, f"d{i}")
        make(tmp_path, f"d{i}/e0", text='[project]\nname = "x"\n')
    best = min(_timed(tmp_path) for _ in range(3))
    assert len(discover_projects(tmp_path)) == 40
    assert best < 0.5  # the bench (bench/discovery.py) measures it properly: ~10 ms


def _timed(root: Path) -> float:
    started = time.perf_counter()
    discover_projects(root)
    return time.perf_counter() - started
