"""``corral lsp``: the language server (pygls), a client of each workspace's WM.

It speaks LSP on stdio (``--tcp PORT``: on 127.0.0.1:PORT, for debugging) and asks the
workspace's WM server (or an embedded WM, :mod:`corral.lsp.wm`) to run actions:

* diagnostics: the ``onChange`` actions on the buffer's text (on open, on change after the
  debounce, on save), the ``onSave`` actions on the saved file (on open and save); pushed
  (``textDocument/publishDiagnostics``) and pulled (``textDocument/diagnostic``,
  ``workspace/diagnostic``);
* ``textDocument/formatting`` and ``rangeFormatting`` (the ``format`` action);
* code actions: a quick fix per diagnostic with a fix, ``source.fixAll.corral`` and
  ``source.organizeImports.corral`` (resolved lazily when the client can);
* commands ``corral.restartRunners``, ``corral.showStatus``, ``corral.runAction``;
* problems (a handler failing, a runner that cannot start, a configuration error) shown
  once with ``window/showMessage``; a configuration error also as a diagnostic on the
  configuration file, at its key; env preparation as ``$/progress``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from pathlib import Path
from typing import Any, Final

from lsprotocol import types
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .configdiag import config_diagnostic
from .convert import Text, fix_edits, in_range
from .engine import Engine, Problem
from .progress import PrepareProgressReporter
from .schedule import Scheduler
from .settings import Settings, SettingsError, parse_settings
from .wm import Workspaces

__all__ = ["CorralLanguageServer", "serve"]

log = logging.getLogger("corral.lsp")

FIX_ALL: Final = "source.fixAll.corral"
ORGANIZE_IMPORTS: Final = "source.organizeImports.corral"
COMMANDS: Final = ("corral.restartRunners", "corral.showStatus", "corral.runAction")
CONFIG_FILES: Final = frozenset({"corral.toml", "pyproject.toml"})


class CorralLanguageServer(LanguageServer):
    """See the module docstring."""

    def __init__(self, *, served: bool, version: str) -> None:
        super().__init__("corral", version)
        self.settings = Settings()
        self.workspaces = Workspaces(served=served, version=version, notice=self._notice)
        self.engine = Engine(self.workspaces, settings=self.settings, problem=self.report)
        self.buffers: Scheduler[list[types.Diagnostic]] = Scheduler(
            self._check_buffer, self._deliver_buffer, self._version
        )
        self.saves: Scheduler[list[types.Diagnostic]] = Scheduler(
            self._check_saved, self._deliver_saved, lambda uri: 0
        )
        self.shown: set[str] = set()
        self.config_uris: set[str] = set()
        self.closed = False

    # --- helpers -------------------------------------------------------------------------

    def _notice(self, text: str) -> None:
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=text))

    def report(self, problem: Problem) -> None:
        """Show ``problem`` once (``window/showMessage``), and a configuration error as a
        diagnostic on its file."""
        message = problem.message()
        if problem.config_error is not None:
            found = config_diagnostic(problem.config_error, self.workspaces)
            if found is not None:
                uri, diagnostic = found
                self.config_uris.add(uri)
                self.text_document_publish_diagnostics(
                    types.PublishDiagnosticsParams(uri=uri, diagnostics=[diagnostic])
                )
        if message in self.shown:
            return
        self.shown.add(message)
        kind = types.MessageType.Error
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def _version(self, uri: str) -> int | None:
        document = self.workspace.text_documents.get(uri)
        return None if document is None else document.version

    def _path(self, uri: str) -> Path | None:
        path = to_fs_path(uri)
        return None if path is None else Path(path)

    def _push(self) -> bool:
        mode = self.settings.push_diagnostics
        if mode != "auto":
            return bool(mode)
        capabilities = self.client_capabilities.text_document
        return capabilities is None or capabilities.diagnostic is None

    def publish(self, uri: str) -> None:
        if self.closed:
            return
        if self._push():
            document = self.workspace.text_documents.get(uri)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri,
                    diagnostics=self.engine.diagnostics(uri),
                    version=None if document is None else document.version,
                )
            )
        else:
            self.workspace_diagnostic_refresh(None)

    # --- checks --------------------------------------------------------------------------

    async def _check_buffer(self, uri: str, version: int | None) -> list[types.Diagnostic]:
        path = self._path(uri)
        document = self.workspace.text_documents.get(uri)
        if path is None or document is None:
            return []
        return await self.engine.check_buffer(path, document.source, version)

    def _deliver_buffer(self, uri: str, version: int | None, found: list[types.Diagnostic]) -> None:
        state = self.engine.state(uri)
        state.change, state.change_version = found, version
        self.publish(uri)

    async def _check_saved(self, uri: str, _: int | None) -> list[types.Diagnostic]:
        path = self._path(uri)
        if path is None or not self.settings.on_save:
            return []
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return []
        return await self.engine.check_saved(path, text)

    def _deliver_saved(self, uri: str, _: int | None, found: list[types.Diagnostic]) -> None:
        state = self.engine.state(uri)
        before, state.save = state.save, found
        if uri not in self.buffers.tasks and (found or before):
            self.publish(uri)  # else the buffer's check, still running, publishes both

    def check(self, uri: str, *, delay: float, saved: bool) -> None:
        self.buffers.schedule(uri, delay)
        if saved:
            self.saves.schedule(uri, 0)

    def apply_settings(self, value: Any) -> None:
        try:
            settings = parse_settings(value)
        except SettingsError as exc:
            self.report(Problem(None, "settings", str(exc)))
            return
        self.settings = settings
        self.engine.settings = settings

    async def close(self) -> None:
        """Cancel every check and close every WM link (embedded WMs stop their runners)."""
        if self.closed:
            return
        self.closed = True
        await self.buffers.aclose()
        await self.saves.aclose()
        await self.workspaces.aclose()

    async def relint_all(self) -> None:
        self.shown.clear()
        for link in list(self.workspaces.links.values()):
            link.refresh_projects()
            try:
                await link.call(lambda wm: wm.reload())
            except Exception as exc:
                log.info("reload of %s: %s", link.root, exc)
        for uri in list(self.config_uris):
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )
        self.config_uris.clear()
        for uri in list(self.workspace.text_documents):
            self.check(uri, delay=0, saved=True)


def _register(server: CorralLanguageServer) -> None:  # noqa: PLR0915
    """Register every feature of the language server."""

    @server.feature(types.INITIALIZE)
    def initialize(ls: CorralLanguageServer, params: types.InitializeParams) -> None:
        ls.apply_settings(params.initialization_options)
        ls.engine.encoding = str(ls.workspace.position_encoding or types.PositionEncodingKind.Utf16)
        ls.engine.feedback = lambda action: PrepareProgressReporter(ls, action)
        folders = params.workspace_folders or []
        if not folders and params.root_uri:
            folders = [types.WorkspaceFolder(uri=params.root_uri, name="root")]
        for folder in folders:
            path = ls._path(folder.uri)
            if path is not None:
                ls.workspaces.add_folder(path)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CorralLanguageServer, _: types.InitializedParams) -> None:
        workspace = ls.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if watched is not None and watched.dynamic_registration:
            options = types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern="**/{corral.toml,pyproject.toml}")]
            )
            registration = types.Registration(
                id="corral-config-files",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=options,
            )
            await ls.client_register_capability_async(
                types.RegistrationParams(registrations=[registration])
            )

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: CorralLanguageServer, *_: Any) -> None:
        await ls.close()

    @server.feature(types.EXIT)
    async def exit_(ls: CorralLanguageServer, *_: Any) -> None:
        await ls.close()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CorralLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.check(params.text_document.uri, delay=0, saved=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CorralLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.check(params.text_document.uri, delay=ls.settings.debounce / 1000, saved=False)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: CorralLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        state = ls.engine.states.get(uri)
        fresh = state is not None and state.change_version == ls._version(uri)
        if fresh and uri not in ls.buffers.tasks:
            ls.saves.schedule(uri, 0)
        else:
            ls.check(uri, delay=0, saved=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CorralLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.buffers.cancel(uri)
        ls.saves.cancel(uri)
        ls.engine.states.pop(uri, None)
        if ls._push():
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier="corral", inter_file_dependencies=False, workspace_diagnostics=True
        ),
    )
    async def diagnostic(
        ls: CorralLanguageServer, params: types.DocumentDiagnosticParams
    ) -> types.DocumentDiagnosticReport:
        return await _pull(ls, params.text_document.uri)

    @server.feature(types.WORKSPACE_DIAGNOSTIC)
    async def workspace_diagnostic(
        ls: CorralLanguageServer, _: types.WorkspaceDiagnosticParams
    ) -> types.WorkspaceDiagnosticReport:
        items: list[types.WorkspaceDocumentDiagnosticReport] = []
        for uri in list(ls.workspace.text_documents):
            report = await _pull(ls, uri)
            items.append(
                types.WorkspaceFullDocumentDiagnosticReport(
                    uri=uri, items=report.items, version=ls._version(uri)
                )
            )
        return types.WorkspaceDiagnosticReport(items=items)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    async def formatting(
        ls: CorralLanguageServer, params: types.DocumentFormattingParams
    ) -> list[types.TextEdit] | None:
        return await _format(ls, params.text_document.uri, None)

    @server.feature(types.TEXT_DOCUMENT_RANGE_FORMATTING)
    async def range_formatting(
        ls: CorralLanguageServer, params: types.DocumentRangeFormattingParams
    ) -> list[types.TextEdit] | None:
        return await _format(ls, params.text_document.uri, params.range)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL, ORGANIZE_IMPORTS],
            resolve_provider=True,
        ),
    )
    async def code_action(
        ls: CorralLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        return await _code_actions(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: CorralLanguageServer, action: types.CodeAction) -> types.CodeAction:
        data = action.data if isinstance(action.data, dict) else {}
        uri = str(data.get("uri", ""))
        if data.get("version") == ls._version(uri):
            action.edit = await _source_edit(ls, uri, str(data.get("kind", "")))
        return action

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: CorralLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.apply_settings(params.settings)
        await ls.relint_all()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_watched_files(
        ls: CorralLanguageServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        if any(Path(change.uri).name in CONFIG_FILES for change in params.changes):
            await ls.relint_all()

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(
        ls: CorralLanguageServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        for folder in params.event.removed:
            path = ls._path(folder.uri)
            if path is not None:
                await ls.workspaces.remove_folder(path)
        for folder in params.event.added:
            path = ls._path(folder.uri)
            if path is not None:
                ls.workspaces.add_folder(path)
        for uri in list(ls.workspace.text_documents):
            ls.check(uri, delay=0, saved=True)

    @server.command("corral.restartRunners")
    async def restart_runners(ls: CorralLanguageServer, *_: Any) -> int:
        count = await ls.engine.restart()
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Info, message=f"Corral: restarted {count} runners"
            )
        )
        return count

    @server.command("corral.showStatus")
    async def show_status(ls: CorralLanguageServer, *_: Any) -> list[str]:
        lines = await ls.engine.status_lines()
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message="\n".join(lines))
        )
        return lines

    @server.command("corral.runAction")
    async def run_action(ls: CorralLanguageServer, *args: Any) -> Any:
        action = str(args[0]) if args else "lint"
        path = ls._path(str(args[1])) if len(args) > 1 and args[1] else None
        params = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
        return await ls.engine.run_action(action, path, params)


async def _pull(ls: CorralLanguageServer, uri: str) -> types.RelatedFullDocumentDiagnosticReport:
    version = ls._version(uri)
    state = ls.engine.states.get(uri)
    if state is None or state.change_version != version or uri in ls.buffers.tasks:
        task = ls.buffers.schedule(uri, 0)
        await asyncio.shield(task)
    return types.RelatedFullDocumentDiagnosticReport(
        items=ls.engine.diagnostics(uri), result_id=f"{version}"
    )


async def _format(
    ls: CorralLanguageServer, uri: str, window: types.Range | None
) -> list[types.TextEdit] | None:
    path = ls._path(uri)
    document = ls.workspace.text_documents.get(uri)
    if path is None or document is None:
        return None
    version = document.version
    edits = await ls.engine.edits(path, document.source, ls.settings.format_action, {})
    if ls._version(uri) != version:
        return None  # the buffer changed meanwhile: these edits are for older text
    if window is not None:
        edits = [e for e in edits if in_range(e, window)]
    return edits


async def _source_edit(ls: CorralLanguageServer, uri: str, kind: str) -> types.WorkspaceEdit | None:
    path = ls._path(uri)
    document = ls.workspace.text_documents.get(uri)
    if path is None or document is None:
        return None
    version = document.version
    extra: dict[str, Any] = {"fix": True}
    if kind == ORGANIZE_IMPORTS:
        extra["only"] = ["I"]
    edits = await ls.engine.edits(path, document.source, ls.settings.fix_action, extra)
    if not edits or ls._version(uri) != version:
        return None
    return _workspace_edit(uri, version, edits)


def _workspace_edit(
    uri: str, version: int | None, edits: list[types.TextEdit]
) -> types.WorkspaceEdit:
    identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(text_document=identifier, edits=list(edits))]
    )


def _resolvable(ls: CorralLanguageServer) -> bool:
    capabilities = ls.client_capabilities.text_document
    code_action = capabilities.code_action if capabilities else None
    support = code_action.resolve_support if code_action else None
    return support is not None and "edit" in support.properties


async def _code_actions(
    ls: CorralLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    uri = params.text_document.uri
    document = ls.workspace.text_documents.get(uri)
    if document is None or ls._path(uri) is None:
        return []
    only = params.context.only
    actions: list[types.CodeAction] = []

    def wanted(kind: str) -> bool:
        return only is None or any(kind == k or kind.startswith(f"{k}.") for k in only)

    state = ls.engine.states.get(uri)
    if wanted(types.CodeActionKind.QuickFix) and state and state.change_version == document.version:
        text = Text(document.source, ls.engine.encoding)
        for diagnostic in params.context.diagnostics:
            data = diagnostic.data if isinstance(diagnostic.data, dict) else None
            fix = data.get("fix") if data else None
            if not isinstance(fix, dict) or fix.get("applicability") == "display-only":
                continue
            edits = fix_edits(data, text)
            if not edits:
                continue
            title = fix.get("message") or f"Fix {diagnostic.code}"
            actions.append(
                types.CodeAction(
                    title=f"{title} ({diagnostic.source} {diagnostic.code})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=_workspace_edit(uri, document.version, edits),
                    is_preferred=fix.get("applicability") == "safe",
                )
            )
    titles = {
        FIX_ALL: "Corral: fix all auto-fixable problems",
        ORGANIZE_IMPORTS: "Corral: organize imports",
    }
    for kind, title in titles.items():
        if not wanted(kind):
            continue
        action = types.CodeAction(title=title, kind=kind)
        if _resolvable(ls):
            action.data = {"uri": uri, "version": document.version, "kind": kind}
        else:
            action.edit = await _source_edit(ls, uri, kind)
            if action.edit is None:
                continue
        actions.append(action)
    return actions


def _serve(server: CorralLanguageServer, tcp: int | None) -> None:
    async def main() -> None:
        server._stop_event = stop = threading.Event()
        try:
            if tcp is None:
                # stdin through the event loop, not a reader thread: a thread blocked in
                # read() would keep the process alive after `exit` until stdin closes.
                loop = asyncio.get_running_loop()
                reader = asyncio.StreamReader(limit=2**24)
                await loop.connect_read_pipe(
                    lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer
                )
                server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
                await run_async(
                    stop_event=stop,
                    reader=reader,
                    protocol=server.protocol,
                    logger=log,
                    error_handler=server.report_server_error,
                )
            else:
                done = asyncio.Event()

                async def connection(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    server.protocol.set_writer(w)
                    await run_async(
                        stop_event=stop,
                        reader=r,
                        protocol=server.protocol,
                        logger=log,
                        error_handler=server.report_server_error,
                    )
                    done.set()

                listener = await asyncio.start_server(connection, "127.0.0.1", tcp)
                async with listener:
                    await done.wait()
        finally:
            await server.close()

    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(main())


def serve(*, served: bool, version: str, tcp: int | None = None) -> int:
    """Run the language server until the client says ``exit`` (or goes away)."""
    server = CorralLanguageServer(served=served, version=version)
    _register(server)
    _serve(server, tcp)
    return 0
