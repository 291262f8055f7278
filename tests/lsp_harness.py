"""Shared by the language server tests: a pytest-lsp client driving a real ``corral lsp``.

:func:`lsp_session` starts ``python -m corral lsp`` as a subprocess (in a
:class:`~server_harness.ServerWorld`'s environment: its own runtime directory, the
workspace's server auto-started), initializes it with the given workspace folders and
settings, and at the end shuts it down (``shutdown`` + ``exit``) and requires its exit.
Every notification the server sends is kept in :attr:`Session.transcript`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, LanguageClient, register_lsp_features
from server_harness import ServerWorld

CORRAL_LSP = [sys.executable, "-m", "corral", "lsp"]


def uri(path: Path) -> str:
    text = from_fs_path(str(path))
    assert text is not None
    return text


@dataclass
class Published:
    uri: str
    version: int | None
    diagnostics: list[types.Diagnostic]


@dataclass
class Session:
    client: LanguageClient
    published: list[Published] = field(default_factory=list)
    transcript: list[tuple[str, Any]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    initialized: types.InitializeResult | None = None
    """The server's answer to ``initialize``."""

    # --- documents ------------------------------------------------------------------------

    def open(self, path: Path, text: str | None = None, language: str = "python") -> str:
        document = uri(path)
        self.versions[document] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=document,
                    language_id=language,
                    version=1,
                    text=path.read_text() if text is None else text,
                )
            )
        )
        return document

    def change(self, document: str, text: str) -> int:
        self.versions[document] += 1
        version = self.versions[document]
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=document, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        return version

    def save(self, document: str) -> None:
        self.client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=document)
            )
        )

    # --- waiting -----------------------------------------------------------------------------

    async def until(self, condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            await asyncio.sleep(0.02)

    async def diagnostics(
        self, document: str, version: int | None = None, timeout: float = 120.0
    ) -> list[types.Diagnostic]:
        """The diagnostics published for ``document`` at ``version`` (default: its latest)."""
        wanted = self.versions.get(document) if version is None else version

        def found() -> list[types.Diagnostic] | None:
            for entry in reversed(self.published):
                if entry.uri == document and entry.version == wanted:
                    return entry.diagnostics or [None]  # type: ignore[list-item]
            return None

        result = await self.until(found, f"diagnostics of {document} v{wanted}", timeout)
        return [d for d in result if d is not None]


def _client(session_box: list[Session]) -> LanguageClient:
    features = dict(DEFAULT_CLIENT_FEATURES)
    default_publish = features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        default_publish(client, params)
        session = session_box[0]
        session.published.append(Published(params.uri, params.version, list(params.diagnostics)))
        session.transcript.append((types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, params))

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    client = LanguageClient(converter_factory=default_converter)
    register_lsp_features(client, features)
    return client


def capabilities(
    *, pull: bool = False, progress: bool = True, resolve: bool = True
) -> types.ClientCapabilities:
    text = types.TextDocumentClientCapabilities(
        publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
            version_support=True,
            tag_support=types.ClientDiagnosticsTagOptions(
                value_set=[types.DiagnosticTag.Unnecessary, types.DiagnosticTag.Deprecated]
            ),
        ),
        code_action=types.CodeActionClientCapabilities(
            resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])
            if resolve
            else None
        ),
        diagnostic=types.DiagnosticClientCapabilities() if pull else None,
    )
    return types.ClientCapabilities(
        text_document=text,
        window=types.WindowClientCapabilities(work_done_progress=progress),
        workspace=types.WorkspaceClientCapabilities(workspace_folders=True),
    )


@contextlib.asynccontextmanager
async def lsp_session(
    world: ServerWorld,
    folders: list[Path],
    *,
    settings: dict[str, Any] | None = None,
    client_capabilities: types.ClientCapabilities | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Session]:
    box: list[Session] = []
    client = _client(box)
    session = Session(client)
    box.append(session)
    await client.start_io(*CORRAL_LSP, env=env or world.env(), cwd=str(world.root))
    try:
        session.initialized = await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=client_capabilities or capabilities(),
                    workspace_folders=[
                        types.WorkspaceFolder(uri=uri(f), name=f.name) for f in folders
                    ],
                    initialization_options={"debounce": 50, "onSave": [], **(settings or {})},
                )
            ),
            60,
        )
        yield session
    finally:
        server = client._server
        try:
            await asyncio.wait_for(client.shutdown_session(), 60)
        finally:
            if server is not None and server.returncode is None:
                server.kill()
                await server.wait()
            await client.stop()
        assert server is None or server.returncode == 0, server and server.returncode
