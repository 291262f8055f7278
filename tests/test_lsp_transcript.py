"""One ``corral lsp`` session as a transcript (syrupy snapshot), normalised: the workspace
root is ``<ROOT>``; ruff's version-dependent rule URLs keep their path. Each line is what
the client sent or got, in order: initialize's capabilities, the diagnostics of an unsaved
buffer, the quick fix and the source actions offered for it, and the formatting edits.

Also: a client without ``codeAction/resolve`` support gets the source actions' edits
inline; a never-prepared env is prepared with progress; a runner failing a check is shown
once; the WM server stopped under the language server; ``--tcp``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from example_workspace import PYTHON_ONLY
from lsp_harness import capabilities, lsp_session, uri
from lsprotocol import types
from pygls.protocol import default_converter
from server_harness import ServerWorld, no_leftovers, prepare_example, world_of
from syrupy.assertion import SnapshotAssertion

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workspace"
TEXT = "import os\nimport sys\n\nprint( sys.argv )\n"

pytestmark = [pytest.mark.timeout(300), pytest.mark.asyncio]


@pytest.fixture(scope="module")
def prepared_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace with its envs prepared once (embedded), copied per test."""
    return prepare_example(tmp_path_factory.mktemp("example"), tmp_path_factory.mktemp("runtime"))


@pytest.fixture
def world(prepared_example: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    yield from world_of(prepared_example, tmp_path)


def normalised(value: Any, root: Path) -> Any:
    text = json.dumps(default_converter().unstructure(value), sort_keys=True)
    text = text.replace(root.as_uri(), "<ROOT>").replace(str(root), "<ROOT>")
    return json.loads(text)


def _actions(kinds: list[str] | None, document: str, diagnostics: list[Any]) -> Any:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=document),
        range=types.Range(start=types.Position(0, 0), end=types.Position(4, 0)),
        context=types.CodeActionContext(diagnostics=diagnostics, only=kinds),
    )


async def test_a_session_transcript(world: ServerWorld, snapshot: SnapshotAssertion) -> None:
    module = world.root / "app/src/app/scratch.py"
    transcript: list[tuple[str, Any]] = []
    async with lsp_session(world, [world.root]) as lsp:
        assert lsp.initialized is not None
        transcript.append(("initialize: capabilities", lsp.initialized.capabilities))
        document = lsp.open(module, TEXT)
        found = await lsp.diagnostics(document)
        transcript.append(("publishDiagnostics", found))
        f401 = [d for d in found if d.code == "F401"]
        quick = await lsp.client.text_document_code_action_async(
            _actions([types.CodeActionKind.QuickFix], document, f401)
        )
        transcript.append(("codeAction quickfix", quick))
        source = await lsp.client.text_document_code_action_async(
            _actions([types.CodeActionKind.Source], document, [])
        )
        transcript.append(("codeAction source (resolved later)", source))
        edits = await lsp.client.text_document_formatting_async(
            types.DocumentFormattingParams(
                text_document=types.TextDocumentIdentifier(uri=document),
                options=types.FormattingOptions(tab_size=4, insert_spaces=True),
            )
        )
        transcript.append(("formatting", edits))
    assert normalised(transcript, world.root) == snapshot


async def test_a_client_without_resolve_gets_edits_inline(world: ServerWorld) -> None:
    plain = capabilities()
    assert plain.text_document is not None
    plain.text_document.code_action = types.CodeActionClientCapabilities()
    module = world.root / "app/src/app/scratch.py"
    async with lsp_session(world, [world.root], client_capabilities=plain) as lsp:
        document = lsp.open(module, TEXT)
        await lsp.diagnostics(document)
        (fix_all,) = await lsp.client.text_document_code_action_async(
            _actions(["source.fixAll"], document, [])
        )
        assert fix_all.edit is not None  # no resolve round trip needed
        (change,) = fix_all.edit.document_changes
        assert all("import os" not in edit.new_text for edit in change.edits)


async def test_a_missing_env_is_prepared_with_progress_then_checked(
    tmp_path: Path,
) -> None:
    """A workspace whose envs were never prepared: the first buffer's check prepares them,
    shown as work-done progress (begin, reports, end), and its diagnostics then arrive."""
    root = tmp_path / "ws"
    shutil.copytree(EXAMPLE, root, ignore=PYTHON_ONLY)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    world = ServerWorld(root, runtime)
    with no_leftovers(world):
        async with lsp_session(world, [root]) as lsp:
            document = lsp.open(root / "app/src/app/scratch.py", TEXT)
            found = await lsp.diagnostics(document, timeout=240)
            assert [d.code for d in found] == ["F401"]
            (reports,) = [
                r for t, r in lsp.client.progress_reports.items() if str(t).startswith("corral-")
            ]
            assert isinstance(reports[0], types.WorkDoneProgressBegin)
            assert reports[0].title == "Corral: preparing environments"
            assert isinstance(reports[-1], types.WorkDoneProgressEnd)
            messages = [r.message or "" for r in reports[1:-1]]
            assert any("dev_no_runtime" in m for m in messages)
            assert not lsp.client.messages  # not an error: nothing shown


async def test_a_runner_that_fails_a_check_is_shown_once_naming_project_and_env(
    world: ServerWorld,
) -> None:
    """A runner stopped (SIGSTOP) under a check: the check fails when the runner is killed,
    which is shown once (``window/showMessage``) naming the project and the env; the next
    edit's check runs on a new runner."""
    module = world.root / "app/src/app/scratch.py"
    async with lsp_session(world, [world.root], settings={"debounce": 0}) as lsp:
        document = lsp.open(module, TEXT)
        await lsp.diagnostics(document)
        (pid,) = [
            r["pid"]
            for r in world.status()["runners"]
            if r.get("pid") and r["env"] == "dev_no_runtime" and r["project"].endswith("app")
        ]
        os.kill(pid, signal.SIGSTOP)
        try:
            lsp.change(document, TEXT.replace("import os", "import re"))
            await lsp.until(lambda: lsp.client.messages, "the failure to be shown", 60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        (shown,) = lsp.client.messages
        assert shown.type == types.MessageType.Error
        assert str(world.root / "app") in shown.message
        assert "dev_no_runtime" in shown.message
        assert "stopped" in shown.message
        version = lsp.change(document, TEXT.replace("import os", "import json"))
        found = await lsp.diagnostics(document, version)
        assert any("`json` imported but unused" in d.message for d in found)
        assert len(lsp.client.messages) == 1


async def test_the_wm_server_stopped_under_a_running_language_server(world: ServerWorld) -> None:
    """``corral server stop`` while an editor is open: the next edit connects again (a new
    server starts) and gets its diagnostics."""
    module = world.root / "app/src/app/scratch.py"
    async with lsp_session(world, [world.root], settings={"debounce": 0}) as lsp:
        document = lsp.open(module, TEXT)
        await lsp.diagnostics(document)
        first = world.server_pid()
        assert world.corral("server", "stop").returncode == 0
        version = lsp.change(document, TEXT.replace("import os", "import re"))
        found = await lsp.diagnostics(document, version)
        assert any("`re` imported but unused" in d.message for d in found)
        assert world.server_pid() not in (None, first)


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def _reply(reader: asyncio.StreamReader, ident: int) -> Any:
    while True:
        header = await reader.readuntil(b"\r\n\r\n")
        length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
        message = json.loads(await reader.readexactly(length))
        if message.get("id") == ident and "method" not in message:
            return message


async def test_tcp_mode_serves_one_client_on_loopback(world: ServerWorld) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "corral", "-C", str(world.root), "lsp", "--tcp", str(port),
        env=world.env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("corral lsp --tcp never listened")
        writer.write(_frame({"id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": world.root.as_uri(), "capabilities": {},
        }}))  # fmt: skip
        initialized = await asyncio.wait_for(_reply(reader, 1), 60)
        assert initialized["result"]["capabilities"]["documentFormattingProvider"] is True
        writer.write(_frame({"method": "initialized", "params": {}}))
        writer.write(_frame({"id": 2, "method": "shutdown", "params": None}))
        assert (await asyncio.wait_for(_reply(reader, 2), 30))["result"] is None
        writer.write(_frame({"method": "exit", "params": None}))
        await writer.drain()
        assert await asyncio.wait_for(server.wait(), 30) == 0
        writer.close()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


SLOW_HANDLERS = """
import asyncio

from corral_runner import ActionContext


async def slow(ctx: ActionContext) -> dict:
    ctx.progress("warming up")
    await asyncio.sleep(1.5)
    ctx.progress("half way")
    await asyncio.sleep(1.0)
    return {"diagnostics": [], "summary": {"slow": {}}}
"""


async def test_a_long_action_shows_its_progress(world: ServerWorld) -> None:
    """An action still running after a second shows its handlers' progress as work-done
    progress titled with the action (a quick check shows none)."""
    project = world.root / "slowpoke"
    project.mkdir()
    (project / "corral.toml").write_text(
        '[[actions.slow.handlers]]\nname = "slow"\nsource = "handlers:slow"\n'
    )
    (project / "handlers.py").write_text(SLOW_HANDLERS)
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(world.root / "app/src/app/scratch.py", TEXT)
        await lsp.diagnostics(document)
        assert not [t for t in lsp.client.progress_reports if str(t).startswith("corral-run-")]
        await lsp.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="corral.runAction",
                arguments=["slow", uri(project / "handlers.py"), {}],
            )
        )
        (reports,) = [
            r for t, r in lsp.client.progress_reports.items() if str(t).startswith("corral-run-")
        ]
        assert isinstance(reports[0], types.WorkDoneProgressBegin)
        assert reports[0].title == "Corral: slow"
        assert any("half way" in (r.message or "") for r in reports[1:])
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)
