"""Handlers running ruff: ``lint`` (``ruff check``), ``format`` and ``check_format``.

Only ruff's JSON output is parsed (``--output-format json``), never its human-readable
text. ``ruff check`` has had it since 0.2; ``ruff format --check`` since 0.16 (which is why
the preset asks for ``ruff>=0.16``). An older ruff that rejects the option fails the handler
with a :class:`~corral_python.tools.ToolError` saying so.

Every invocation passes ``--force-exclude`` so the project's ``exclude`` settings apply to
explicitly given paths too. ``ruff check`` keeps its cache (``.ruff_cache`` in the project,
ruff's default): it is keyed by settings and file contents, and repeated lints in a
long-lived runner are what it is for; add ``"--no-cache"`` to the handler's ``args`` to
turn it off.

``lint`` and ``check-format`` also skip ruff altogether when nothing it could read has
changed since their last run in this runner (:mod:`corral_python.reuse`): the result is
the remembered one, marked ``"reused": true`` in its summary. ``reuse = false`` in the
handler's config turns that off.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec
from corral_protocol.results import (
    Diagnostic,
    DiagnosticTag,
    FileEdit,
    Fix,
    Position,
    Range,
    Severity,
    TextEdit,
    ToolNote,
    ToolResult,
    ToolSummary,
)
from corral_runner.sdk import ActionContext, Document

from .diagnostics import FILE_START, project_relative, sort_diagnostics
from .documents import format_documents, lint_documents
from .fixing import FixCandidates, count_fixed
from .notes import tool_notes
from .params import StandardParams, UnsupportedParam
from .reuse import TreeStamp, declare_tree_inputs, reuse_or_run
from .ruffpaths import ruff_paths
from .tools import (
    PathList,
    Tool,
    ToolError,
    ToolRun,
    load_config,
    run_all,
    run_tool,
)
from .versions import reports_version

__all__ = [
    "CheckFormatParams",
    "FormatParams",
    "FormatResult",
    "LintParams",
    "LintResult",
    "RuffCheckConfig",
    "RuffFormatConfig",
    "check_format",
    "format",
    "lint",
]

R = TypeVar("R")

RUFF = Tool(name="ruff", module="ruff", requirement="ruff>=0.16", binary="ruff")
CORRAL_EXCLUDE = ("--force-exclude", "--extend-exclude", ".corral")
"""Corral's own environments live in ``<project>/.corral/``: never lint or format them,
whether or not the project's ``.gitignore`` mentions them (ruff honours it by default)."""

SYNTAX_ERROR_CODES = frozenset({"invalid-syntax", "E999"})
"""Codes ruff gives a file it cannot parse (``E999`` before 0.5; no code at all before
0.8 — a null code is treated the same way)."""

IO_ERROR_CODES = frozenset({"E902", "io"})
"""Codes ruff gives a file it cannot read (check: ``E902``; format: ``io``)."""

UNFORMATTED = "unformatted"
"""The code of ``ruff format --check``'s "File would be reformatted"."""

FORMAT_TOOL = "ruff-format"
"""The name ``format`` and ``check-format`` report under (in ``summary`` and ``source``)."""
FORMAT_CODE = "format"
FORMAT_MESSAGE = "file would be reformatted"


# --- params, config, results -------------------------------------------------------------


class LintParams(StandardParams, frozen=True, kw_only=True):
    """Params of ``lint``: what to check (default: the project directory); ``fix``:
    apply ruff's safe fixes in place (``unsafeFixes``: its unsafe ones too)."""

    SUPPORTED: ClassVar[frozenset[str]] = frozenset(
        {"paths", "fix", "unsafeFixes", "documents", "only"}
    )

    fix: bool = False
    unsafe_fixes: bool = False
    documents: list[Document] | None = None
    """Unsaved documents to lint instead of the files (SPEC.md §13.8)."""
    only: list[str] | None = None
    """Only rules whose code starts with one of these (``--select``, overriding the
    configuration's selection)."""


class FormatParams(StandardParams, frozen=True, kw_only=True):
    """Params of ``format``: what to format; ``write``: rewrite the files instead of
    returning their new text as ``edits``; ``diff``: return ``edits`` (the default without
    ``write``; an error with it)."""

    SUPPORTED: ClassVar[frozenset[str]] = frozenset({"paths", "write", "diff", "documents"})

    write: bool = False
    diff: bool = False
    documents: list[Document] | None = None
    """Unsaved documents to format instead of the files (SPEC.md §13.8)."""


class CheckFormatParams(StandardParams, frozen=True, kw_only=True):
    """Params of ``check-format``: what to check; ``diff``: also return ``edits``, the new
    text of each file that would change (so a front end can show a diff)."""

    SUPPORTED: ClassVar[frozenset[str]] = frozenset({"paths", "diff"})

    diff: bool = False


class RuffCheckConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Config of ``lint``: rule selection overrides and extra ``ruff check`` options."""

    select: list[str] | None = None
    ignore: list[str] | None = None
    args: list[str] = msgspec.field(default_factory=list)
    count_files: bool = False
    """Also report how many files ruff checked (costs a second ruff pass)."""
    reuse: bool = True
    """Answer from the last result while nothing ruff reads has changed."""


class RuffFormatConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Config of ``format`` and ``check-format``: extra ``ruff format`` options."""

    args: list[str] = msgspec.field(default_factory=list)
    reuse: bool = True
    """Answer ``check-format`` from the last result while nothing ruff reads has changed."""


LintResult = ToolResult
"""What ``lint`` returns: ``summary.ruff`` holds ``findings``, ``fixable`` (findings with a
safe fix), ``files`` (with the ``count_files`` config) and ``reused``."""
FormatResult = ToolResult
"""What ``format`` and ``check-format`` return: ``summary["ruff-format"]`` holds ``changed``
(files to be or that were reformatted) and ``errors`` (files ruff could not format, each
with an ``error`` diagnostic). ``format`` adds ``edits`` (without ``write``) or ``changed``
(with it); ``check-format`` has a ``format`` diagnostic per file that would change, and
``edits`` with ``diff``."""


# --- ruff's JSON output ------------------------------------------------------------------


class _Location(msgspec.Struct, frozen=True):
    row: int
    column: int


class _Edit(msgspec.Struct, frozen=True):
    content: str
    location: _Location
    end_location: _Location


class _Fix(msgspec.Struct, frozen=True):
    applicability: str = "safe"
    message: str | None = None
    edits: list[_Edit] = msgspec.field(default_factory=list)


class _Message(msgspec.Struct, frozen=True):
    """One entry of ruff's ``--output-format json`` array (the fields used here)."""

    filename: str
    message: str
    code: str | None = None
    location: _Location | None = None
    end_location: _Location | None = None
    fix: _Fix | None = None
    url: str | None = None


def _position(location: _Location | None) -> Position:
    """ruff's 1-based row/column as a 0-based position."""
    if location is None:
        return Position(line=0, character=0)
    return Position(line=max(location.row - 1, 0), character=max(location.column - 1, 0))


def _range(message: _Message) -> Range:
    start = _position(message.location)
    end = start if message.end_location is None else _position(message.end_location)
    return Range(start=start, end=end)


UNNECESSARY = frozenset(
    {"F401", "F841", "F842", "RUF100", "ARG001", "ARG002", "ARG003", "ARG004", "ARG005"}
)
"""Rules about unused code: their diagnostics carry LSP's ``unnecessary`` tag (editors fade
the code out)."""
DEPRECATED = frozenset({"UP005", "UP026", "UP035"})
"""Rules about deprecated aliases and imports: LSP's ``deprecated`` tag (struck through)."""
APPLICABILITY = {"safe": "safe", "unsafe": "unsafe", "display-only": "display-only"}
"""ruff's fix applicability names (``DisplayOnly`` in older releases is normalised below)."""


def _tags(code: str | None) -> list[DiagnosticTag] | msgspec.UnsetType:
    if code in UNNECESSARY:
        return ["unnecessary"]
    if code in DEPRECATED:
        return ["deprecated"]
    return msgspec.UNSET


def _fix(fix: _Fix | None) -> Fix | msgspec.UnsetType:
    """ruff's fix (1-based edit locations) as a protocol Fix (0-based)."""
    if fix is None:
        return msgspec.UNSET
    kind = fix.applicability.replace("_", "-").lower()
    if kind == "displayonly":
        kind = "display-only"
    edits = [
        TextEdit(
            range=Range(start=_position(e.location), end=_position(e.end_location)),
            new_text=e.content,
        )
        for e in fix.edits
    ]
    message = msgspec.UNSET if fix.message is None else fix.message
    return Fix(applicability=APPLICABILITY.get(kind, "unsafe"), edits=edits, message=message)  # type: ignore[arg-type]


def _is_error(message: _Message) -> bool:
    """Whether ruff could not process the file at all (syntax or I/O error)."""
    return (
        message.code is None or message.code in SYNTAX_ERROR_CODES or message.code in IO_ERROR_CODES
    )


def _diagnostic(project: Path, message: _Message, source: str) -> Diagnostic:
    severity: Severity = "error" if _is_error(message) else "warning"
    fixable = message.fix is not None and message.fix.applicability == "safe"
    return Diagnostic(
        file=project_relative(project, message.filename),
        range=_range(message),
        code=message.code,
        message=message.message,
        severity=severity,
        source=source,
        fixable=fixable,
        url=message.url or msgspec.UNSET,
        tags=_tags(message.code),
        fix=_fix(message.fix),
    )


def _messages(run: ToolRun) -> list[_Message]:
    """ruff's JSON array (nothing at all counts as empty: ``ruff format --check`` prints
    nothing when it finds no files)."""
    if not run.stdout.strip():
        return []
    try:
        return msgspec.json.decode(run.stdout, type=list[_Message])
    except msgspec.DecodeError as exc:
        raise run.failure(f"printed output that is not ruff's JSON ({exc})") from None


# --- lint ----------------------------------------------------------------------------------


@reports_version("ruff")
async def lint(ctx: ActionContext[LintParams]) -> LintResult:
    """``ruff check``: every finding as a diagnostic (``warning``; ``error`` for a file ruff
    cannot parse or read). ``fixable`` means ruff has a *safe* fix for it.

    Without ``fix`` it never modifies files (``--no-fix`` overrides a ``fix = true``
    setting). With ``fix``, ruff applies its safe fixes (``unsafeFixes``: its unsafe ones
    too; never ``display-only`` ones) to the files that have one, and the result lists the
    findings that remain, the files it rewrote (``changed``) and how many findings the fixes
    resolved (``summary.ruff.fixed``; see :mod:`corral_python.fixing`).
    """
    config = load_config(ctx, RuffCheckConfig)
    ctx.params.refuse_unsupported(ctx)
    if ctx.params.unsafe_fixes and not ctx.params.fix:
        raise UnsupportedParam(
            f"handler {ctx.handler!r} of action {ctx.action!r}: `unsafeFixes` needs `fix`"
        )
    selection = []
    if config.select:
        selection.append("--select=" + ",".join(config.select))
    if config.ignore:
        selection.append("--ignore=" + ",".join(config.ignore))
    selection.extend(config.args)
    if ctx.params.only is not None:
        selection.append("--select=" + ",".join(ctx.params.only))
    if ctx.params.documents is not None:  # unsaved buffers: never reused, never written
        return await lint_documents(
            ctx,
            RUFF,
            ctx.params.documents,
            ["--exit-zero", *CORRAL_EXCLUDE, *selection],
            lambda run: [_diagnostic(ctx.project, m, "ruff") for m in _messages(run)],
            fix=ctx.params.fix,
            unsafe=ctx.params.unsafe_fixes,
        )
    selected = await ruff_paths(ctx, RUFF, ctx.params.paths, CORRAL_EXCLUDE)
    if not selected:  # every given file was one ruff does not take
        files = 0 if config.count_files else msgspec.UNSET
        return ToolResult(
            diagnostics=[], summary={"ruff": ToolSummary(findings=0, fixable=0, files=files)}
        )
    options = ["--no-fix", "--exit-zero", *CORRAL_EXCLUDE, *selection]
    paths = ["--", *selected]
    args = ["check", "--output-format=json", *options, *paths]

    async def run() -> LintResult:
        ctx.progress("running ruff check")
        return await _lint(ctx, args, [*options, *paths] if config.count_files else None)

    command = [*args, f"count_files={config.count_files}"]
    result, reused = await _reusing(ctx, "lint", command, run, enabled=config.reuse)
    if reused:
        result = _mark_reused(result)
    if not ctx.params.fix:
        return result
    ctx.declared_inputs = None  # fixing rewrites files: never answered from a cache
    return await _apply_fixes(ctx, result, [*selection, *paths])


async def _apply_fixes(
    ctx: ActionContext[LintParams], found: LintResult, options: list[str]
) -> LintResult:
    """Apply the fixes of ``found`` (this project's findings just now) with
    ``ruff check --fix`` (``options``: rule selection and paths); the result after it."""
    unsafe = ctx.params.unsafe_fixes
    applicable = ("safe", "unsafe") if unsafe else ("safe",)
    candidates = await asyncio.to_thread(
        FixCandidates.take, ctx.project, found.diagnostics, applicable
    )
    before = found.summary.get("ruff", ToolSummary())
    if not candidates:  # nothing ruff would fix: no second run
        summary = msgspec.structs.replace(before, fixed=0)
        return msgspec.structs.replace(found, changed=[], summary={"ruff": summary})
    ctx.progress(f"running ruff check --fix on {len(candidates.digests)} files")
    unsafe_option = "--unsafe-fixes" if unsafe else "--no-unsafe-fixes"
    fix_args = ["check", "--output-format=json", "--fix", unsafe_option, "--exit-zero"]
    run = await run_tool(ctx, RUFF, [*fix_args, *CORRAL_EXCLUDE, *options])
    if run.returncode != 0:
        raise run.failure()
    diagnostics = sort_diagnostics([_diagnostic(ctx.project, m, "ruff") for m in _messages(run)])
    changed = await asyncio.to_thread(candidates.changed)
    summary = ToolSummary(
        files=before.files,
        findings=len(diagnostics),
        fixable=sum(d.fixable for d in diagnostics),
        fixed=count_fixed(found.diagnostics, diagnostics, applicable),
    )
    notes = [*(found.notes or []), *tool_notes("ruff", run.stderr)]
    unique = list(dict.fromkeys(notes))  # the fix run repeats the check's warnings
    return ToolResult(
        diagnostics=diagnostics,
        summary={"ruff": summary},
        changed=changed,
        notes=unique or msgspec.UNSET,
    )


def _mark_reused(result: ToolResult) -> ToolResult:
    """``result`` with every tool's summary marked ``reused``."""
    summary = {tool: msgspec.structs.replace(s, reused=True) for tool, s in result.summary.items()}
    return msgspec.structs.replace(result, summary=summary)


async def _reusing(
    ctx: ActionContext[Any],
    key: str,
    command: list[str],
    run: Callable[[], Awaitable[R]],
    *,
    enabled: bool,
) -> tuple[R, bool]:
    """``run()``'s result, or the one ``ruff command`` gave last time if nothing it reads
    changed since (see :mod:`.reuse`); paths outside the project are never reused."""
    argv = RUFF.argv()

    def stamp() -> TreeStamp | None:
        extra = [Path(argv[0])] if len(argv) == 1 else []
        return TreeStamp.take(ctx.project, [*argv, *command], extra=extra)

    paths: PathList | None = ctx.params.paths
    root = ctx.project.resolve()
    inside = paths is None or all((root / p).resolve().is_relative_to(root) for p in paths)
    if enabled and inside:  # the same promise to the WM's result cache (SPEC.md §9.4.1)
        declare_tree_inputs(ctx, " ".join([*argv, *command]), tool=argv[0])
    return await reuse_or_run(ctx.state, key, stamp, run, enabled=enabled and inside)


async def _lint(ctx: ActionContext[Any], args: list[str], listing: list[str] | None) -> LintResult:
    """Run ``ruff check`` (and ``--show-files`` when ``listing`` holds its options)."""
    runs = [run_tool(ctx, RUFF, args)]
    if listing is not None:
        runs.append(run_tool(ctx, RUFF, ["check", "--show-files", *listing]))
    check, *listing_runs = await run_all(runs)
    if check.returncode != 0:  # --exit-zero: findings never make it non-zero
        raise check.failure()
    files: int | msgspec.UnsetType = msgspec.UNSET
    for run in listing_runs:
        if run.returncode != 0:
            raise run.failure()
        # --show-files prints one absolute path per line: a list, not prose.
        files = sum(1 for line in run.stdout.splitlines() if line.strip())
    diagnostics = sort_diagnostics([_diagnostic(ctx.project, m, "ruff") for m in _messages(check)])
    summary = ToolSummary(
        files=files,
        findings=len(diagnostics),
        fixable=sum(d.fixable for d in diagnostics),
    )
    notes = tool_notes("ruff", check.stderr) or msgspec.UNSET
    return ToolResult(diagnostics=diagnostics, summary={"ruff": summary}, notes=notes)


# --- format and check-format ---------------------------------------------------------------


class _Checked(msgspec.Struct, frozen=True):
    """What ``ruff format --check`` found: files that would change (absolute, as ruff
    reports them), error diagnostics for files it could not format, and its stderr."""

    unformatted: list[str]
    errors: list[Diagnostic]
    stderr: bytes


async def _check(ctx: ActionContext[Any], config: RuffFormatConfig, paths: list[str]) -> _Checked:
    """Run ``ruff format --check --output-format json`` over ``paths``."""
    run = await run_tool(
        ctx,
        RUFF,
        [
            "format",
            "--check",
            "--output-format=json",
            *CORRAL_EXCLUDE,
            *config.args,
            "--",
            *paths,
        ],
    )
    # 0: all formatted; 1: some would change; 2: some could not be formatted (reported in
    # the JSON) -- or ruff itself failed (nothing on stdout, the reason on stderr).
    if run.returncode not in (0, 1, 2):
        raise run.failure()
    messages = _messages(run)
    if run.returncode != 0 and not messages:
        if b"--output-format" in run.stderr:
            raise run.failure("does not support --output-format (ruff >= 0.16 is required)")
        raise run.failure()
    unformatted = [m.filename for m in messages if m.code == UNFORMATTED]
    errors = [_diagnostic(ctx.project, m, FORMAT_TOOL) for m in messages if _is_error(m)]
    if run.returncode == 2 and not errors:
        raise run.failure()
    return _Checked(unformatted=unformatted, errors=sort_diagnostics(errors), stderr=run.stderr)


@reports_version("ruff")
async def check_format(ctx: ActionContext[CheckFormatParams]) -> ToolResult:
    """``ruff format --check``: a ``format`` warning (fixable) per file that would change,
    plus an ``error`` diagnostic per file ruff cannot parse or read. With ``diff``, also
    the ``edits`` that would format those files (their full new text)."""
    config = load_config(ctx, RuffFormatConfig)
    ctx.params.refuse_unsupported(ctx)
    diff = ctx.params.diff

    async def run() -> ToolResult:
        ctx.progress("running ruff format --check")
        checked = await _check(ctx, config, paths)
        result = _format_diagnostics(ctx, checked)
        if not diff:
            return result
        edits, stderr = await _edits(ctx, config, checked.unformatted)
        notes = _format_notes(checked.stderr, *stderr)
        return msgspec.structs.replace(result, edits=edits, notes=notes)

    paths = await ruff_paths(ctx, RUFF, ctx.params.paths, CORRAL_EXCLUDE)
    if not paths:  # every given file was one ruff does not take
        return ToolResult(diagnostics=[], summary=_format_summary(0, 0))
    command = ["format", "--check", *config.args, "--", *paths, f"diff={diff}"]
    result, reused = await _reusing(ctx, "check-format", command, run, enabled=config.reuse)
    if not reused:
        return result
    return _mark_reused(result)


def _format_summary(changed: int, errors: int) -> dict[str, ToolSummary]:
    return {FORMAT_TOOL: ToolSummary(changed=changed, errors=errors)}


def _format_diagnostics(ctx: ActionContext[Any], checked: _Checked) -> ToolResult:
    """``check-format``'s result from what ``ruff format --check`` found."""
    diagnostics = [
        Diagnostic(
            file=project_relative(ctx.project, filename),
            range=FILE_START,
            code=FORMAT_CODE,
            message=FORMAT_MESSAGE,
            severity="warning",
            source=FORMAT_TOOL,
            fixable=True,
        )
        for filename in checked.unformatted
    ]
    return ToolResult(
        diagnostics=sort_diagnostics(diagnostics + checked.errors),
        summary=_format_summary(len(diagnostics), len(checked.errors)),
        notes=_format_notes(checked.stderr),
    )


def _format_notes(*stderr: bytes) -> list[ToolNote] | msgspec.UnsetType:
    """What ``ruff format`` runs said on stderr, once each (SPEC.md §13.6)."""
    return tool_notes(FORMAT_TOOL, *stderr) or msgspec.UNSET


@reports_version("ruff")
async def format(ctx: ActionContext[FormatParams]) -> ToolResult:
    """``ruff format``. With ``write=false`` (default) nothing is written: the result holds
    the full formatted text of each file that would change. With ``write=true`` ruff
    rewrites those files and the result lists them.

    Files ruff cannot format (syntax or I/O errors) are left alone and reported as
    ``error`` diagnostics either way.
    """
    config = load_config(ctx, RuffFormatConfig)
    ctx.params.refuse_unsupported(ctx)
    if ctx.params.write and ctx.params.diff:
        raise UnsupportedParam(
            f"handler {ctx.handler!r} of action {ctx.action!r}: `diff` and `write` exclude "
            "each other (`diff` returns the edits, `write` applies them)"
        )
    if ctx.params.documents is not None:
        if ctx.params.write:
            raise UnsupportedParam(
                f"handler {ctx.handler!r} of action {ctx.action!r}: `write` and `documents` "
                "exclude each other (unsaved documents are never written; SPEC.md §13.8)"
            )
        options = [*CORRAL_EXCLUDE, *config.args]
        return await format_documents(ctx, RUFF, ctx.params.documents, options, FORMAT_TOOL)
    paths = await ruff_paths(ctx, RUFF, ctx.params.paths, CORRAL_EXCLUDE)
    if not paths:  # every given file was one ruff does not take
        if ctx.params.write:
            return ToolResult(changed=[], diagnostics=[], summary=_format_summary(0, 0))
        return ToolResult(edits=[], diagnostics=[], summary=_format_summary(0, 0))
    ctx.progress("running ruff format --check")
    checked = await _check(ctx, config, paths)
    stderr = [checked.stderr]
    if ctx.params.write:
        if checked.unformatted:
            ctx.progress(f"formatting {len(checked.unformatted)} files")
            run = await run_tool(
                ctx,
                RUFF,
                ["format", *CORRAL_EXCLUDE, *config.args, "--", *checked.unformatted],
            )
            if run.returncode != 0:
                raise run.failure()
            stderr.append(run.stderr)
        changed = sorted(project_relative(ctx.project, f) for f in checked.unformatted)
        return ToolResult(
            changed=changed,
            diagnostics=checked.errors,
            summary=_format_summary(len(changed), len(checked.errors)),
            notes=_format_notes(*stderr),
        )

    edits, more = await _edits(ctx, config, checked.unformatted)
    return ToolResult(
        edits=edits,
        diagnostics=checked.errors,
        summary=_format_summary(len(edits), len(checked.errors)),
        notes=_format_notes(*stderr, *more),
    )


async def _edits(
    ctx: ActionContext[Any], config: RuffFormatConfig, unformatted: list[str]
) -> tuple[list[FileEdit], list[bytes]]:
    """The edits that format ``unformatted`` (sorted by file; files that turn out unchanged
    give none) and what ruff said on stderr while making them."""
    if unformatted:
        ctx.progress(f"formatting {len(unformatted)} files")
    # One `ruff format -` per changed file (files that need no change cost nothing), a few
    # at a time; if one fails (or we are cancelled) the others are cancelled and killed.
    limit = asyncio.Semaphore(min(8, os.cpu_count() or 1))

    async def formatted(filename: str) -> tuple[FileEdit | None, bytes]:
        async with limit:
            return await _format_one(ctx, config, filename)

    results = await run_all(formatted(f) for f in unformatted)
    edits = sorted((e for e, _ in results if e is not None), key=lambda e: e.file)
    return edits, [err for _, err in results]


async def _format_one(
    ctx: ActionContext[Any], config: RuffFormatConfig, filename: str
) -> tuple[FileEdit | None, bytes]:
    """Format one file through stdin: its edit (``None`` if it turns out unchanged) and
    what ruff said on stderr."""
    original = await asyncio.to_thread(Path(filename).read_bytes)
    run = await run_tool(
        ctx,
        RUFF,
        ["format", *CORRAL_EXCLUDE, *config.args, "--stdin-filename", filename, "-"],
        stdin=original,
    )
    if run.returncode != 0:
        raise run.failure(f"failed on {filename} (exit status {run.returncode})")
    if run.stdout == original:
        return None, run.stderr
    try:
        text = run.stdout.decode()
    except UnicodeDecodeError as exc:
        raise ToolError(f"ruff format printed text that is not UTF-8 for {filename}") from exc
    edit = FileEdit(
        file=project_relative(ctx.project, filename),
        original=hashlib.sha256(original).hexdigest(),
        formatted=text,
    )
    return edit, run.stderr
