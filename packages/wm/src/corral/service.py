"""The client protocol's methods on a :class:`~corral.workspace.WorkspaceManager`.

:class:`WorkspaceService` answers each request of SPEC.md Part II with the WM API; the WM
server calls it for every client, and the CLI calls it directly when it runs the WM
embedded (``--no-server``, CI). One implementation, so the two print the same JSON.

A run first prepares the envs it needs that are missing or stale (reporting their progress,
never failing the whole run for one project's env: that project's outcome says why), then
runs the action at the scope asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from corral_protocol.client import (
    PrepareOutcome,
    PrepareProgress,
    PrepareRequest,
    ProjectReport,
    ReloadResult,
    RestartOutcome,
    RestartRequest,
    RunnerStateParams,
    RunOutputParams,
    RunProgressParams,
    RunRequest,
    ServerStatus,
    StatusResult,
    WorkspaceReport,
)

from .errors import UnknownProjectError, UsageError
from .reports import runner_snapshot
from .runids import new_run_id
from .sinks import RunSinks
from .supervisor import EventBus, RunnerStateChanged
from .workspace import WorkspaceManager

__all__ = ["RunSinks", "WorkspaceService"]


class WorkspaceService:
    """See the module docstring."""

    def __init__(self, wm: WorkspaceManager) -> None:
        self.wm = wm

    # --- runs --------------------------------------------------------------------------------

    async def run(self, request: RunRequest, sinks: RunSinks | None = None) -> Any:
        """``workspace/run``: a :class:`ProjectReport` or :class:`WorkspaceReport`.

        Raises the WM's domain errors (configuration and usage errors, an action nothing
        defines, cancellation); paths that do not exist or lie outside every project are
        :class:`~corral.errors.UsageError`.
        """
        sinks = sinks or RunSinks()
        wm = self.wm
        run_id = request.run_id if isinstance(request.run_id, str) else new_run_id()
        project: Path | None = None
        projects: list[Path] | None = None
        params_for: dict[Path, Any] | None = None
        if wm.runs.in_flight(run_id):
            raise UsageError(f"a run with id {run_id!r} is in flight already")
        if request.project is not None:
            project = Path(request.project)
            if project.resolve() not in wm.project_roots():
                raise UnknownProjectError(project)
            if project.resolve() in wm.problems:
                raise wm.problems[project.resolve()]
        elif request.paths is not None:
            params_for = self.params_by_project(request.paths, request.params)
            projects = sorted(params_for)
        elif not wm.project_roots():
            raise UsageError(
                f"no Corral project under {wm.root} "
                "(a project has [tool.corral] in pyproject.toml or a corral.toml)"
            )
        await self.ensure_envs([project] if project is not None else projects, sinks)
        return await self._run_watched(
            request, run_id, sinks, project=project, projects=projects, params_for=params_for
        )

    def params_by_project(self, paths: Sequence[str], params: Any) -> dict[Path, Any]:
        """Each project holding some of ``paths`` (absolute) with its params: ``params`` plus
        its own ``paths``; a directory holding whole projects selects them without paths."""
        wm = self.wm
        by_project: dict[Path, Any] = {}
        base = params if isinstance(params, dict) else {}
        for text in paths:
            path = Path(text)
            if not path.exists():
                raise UsageError(f"{text}: no such file or directory")
            owner = wm.project_of(path)
            if owner is not None:
                entry = by_project.setdefault(owner, {**base, "paths": []})
                if "paths" in entry:
                    entry["paths"].append(str(path))
                continue
            resolved = path.resolve()
            inside = [p for p in wm.project_roots() if p.is_relative_to(resolved)]
            if not inside:
                raise UsageError(f"{text} is not inside a Corral project of {wm.root}")
            for root in inside:  # a directory holding projects: all of each
                by_project[root] = dict(base)
        return by_project

    async def ensure_envs(self, projects: list[Path] | None, sinks: RunSinks) -> None:
        """Prepare missing or stale envs first (their progress to ``sinks.prepare``). Envs
        that cannot be prepared fail their projects' runs later, with the reason; the others
        run."""
        if all(info.state == "ready" for info in self.wm.env_infos(projects)):
            return
        await self.wm.prepare_envs(projects, progress=sinks.prepare)

    async def _run_watched(
        self,
        request: RunRequest,
        run_id: str,
        sinks: RunSinks,
        **scope: Any,
    ) -> ProjectReport | WorkspaceReport:
        """Run, forwarding this run's progress and output to ``sinks`` meanwhile."""
        wm = self.wm
        listeners: list[tuple[EventBus[Any], Callable[[Any], None]]] = []
        if sinks.progress is not None:
            forward_progress = sinks.progress

            def progress(event: Any) -> None:
                if event.parent_run_id == run_id or wm.runs.belongs_to(event.run_id, run_id):
                    forward_progress(
                        RunProgressParams(
                            run_id=run_id,
                            project=str(event.project),
                            env=event.env,
                            value=event.value,
                        )
                    )

            listeners.append((wm.runs.progress_bus, progress))
        if sinks.output is not None:
            forward_output = sinks.output

            def output(event: Any) -> None:
                owner, record = event
                if owner == run_id:
                    forward_output(RunOutputParams(run_id=run_id, record=record))

            listeners.append((wm.runs.output_bus, output))
        for bus, listener in listeners:
            bus.add_listener(listener)
        try:
            return await wm.run(
                request.action,
                request.params,
                source=request.source,
                run_id=run_id,
                jobs=request.jobs,
                **scope,
            )
        finally:
            for bus, listener in listeners:
                bus.remove_listener(listener)

    # --- the rest of Part II -----------------------------------------------------------------

    async def status(self, server: ServerStatus | None = None) -> StatusResult:
        """``workspace/status`` (presets applied first, so every env is listed)."""
        wm = self.wm
        await wm.resolve_projects()
        return StatusResult(
            root=str(wm.root),
            server=server,
            projects=wm.projects(),
            envs=wm.env_infos(),
            runners=wm.statuses(),
        )

    async def prepare(
        self,
        request: PrepareRequest,
        progress: Callable[[PrepareProgress], None] | None = None,
    ) -> PrepareOutcome:
        """``envs/prepare``; an unknown project is an error, and so is an env name that no
        selected project has."""
        projects = None if request.projects is None else [Path(p) for p in request.projects]
        self._known_projects(projects)
        reports = await self.wm.prepare_envs(
            projects, request.envs, recreate=request.recreate, progress=progress, jobs=request.jobs
        )
        # Env names are known only once presets are resolved (by the dev_workspace envs
        # this very call prepared): a name nothing prepared is one no project has.
        unknown = sorted(set(request.envs or ()) - {r.env for r in reports})
        if unknown:
            have = sorted({info.env for info in self.wm.env_infos(projects)})
            raise UsageError(
                f"no selected project has an environment {unknown[0]!r} "
                f"(they have: {', '.join(have) or 'none'})"
            )
        return PrepareOutcome(envs=reports)

    async def restart(self, request: RestartRequest) -> RestartOutcome:
        """``runners/restart``."""
        project = None if request.project is None else Path(request.project)
        self._known_projects(None if project is None else [project])
        runners = await self.wm.restart_runners(
            project, request.env, include_stopped=request.include_stopped
        )
        return RestartOutcome(runners=runners)

    def _known_projects(self, projects: list[Path] | None) -> None:
        for project in projects or []:
            if project.resolve() not in self.wm.project_roots():
                raise UnknownProjectError(project)

    def watch_runners(self, listener: Callable[[RunnerStateParams], None]) -> Callable[[], None]:
        """Call ``listener`` with every runner state change from now on; returns the
        function that stops it."""

        def changed(event: RunnerStateChanged) -> None:
            listener(
                RunnerStateParams(
                    project=str(event.key.project),
                    env=event.key.env,
                    old=event.old.value,
                    new=event.new.value,
                    reason=event.reason,
                    runner=runner_snapshot(event.status),
                )
            )

        self.wm.bus.add_listener(changed)
        return lambda: self.wm.bus.remove_listener(changed)

    async def reload(self) -> ReloadResult:
        """``workspace/reload``: re-read every project's configuration; runners whose
        configuration changed are configured again."""
        await self.wm.reload_and_reconfigure()
        return ReloadResult(projects=self.wm.projects())
