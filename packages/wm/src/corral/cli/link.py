"""A front end's line to one Corral workspace's Workspace Manager, for long-lived front ends
(the language server, the MCP server) that make many requests over their life.

* served (the default): a session with the workspace's WM server, started when none runs,
  exactly as the CLI does (:func:`corral.client.connect`), so editors, terminals and agents
  share the same warm runners. When the server goes away (stopped, restarted, killed), the
  next request connects again (starting a new one) and is retried once.
* embedded (``--no-server``, ``CORRAL_SERVER=0``, or ``CI``): a WM inside the front end's
  process, closed with it.

Only the embedded path imports the Workspace Manager (lazily, through
:func:`corral.cli.backend.embedded`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from corral_protocol.messages import ClientInfo

from ..client.session import ServerGoneError
from ..locate import ProjectTree
from .backend import Backend, embedded, session_backend

__all__ = ["Backend", "WorkspaceLink"]

T = TypeVar("T")
log = logging.getLogger("corral.link")


class WorkspaceLink:
    """A long-lived front end's line to one Corral workspace's WM (see the module docstring).
    Opened on first use; :meth:`call` reconnects once when a served WM went away."""

    def __init__(
        self,
        root: Path,
        *,
        served: bool,
        version: str,
        notice: Callable[[str], None],
        client_name: str = "corral-lsp",
    ) -> None:
        self.root = root
        self.client_name = client_name
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
                        client=ClientInfo(name=self.client_name, version=self.version),
                        notice=self.notice,
                    )
                    stack.push_async_callback(session.aclose)
                    backend: Backend = session_backend(session)
                else:
                    backend = await stack.enter_async_context(embedded(self.root))
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
