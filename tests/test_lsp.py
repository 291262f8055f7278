"""``corral lsp`` end to end: pytest-lsp drives the real language server subprocess, which
talks to the workspace's real WM server (auto-started), real runners and real ruff.

The example workspace (two corral-python projects) is prepared once per module and copied
per test; the teardown stops the server and fails if any process of the test is left.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsp_harness import lsp_session
from lsprotocol import types
from server_harness import ServerWorld, no_leftovers

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workspace"

pytestmark = [pytest.mark.timeout(300), pytest.mark.asyncio]

UNUSED = "import os\nimport sys\n\nprint(sys.argv)\n"
"""An unused import on line 0 (F401 `os`)."""


@pytest.fixture(scope="module")
def prepared_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example") / "workspace"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".corral"))
    world = ServerWorld(root, tmp_path_factory.mktemp("runtime"))
    prepared = world.corral("--no-server", "prepare-envs")
    assert prepared.returncode == 0, prepared.stderr
    return root


@pytest.fixture
def world(prepared_example: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    root = tmp_path / "ws"
    shutil.copytree(prepared_example, root, symlinks=True)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    world = ServerWorld(root, runtime)
    with no_leftovers(world):
        yield world


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
