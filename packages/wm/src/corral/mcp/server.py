"""``corral mcp``: the workspace's actions as MCP tools, on stdio, with the MCP SDK.

The MCP server is a client of the workspace's Workspace Manager
(:class:`~corral.cli.link.WorkspaceLink`: its server, started when none runs, or embedded
with ``--no-server``), so agents, editors and terminals share the same warm runners. It
uses the SDK's low-level :class:`mcp.server.lowlevel.Server`, because the tools' schemas
are generated from msgspec types (:mod:`corral.mcp.tools`), not from Python signatures.

Contracts:

* every tool call ends in a result: a problem with the arguments, the configuration, an
  action, a runner or an environment is a result with ``isError`` and a message saying what
  to do, never a protocol error or a traceback;
* a call with a progress token gets progress notifications (envs being prepared, handlers'
  progress); a cancelled call cancels its run in the Workspace Manager;
* findings and diffs come in pages (``limit``, default 50); ``more_results`` pages through
  the last :data:`~corral.mcp.results.KEPT_RUNS` runs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import mcp_types as types
import msgspec
from corral_protocol import RpcError
from corral_protocol.client import (
    PrepareProgress,
    RestartRequest,
    RunProgressParams,
    RunReport,
    RunRequest,
    StatusResult,
)
from corral_protocol.messages import PartialResult
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from ..cli.link import Backend, WorkspaceLink
from ..errors import CorralError
from ..sinks import RunSinks
from .results import (
    RunPages,
    page,
    projects_output,
    relative,
    run_output,
    run_text,
    runner_listing,
    status_output,
)
from .tools import (
    TOOLS,
    ArgumentError,
    FormatArgs,
    HistoryArgs,
    HistoryOutput,
    LintArgs,
    MoreResultsArgs,
    NoArgs,
    RestartArgs,
    RestartOutput,
    RunActionArgs,
    ToolSpec,
    parse_arguments,
)

__all__ = ["CorralTools", "serve"]

log = logging.getLogger("corral.mcp")

STATUS_URI = "corral://status"
PROJECT_URI = "corral://project/"


class ToolCallError(Exception):
    """A tool call that ends in an ``isError`` result with this message."""


def _encode(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _ok(text: str, structured: Any, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=_encode(structured),
        is_error=error,
    )


def _failed(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class CorralTools:
    """The tools and resources of one workspace (see the module docstring)."""

    def __init__(self, link: WorkspaceLink) -> None:
        self.link = link
        self.root = link.root
        self.pages = RunPages()

    # --- the SDK's handlers --------------------------------------------------------------

    async def list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(spec) for spec in TOOLS])

    async def call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        calls: dict[str, Callable[[Any, dict[str, Any] | None], Awaitable[types.CallToolResult]]]
        calls = {
            "list_projects": self._list_projects,
            "lint": self._lint,
            "run_action": self._run_action,
            "format": self._format,
            "more_results": self._more_results,
            "status": self._status,
            "restart_runners": self._restart,
            "run_history": self._history,
        }
        call = calls.get(params.name)
        if call is None:
            return _failed(f"unknown tool {params.name!r}; the tools: {', '.join(calls)}")
        try:
            return await call(ctx, params.arguments)
        except (ArgumentError, ToolCallError) as exc:
            return _failed(str(exc))
        except RpcError as exc:
            return _failed(f"the Workspace Manager refused: {exc.message}")
        except CorralError as exc:
            return _failed(str(exc))
        except OSError as exc:
            return _failed(f"cannot reach the Workspace Manager: {exc}")

    async def list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        status = await self.link.call(lambda b: b.status())
        resources = [
            types.Resource(
                uri=STATUS_URI,
                name="status",
                description="The Workspace Manager's status: server, envs, runners (JSON).",
                mime_type="application/json",
            )
        ]
        for project in status.projects:
            name = relative(self.root, project.project)
            resources.append(
                types.Resource(
                    uri=f"{PROJECT_URI}{name}/config",
                    name=f"{name} configuration",
                    description=f"Project {name} as resolved: actions, presets, envs (JSON).",
                    mime_type="application/json",
                )
            )
        return types.ListResourcesResult(resources=resources)

    async def read_resource(
        self, ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        status = await self.link.call(lambda b: b.status())
        if uri == STATUS_URI:
            document: Any = status_output(status)
        elif uri.startswith(PROJECT_URI) and uri.endswith("/config"):
            name = uri[len(PROJECT_URI) : -len("/config")]
            listed = {p.project: p for p in projects_output(status).projects}
            if name not in listed:
                raise ValueError(f"no project {name!r}; projects: {', '.join(listed)}")
            document = listed[name]
        else:
            raise ValueError(f"unknown resource {uri!r}")
        text = msgspec.json.format(msgspec.json.encode(document), indent=2).decode()
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )

    # --- tools ---------------------------------------------------------------------------

    async def _list_projects(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        parse_arguments(NoArgs, arguments)
        listing = projects_output(await self._status_result())
        lines = [
            f"{p.project}: actions {', '.join(p.actions) or '-'}; envs "
            + ", ".join(f"{e.env} ({e.state}, runner {e.runner})" for e in p.envs)
            + (f"; error: {p.error}" if p.error else "")
            for p in listing.projects
        ]
        return _ok("\n".join(lines) or "no projects", listing)

    async def _status(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        parse_arguments(NoArgs, arguments)
        shown = status_output(await self._status_result())
        lines = [
            "server: "
            + ("embedded" if shown.server is None else f"pid {shown.server['pid']}")
            + f"; {shown.projects} projects; {len(shown.runners)} runners",
            *(f"not ready: {line}" for line in shown.envs_not_ready),
            *(f"{r.project} {r.env}: {r.state}" for r in shown.runners),
        ]
        return _ok("\n".join(lines), shown)

    async def _lint(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        args = parse_arguments(LintArgs, arguments)
        return await self._run(
            ctx, "lint", {}, project=args.project, paths=args.paths, limit=args.limit
        )

    async def _run_action(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        args = parse_arguments(RunActionArgs, arguments)
        diffs = bool(args.params.get("diff"))
        return await self._run(
            ctx,
            args.action,
            args.params,
            project=args.project,
            paths=args.paths,
            limit=args.limit,
            diffs=diffs,
        )

    async def _format(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        args = parse_arguments(FormatArgs, arguments)
        return await self._run(
            ctx,
            "format",
            {"write": True} if args.write else {},  # SPEC.md §13.7: edits unless `write`
            project=args.project,
            paths=args.paths,
            limit=args.limit,
            diffs=not args.write,
        )

    async def _more_results(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        args = parse_arguments(MoreResultsArgs, arguments)
        whole = self.pages.get(args.run_id)
        if whole is None:
            raise ToolCallError(
                f"no results of run {args.run_id!r} are kept (only the last runs are): "
                "run the action again"
            )
        if args.offset > whole.total:
            raise ToolCallError(f"offset {args.offset} is past the run's {whole.total} results")
        shown = page(whole, args.offset, args.limit)
        return _ok(run_text(shown), shown)

    async def _restart(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        args = parse_arguments(RestartArgs, arguments)
        project = None if args.project is None else str(self._path(args.project))
        request = RestartRequest(project=project, env=args.env)
        await self.link.call(lambda b: b.restart(request))
        runners = runner_listing(self.root, await self._status_result())
        lines = [f"{r.project} {r.env}: {r.state} (pid {r.pid})" for r in runners]
        return _ok("\n".join(lines) or "no runners", RestartOutput(runners=runners))

    async def _history(self, ctx: Any, arguments: dict[str, Any] | None) -> Any:
        args = parse_arguments(HistoryArgs, arguments)
        from corral_wal.reader import read_wal  # noqa: PLC0415  (only for this tool)
        from corral_wal.render import history_to_builtins, render_text  # noqa: PLC0415
        from corral_wal.tree import build_history  # noqa: PLC0415

        wal = self.root / ".corral" / "wal"
        if not wal.is_dir():
            raise ToolCallError(f"no run history yet: {wal} does not exist")
        scan = await asyncio.to_thread(read_wal, wal)
        history = build_history(scan.records)
        if args.run_id is not None:
            node = history.runs.get(args.run_id)
            if node is None:
                raise ToolCallError(f"no records of run {args.run_id!r} in {wal}")
            items: list[Any] = [node]
        else:
            items = list(history.items)[-args.last :]
        document = history_to_builtins(items, scan.damage)
        shown = HistoryOutput(items=document["items"], damage=document["damage"])
        return _ok(render_text(items) or "no runs", shown)

    # --- helpers -------------------------------------------------------------------------

    async def _status_result(self) -> StatusResult:
        return await self.link.call(lambda b: b.status())

    def _path(self, given: str) -> Path:
        path = Path(given)
        path = path if path.is_absolute() else self.root / path
        if not path.exists():
            raise ArgumentError(f"{given}: no such file or directory in {self.root}")
        return path.resolve()

    async def _run(
        self,
        ctx: Any,
        action: str,
        params: dict[str, Any],
        *,
        project: str | None,
        paths: list[str] | None,
        limit: int,
        diffs: bool = False,
    ) -> types.CallToolResult:
        if project is not None and paths is not None:
            raise ArgumentError("give `project` or `paths`, not both")
        status = await self._status_result()
        known = sorted({a for p in status.projects for a in p.actions})
        if action not in known:
            raise ToolCallError(
                f"unknown action {action!r}; the workspace's actions: {', '.join(known)}"
            )
        if project is not None:
            where = self._path(project)
            projects = {Path(p.project) for p in status.projects}
            if where not in projects:
                names = ", ".join(relative(self.root, p) for p in sorted(projects))
                raise ArgumentError(f"{project} is not a project; the projects: {names}")
            request = RunRequest(action=action, params=params, project=str(where), source="mcp")
        elif paths is not None:
            absolute = [str(self._path(p)) for p in paths]
            request = RunRequest(action=action, params=params, paths=absolute, source="mcp")
        else:
            request = RunRequest(action=action, params=params, workspace=True, source="mcp")
        sinks = _progress_sinks(ctx, self.root)

        async def run(backend: Backend) -> RunReport:
            return await backend.run(request, sinks)

        report = await self.link.call(run)
        whole = run_output(self.root, action, report, diffs=diffs)
        self.pages.keep(whole)
        shown = page(whole, 0, limit)
        return _ok(run_text(shown), shown, error=whole.exit_code >= 2)


def _tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(),
        output_schema=spec.output_schema(),
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive if not spec.read_only else None,
            idempotent_hint=spec.idempotent if not spec.read_only else None,
            open_world_hint=False,
        ),
    )


def _progress_sinks(ctx: Any, root: Path) -> RunSinks:
    """Sinks that turn the run's notifications into MCP progress (a no-op for a call
    without a progress token)."""
    count = itertools.count(1)
    sending: set[asyncio.Task[None]] = set()

    def send(message: str) -> None:
        task = asyncio.ensure_future(ctx.session.report_progress(next(count), None, message))
        sending.add(task)
        task.add_done_callback(sending.discard)

    def progress(params: RunProgressParams) -> None:
        value = params.value
        if isinstance(value, PartialResult):
            return
        text = getattr(value, "title", None) or getattr(value, "message", None)
        if isinstance(text, str):
            send(f"{relative(root, params.project)} ({params.env}): {text}")

    def prepare(event: PrepareProgress) -> None:
        send(f"environment {relative(root, event.project)} {event.env}: {event.phase}")

    return RunSinks(progress=progress, prepare=prepare)


async def serve(link: WorkspaceLink, version: str) -> None:
    """Serve MCP on stdio until the client closes it."""
    tools = CorralTools(link)
    server: Server[Any] = Server(
        "corral",
        version=version,
        instructions=(
            "Corral runs this workspace's dev tools (lint, format, type check...) in warm "
            "per-project runners. Start with list_projects; lint returns findings as data."
        ),
        on_list_tools=tools.list_tools,
        on_call_tool=tools.call_tool,
        on_list_resources=tools.list_resources,
        on_read_resource=tools.read_resource,
    )
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await link.aclose()
