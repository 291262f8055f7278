"""The language server's sans-I/O parts: positions in every encoding (and what a client
may send that lies outside the text), minimal edits, settings, config keys, and the
scheduler's supersede/stale rules."""

from __future__ import annotations

import asyncio

import pytest
from corral.lsp.configdiag import key_line
from corral.lsp.convert import Text, fix_edits, minimal_edits, to_lsp_diagnostic
from corral.lsp.schedule import Scheduler
from corral.lsp.settings import Settings, SettingsError, parse_settings
from corral_protocol.results import Diagnostic, Fix, Position, Range, TextEdit
from lsprotocol import types

EMOJI = "x = '😋'  # ü\n"
"""😋 is one code point, two UTF-16 units, four UTF-8 bytes; ü is two UTF-8 bytes."""


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        (types.PositionEncodingKind.Utf16, 9),
        (types.PositionEncodingKind.Utf8, 11),
        (types.PositionEncodingKind.Utf32, 8),
    ],
)
def test_code_points_become_the_clients_units(encoding: str, expected: int) -> None:
    # code point 8 is the `#`... after the closing quote and two spaces
    text = Text(EMOJI, encoding)
    assert text.to_client(0, 8) == types.Position(line=0, character=expected)
    assert text.offset(types.Position(line=0, character=expected)) == 8


def test_positions_outside_the_text_are_clamped() -> None:
    text = Text(EMOJI + "y = 2\n")
    assert text.offset(types.Position(line=99, character=0)) == len(text.source)
    assert text.offset(types.Position(line=1, character=999)) == len(EMOJI) + len("y = 2")
    # inside the surrogate pair of 😋 (UTF-16 units 5..6): the character's start
    assert text.offset(types.Position(line=0, character=6)) == 5
    assert text.to_client(42, 0) == types.Position(line=2, character=0)
    assert text.position_at(10**6) == types.Position(line=2, character=0)


def test_line_ends_of_every_kind() -> None:
    text = Text("a\r\nb\rc\nd")
    assert [text.offset(types.Position(line=n, character=1)) for n in range(4)] == [1, 4, 6, 8]


def test_minimal_edits_touch_only_changed_lines() -> None:
    old = "a = 1\nb=2\nc = 3\nd=4\n"
    new = "a = 1\nb = 2\nc = 3\nd = 4\n"
    edits = minimal_edits(Text(old), new)
    assert [(e.range.start.line, e.range.end.line, e.new_text) for e in edits] == [
        (1, 2, "b = 2\n"),
        (3, 4, "d = 4\n"),
    ]


def test_a_diagnostic_with_a_fix_in_utf16() -> None:
    source = "s = '😋'; import os\n"
    start = source.index("import")
    diagnostic = Diagnostic(
        file="m.py",
        range=Range(
            start=Position(line=0, character=start), end=Position(line=0, character=start + 9)
        ),
        code="E702",
        message="Multiple statements on one line (semicolon)",
        severity="warning",
        source="ruff",
        fixable=True,
        url="https://docs.astral.sh/ruff/rules/",
        tags=["deprecated"],
        fix=Fix(
            applicability="safe",
            edits=[
                TextEdit(
                    range=Range(
                        start=Position(line=0, character=start - 2),
                        end=Position(line=0, character=start),
                    ),
                    new_text="\n",
                )
            ],
        ),
    )
    text = Text(source)
    converted = to_lsp_diagnostic(diagnostic, text, severities={"E702": "hint"})
    assert converted.range.start.character == start + 1  # 😋 counts twice in UTF-16
    assert converted.severity == types.DiagnosticSeverity.Hint
    assert converted.tags == [types.DiagnosticTag.Deprecated]
    assert converted.code_description is not None
    (edit,) = fix_edits(converted.data, text) or []
    assert edit.range.start.character == start - 1
    assert fix_edits({"fix": {"edits": [["bad"]]}}, text) is None


def test_settings() -> None:
    assert parse_settings(None) == Settings()
    settings = parse_settings({"corral": {"debounce": 10, "onSave": [], "severity": {"F": "hint"}}})
    assert (settings.debounce, settings.on_save, settings.severity) == (10, [], {"F": "hint"})
    with pytest.raises(SettingsError, match="debounc"):
        parse_settings({"debounc": 1})
    with pytest.raises(SettingsError, match="debounce"):
        parse_settings({"debounce": -1})


def test_key_line() -> None:
    toml = (
        "[project]\nname = 'x'\n\n[tool.corral]\npresets = []\n\n"
        "[[tool.corral.actions.lint.handlers]]\nname = 'a'\nenv = 'one'\n"
        "[[tool.corral.actions.format.handlers]]\nname = 'b'\nenv = 'two'\n"
    )
    assert key_line(toml, "tool.corral.presets") == 4
    assert key_line(toml, "tool.corral.actions.lint.handlers[0].env") == 8
    assert key_line(toml, "tool.corral.actions.format.handlers[0].env") == 11
    assert key_line(toml, "tool.corral.nowhere") == 3  # the table it would be in
    assert key_line(toml, "") == 0


def test_a_newer_check_cancels_the_older_and_stale_results_are_dropped() -> None:
    async def scenario() -> None:
        versions = {"a": 1}
        started: list[int | None] = []
        delivered: list[tuple[int | None, str]] = []
        release = asyncio.Event()

        async def check(uri: str, version: int | None) -> str:
            started.append(version)
            if version == 1:
                await release.wait()
            return f"v{version}"

        scheduler: Scheduler[str] = Scheduler(
            check, lambda uri, v, value: delivered.append((v, value)), versions.get
        )
        first = scheduler.schedule("a", 0)
        await asyncio.sleep(0.01)
        versions["a"] = 2
        second = scheduler.schedule("a", 0)  # supersedes the first, still running
        await asyncio.gather(first, second, return_exceptions=True)
        assert first.cancelled()
        assert scheduler.cancelled == 1
        assert delivered == [(2, "v2")]

        # a check that finishes after the document changed is dropped, not delivered
        release.set()
        versions["a"] = 3

        async def slow(uri: str, version: int | None) -> str:
            versions["a"] = 4  # the document changes while the check runs
            return "old"

        scheduler.check = slow
        await scheduler.schedule("a", 0)
        assert delivered == [(2, "v2")]
        assert scheduler.dropped == 1
        await scheduler.aclose()

    asyncio.run(scenario())
