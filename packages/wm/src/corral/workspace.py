"""The Workspace Manager's one typed async API, used by every front end (CLI, LSP, MCP).

::

    async with await WorkspaceManager.open(Path("~/ws").expanduser()) as wm:
        await wm.prepare_envs()
        report = await wm.run("lint")          # every project that defines lint
        for status in wm.statuses():
            print(status.project, status.env, status.state)

Front ends get immutable snapshots and reports (:mod:`corral.reports`) and domain errors
(:mod:`corral.errors`), never supervisor, config or env objects. The facade composes one
piece per job:

* :class:`~corral.catalog.ProjectCatalog`: projects, configuration, presets;
* :class:`~corral.envservice.EnvService`: env requests, statuses, preparation;
* :class:`~corral.pool.RunnerPool`: one supervised runner per (project, env);
* :class:`~corral.runs.RunRegistry`: runs in flight, cancellation, progress, output;
* :func:`~corral.router.runner_router`: what runners ask of the WM (scope requests).

The WM owns one WAL stream (``<root>/.corral/wal``); its runners write theirs next to it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec
from corral_protocol import RpcError
from corral_protocol.messages import ProjectRunResult, RunParams, RunResult
from corral_wal import make_writer_id
from corral_wal.events import ENV_PREPARED, RUN_OUTPUT, RUNNER_STATE
from corral_wal.journal import Journal

from .catalog import ProjectCatalog
from .config import WORKSPACE_ENV, ConfigError, ProjectConfig
from .envs import (
    EnvRequest,
    EnvStatus,
    LockOutcome,
    PrepareEvent,
    PrepareResult,
)
from .envs.paths import stamp_path
from .envservice import EnvService, env_request
from .errors import CorralError
from .execute import Limits, run_project, run_workspace, select_projects
from .forkhint import EarlyServer
from .plan import PRESET_ACTION, runner_configuration
from .pool import RunnerPool
from .preset_cache import CachedPreset
from .reports import (
    EnvInfo,
    LockReport,
    PrepareProgress,
    PrepareReport,
    ProjectInfo,
    ProjectReport,
    RunnerSnapshot,
    WorkspaceReport,
    project_report,
    runner_snapshot,
    workspace_report,
)
from .resultcache import RESULT_CACHE_VARIABLE, ResultCache, file_digest
from .router import runner_router
from .runids import new_run_id
from .runs import OutputRecord, RunProgress, RunRegistry
from .statedir import ensure_state_dir
from .supervisor import (
    EventBus,
    ManagedRunner,
    RunnerKey,
    RunnerSpec,
    RunnerStateChanged,
    default_spawner,
)

__all__ = ["RunProgress", "WorkspaceManager"]


class WorkspaceManager:
    """See the module docstring. Create with :meth:`open`; close with :meth:`aclose`."""

    def __init__(
        self,
        root: Path,
        *,
        limits: Limits | None = None,
        wal: bool = True,
        fork_server: EarlyServer | None = None,
        result_cache: bool | None = None,
    ) -> None:
        self.root = root.resolve()
        if result_cache is None:
            result_cache = os.environ.get(RESULT_CACHE_VARIABLE, "1") != "0"
        self.results = ResultCache(enabled=result_cache)
        self._limits = limits or Limits()
        self._wal = wal
        self.journal: Journal | None = None
        self.bus: EventBus[RunnerStateChanged] = EventBus()
        self.catalog = ProjectCatalog(self.root, self._fetch_presets)
        self.envs = EnvService()
        self.runs = RunRegistry()
        self.pool = RunnerPool(self._runner_spec, self.bus)
        self._spawner = default_spawner(self.root, fork_server)

    # --- opening and closing ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        root: Path,
        *,
        limits: Limits | None = None,
        wal: bool = True,
        fork_server: EarlyServer | None = None,
        result_cache: bool | None = None,
    ) -> WorkspaceManager:
        """Discover and load every project under ``root`` (configuration errors are kept per
        project, see :attr:`problems`, never raised here). ``limits``: depth, fan-out and
        concurrency bounds. ``fork_server``: one started early by the command
        (:func:`corral.forkhint.prestart`), adopted when useful. ``result_cache``: answer
        runs whose inputs did not change from disk (:mod:`corral.resultcache`); default on
        unless the environment variable ``CORRAL_RESULT_CACHE`` is ``0``."""
        wm = cls(root, limits=limits, wal=wal, fork_server=fork_server, result_cache=result_cache)
        wm.reload()
        if wal:
            with contextlib.suppress(OSError):  # Journal.open reports what it cannot write
                ensure_state_dir(wm.root)
            wm.journal = Journal.open(
                wm.wal_dir, make_writer_id("wm"), meta={"program": "corral", "root": str(wm.root)}
            )
            if wm.journal is not None:
                wm.bus.add_listener(wm._journal_state)
        return wm

    @property
    def wal_dir(self) -> Path:
        return self.root / ".corral" / "wal"

    @property
    def limits(self) -> Limits:
        """Depth, fan-out and concurrency bounds (set at :meth:`open`)."""
        return self._limits

    def reload(self) -> None:
        """Re-read every project's configuration (running runners keep theirs until
        :meth:`reload_and_reconfigure`)."""
        self.catalog.reload()

    async def reload_and_reconfigure(self) -> None:
        """Re-read every project's configuration, then bring running runners in line: a
        runner whose configuration changed is configured again (hot reload), one of a
        project or env that is gone is stopped. Presets are resolved again when needed."""
        self.catalog.reload()
        await self.catalog.resolve_all()
        for runner in self.pool.started():
            config = self.catalog.current(runner.key.project)
            if config is None or runner.key.env not in config.envs:
                await runner.stop("its project or environment is gone from the configuration")
                continue
            await runner.reconfigure()

    async def __aenter__(self) -> WorkspaceManager:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel runs, stop every runner (cooperatively first), close the WAL."""
        self.runs.cancel_all()
        await self.pool.aclose()
        await self._spawner.aclose()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    # --- projects and configuration ------------------------------------------------------------

    @property
    def problems(self) -> dict[Path, ConfigError]:
        """Projects whose configuration could not be loaded, with the error."""
        return self.catalog.problems

    def project_roots(self) -> list[Path]:
        """Every project of the workspace (loadable or not), sorted."""
        return self.catalog.roots()

    def project_of(self, path: Path) -> Path | None:
        """The innermost project containing ``path``."""
        return self.catalog.project_of(path)

    async def project_config(self, root: Path) -> ProjectConfig:
        """The project's configuration with its presets applied (resolved once, cached).
        Raises :class:`ConfigError` or :class:`~corral.errors.UnknownProjectError`."""
        return await self.catalog.config(root)

    async def resolve_projects(self) -> None:
        """Apply every project's presets where possible (so statuses list every env)."""
        await self.catalog.resolve_all()

    def projects(self) -> list[ProjectInfo]:
        """Every project: its actions and envs as known now, or its configuration error."""
        infos = []
        problems = self.catalog.problems
        for root in self.catalog.roots():
            config = self.catalog.current(root)
            if config is None:
                infos.append(
                    ProjectInfo(
                        project=str(root),
                        config_file=None,
                        actions=[],
                        envs=[],
                        presets=[],
                        error=str(problems[root]),
                    )
                )
                continue
            infos.append(
                ProjectInfo(
                    project=str(root),
                    config_file=str(config.config_file),
                    actions=sorted(config.actions),
                    envs=sorted(config.envs),
                    presets=list(config.presets),
                )
            )
        return infos

    async def _fetch_presets(self, raw: ProjectConfig) -> list[CachedPreset]:
        """Ask the project's dev_workspace runner (started first) for its presets' text."""

        def failed(found: str, expected: str) -> ConfigError:
            return ConfigError(
                raw.config_file, raw.config_key("presets"), found=found, expected=expected
            )

        runner = self.pool.runner(RunnerKey(raw.root, WORKSPACE_ENV))
        request = RunParams(
            action=PRESET_ACTION,
            params={"presets": list(raw.presets)},
            run_id=new_run_id(),
            parent_run_id=None,
            depth=0,
        )
        names = repr(list(raw.presets))
        try:  # a runner that cannot start is its own error (an env problem, not a config one)
            result = await runner.request("actions/run", request, RunResult)
        except RpcError as exc:
            raise failed(
                names, f"presets resolvable in the {WORKSPACE_ENV} environment ({exc})"
            ) from exc
        if result.status != "ok":
            errors = "; ".join(h.error.message for h in result.handlers if h.error)
            raise failed(names, f"presets that load ({errors})")
        texts = []
        for item in result.result["presets"]:
            if "error" in item:
                raise failed(
                    repr(item["name"]),
                    f"an installed preset: {item['error']} (run corral prepare-envs)",
                )
            texts.append(CachedPreset(item["name"], item["text"], item.get("file")))
        return texts

    # --- environments --------------------------------------------------------------------------

    def _configs(self, projects: Sequence[Path] | None) -> list[ProjectConfig]:
        roots = self.catalog.roots() if projects is None else [p.resolve() for p in projects]
        return [c for c in (self.catalog.current(r) for r in roots) if c is not None]

    def env_requests(
        self, projects: Sequence[Path] | None = None, envs: Sequence[str] | None = None
    ) -> list[EnvRequest]:
        """Env requests of loadable projects (presets applied where already resolved)."""
        return self.envs.requests(self._configs(projects), envs)

    def env_status(self, request: EnvRequest) -> EnvStatus:
        """The cheap status of one env (see :meth:`EnvService.status`)."""
        return self.envs.status(request)

    def env_infos(
        self, projects: Sequence[Path] | None = None, envs: Sequence[str] | None = None
    ) -> list[EnvInfo]:
        """Every env of the projects (all, or those given) and whether it is ready."""
        infos = []
        for request in self.env_requests(projects, envs):
            status = self.envs.status(request)
            infos.append(
                EnvInfo(
                    project=str(request.project),
                    env=request.name,
                    state=status.state,
                    message=status.message,
                    fix=None if status.fix is None else list(status.fix),
                )
            )
        return infos

    async def prepare_envs(
        self,
        projects: Sequence[Path] | None = None,
        envs: Sequence[str] | None = None,
        *,
        recreate: bool = False,
        progress: Callable[[PrepareProgress], None] | None = None,
        jobs: int | None = None,
    ) -> list[PrepareReport]:
        """Create/update envs (dev_workspace first: presets may add envs and deps).
        ``jobs``: envs prepared at once (default: the WM's limit); ``progress`` receives
        every env's progress."""
        await self._spawner.retire()  # envs change: runners start from them as they are
        results: list[PrepareResult] = []
        report = None if progress is None else _progress_reporter(progress)
        with self.envs.preparer(jobs or self._limits.jobs) as preparer:
            if envs is None or WORKSPACE_ENV in envs:
                first = [r for r in self.env_requests(projects) if r.name == WORKSPACE_ENV]
                results += await preparer.prepare(first, recreate=recreate, progress=report)
            for root in self.catalog.roots() if projects is None else projects:
                try:
                    await self.catalog.config(root)
                except CorralError:
                    continue  # reported by run/status; prepare what can be prepared
            rest = [r for r in self.env_requests(projects, envs) if r.name != WORKSPACE_ENV]
            results += await preparer.prepare(rest, recreate=recreate, progress=report)
        self.envs.forget()
        changed = {(r.project, r.env) for r in results if r.status in ("created", "updated")}
        stale = [r for r in self.pool.started() if (r.key.project, r.key.env) in changed]
        if stale:  # a live runner must not keep running code its env no longer holds
            await self.pool.restart(stale)
        for result in results:
            if self.journal is not None:
                self.journal.record(
                    ENV_PREPARED,
                    project=str(result.request.project),
                    env=result.request.name,
                    payload={"status": result.status, "durationMs": result.duration * 1000},
                )
        return [prepare_report(r) for r in results]

    async def lock_envs(
        self,
        projects: Sequence[Path] | None = None,
        envs: Sequence[str] | None = None,
        *,
        upgrade: bool = False,
        progress: Callable[[PrepareProgress], None] | None = None,
    ) -> list[LockReport]:
        """Resolve the lock files of envs whose lock is missing or stale (every one with
        ``upgrade``), without installing them. The dev_workspace envs are locked first and
        prepared (``progress`` shows that): they resolve the presets that name the others."""
        outcomes: list[LockOutcome] = []
        failed: list[LockReport] = []
        if envs is None or WORKSPACE_ENV in envs:
            first = [r for r in self.env_requests(projects) if r.name == WORKSPACE_ENV]
            with self.envs.preparer(self._limits.jobs) as preparer:
                outcomes += await preparer.lock(first, upgrade=upgrade)
        if envs is None or any(env != WORKSPACE_ENV for env in envs):
            for prepared in await self.prepare_envs(projects, [WORKSPACE_ENV], progress=progress):
                if prepared.status == "failed":  # its project's presets stay unresolved
                    failed.append(
                        LockReport(
                            project=prepared.project,
                            env=prepared.env,
                            path="",
                            status="failed",
                            error=prepared.error,
                        )
                    )
            rest = [r for r in self.env_requests(projects, envs) if r.name != WORKSPACE_ENV]
            with self.envs.preparer(self._limits.jobs) as preparer:
                outcomes += await preparer.lock(rest, upgrade=upgrade)
        return [lock_report(o) for o in outcomes] + failed

    # --- runners -----------------------------------------------------------------------------

    def _runner_spec(self, key: RunnerKey) -> RunnerSpec:
        """How the runner of ``key`` runs: its env's command and readiness, the project's
        runner settings and configuration (read again at every start), its router."""
        config = self.catalog.current(key.project)
        if config is None:
            raise LookupError(f"no loadable project at {key.project}")
        request = env_request(config, key.env)

        def env_ready() -> tuple[bool, str]:
            status = self.envs.status(request)
            return status.state == "ready", status.message

        def configure() -> Any:
            current = self.catalog.current(key.project) or config
            return runner_configuration(current, key.env)

        return RunnerSpec(
            key=key,
            command=lambda: self.envs.runner_command(request),
            settings=config.runner,
            env_ready=env_ready,
            configure=configure,
            router_factory=lambda: runner_router(self, key),
            wal_dir=self.wal_dir if self._wal else None,
            spawner=self._spawner,
        )

    def runner(self, project: Path, env: str) -> ManagedRunner:
        """The supervised runner of (project, env), created on first use. For the WM's own
        machinery and tests: front ends use :meth:`statuses` and :meth:`restart_runners`."""
        return self.pool.runner(RunnerKey(project.resolve(), env))

    def env_stamp(self, project: Path, env: str) -> str | None:
        """Execution hook (:class:`corral.execute.ExecutionContext`): a digest of what is
        installed in ``env`` of ``project`` (None when it is not prepared)."""
        return file_digest(stamp_path(project, env))

    def statuses(self) -> list[RunnerSnapshot]:
        """One snapshot per configured (project, env): started or not."""
        statuses = []
        for config in self.catalog.loaded():
            for env in sorted(config.envs):
                runner = self.pool.known(RunnerKey(config.root, env))
                if runner is not None:
                    statuses.append(runner_snapshot(runner.status()))
                    continue
                env_state = self.envs.status(env_request(config, env))
                ready = env_state.state == "ready"
                statuses.append(
                    RunnerSnapshot(
                        project=str(config.root),
                        env=env,
                        state="stopped" if ready else "no_venv",
                        last_error=None if ready else env_state.message,
                    )
                )
        return statuses

    async def restart_runners(
        self, project: Path | None = None, env: str | None = None, *, include_stopped: bool = False
    ) -> list[RunnerSnapshot]:
        """Restart runners (all, or of one project/env) and wait until each has settled
        (running, crashed or without venv); crash budgets are reset. Stopped runners are
        started too with ``include_stopped`` (every configured (project, env))."""
        wanted = None if project is None else _resolved(project)
        if include_stopped:
            await self.resolve_projects()
            candidates = [self.runner(Path(s.project), s.env) for s in self.statuses()]
        else:
            candidates = self.pool.started()
        chosen = [
            r
            for r in candidates
            if (wanted is None or r.key.project == wanted) and (env is None or r.key.env == env)
        ]
        return [runner_snapshot(s) for s in await self.pool.restart(chosen)]

    async def subscribe(self) -> AsyncIterator[RunnerStateChanged]:
        """Runner state changes from now on."""
        async for event in self.bus.subscribe():
            yield event

    def _journal_state(self, event: RunnerStateChanged) -> None:
        if self.journal is not None:
            self.journal.record(
                RUNNER_STATE,
                project=str(event.key.project),
                env=event.key.env,
                payload={
                    "from": event.old.value,
                    "to": event.new.value,
                    "reason": event.reason,
                    "pid": event.status.pid,
                },
            )

    # --- running actions ---------------------------------------------------------------------

    async def progress(self) -> AsyncIterator[RunProgress]:
        """Work-done progress and partial results of every run, from now on."""
        async for event in self.runs.progress_bus.subscribe():
            yield event

    async def output(self) -> AsyncIterator[tuple[str | None, OutputRecord]]:
        """What runners' handlers print and log, from now on: ``(run id, record)``, the id
        of the run it belongs to (None when it cannot be attributed to one)."""
        async for event in self.runs.output_bus.subscribe():
            yield event

    def run_started(self, run_id: str, parent_run_id: str | None) -> None:
        """Execution hook (:class:`corral.execute.ExecutionContext`)."""
        self.runs.run_started(run_id, parent_run_id)

    def segment_started(self, run_id: str, parent_run_id: str, project: Path, env: str) -> None:
        """Execution hook (:class:`corral.execute.ExecutionContext`)."""
        self.runs.segment_started(run_id, parent_run_id, project, env)

    def record_output(self, run_id: str | None, record: OutputRecord) -> None:
        """Runner-router hook: keep a runner's output in the WM's WAL stream."""
        if self.journal is not None:
            payload = msgspec.to_builtins(record)
            self.journal.record(
                RUN_OUTPUT,
                run_id=run_id,
                project=record.project,
                env=record.env,
                payload={k: v for k, v in payload.items() if k not in ("project", "env")},
            )

    async def run(
        self,
        action: str,
        params: Any = None,
        *,
        project: Path | None = None,
        projects: Sequence[Path] | None = None,
        params_for: dict[Path, Any] | None = None,
        source: str = "cli",
        run_id: str | None = None,
        jobs: int | None = None,
    ) -> ProjectReport | WorkspaceReport:
        """Run ``action`` in one project (``project=``), or across projects (``projects``,
        default: every project); ``params_for`` gives per-project params (e.g. the paths of
        that project) instead of ``params``; ``jobs``: projects run at once (default: the
        limits').

        ``run_id`` (default: a new one) is what :meth:`cancel` takes; progress is published
        on :meth:`progress`, output on :meth:`output` and kept in the report. Raises
        :class:`~corral.config.ConfigError` (project scope), and
        :class:`~corral.errors.UnknownActionError` when the project, or no project of the
        selection, defines the action; :class:`~corral.errors.RunCancelledError` for a
        cancelled run; the limits' errors.
        """
        params = {} if params is None else params
        run_id = run_id or new_run_id()
        if project is not None:
            config = await self.catalog.config(project)
            result: ProjectRunResult = await self.runs.run(
                run_id, run_project(self, config, action, params, source=source, run_id=run_id)
            )
            return project_report(str(config.root), result, self.runs.take_output(run_id))
        selection = (await select_projects(self, action, projects)).require(action)
        done = await self.runs.run(
            run_id,
            run_workspace(
                self,
                action,
                params,
                selection.selected,
                source=source,
                params_for=params_for,
                run_id=run_id,
                jobs=jobs,
            ),
        )
        return workspace_report(
            done.result, done.runs, self.runs.take_output(run_id), selection.skipped
        )

    def cancel(self, run_id: str) -> bool:
        """Cancel a run started by :meth:`run` (its runner requests get $/cancelRequest);
        its :meth:`run` call then raises RunCancelledError. False if no such run is going."""
        return self.runs.cancel(run_id)


def lock_report(outcome: LockOutcome) -> LockReport:
    """An env's lock outcome as the API's snapshot."""
    return LockReport(
        project=str(outcome.request.project),
        env=outcome.request.name,
        path=str(outcome.path),
        status=outcome.status,
        changes=list(outcome.changes),
        error=outcome.error,
    )


def prepare_report(result: PrepareResult) -> PrepareReport:
    """An env's preparation outcome as the API's snapshot."""
    return PrepareReport(
        project=str(result.project),
        env=result.env,
        status=result.status,
        duration=result.duration,
        error=result.error,
        lock=None if result.lock is None else lock_report(result.lock),
    )


def _progress_reporter(
    progress: Callable[[PrepareProgress], None],
) -> Callable[[PrepareEvent], None]:
    def report(event: PrepareEvent) -> None:
        progress(
            PrepareProgress(
                project=str(event.project),
                env=event.env,
                phase=event.phase,
                elapsed=event.elapsed,
                message=event.message,
                status=event.status,
            )
        )

    return report


def _resolved(path: Path) -> Path:
    return path.resolve()
