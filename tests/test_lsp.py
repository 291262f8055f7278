"""``corral lsp`` end to end: pytest-lsp drives the real language server subprocess, which
talks to the workspace's real WM server (auto-started), real runners and real ruff.

The example workspace (two corral-python projects) is prepared once per module and copied
per test; the teardown stops the server and fails if any process of the test is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsp_harness import capabilities, lsp_session, uri
from lsprotocol import types
from server_harness import ServerWorld, prepare_example, world_of

pytestmark = [pytest.mark.timeout(300), pytest.mark.asyncio]

UNUSED = "import os\nimport sys\n\nprint(sys.argv)\n"
"""An unused import on line 0 (F401 `os`)."""


@pytest.fixture(scope="module")
def prepared_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace with its envs prepared once (embedded), copied per test."""
    return prepare_example(tmp_path_factory.mktemp("example"), tmp_path_factory.mktemp("runtime"))


@pytest.fixture
def world(prepared_example: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    yield from world_of(prepared_example, tmp_path)


def ruff(root: Path, *args: str, stdin: str, filename: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(filename), "-"],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        timeout=60,
    ).stdout


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """``edits`` (UTF-16 positions, non-overlapping) applied to ``text``."""
    lines = text.splitlines(keepends=True)

    def offset(position: types.Position) -> int:
        if position.line >= len(lines):
            return len(text)
        line = lines[position.line]
        units = 0
        index = 0
        for char in line:
            if units >= position.character:
                break
            units += len(char.encode("utf-16-le")) // 2
            index += 1
        return sum(len(x) for x in lines[: position.line]) + index

    for edit in sorted(
        edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
    ):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


async def test_unsaved_buffer_diagnostics_appear_and_go_away(world: ServerWorld) -> None:
    module = world.root / "app/src/app/__init__.py"
    on_disk = module.read_bytes()
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(module, "VALUE = 1\n")
        assert await lsp.diagnostics(document) == []
        version = lsp.change(document, UNUSED)
        (found,) = await lsp.diagnostics(document, version)
        assert found.code == "F401"
        assert found.source == "ruff"
        assert found.severity == types.DiagnosticSeverity.Warning
        assert found.range == types.Range(
            start=types.Position(line=0, character=7), end=types.Position(line=0, character=9)
        )
        assert list(found.tags or []) == [types.DiagnosticTag.Unnecessary]
        assert found.code_description is not None
        assert "unused-import" in found.code_description.href
        version = lsp.change(document, "import sys\n\nprint(sys.argv)\n")
        assert await lsp.diagnostics(document, version) == []
    assert module.read_bytes() == on_disk  # the buffer was never written


MESSY = "def add(a,b):\n    return a+b\n\n\nVALUES = [1,2,\n  3]\n"


async def test_formatting_edits_give_ruff_formats_text_and_write_nothing(
    world: ServerWorld,
) -> None:
    module = world.root / "app/src/app/__init__.py"
    on_disk = module.read_bytes()
    expected = ruff(world.root / "app", "format", stdin=MESSY, filename=module)
    assert expected != MESSY
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(module, MESSY)
        identifier = types.TextDocumentIdentifier(uri=document)
        options = types.FormattingOptions(tab_size=4, insert_spaces=True)
        edits = await lsp.client.text_document_formatting_async(
            types.DocumentFormattingParams(text_document=identifier, options=options)
        )
        assert edits
        assert apply(MESSY, edits) == expected
        assert all(e.range.start.line != 2 for e in edits)  # unchanged lines are not touched
        # range formatting: only the edits within the lines asked for
        first_two = types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=1, character=0)
        )
        ranged = await lsp.client.text_document_range_formatting_async(
            types.DocumentRangeFormattingParams(
                text_document=identifier, range=first_two, options=options
            )
        )
        assert ranged
        assert apply(MESSY, ranged).startswith("def add(a, b):\n    return a + b\n")
        assert apply(MESSY, ranged).endswith("VALUES = [1,2,\n  3]\n")
        # an already formatted buffer: no edits
        lsp.change(document, expected)
        assert not await lsp.client.text_document_formatting_async(
            types.DocumentFormattingParams(text_document=identifier, options=options)
        )
    assert module.read_bytes() == on_disk


FIXABLE = "import sys\nimport os\n\nprint(sys.argv)\nx = lambda: 1\n"
"""F401 (`os`, a safe fix) and imports out of order (I001)."""


async def test_quick_fix_fix_all_and_organize_imports(world: ServerWorld) -> None:
    module = world.root / "app/src/app/fixme.py"  # never saved: not on disk
    project = world.root / "app"
    fixed = ruff(project, "check", "--fix", "--exit-zero", stdin=FIXABLE, filename=module)
    organized = ruff(
        project, "check", "--fix", "--exit-zero", "--select", "I", stdin=FIXABLE, filename=module
    )
    assert "import os" not in fixed
    assert organized.startswith("import os\nimport sys\n")
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(module, FIXABLE)
        found = await lsp.diagnostics(document)
        assert [d.code for d in found] == ["I001", "F401"], found  # the preset selects I
        f401 = found[1]
        identifier = types.TextDocumentIdentifier(uri=document)
        whole = types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=5, character=0)
        )

        async def actions(only: list[str] | None, diagnostics: list[types.Diagnostic]) -> list:
            return list(
                await lsp.client.text_document_code_action_async(
                    types.CodeActionParams(
                        text_document=identifier,
                        range=whole,
                        context=types.CodeActionContext(diagnostics=diagnostics, only=only),
                    )
                )
                or []
            )

        (quick,) = await actions([types.CodeActionKind.QuickFix], [f401])
        assert quick.kind == types.CodeActionKind.QuickFix
        assert "os" in quick.title
        (change,) = quick.edit.document_changes
        assert change.text_document.version == 1
        assert apply(FIXABLE, change.edits) == FIXABLE.replace("import os\n", "")

        # source actions are resolved lazily (the client supports resolving `edit`)
        (fix_all,) = await actions(["source.fixAll"], [])
        assert fix_all.kind == "source.fixAll.corral"
        assert fix_all.edit is None
        resolved = await lsp.client.code_action_resolve_async(fix_all)
        (change,) = resolved.edit.document_changes
        assert apply(FIXABLE, change.edits) == fixed

        (organize,) = await actions(["source.organizeImports"], [])
        resolved = await lsp.client.code_action_resolve_async(organize)
        (change,) = resolved.edit.document_changes
        assert apply(FIXABLE, change.edits) == organized
    assert not module.exists()


async def test_without_resolve_support_edits_are_inline_and_bad_positions_are_clamped(
    world: ServerWorld,
) -> None:
    module = world.root / "app/src/app/fixme.py"
    fixed = ruff(
        world.root / "app", "check", "--fix", "--exit-zero", stdin=FIXABLE, filename=module
    )
    async with lsp_session(
        world, [world.root], client_capabilities=capabilities(resolve=False)
    ) as lsp:
        document = lsp.open(module, FIXABLE)
        assert [d.code for d in await lsp.diagnostics(document)] == ["I001", "F401"]
        # a range past the end of the text and inside no character: clamped, not an error
        beyond = types.Range(
            start=types.Position(line=0, character=10_000),
            end=types.Position(line=10_000, character=10_000),
        )
        (fix_all,) = await lsp.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=document),
                range=beyond,
                context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
            )
        )
        assert fix_all.edit is not None
        (change,) = fix_all.edit.document_changes  # inline: no codeAction/resolve needed
        assert apply(FIXABLE, change.edits) == fixed
        # an edit whose range lies past the end of the document still gets diagnostics
        version = lsp.change(document, FIXABLE + "import re\n")
        codes = [d.code for d in await lsp.diagnostics(document, version)]
        assert codes.count("F401") == 2, codes
        assert lsp.client.messages == []
    assert not module.exists()


async def test_pull_diagnostics(world: ServerWorld) -> None:
    module = world.root / "app/src/app/__init__.py"
    async with lsp_session(world, [world.root], client_capabilities=capabilities(pull=True)) as lsp:
        document = lsp.open(module, UNUSED)
        identifier = types.TextDocumentIdentifier(uri=document)
        report = await lsp.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=identifier)
        )
        assert [d.code for d in report.items] == ["F401"]
        lsp.change(document, "import sys\n\nprint(sys.argv)\n")
        report = await lsp.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=identifier)
        )
        assert list(report.items) == []
        assert report.result_id == "2"
        everything = await lsp.client.workspace_diagnostic_async(
            types.WorkspaceDiagnosticParams(previous_result_ids=[])
        )
        assert [(i.uri, i.version, list(i.items)) for i in everything.items] == [(document, 2, [])]
        assert lsp.published == []  # the client pulls: nothing is pushed


def stop_server(world: ServerWorld, root: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "corral", "-C", str(root), "server", "stop"],
        env=world.env(),
        capture_output=True,
        check=False,
        timeout=60,
    )


async def test_multi_root_each_folder_served_by_its_workspaces_server(world: ServerWorld) -> None:
    app, lib = world.root / "app", world.root / "lib"
    try:
        async with lsp_session(world, [app, lib]) as lsp:
            in_app = lsp.open(app / "src/app/new.py", UNUSED)
            in_lib = lsp.open(lib / "src/lib/new.py", "import re\n")
            assert [d.code for d in await lsp.diagnostics(in_app)] == ["F401"]
            assert [d.code for d in await lsp.diagnostics(in_lib)] == ["F401"]
            roots = sorted(record["root"] for record in world.records())
            assert roots == [str(app), str(lib)]  # one server per workspace
            # a folder removed at run time: its files are no longer served
            lsp.client.workspace_did_change_workspace_folders(
                types.DidChangeWorkspaceFoldersParams(
                    event=types.WorkspaceFoldersChangeEvent(
                        added=[], removed=[types.WorkspaceFolder(uri=uri(lib), name="lib")]
                    )
                )
            )
            version = lsp.change(in_lib, "import re\nimport os\n")
            assert await lsp.diagnostics(in_lib, version) == []
    finally:
        stop_server(world, app)
        stop_server(world, lib)


async def test_outside_any_project_and_other_languages_give_no_diagnostics(
    world: ServerWorld,
) -> None:
    (world.root / "notes").mkdir()
    async with lsp_session(world, [world.root]) as lsp:
        outside = lsp.open(world.root / "notes/loose.py", UNUSED)
        other = lsp.open(world.root / "app/src/app/page.js", "const x = 1\n", "javascript")
        huge = lsp.open(world.root / "app/src/app/huge.py", "x = 1\n" * 50_000 + UNUSED)
        assert await lsp.diagnostics(outside) == []
        assert await lsp.diagnostics(other) == []
        assert [d.range.start.line for d in await lsp.diagnostics(huge)] == [50_000]
        assert lsp.client.messages == []  # nothing to complain about


async def test_a_runner_killed_between_two_edits(world: ServerWorld) -> None:
    module = world.root / "app/src/app/__init__.py"
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(module, UNUSED)
        assert [d.code for d in await lsp.diagnostics(document)] == ["F401"]
        killed = [
            r["pid"]
            for r in world.status()["runners"]
            if r.get("pid") and r["env"] == "dev_no_runtime" and r["project"].endswith("app")
        ]
        assert killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        version = lsp.change(document, UNUSED.replace("import os", "import re"))
        (found,) = await lsp.diagnostics(document, version)
        assert "`re` imported but unused" in found.message
        after = [r.get("pid") for r in world.status()["runners"] if r["env"] == "dev_no_runtime"]
        assert not set(killed) & set(after)


async def test_superseded_checks_are_cancelled_and_never_published(world: ServerWorld) -> None:
    module = world.root / "app/src/app/__init__.py"
    async with lsp_session(world, [world.root], settings={"debounce": 0}) as lsp:
        document = lsp.open(module, "VALUE = 1\n")
        await lsp.diagnostics(document)
        for number in range(20):
            lsp.change(document, f"import os{number}\n" * 200)
        final = lsp.change(document, UNUSED)
        (found,) = await lsp.diagnostics(document, final)
        assert found.code == "F401"
        versions = [p.version for p in lsp.published]
        assert versions == sorted(versions)  # a stale result never follows a newer one
        assert len(versions) < 10  # most of the 21 checks were cancelled before publishing


async def test_a_configuration_error_is_shown_once_and_at_its_key(world: ServerWorld) -> None:
    pyproject = world.root / "app/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'presets = ["corral-python"]', 'presets = ["corral-python"]\njobs = "many"'
        )
    )
    line = pyproject.read_text().splitlines().index('jobs = "many"')
    async with lsp_session(world, [world.root]) as lsp:
        first = lsp.open(world.root / "app/src/app/__init__.py", UNUSED)
        second = lsp.open(world.root / "app/src/app/other.py", UNUSED)
        assert await lsp.diagnostics(first) == []
        assert await lsp.diagnostics(second) == []
        config = uri(pyproject)
        await lsp.until(lambda: config in lsp.client.diagnostics, "the config diagnostic")
        (at_key,) = lsp.client.diagnostics[config]
        assert at_key.range.start.line == line
        assert at_key.source == "corral"
        assert "jobs" in at_key.message
        (shown,) = lsp.client.messages  # once, not once per document
        assert shown.type == types.MessageType.Error
        assert "jobs" in shown.message
        assert str(world.root / "app") in shown.message


async def test_embedded_without_a_server(world: ServerWorld) -> None:
    module = world.root / "app/src/app/__init__.py"
    async with lsp_session(world, [world.root], env=world.env(CORRAL_SERVER="0")) as lsp:
        document = lsp.open(module, UNUSED)
        assert [d.code for d in await lsp.diagnostics(document)] == ["F401"]
        assert world.records() == []  # no server was started


async def test_a_folder_added_at_run_time_is_served(world: ServerWorld) -> None:
    app, lib = world.root / "app", world.root / "lib"
    try:
        async with lsp_session(world, [app]) as lsp:
            in_lib = lsp.open(lib / "src/lib/new.py", "import re\n")
            assert await lsp.diagnostics(in_lib) == []  # not in any folder yet
            lsp.client.workspace_did_change_workspace_folders(
                types.DidChangeWorkspaceFoldersParams(
                    event=types.WorkspaceFoldersChangeEvent(
                        added=[types.WorkspaceFolder(uri=uri(lib), name="lib")], removed=[]
                    )
                )
            )
            version = lsp.change(in_lib, "import os\nimport re\n")

            def latest_codes() -> list[object]:
                found = [p for p in lsp.published if p.uri == in_lib and p.version == version]
                return [d.code for d in found[-1].diagnostics] if found else []

            # The edit may be checked once before the folder is added (nothing, as before)
            # and again once it is; the last word is the folder's.
            await lsp.until(lambda: latest_codes() == ["F401", "F401"], "lib's diagnostics")
    finally:
        stop_server(world, app)
        stop_server(world, lib)


TYPE_ERROR = 'VALUE: int = "one"\n'


async def test_type_check_runs_on_save_only(world: ServerWorld) -> None:
    module = world.root / "app/src/app/typed.py"
    module.write_text("VALUE: int = 1\n")
    async with lsp_session(world, [world.root], settings={"onSave": ["type-check"]}) as lsp:
        document = lsp.open(module)
        assert await lsp.diagnostics(document) == []
        version = lsp.change(document, TYPE_ERROR)
        assert await lsp.diagnostics(document, version) == []  # unsaved: mypy does not run
        module.write_text(TYPE_ERROR)
        lsp.save(document)

        def mypy_found() -> list[types.Diagnostic]:
            return [
                d
                for p in lsp.published
                if p.uri == document and p.version == version
                for d in p.diagnostics
                if d.source == "mypy"
            ]

        (found,) = await lsp.until(mypy_found, "mypy's diagnostic after the save")
        assert found.range.start.line == 0
        assert found.severity == types.DiagnosticSeverity.Error


async def test_commands_restart_status_and_run_action(world: ServerWorld) -> None:
    module = world.root / "app/src/app/__init__.py"
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(module, UNUSED)
        assert [d.code for d in await lsp.diagnostics(document)] == ["F401"]

        async def command(name: str, *arguments: object) -> object:
            return await lsp.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=name, arguments=list(arguments))
            )

        status = await command("corral.showStatus")
        assert isinstance(status, list)
        assert any("dev_no_runtime" in line and "app" in line for line in status)
        before = {r["pid"] for r in world.status()["runners"] if r.get("pid")}
        restarted = await command("corral.restartRunners")
        assert isinstance(restarted, int)
        assert restarted >= 1
        assert any("restarted" in m.message for m in lsp.client.messages)
        reports = await command("corral.runAction", "lint", uri(module), {})
        assert isinstance(reports, list)
        (report,) = reports
        assert report["status"] == "ok", report  # the file on disk has no findings
        after = {r["pid"] for r in world.status()["runners"] if r.get("pid")}
        assert after
        assert not before & after  # every runner is a new process


async def test_a_fixed_configuration_is_reloaded_on_a_watched_file_change(
    world: ServerWorld,
) -> None:
    pyproject = world.root / "app/pyproject.toml"
    good = pyproject.read_text()
    pyproject.write_text(
        good.replace('presets = ["corral-python"]', 'presets = ["corral-python"]\njobs = "many"')
    )
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(world.root / "app/src/app/__init__.py", UNUSED)
        assert await lsp.diagnostics(document) == []
        config = uri(pyproject)
        await lsp.until(lambda: lsp.client.diagnostics.get(config), "the config diagnostic")
        pyproject.write_text(good)
        lsp.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=config, type=types.FileChangeType.Changed)]
            )
        )
        await lsp.until(
            lambda: list(lsp.client.diagnostics.get(config, [None])) == [],
            "the config diagnostic cleared",
        )

        def found() -> list[str]:
            latest = [p for p in lsp.published if p.uri == document]
            return [d.code for d in latest[-1].diagnostics] if latest else []  # type: ignore[misc]

        assert await lsp.until(found, "diagnostics after the reload") == ["F401"]


async def test_settings_changed_at_run_time(world: ServerWorld) -> None:
    module = world.root / "app/src/app/__init__.py"
    async with lsp_session(world, [world.root]) as lsp:
        document = lsp.open(module, UNUSED)
        (found,) = await lsp.diagnostics(document)
        assert found.severity == types.DiagnosticSeverity.Warning
        count = len(lsp.published)
        lsp.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"corral": {"severity": {"F401": "error"}}})
        )

        def republished() -> list[types.Diagnostic]:
            return [d for p in lsp.published[count:] if p.uri == document for d in p.diagnostics]

        (found,) = await lsp.until(republished, "diagnostics under the new settings")
        assert found.severity == types.DiagnosticSeverity.Error
        lsp.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"corral": {"debounce": "soon"}})
        )
        (shown,) = await lsp.until(lambda: lsp.client.messages, "the settings error")
        assert "debounce" in shown.message
        version = lsp.change(document, UNUSED)
        (found,) = await lsp.diagnostics(document, version)
        assert found.severity == types.DiagnosticSeverity.Error  # the previous settings kept
