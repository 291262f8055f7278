"""What the language server does, apart from speaking LSP: runs actions for documents.

:class:`Engine` runs the ``onChange`` actions on a buffer's current text (the ``documents``
param, SPEC.md §13.8) and the ``onSave`` actions on the saved file, turns the reports into
LSP diagnostics, and reports each problem (a handler that failed, a runner that cannot
start, a configuration error) once through :attr:`Engine.problem`.

Diagnostics of one document are scheduled by :class:`~corral.lsp.schedule.Scheduler`;
this module knows nothing of timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from corral_protocol.client import ProjectReport, RunReport, RunRequest
from corral_protocol.results import ToolResult
from lsprotocol import types

from ..errors import CorralError, UnknownActionError
from ..sinks import RunSinks
from .convert import Text, edit_for, minimal_edits, to_lsp_diagnostic, tool_result
from .settings import Settings
from .wm import Backend, WorkspaceLink, Workspaces

__all__ = ["Engine", "Feedback", "Problem"]

log = logging.getLogger("corral.lsp")

ACTION_NOT_FOUND = -32010


class Feedback(Protocol):
    """What a run tells the person while it runs (env preparation, a long action's
    progress)."""

    def sinks(self) -> RunSinks: ...

    def finish(self) -> None: ...


class _Silent:
    def sinks(self) -> RunSinks:
        return RunSinks()

    def finish(self) -> None:
        return None


@dataclass(frozen=True)
class Problem:
    """Something a person must hear about once: which project, what, and why."""

    project: Path | None
    what: str
    reason: str
    config_error: CorralError | None = None

    def message(self) -> str:
        where = f" in {self.project}" if self.project is not None else ""
        return f"Corral: {self.what}{where}: {self.reason}"


@dataclass
class DocumentState:
    """What was last found for one document."""

    change: list[types.Diagnostic] = field(default_factory=list)
    change_version: int | None = None
    save: list[types.Diagnostic] = field(default_factory=list)


def _relative(project: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(project).as_posix()
    except ValueError:
        return str(path)


def _not_defined(exc: CorralError) -> bool:
    return isinstance(exc, UnknownActionError) or getattr(exc, "code", None) == ACTION_NOT_FOUND


def _run_everywhere(
    action: str, params: dict[str, Any], sinks: RunSinks
) -> Callable[[Backend], Awaitable[RunReport]]:
    request = RunRequest(action=action, workspace=True, params=params, source="lsp")
    return lambda wm: wm.run(request, sinks)


class Engine:
    """See the module docstring."""

    def __init__(
        self,
        workspaces: Workspaces,
        *,
        settings: Settings,
        problem: Callable[[Problem], None],
        encoding: str = types.PositionEncodingKind.Utf16,
        feedback: Callable[[str], Feedback] = lambda action: _Silent(),
    ) -> None:
        self.workspaces = workspaces
        self.settings = settings
        self.problem = problem
        self.encoding = encoding
        self.feedback = feedback
        self.states: dict[str, DocumentState] = {}

    def state(self, uri: str) -> DocumentState:
        return self.states.setdefault(uri, DocumentState())

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        """Everything found for ``uri``: the buffer's findings and the saved file's."""
        state = self.states.get(uri)
        return [] if state is None else [*state.change, *state.save]

    # --- runs --------------------------------------------------------------------------------

    async def _run(
        self, link: WorkspaceLink, project: Path, action: str, params: dict[str, Any]
    ) -> ToolResult | None:
        """Run ``action`` in ``project``; its ToolResult, or None (not defined there, or it
        failed: then said once through :attr:`problem`)."""
        request = RunRequest(action=action, project=str(project), params=params, source="lsp")
        feedback = self.feedback(action)
        try:
            report = await link.call(lambda wm: wm.run(request, feedback.sinks()))
        except CorralError as exc:
            if _not_defined(exc):
                log.info("%s: action %r is not defined: %s", project, action, exc)
                return None
            user_fault = getattr(exc, "user_fault", False)
            config = exc if user_fault else None
            self.problem(Problem(project, f"`{action}` cannot run", str(exc), config))
            return None
        finally:
            feedback.finish()
        if not isinstance(report, ProjectReport):  # pragma: no cover  (a project was asked)
            return None
        for outcome in report.handlers:
            if outcome.status == "failed" and outcome.error is not None:
                reason = f"{outcome.error.type}: {outcome.error.message}"
                self.problem(Problem(project, f"handler `{outcome.name}` of `{action}`", reason))
        if report.status == "error" and report.error is not None:
            self.problem(Problem(project, f"`{action}` failed", report.error.message))
        return tool_result(report.result)

    def _convert(
        self, result: ToolResult | None, project: Path, path: Path, text: Text
    ) -> list[types.Diagnostic]:
        if result is None:
            return []
        relative = _relative(project, path)
        wanted = {relative, str(path)}
        return [
            to_lsp_diagnostic(d, text, severities=self.settings.severity)
            for d in result.diagnostics
            if d.file in wanted
        ]

    async def check_buffer(
        self, path: Path, text: str, version: int | None
    ) -> list[types.Diagnostic]:
        """The ``onChange`` actions' findings about ``text`` (the buffer of ``path``)."""
        found = self.workspaces.link_for(path)
        if found is None:
            return []
        link, project = found
        document = {"path": str(path), "text": text}
        if version is not None:
            document["version"] = version  # type: ignore[assignment]
        params = {"documents": [document]}
        results = await asyncio.gather(
            *(self._run(link, project, action, params) for action in self.settings.on_change)
        )
        lines = Text(text, self.encoding)
        return [d for result in results for d in self._convert(result, project, path, lines)]

    async def check_saved(self, path: Path, text: str) -> list[types.Diagnostic]:
        """The ``onSave`` actions' findings about the file on disk (``text``: its text)."""
        found = self.workspaces.link_for(path)
        if found is None or not await asyncio.to_thread(path.is_file):
            return []
        link, project = found
        params = {"paths": [str(path)]}
        results = await asyncio.gather(
            *(self._run(link, project, action, params) for action in self.settings.on_save)
        )
        lines = Text(text, self.encoding)
        return [d for result in results for d in self._convert(result, project, path, lines)]

    async def new_text(
        self, path: Path, text: str, action: str, extra: dict[str, Any]
    ) -> str | None:
        """The text ``action`` (``format``, or ``lint`` with ``fix``) would turn the buffer
        into; None when nothing would change (or it cannot run here)."""
        found = self.workspaces.link_for(path)
        if found is None:
            return None
        link, project = found
        params = {"documents": [{"path": str(path), "text": text}], **extra}
        result = await self._run(link, project, action, params)
        if result is None:
            return None
        edit = edit_for(result, _relative(project, path)) or edit_for(result, str(path))
        if edit is None:
            return None
        if edit.original != hashlib.sha256(text.encode()).hexdigest():
            log.warning("%s: an edit for other text than the buffer's was ignored", path)
            return None
        return edit.formatted

    async def edits(
        self, path: Path, text: str, action: str, extra: dict[str, Any]
    ) -> list[types.TextEdit]:
        """Minimal edits from ``text`` to what ``action`` makes of it (none: no change)."""
        new = await self.new_text(path, text, action, extra)
        if new is None or new == text:
            return []
        return minimal_edits(Text(text, self.encoding), new)

    async def restart(self) -> int:
        """Restart every runner of every workspace; how many were restarted."""
        from corral_protocol.client import RestartRequest  # noqa: PLC0415

        total = 0
        for link in list(self.workspaces.links.values()):
            outcome = await link.call(lambda wm: wm.restart(RestartRequest()))
            total += len(outcome.runners)
        return total

    async def status_lines(self) -> list[str]:
        """One line per runner of every workspace, for ``corral.showStatus``."""
        lines = []
        for link in list(self.workspaces.links.values()):
            status = await link.call(lambda wm: wm.status())
            lines.append(f"{link.root}: {'server' if link.served else 'embedded'}")
            for runner in status.runners:
                lines.append(f"  {runner.project} [{runner.env}]: {runner.state}")
        return lines

    async def run_action(self, action: str, path: Path | None, params: dict[str, Any]) -> Any:
        """``corral.runAction``: ``action`` in the project of ``path`` (None: in every
        project of every workspace); the reports as JSON data."""
        import msgspec  # noqa: PLC0415

        reports: list[Any] = []
        feedback = self.feedback(action)
        try:
            if path is not None:
                found = self.workspaces.link_for(path)
                if found is None:
                    return reports
                link, project = found
                request = RunRequest(
                    action=action, project=str(project), params=params, source="lsp"
                )
                reports.append(await link.call(lambda wm: wm.run(request, feedback.sinks())))
            else:
                for link in list(self.workspaces.links.values()):
                    run = _run_everywhere(action, params, feedback.sinks())
                    reports.append(await link.call(run))
        finally:
            feedback.finish()
        return msgspec.to_builtins(reports)
