"""The Workspace Manager's one typed async API, used by every front end (CLI, LSP, MCP).

::

    async with await WorkspaceManager.open(Path("~/ws").expanduser()) as wm:
        await wm.prepare_envs()
        result = await wm.run("lint", workspace=True)
        for status in wm.statuses():
            print(status.project, status.env, status.state)

Front ends never reach into the supervisor: they open a workspace, list projects, envs and
runners, prepare envs, run an action at project or workspace scope, cancel a run, subscribe
to runner events and shut down. The WM owns one WAL stream (``<root>/.corral/wal``); its
runners write theirs next to it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec
from corral_protocol import ErrorCode, RequestContext, Router, RpcError
from corral_protocol.messages import (
    ProgressParams,
    ProgressValue,
    ProjectRunParams,
    ProjectRunResult,
    RunParams,
    RunResult,
    WorkspaceRunParams,
    WorkspaceRunResult,
)
from corral_wal import make_writer_id
from corral_wal.journal import Journal

from .config import (
    ConfigError,
    ProjectConfig,
    apply_presets,
    discover_projects,
    load_project,
    parse_preset,
)
from .envs import (
    EnvPreparer,
    EnvRequest,
    EnvStatus,
    Fingerprints,
    LockOutcome,
    OwnPackages,
    PrepareEvent,
    PrepareResult,
    bundled_uv_version,
    env_status,
    runner_command,
)
from .envs.pylock import pylock_path
from .execute import Limits, run_project, run_workspace
from .forkhint import EarlyServer, fork_server_enabled
from .plan import PRESET_ACTION, runner_configuration
from .preset_cache import CachedPreset, PresetCache
from .runids import new_run_id
from .statedir import ensure_state_dir
from .supervisor import (
    EventBus,
    ManagedRunner,
    RunnerKey,
    RunnerSpec,
    RunnerState,
    RunnerStateChanged,
    RunnerStatus,
)
from .supervisor.forkserver import ForkServers

__all__ = ["RunProgress", "WorkspaceManager"]

DEV_WORKSPACE = "dev_workspace"
MAX_TRACKED_SEGMENTS = 10_000
READY_TTL = 1.0
"""Seconds a ``ready`` env status is reused (see :meth:`WorkspaceManager.env_status`)."""


class RunProgress(msgspec.Struct, frozen=True, kw_only=True):
    """A ``$/progress`` value of one runner request, with the runs it belongs to."""

    run_id: str
    """The ``actions/run`` request the value came from."""
    parent_run_id: str
    """The project run it serves (the id :meth:`WorkspaceManager.run` returned or took)."""
    project: Path
    env: str
    value: ProgressValue


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (not just what it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _preset_error(raw: ProjectConfig, found: str, expected: str) -> ConfigError:
    """A preset named by a project could not be resolved (reported like a config error)."""
    return ConfigError(raw.config_file, raw.config_key("presets"), found=found, expected=expected)


def _canonical(path: Path) -> Path:
    """The resolved absolute form of a project path (how projects are keyed)."""
    return path.resolve()


class WorkspaceManager:
    """See the module docstring. Create with :meth:`open`; close with :meth:`aclose`."""

    def __init__(
        self,
        root: Path,
        *,
        limits: Limits | None = None,
        wal: bool = True,
        fork_server: EarlyServer | None = None,
    ) -> None:
        self.root = root.resolve()
        self.limits = limits or Limits()
        self.bus: EventBus[RunnerStateChanged] = EventBus()
        self.progress_bus: EventBus[RunProgress] = EventBus()
        self._segments: collections.OrderedDict[str, tuple[str, Path, str]] = (
            collections.OrderedDict()
        )
        self.journal: Journal | None = None
        self._wal = wal
        self._raw: dict[Path, ProjectConfig] = {}
        self._problems: dict[Path, ConfigError] = {}
        self._resolved: dict[Path, ProjectConfig] = {}
        self._resolving: dict[Path, asyncio.Task[ProjectConfig]] = {}
        self._runners: dict[RunnerKey, ManagedRunner] = {}
        self._runs: dict[str, asyncio.Task[Any]] = {}
        self._own = OwnPackages.detect()
        self._forker = (
            ForkServers(root=self.root, early=fork_server) if fork_server_enabled() else None
        )
        self._fingerprints = Fingerprints()
        self._ready: dict[EnvRequest, tuple[float, EnvStatus]] = {}
        self._uv_version = bundled_uv_version()

    # --- opening and closing ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        root: Path,
        *,
        limits: Limits | None = None,
        wal: bool = True,
        fork_server: EarlyServer | None = None,
    ) -> WorkspaceManager:
        """Discover and load every project under ``root`` (config errors are kept per
        project, see :attr:`problems`, never raised here). ``fork_server``: one started
        early by the command (:func:`corral.forkhint.prestart`), adopted when useful."""
        wm = cls(root, limits=limits, wal=wal, fork_server=fork_server)
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

    def reload(self) -> None:
        """Re-read every project's configuration (running runners keep theirs)."""
        self._raw.clear()
        self._problems.clear()
        self._resolved.clear()
        for directory in discover_projects(self.root):
            try:
                self._raw[directory] = load_project(directory, workspace_root=self.root)
            except ConfigError as error:
                self._problems[directory] = error

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
        for task in list(self._runs.values()):
            task.cancel()
        await asyncio.gather(*(r.aclose() for r in self._runners.values()), return_exceptions=True)
        if self._forker is not None:
            await self._forker.aclose()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    # --- projects and configuration ------------------------------------------------------------

    @property
    def problems(self) -> dict[Path, ConfigError]:
        """Projects whose configuration could not be loaded, with the error."""
        return dict(self._problems)

    def project_roots(self) -> list[Path]:
        """Every project of the workspace (loadable or not), sorted."""
        return sorted({*self._raw, *self._problems})

    def project_of(self, path: Path) -> Path | None:
        """The innermost project containing ``path``."""
        path = path.resolve()
        best: Path | None = None
        for root in self.project_roots():
            if (path == root or root in path.parents) and (
                best is None or len(root.parts) > len(best.parts)
            ):
                best = root
        return best

    async def project_config(self, root: Path) -> ProjectConfig:
        """The project's configuration with its presets applied (resolved once, cached).

        Raises :class:`ConfigError` (or :class:`PresetError`) naming the file and key.
        """
        root = _canonical(root)
        if root in self._problems:
            raise self._problems[root]
        if root not in self._raw:
            raise RpcError(
                ErrorCode.PROJECT_NOT_FOUND, f"no Corral project at {root}", {"project": str(root)}
            )
        if root in self._resolved:
            return self._resolved[root]
        task = self._resolving.get(root)
        if task is None:
            task = asyncio.ensure_future(self._resolve_presets(self._raw[root]))
            self._resolving[root] = task
        try:
            config = await asyncio.shield(task)
        finally:
            self._resolving.pop(root, None)
        self._resolved[root] = config
        return config

    async def resolve_projects(self) -> None:
        """Apply every project's presets where possible (so :meth:`statuses` lists every
        env); projects whose configuration or presets fail keep their raw configuration."""
        for root in self.project_roots():
            with contextlib.suppress(ConfigError, RpcError):
                await self.project_config(root)

    async def _resolve_presets(self, raw: ProjectConfig) -> ProjectConfig:
        """Apply the project's presets, resolved by its dev_workspace runner (cached)."""
        if not raw.presets:
            return raw
        cache = PresetCache(raw.root, raw.config_file, tuple(raw.presets), DEV_WORKSPACE)
        texts = cache.load()
        if texts is None:
            texts = await self._ask_presets(raw)
            cache.store(texts)
        presets = []
        for item in texts:
            file = Path(item.file) if item.file else raw.config_file
            presets.append(parse_preset(item.name, item.text, file))
        return apply_presets(raw, presets)

    async def _ask_presets(self, raw: ProjectConfig) -> list[CachedPreset]:
        """Ask the project's dev_workspace runner (started first) for its presets' text."""
        runner = self.runner(raw.root, DEV_WORKSPACE, config=raw)
        try:
            request = RunParams(
                action=PRESET_ACTION,
                params={"presets": list(raw.presets)},
                run_id=new_run_id(),
                parent_run_id=None,
                depth=0,
            )
            result = await runner.request("actions/run", request, RunResult)
        except Exception as exc:
            raise _preset_error(
                raw,
                repr(list(raw.presets)),
                f"presets resolvable in the {DEV_WORKSPACE} environment ({exc})",
            ) from None
        if result.status != "ok":
            errors = "; ".join(h.error.message for h in result.handlers if h.error)
            raise _preset_error(
                raw,
                repr(list(raw.presets)),
                f"presets that load ({errors})",
            )
        texts = []
        for item in result.result["presets"]:
            if "error" in item:
                raise _preset_error(
                    raw,
                    repr(item["name"]),
                    f"an installed preset: {item['error']} (run corral prepare-envs)",
                )
            texts.append(CachedPreset(item["name"], item["text"], item.get("file")))
        return texts

    # --- environments --------------------------------------------------------------------------

    def env_request(self, config: ProjectConfig, env: str) -> EnvRequest:
        """What env ``env`` of the project must contain. Every env of a project is locked
        (``<project>/pylock.corral-<env>.toml``, see :mod:`corral.envs.pylock`)."""
        spec = config.envs.get(env)
        deps = list(spec.dependencies) if spec else []
        if env == DEV_WORKSPACE:
            deps.extend(config.presets)
        return EnvRequest(
            project=config.root,
            name=env,
            dependencies=tuple(dict.fromkeys(deps)),
            python=spec.python if spec else None,
            runner=tuple(spec.runner) if spec and spec.runner else None,
            install_project=spec.install_project if spec else False,
            locked=True,
        )

    def env_requests(
        self, projects: Sequence[Path] | None = None, envs: Sequence[str] | None = None
    ) -> list[EnvRequest]:
        """Env requests of loadable projects (raw configuration: presets need envs first)."""
        requests = []
        for root in sorted(self._raw) if projects is None else [p.resolve() for p in projects]:
            config = self._resolved.get(root) or self._raw.get(root)
            if config is None:
                continue
            for env in sorted(config.envs):
                if envs is None or env in envs:
                    requests.append(self.env_request(config, env))
        return requests

    def env_status(self, request: EnvRequest) -> EnvStatus:
        """The cheap status of one env. Checkout fingerprints are shared for a second, and
        so is a ``ready`` answer (a command checks its envs, then starts their runners);
        preparing envs forgets both."""
        now = time.monotonic()
        known = self._ready.get(request)
        if known is not None and now - known[0] < READY_TTL:
            return known[1]
        status = env_status(
            request, self._own, uv_version=self._uv_version, fingerprint=self._fingerprints
        )
        if status.state == "ready":
            self._ready[request] = (now, status)
        else:
            self._ready.pop(request, None)
        return status

    async def prepare_envs(
        self,
        projects: Sequence[Path] | None = None,
        envs: Sequence[str] | None = None,
        *,
        recreate: bool = False,
        progress: Callable[[PrepareEvent], None] | None = None,
    ) -> list[PrepareResult]:
        """Create/update envs (dev_workspace first: presets may add envs and deps)."""
        self._fingerprints = Fingerprints()  # what is prepared now is compared afresh
        self._ready.clear()
        if self._forker is not None:  # envs change: new runners fork from them as they are
            await self._forker.retire()
        preparer = EnvPreparer(self._own, jobs=self.limits.jobs)
        first = [r for r in self.env_requests(projects) if r.name == DEV_WORKSPACE]
        results = []
        if envs is None or DEV_WORKSPACE in envs:
            results += await preparer.prepare(first, recreate=recreate, progress=progress)
        for root in self._raw if projects is None else projects:
            try:
                await self.project_config(root)
            except (ConfigError, RpcError):
                continue  # reported by run/status; prepare what can be prepared
        rest = [r for r in self.env_requests(projects, envs) if r.name != DEV_WORKSPACE]
        results += await preparer.prepare(rest, recreate=recreate, progress=progress)
        for result in results:
            if self.journal is not None:
                self.journal.record(
                    "env.prepared",
                    project=str(result.request.project),
                    env=result.request.name,
                    payload={"status": result.status, "durationMs": result.duration * 1000},
                )
        return results

    async def lock_envs(
        self,
        projects: Sequence[Path] | None = None,
        envs: Sequence[str] | None = None,
        *,
        upgrade: bool = False,
        progress: Callable[[PrepareEvent], None] | None = None,
    ) -> list[LockOutcome]:
        """Resolve the lock files of envs whose lock is missing or stale (every one with
        ``upgrade``), without installing them. The dev_workspace envs are locked first and
        prepared (``progress`` shows that): they resolve the presets that name the others."""
        preparer = EnvPreparer(self._own, jobs=self.limits.jobs)
        outcomes = []
        if envs is None or DEV_WORKSPACE in envs:
            first = [r for r in self.env_requests(projects) if r.name == DEV_WORKSPACE]
            outcomes += await preparer.lock(first, upgrade=upgrade)
        if envs is None or any(env != DEV_WORKSPACE for env in envs):
            for prepared in await self.prepare_envs(projects, [DEV_WORKSPACE], progress=progress):
                if prepared.status == "failed":  # its project's presets stay unresolved
                    failed = LockOutcome(
                        prepared.request,
                        pylock_path(prepared.request),
                        "failed",
                        error=prepared.error,
                    )
                    outcomes.append(failed)
            rest = [r for r in self.env_requests(projects, envs) if r.name != DEV_WORKSPACE]
            outcomes += await preparer.lock(rest, upgrade=upgrade)
        return outcomes

    # --- runners -----------------------------------------------------------------------------

    def runner(
        self, project: Path, env: str, *, config: ProjectConfig | None = None
    ) -> ManagedRunner:
        """The (lazily created, not yet started) runner of (project, env)."""
        key = RunnerKey(project.resolve(), env)
        runner = self._runners.get(key)
        if runner is not None:
            return runner
        raw = config or self._resolved.get(key.project) or self._raw[key.project]
        request = self.env_request(raw, env)

        def env_ready() -> tuple[bool, str]:
            status = self.env_status(request)
            return status.state == "ready", status.message

        def configure() -> Any:
            current = self._resolved.get(key.project) or self._raw[key.project]
            return runner_configuration(current, env)

        spec = RunnerSpec(
            key=key,
            command=lambda: runner_command(request),
            settings=raw.runner,
            env_ready=env_ready,
            configure=configure,
            router_factory=lambda: self._scope_router(key),
            wal_dir=self.wal_dir if self._wal else None,
            forker=self._forker,
        )
        runner = ManagedRunner(spec, bus=self.bus)
        self._runners[key] = runner
        return runner

    def statuses(self) -> list[RunnerStatus]:
        """One status per configured (project, env): started or not."""
        seen = {}
        for root, config in sorted({**self._raw, **self._resolved}.items()):
            for env in sorted(config.envs):
                key = RunnerKey(root, env)
                runner = self._runners.get(key)
                if runner is not None:
                    seen[key] = runner.status()
                    continue
                env_state = self.env_status(self.env_request(config, env))
                seen[key] = RunnerStatus(
                    project=root,
                    env=env,
                    state=RunnerState.STOPPED
                    if env_state.state == "ready"
                    else RunnerState.NO_VENV,
                    last_error=None if env_state.state == "ready" else env_state.message,
                )
        return [seen[key] for key in sorted(seen)]

    async def restart_runners(
        self, project: Path | None = None, env: str | None = None, *, include_stopped: bool = False
    ) -> list[ManagedRunner]:
        """Restart runners (all, or of one project/env) and wait until each has settled
        (running, crashed or without venv); crash budgets are reset. Stopped runners are
        started too with ``include_stopped`` (every configured (project, env))."""
        wanted = None if project is None else _canonical(project)
        if include_stopped:
            await self.resolve_projects()
            keys = [RunnerKey(s.project, s.env) for s in self.statuses()]
            candidates = [self.runner(key.project, key.env) for key in keys]
        else:
            candidates = [r for r in self._runners.values() if r.state is not RunnerState.STOPPED]
        chosen = [
            r
            for r in candidates
            if (wanted is None or r.key.project == wanted) and (env is None or r.key.env == env)
        ]
        await asyncio.gather(*(r.restart() for r in chosen))

        async def settle(runner: ManagedRunner) -> None:
            while runner.state in (RunnerState.STARTING, RunnerState.RESTARTING):
                await runner.wait_for_change()

        await asyncio.gather(*(settle(r) for r in chosen))
        return chosen

    async def subscribe(self) -> AsyncIterator[RunnerStateChanged]:
        """Runner state changes from now on."""
        async for event in self.bus.subscribe():
            yield event

    async def progress(self) -> AsyncIterator[RunProgress]:
        """Work-done progress and partial results of every run, from now on."""
        async for event in self.progress_bus.subscribe():
            yield event

    def segment_started(self, run_id: str, parent_run_id: str, project: Path, env: str) -> None:
        """Remember which run a runner's ``$/progress`` tokens belong to (bounded)."""
        self._segments[run_id] = (parent_run_id, project, env)
        while len(self._segments) > MAX_TRACKED_SEGMENTS:
            self._segments.popitem(last=False)

    def _on_progress(self, params: ProgressParams) -> None:
        token = str(params.token)
        run_id, _, kind = token.rpartition(":")
        segment = self._segments.get(run_id)
        if segment is None or kind not in ("work", "partial"):
            return  # a token the WM did not hand out: ignore (SPEC.md §10.1)
        parent, project, env = segment
        self.progress_bus.publish(
            RunProgress(
                run_id=run_id, parent_run_id=parent, project=project, env=env, value=params.value
            )
        )

    def _journal_state(self, event: RunnerStateChanged) -> None:
        if self.journal is not None:
            self.journal.record(
                "runner.state",
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
    ) -> ProjectRunResult | WorkspaceRunResult:
        """Run ``action`` in one project (``project=``) or across projects (default: all
        that have it). ``run_id`` (default: a new one) is what :meth:`cancel` takes; progress
        of the run's runner requests is published on :meth:`progress`. Raises RpcError for
        refusals (-32010, -32012, -32013, -32014) and for a cancelled run (-32800), and
        ConfigError for a broken project configuration at project scope."""
        params = {} if params is None else params
        run_id = run_id or new_run_id()
        if project is not None:
            config = await self.project_config(project)
            work: Awaitable[ProjectRunResult | WorkspaceRunResult] = run_project(
                self, config, action, params, source=source, run_id=run_id
            )
        else:
            work = run_workspace(
                self,
                action,
                params,
                projects,
                source=source,
                params_for=params_for,
                run_id=run_id,
            )
        task = asyncio.ensure_future(work)
        self._runs[run_id] = task
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and not _cancelling():
                raise RpcError(
                    ErrorCode.REQUEST_CANCELLED,
                    f"run {run_id} was cancelled",
                    {"reason": "cancel-request"},
                ) from None
            task.cancel()
            raise
        finally:
            self._runs.pop(run_id, None)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run started by :meth:`run` (its runner requests get $/cancelRequest);
        its :meth:`run` call then raises RpcError -32800. False if no such run is going."""
        task = self._runs.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def _scope_router(self, asker: RunnerKey) -> Router:
        """Serves a runner's project/workspace requests (SPEC.md §9.12-§9.13)."""
        router = Router()

        async def project_run(params: ProjectRunParams, ctx: RequestContext) -> ProjectRunResult:
            root = Path(params.project) if isinstance(params.project, str) else asker.project
            try:
                config = await self.project_config(root)
            except ConfigError as exc:
                raise RpcError(ErrorCode.INVALID_PARAMS, str(exc)) from None
            return await run_project(
                self,
                config,
                params.action,
                params.params,
                parent_run_id=params.parent_run_id,
                depth=params.depth,
                source="runner",
            )

        async def workspace_run(
            params: WorkspaceRunParams, ctx: RequestContext
        ) -> WorkspaceRunResult:
            chosen = None if params.projects is None else [Path(p) for p in params.projects]
            return await run_workspace(
                self,
                params.action,
                params.params,
                chosen,
                parent_run_id=params.parent_run_id,
                depth=params.depth,
                source="runner",
            )

        router.add_notification("$/progress", self._on_progress, ProgressParams)
        router.add_request("project/runAction", project_run, ProjectRunParams)
        router.add_request("workspace/runAction", workspace_run, WorkspaceRunParams)
        return router
