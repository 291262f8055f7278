"""The language server's Workspace Managers: one per Corral workspace an editor has open.

Each editor workspace folder maps to the Corral workspace around it (the root a ``corral``
command run there would use, :func:`corral.locate.find_root`); several folders may share
one. A :class:`~corral.cli.link.WorkspaceLink` is the language server's line to that
workspace's WM (served or embedded, reconnecting when a served WM went away).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from ..cli.link import Backend, WorkspaceLink
from ..locate import find_root

__all__ = ["Backend", "WorkspaceLink", "Workspaces"]

log = logging.getLogger("corral.lsp")


class Workspaces:
    """The links of the language server, one per Corral workspace root, and which root
    serves which file."""

    def __init__(self, *, served: bool, version: str, notice: Callable[[str], None]) -> None:
        self.served = served
        self.version = version
        self.notice = notice
        self.links: dict[Path, WorkspaceLink] = {}
        self.folders: dict[Path, Path] = {}
        """Editor workspace folder -> Corral workspace root."""

    def add_folder(self, folder: Path) -> WorkspaceLink:
        folder = folder.absolute()
        root = find_root(folder)
        self.folders[folder] = root
        link = self.links.get(root)
        if link is None:
            link = WorkspaceLink(root, served=self.served, version=self.version, notice=self.notice)
            self.links[root] = link
        return link

    async def remove_folder(self, folder: Path) -> None:
        root = self.folders.pop(folder, None)  # absolute: from a file URI
        if root is not None and root not in self.folders.values():
            link = self.links.pop(root, None)
            if link is not None:
                await link.aclose()

    def link_for(self, path: Path) -> tuple[WorkspaceLink, Path] | None:
        """The link serving ``path`` and the project holding it (innermost folder first),
        or None for a file outside every project of every folder."""
        path = path.absolute()
        for folder in sorted(self.folders, key=lambda f: len(f.parts), reverse=True):
            if not path.is_relative_to(folder):
                continue
            link = self.links[self.folders[folder]]
            project = link.project_of(path)
            if project is not None:
                return link, project
        return None

    async def aclose(self) -> None:
        links = list(self.links.values())
        self.links.clear()
        self.folders.clear()
        await asyncio.gather(*(link.aclose() for link in links), return_exceptions=True)
