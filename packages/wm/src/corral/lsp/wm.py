"""The language server's Workspace Managers: one per Corral workspace an editor has open.

Each editor workspace folder maps to the Corral workspace around it (the root a ``corral``
command run there would use, :func:`corral.locate.find_root`); several folders may share
one. A :class:`WorkspaceLink` is the language server's line to that workspace's WM:

* served (the default): a session with the workspace's WM server, started when none runs,
  exactly as the CLI does (:func:`corral.client.connect`), so the editor, the terminal and
  agents share the same warm runners. When the server goes away (stopped, restarted,
  killed), the next request connects again (starting a new one) and is retried once.
* embedded (``--no-server``, ``CORRAL_SERVER=0``, or ``CI``): a WM inside the language
  server's process, closed when the language server shuts down.

Only the embedded path imports the Workspace Manager (lazily, through
:func:`corral.cli.backend.embedded`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from corral_protocol.client import (
    ReloadResult,
    RestartOutcome,
    RestartRequest,
    RunReport,
    RunRequest,
    StatusResult,
)
from corral_protocol.messages import ClientInfo

from ..client.session import ServerGoneError
from ..locate import ProjectTree, find_root
from ..sinks import RunSinks

__all__ = ["Backend", "WorkspaceLink", "Workspaces"]

T = TypeVar("T")
log = logging.getLogger("corral.lsp")


class Backend(Protocol):
    """What the language server asks of a WM (the client protocol's methods)."""

    async def run(self, request: RunRequest, sinks: RunSinks) -> RunReport: ...

    async def status(self) -> StatusResult: ...

    async def restart(self, request: RestartRequest) -> RestartOutcome: ...

    async def reload(self) -> ReloadResult: ...


class _Served:
    def __init__(self, session: Any) -> None:
        self.session = session

    async def run(self, request: RunRequest, sinks: RunSinks) -> RunReport:
        report: RunReport = await self.session.run(request, sinks)
        return report

    async def status(self) -> StatusResult:
        status: StatusResult = await self.session.status()
        return status

    async def restart(self, request: RestartRequest) -> RestartOutcome:
        outcome: RestartOutcome = await self.session.restart(request)
        return outcome

    async def reload(self) -> ReloadResult:
        result: ReloadResult = await self.session.reload()
        return result


class _Embedded:
    def __init__(self, backend: Any) -> None:
        self.backend = backend

    async def run(self, request: RunRequest, sinks: RunSinks) -> RunReport:
        report: RunReport = await self.backend.run(request, sinks)
        return report

    async def status(self) -> StatusResult:
        status: StatusResult = await self.backend.status()
        return status

    async def restart(self, request: RestartRequest) -> RestartOutcome:
        outcome: RestartOutcome = await self.backend.restart(request)
        return outcome

    async def reload(self) -> ReloadResult:
        result: ReloadResult = await self.backend.service.reload()
        return result


class WorkspaceLink:
    """The language server's line to one Corral workspace's WM (see the module docstring).
    Opened on first use; :meth:`call` reconnects once when a served WM went away."""

    def __init__(
        self, root: Path, *, served: bool, version: str, notice: Callable[[str], None]
    ) -> None:
        self.root = root
        self.served = served
        self.version = version
        self.notice = notice
        self.tree = ProjectTree.find(root)
        self._backend: Backend | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    def project_of(self, path: Path) -> Path | None:
        """The project holding ``path`` (None: outside every project of this workspace)."""
        return self.tree.project_of(path)

    def refresh_projects(self) -> None:
        """Find the workspace's projects again (a config file appeared or went away)."""
        self.tree = ProjectTree.find(self.root)

    async def _open(self) -> Backend:
        async with self._lock:
            if self._backend is not None:
                return self._backend
            stack = contextlib.AsyncExitStack()
            try:
                if self.served:
                    from ..client.connect import connect  # noqa: PLC0415

                    session = await connect(
                        self.root,
                        client=ClientInfo(name="corral-lsp", version=self.version),
                        notice=self.notice,
                    )
                    stack.push_async_callback(session.aclose)
                    backend: Backend = _Served(session)
                else:
                    from ..cli.backend import embedded  # noqa: PLC0415

                    backend = _Embedded(await stack.enter_async_context(embedded(self.root)))
            except BaseException:
                await stack.aclose()
                raise
            self._stack = stack
            self._backend = backend
            return backend

    async def _drop(self) -> None:
        stack, self._stack, self._backend = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()

    async def call(self, method: Callable[[Backend], Awaitable[T]]) -> T:
        """``method(backend)``; when a served WM went away meanwhile, connect again (a new
        server starts) and call once more."""
        backend = await self._open()
        try:
            return await method(backend)
        except ServerGoneError:
            if not self.served:
                raise
            log.warning("the Corral server of %s went away: connecting again", self.root)
            await self._drop()
            return await method(await self._open())

    async def aclose(self) -> None:
        """Close the session (or the embedded WM and its runners)."""
        async with self._lock:
            await self._drop()


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
