"""The server's workspace watcher with real inotify events (watchfiles), no server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from corral.server.watch import watch_workspace, watched_dirs


def _tree(root: Path) -> None:
    (root / "app" / "src").mkdir(parents=True)
    (root / "app" / "pyproject.toml").write_text("[tool.corral]\n")
    (root / "app" / ".corral" / "envs" / "dev" / "lib").mkdir(parents=True)
    (root / "node_modules" / "x").mkdir(parents=True)


def test_only_directories_outside_the_ignored_ones_are_watched(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert watched_dirs(tmp_path) == [tmp_path, tmp_path / "app", tmp_path / "app" / "src"]


class Seen:
    def __init__(self) -> None:
        self.batches: list[set[Path]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, paths: set[Path]) -> None:
        self.batches.append(paths)
        self.arrived.set()

    async def next(self, what: str) -> set[Path]:
        try:
            await asyncio.wait_for(self.arrived.wait(), 10)
        except TimeoutError:
            pytest.fail(f"no event for {what}")
        self.arrived.clear()
        batch = set().union(*self.batches)
        self.batches.clear()
        return batch


def test_config_edits_and_new_directories_are_reported_env_writes_are_not(
    tmp_path: Path,
) -> None:
    _tree(tmp_path)
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    seen = Seen()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_workspace(tmp_path, seen, stop=stop, debounce_ms=50))
    try:
        await asyncio.sleep(0.5)  # registered
        (tmp_path / "app" / ".corral" / "envs" / "dev" / "lib" / "pyproject.toml").write_text("")
        (tmp_path / "app" / "src" / "module.py").write_text("x = 1\n")
        config = tmp_path / "app" / "pyproject.toml"
        config.write_text("[tool.corral]\npresets = []\n")
        assert await seen.next("the config edit") == {config}

        nested = tmp_path / "new" / "deeper"
        nested.mkdir(parents=True)
        assert tmp_path / "new" in await seen.next("a new directory")
        await asyncio.sleep(0.5)  # walked again
        (nested / "corral.toml").write_text("")
        assert await seen.next("a config in the new directory") == {nested / "corral.toml"}
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 10)
