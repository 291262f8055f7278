"""What the Workspace Manager serves to its runners (SPEC.md §9.9-§9.13).

A runner's connection to the WM carries requests for the higher execution scopes
(``project/runAction``, ``workspace/runAction``: a handler running an action in its whole
project or the whole workspace, docs/architecture.md#execution-scopes) and notifications
about its runs (``$/progress``, ``runner/output``, ``runner/log``). :func:`runner_router` builds the
:class:`~corral_protocol.Router` of one runner; domain errors become JSON-RPC errors here,
at the protocol edge (:func:`corral.rpcerrors.to_rpc_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from corral_protocol import RequestContext, Router
from corral_protocol.messages import (
    LogParams,
    OutputParams,
    ProjectRunParams,
    ProjectRunResult,
    WorkspaceRunParams,
    WorkspaceRunResult,
)
from corral_protocol.methods import params_type

from .errors import CorralError
from .execute import ExecutionContext, run_project, run_workspace
from .rpcerrors import to_rpc_error
from .runs import OutputRecord, RunRegistry, output_record
from .supervisor import RunnerKey

__all__ = ["ScopeHost", "runner_router"]


class ScopeHost(ExecutionContext, Protocol):
    """What serving a runner needs from the Workspace Manager."""

    runs: RunRegistry

    def record_output(self, run_id: str | None, record: OutputRecord) -> None: ...


def _params_type(method: str) -> type | None:
    return params_type(method, "runner-to-wm")


def runner_router(host: ScopeHost, asker: RunnerKey) -> Router:
    """The router serving the runner of ``asker``; methods and params types come from
    :data:`corral_protocol.METHODS`."""
    router = Router()

    async def project_run(params: ProjectRunParams, ctx: RequestContext) -> ProjectRunResult:
        root = Path(params.project) if isinstance(params.project, str) else asker.project
        try:
            config = await host.project_config(root)
            return await run_project(
                host,
                config,
                params.action,
                params.params,
                parent_run_id=params.parent_run_id,
                depth=params.depth,
                source="runner",
            )
        except CorralError as exc:
            raise to_rpc_error(exc) from None

    async def workspace_run(params: WorkspaceRunParams, ctx: RequestContext) -> WorkspaceRunResult:
        chosen = None if params.projects is None else [Path(p) for p in params.projects]
        try:
            run = await run_workspace(
                host,
                params.action,
                params.params,
                chosen,
                parent_run_id=params.parent_run_id,
                depth=params.depth,
                source="runner",
            )
        except CorralError as exc:
            raise to_rpc_error(exc) from None
        return run.result

    def output(params: OutputParams | LogParams) -> None:
        record = output_record(params, asker.project, asker.env)
        host.record_output(host.runs.on_output(params, record), record)

    notifications: dict[str, Callable[..., None]] = {
        "$/progress": host.runs.on_progress,
        "runner/output": output,
        "runner/log": output,
    }
    for method, handler in notifications.items():
        router.add_notification(method, handler, _params_type(method))
    router.add_request("project/runAction", project_run, _params_type("project/runAction"))
    router.add_request("workspace/runAction", workspace_run, _params_type("workspace/runAction"))
    return router
