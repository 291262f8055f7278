"""ruff on unsaved documents (SPEC.md §13.8): ``lint`` and ``format`` given ``documents``.

Each document's text goes to ruff on stdin with ``--stdin-filename PATH``, so ruff applies
the configuration (and per-file settings, and ``exclude`` through ``--force-exclude``) of
the file the text belongs to. Nothing is written and nothing is cached: the result
depends on text the runner sees once. Only ``.py`` and ``.pyi`` documents are linted or
formatted (ruff would parse anything else as Python); the others give nothing.

With ``fix``, ``lint`` returns the fixed text as an edit (ruff's ``--fix`` on stdin prints
the fixed source) and the findings that remain in it; ``format`` returns the formatted text
of each document that would change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from corral_protocol.results import Diagnostic, FileEdit, ToolNote, ToolResult, ToolSummary
from corral_runner.sdk import ActionContext, Document

from .diagnostics import FILE_START, project_relative, sort_diagnostics
from .fixing import count_fixed, has_applicable_fix
from .notes import tool_notes
from .tools import Tool, ToolRun, run_all, run_tool

__all__ = ["PYTHON_SUFFIXES", "format_documents", "lint_documents", "python_documents"]

PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
"""The documents ruff lints and formats here (others give no findings, SPEC.md §13.8)."""

ToDiagnostics = Callable[[ToolRun], list[Diagnostic]]
"""ruff's JSON output of one run as diagnostics (the caller's parser)."""


def python_documents(documents: Sequence[Document]) -> list[Document]:
    """The documents ruff acts on (by suffix)."""
    return [d for d in documents if Path(d.path).suffix in PYTHON_SUFFIXES]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _check(
    ctx: ActionContext[Any],
    tool: Tool,
    *,
    options: list[str],
    path: Path,
    text: str,
    parse: ToDiagnostics,
) -> tuple[list[Diagnostic], bytes]:
    run = await run_tool(
        ctx,
        tool,
        ["check", "--output-format=json", *options, "--stdin-filename", str(path), "-"],
        stdin=text.encode(),
    )
    if run.returncode != 0:  # --exit-zero: findings never make it non-zero
        raise run.failure(f"failed on {path} (exit status {run.returncode})")
    return parse(run), run.stderr


async def _fixed_text(
    ctx: ActionContext[Any], tool: Tool, options: list[str], path: Path, text: str
) -> tuple[str, bytes]:
    run = await run_tool(
        ctx,
        tool,
        ["check", "--fix", *options, "--stdin-filename", str(path), "-"],
        stdin=text.encode(),
    )
    if run.returncode != 0:
        raise run.failure(f"failed to fix {path} (exit status {run.returncode})")
    try:
        return run.stdout.decode(), run.stderr
    except UnicodeDecodeError as exc:
        raise run.failure(f"printed fixed text that is not UTF-8 for {path}") from exc


class _Linted(msgspec.Struct, frozen=True):
    diagnostics: list[Diagnostic]
    edit: FileEdit | None
    fixed: int
    stderr: list[bytes]


async def lint_documents(
    ctx: ActionContext[Any],
    tool: Tool,
    documents: Sequence[Document],
    options: list[str],
    parse: ToDiagnostics,
    *,
    fix: bool = False,
    unsafe: bool = False,
) -> ToolResult:
    """``ruff check`` on each document's text (``options``: exclusions, rule selection,
    ``--exit-zero``; never ``--fix``/``--no-fix``). With ``fix``: the fixed text as
    ``edits`` and the findings that remain in it."""
    applicable = ("safe", "unsafe") if unsafe else ("safe",)
    fix_options = ["--unsafe-fixes" if unsafe else "--no-unsafe-fixes"]

    async def one(document: Document) -> _Linted:
        path = document.resolve(ctx.project)
        no_fix = ["--no-fix", *options]
        found, err = await _check(
            ctx, tool, options=no_fix, path=path, text=document.text, parse=parse
        )
        if not fix or not any(has_applicable_fix(d, applicable) for d in found):
            return _Linted(diagnostics=found, edit=None, fixed=0, stderr=[err])
        fixed_text, fix_err = await _fixed_text(
            ctx, tool, [*fix_options, *options], path, document.text
        )
        if fixed_text == document.text:
            return _Linted(diagnostics=found, edit=None, fixed=0, stderr=[err, fix_err])
        after, after_err = await _check(
            ctx, tool, options=no_fix, path=path, text=fixed_text, parse=parse
        )
        edit = FileEdit(
            file=project_relative(ctx.project, str(path)),
            original=_digest(document.text),
            formatted=fixed_text,
        )
        fixed = count_fixed(found, after, applicable)
        return _Linted(diagnostics=after, edit=edit, fixed=fixed, stderr=[err, fix_err, after_err])

    ctx.progress(f"running ruff check on {len(documents)} unsaved documents")
    linted = await run_all(one(d) for d in python_documents(documents))
    diagnostics = sort_diagnostics([d for one_doc in linted for d in one_doc.diagnostics])
    summary = ToolSummary(findings=len(diagnostics), fixable=sum(d.fixable for d in diagnostics))
    result = ToolResult(
        diagnostics=diagnostics, summary={"ruff": summary}, notes=_notes("ruff", linted)
    )
    if not fix:
        return result
    edits = sorted((one_doc.edit for one_doc in linted if one_doc.edit), key=lambda e: e.file)
    summary = msgspec.structs.replace(summary, fixed=sum(one_doc.fixed for one_doc in linted))
    return msgspec.structs.replace(result, edits=edits, changed=[], summary={"ruff": summary})


def _notes(source: str, linted: Sequence[_Linted]) -> list[ToolNote] | msgspec.UnsetType:
    stderr = [err for one in linted for err in one.stderr]
    return list(dict.fromkeys(tool_notes(source, *stderr))) or msgspec.UNSET


async def format_documents(
    ctx: ActionContext[Any],
    tool: Tool,
    documents: Sequence[Document],
    options: list[str],
    source: str,
) -> ToolResult:
    """``ruff format`` of each document's text: an edit per document that would change.
    A document ruff cannot format (a syntax error) gives an ``error`` diagnostic."""

    async def one(document: Document) -> tuple[FileEdit | Diagnostic | None, bytes]:
        path = document.resolve(ctx.project)
        run = await run_tool(
            ctx,
            tool,
            ["format", *options, "--stdin-filename", str(path), "-"],
            stdin=document.text.encode(),
        )
        relative = project_relative(ctx.project, str(path))
        if run.returncode == 2 or (run.returncode != 0 and not run.stdout):
            message = run.stderr.decode(errors="replace").strip() or "ruff format failed"
            return _format_error(relative, message, source), b""
        if run.returncode != 0:
            raise run.failure(f"failed on {path} (exit status {run.returncode})")
        if run.stdout == document.text.encode():
            return None, run.stderr
        try:
            text = run.stdout.decode()
        except UnicodeDecodeError as exc:
            raise run.failure(f"printed text that is not UTF-8 for {path}") from exc
        return FileEdit(file=relative, original=_digest(document.text), formatted=text), b""

    ctx.progress(f"running ruff format on {len(documents)} unsaved documents")
    results = await run_all(one(d) for d in python_documents(documents))
    edits = sorted((e for e, _ in results if isinstance(e, FileEdit)), key=lambda e: e.file)
    errors = sort_diagnostics([e for e, _ in results if isinstance(e, Diagnostic)])
    notes = list(dict.fromkeys(tool_notes(source, *(err for _, err in results))))
    return ToolResult(
        edits=edits,
        diagnostics=errors,
        summary={source: ToolSummary(changed=len(edits), errors=len(errors))},
        notes=notes or msgspec.UNSET,
    )


def _format_error(file: str, message: str, source: str) -> Diagnostic:
    first = message.splitlines()[0] if message else message
    return Diagnostic(
        file=file,
        range=FILE_START,
        code=None,
        message=first.removeprefix("error: "),
        severity="error",
        source=source,
        fixable=False,
    )
