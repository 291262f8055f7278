"""Shared by the end-to-end tests: a workspace of projects with their own handler modules,
envs prepared once, and a WM opened around a test body."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from corral.workspace import WorkspaceManager


def make_handler_workspace(root: Path, names: Iterable[str], config: str, handlers: str) -> Path:
    """Projects ``names`` under ``root``, each with ``corral.toml`` = ``config`` and
    ``handlers.py`` = ``handlers``; every env of the workspace prepared (asserted)."""
    for name in names:
        project = root / name
        project.mkdir()
        (project / "corral.toml").write_text(config)
        (project / "handlers.py").write_text(handlers)

    async def prepare() -> None:
        async with await WorkspaceManager.open(root, wal=False) as wm:
            results = await wm.prepare_envs()
            assert all(r.status != "failed" for r in results), [r.error for r in results]

    asyncio.run(prepare())
    return root


def with_wm(
    root: Path, body: Callable[[WorkspaceManager], Awaitable[None]], *, wal: bool = True
) -> None:
    """Run ``body(wm)`` with a WM opened on ``root`` (closed after; 120 s limit)."""

    async def main() -> None:
        async with asyncio.timeout(120):
            async with await WorkspaceManager.open(root, wal=wal) as wm:
                await body(wm)

    asyncio.run(main())
