"""``runner/configure`` and ``actions/run`` of the test-only runner (SPEC "Methods").

Only ``conformance/<fixture>`` handler sources load (and only with a conformance launch);
every other source is a load failure reported in the configure result. Runs follow the
sequential and concurrent rules of the spec, including the deep merge of concurrent results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .fixtures import FIXTURES, FixtureContext, Peer
from .rpc import RpcError, valid_id
from .runstate import RunState
from .variants import Breaks

if TYPE_CHECKING:
    from .wal import Wal

__all__ = ["Actions", "check_run_params", "deep_merge"]


@dataclass(slots=True)
class _Handler:
    name: str
    source: str
    error: dict[str, Any] | None


@dataclass(slots=True)
class _Action:
    handlers: list[_Handler]
    mode: str


def _invalid(path: str, reason: str) -> RpcError:
    return RpcError(-32602, f"invalid params: {path}: {reason}", {"path": path, "reason": reason})


def _check_configure(params: Any, breaks: Breaks) -> dict[str, Any]:
    if not isinstance(params, dict) or not isinstance(params.get("actions"), dict):
        raise _invalid("$.actions", "an object of actions is required")
    for action, config in params["actions"].items():
        where = f"$.actions.{action}"
        if not action:
            raise _invalid(where, "action names must not be empty")
        if not isinstance(config, dict):
            raise _invalid(where, "must be an object")
        handlers = config.get("handlers")
        if not isinstance(handlers, list) or not handlers:
            raise _invalid(f"{where}.handlers", "a non-empty array is required")
        names: set[str] = set()
        for i, spec in enumerate(handlers):
            ok = isinstance(spec, dict) and all(
                isinstance(spec.get(k), str) and spec.get(k) for k in ("name", "source")
            )
            if not ok or not isinstance(spec.get("config", {}), dict):
                raise _invalid(f"{where}.handlers[{i}]", "needs name, source strings")
            if spec["name"] in names and not breaks("duplicate-handler-names-accepted"):
                raise _invalid(f"{where}.handlers[{i}].name", "duplicate handler name")
            names.add(spec["name"])
        if config.get("mode", "sequential") not in ("sequential", "concurrent"):
            raise _invalid(f"{where}.mode", "must be sequential or concurrent")
    actions: dict[str, Any] = params["actions"]
    return actions


def check_run_params(params: Any) -> dict[str, Any]:
    """Validate actions/run params; raise -32602 with the offending path."""
    if not isinstance(params, dict):
        raise _invalid("$", "params must be an object")
    if not isinstance(params.get("action"), str) or not params["action"]:
        raise _invalid("$.action", "a non-empty string is required")
    if not isinstance(params.get("runId"), str) or not params["runId"]:
        raise _invalid("$.runId", "a non-empty string is required")
    if "parentRunId" not in params or not (
        params["parentRunId"] is None or isinstance(params["parentRunId"], str)
    ):
        raise _invalid("$.parentRunId", "a string or null is required")
    depth = params.get("depth")
    if type(depth) is not int or depth < 0:
        raise _invalid("$.depth", "an integer >= 0 is required")
    for token in ("partialResultToken", "workDoneToken"):
        if token in params and not valid_id(params[token]):
            raise _invalid(f"$.{token}", "a string or integer is required")
    return params


def deep_merge(left: Any, right: Any) -> Any:
    """The concurrent merge rule: objects merge recursively, arrays concatenate, else right."""
    if isinstance(left, dict) and isinstance(right, dict):
        merged = dict(left)
        for key, value in right.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(left, list) and isinstance(right, list):
        return left + right
    return right


def _wal_ids(ids: dict[str, Any]) -> dict[str, Any]:
    """The members of a WAL record that name the run."""
    return {k: ids[k] for k in ("run_id", "parent_run_id", "action")}


def _error(exc: BaseException) -> dict[str, Any]:
    kind = getattr(exc, "type_name", type(exc).__name__)
    return {"type": kind, "message": str(exc), "traceback": None}


class Actions:
    """The configured actions of one runner."""

    def __init__(
        self,
        breaks: Breaks,
        conformance: bool,
        output: Callable[[str, str, str], None],
        wal: Wal | None = None,
    ) -> None:
        self._wal = wal
        self._breaks = breaks
        self._fixtures_on = conformance or breaks("fixtures-always-enabled")
        self._output = output
        self._actions: dict[str, _Action] = {}
        self._pending_config: asyncio.Future[None] | None = None

    def _load(self, source: str) -> dict[str, Any] | None:
        """None if ``source`` loads, else the error detail (SPEC load-failure types)."""
        prefix, slash, name = source.partition("/")
        if prefix == "conformance" and slash:
            if not self._fixtures_on:
                kind, message = "ConformanceDisabled", "the launch record disabled fixtures"
            elif name not in FIXTURES:
                kind, message = "UnknownFixture", f"no conformance fixture named {name!r}"
            else:
                return None
        else:
            kind, message = "UnsupportedSource", f"this runner loads no source like {source!r}"
        return {"type": kind, "message": message, "traceback": None}

    async def configure(self, params: Any) -> dict[str, Any]:
        """Replace the configuration; return the load statuses."""
        actions = _check_configure(params, self._breaks)
        if self._breaks("configure-async-apply"):
            await asyncio.sleep(0.05)
        new = dict(self._actions) if self._breaks("configure-merges") else {}
        statuses = []
        for action, config in actions.items():
            handlers = []
            for spec in config["handlers"]:
                error = self._load(spec["source"])
                handlers.append(_Handler(spec["name"], spec["source"], error))
                status = "loaded" if error is None else "failed"
                statuses.append(
                    {"action": action, "name": spec["name"], "status": status, "error": error}
                )
            new[action] = _Action(handlers, config.get("mode", "sequential"))
        if self._breaks("configure-load-error-rpc") and any(s["error"] for s in statuses):
            raise RpcError(-32603, "a handler failed to load")
        self._actions = new
        return {"handlers": statuses}

    async def run(self, params: dict[str, Any], peer: Peer, state: RunState) -> dict[str, Any]:
        """Run a validated actions/run request."""
        default: Any = None if self._breaks("params-default-null") else {}
        return await self.run_action(
            params["action"],
            params.get("params", default),
            depth=params["depth"],
            run_id=params["runId"],
            peer=peer,
            state=state,
            parent_run_id=params["parentRunId"],
        )

    async def run_action(
        self,
        action: str,
        params: Any,
        *,
        depth: int,
        run_id: str,
        peer: Peer,
        state: RunState | None,
        parent_run_id: str | None = None,
        top_run_id: str | None = None,
    ) -> dict[str, Any]:
        """Run one action (also the local nested runs of the ``nested`` fixture)."""
        ids = {
            "run_id": run_id,
            "parent_run_id": parent_run_id,
            "action": action,
            "top_run_id": top_run_id or run_id,
        }
        config = self._actions.get(action)
        if config is None or self._wal is None:
            return await self._run_action(action, params, depth, peer, state, ids)
        names = [h.name for h in config.handlers]
        self._wal.append("run.started", **_wal_ids(ids), payload={"handlers": names})
        try:
            result = await self._run_action(action, params, depth, peer, state, ids)
        except asyncio.CancelledError:
            self._wal.append("run.cancelled", **_wal_ids(ids), payload={})
            raise
        except Exception as exc:
            error = {"type": type(exc).__name__, "message": str(exc)}
            self._wal.append("run.failed", **_wal_ids(ids), payload={"error": error})
            raise
        self._wal.append("run.finished", **_wal_ids(ids), payload={"status": result["status"]})
        return result

    async def _run_action(  # noqa: PLR0917 - the private half of run_action
        self,
        action: str,
        params: Any,
        depth: int,
        peer: Peer,
        state: RunState | None,
        ids: dict[str, Any],
    ) -> dict[str, Any]:
        run_id = ids["run_id"]
        config = self._actions.get(action)
        if config is None:
            if self._breaks("unknown-action-null"):
                return {"status": "ok", "result": None, "handlers": []}
            raise RpcError(-32010, f"action not configured: {action}", {"action": action})
        counter = iter(range(1, 1 << 30))

        async def run_local(name: str, inner: Any, inner_depth: int, parent: str) -> dict[str, Any]:
            inner_state = state if self._breaks("nested-forwards-progress") else None
            local_id = f"{parent}/{next(counter)}"
            return await self.run_action(
                name,
                inner,
                depth=inner_depth,
                run_id=local_id,
                peer=peer,
                state=inner_state,
                parent_run_id=parent,
                top_run_id=ids["top_run_id"],
            )

        def context(handler: _Handler) -> FixtureContext:
            return FixtureContext(
                handler.name,
                action,
                params,
                run_id,
                depth,
                state,
                peer,
                self._breaks,
                run_local,
                lambda stream, text, _run_id: self._output(stream, text, ids["top_run_id"]),
            )

        if config.mode == "concurrent":
            return await self._concurrent(config, context, ids)
        return await self._sequential(config, context, ids)

    async def _one(
        self, handler: _Handler, ctx: FixtureContext, ids: dict[str, Any]
    ) -> tuple[dict[str, Any], Any]:
        if self._wal is None or handler.error is not None:
            return await self._one_handler(handler, ctx)
        self._wal.append("handler.started", **_wal_ids(ids), payload={"handler": handler.name})
        try:
            outcome, result = await self._one_handler(handler, ctx)
        except asyncio.CancelledError:
            self._wal.append(
                "handler.cancelled", **_wal_ids(ids), payload={"handler": handler.name}
            )
            raise
        if outcome["status"] == "ok":
            self._wal.append("handler.finished", **_wal_ids(ids), payload={"handler": handler.name})
        else:
            error = {k: outcome["error"][k] for k in ("type", "message")}
            payload = {"handler": handler.name, "error": error}
            self._wal.append("handler.failed", **_wal_ids(ids), payload=payload)
        return outcome, result

    async def _one_handler(
        self, handler: _Handler, ctx: FixtureContext
    ) -> tuple[dict[str, Any], Any]:
        started = time.monotonic()
        outcome: dict[str, Any] = {"name": handler.name, "status": "ok", "error": None}
        result: Any = None
        if handler.error is not None:
            outcome.update(status="failed", error=handler.error, durationMs=0)
            return outcome, result
        else:
            try:
                result = await FIXTURES[handler.source.partition("/")[2]](ctx)
            except RpcError:
                raise
            except Exception as exc:
                outcome.update(status="failed", error=_error(exc))
        if not self._breaks("outcome-without-duration"):
            outcome["durationMs"] = round((time.monotonic() - started) * 1000, 3)
        return outcome, result

    async def _sequential(
        self, config: _Action, context: Any, ids: dict[str, Any]
    ) -> dict[str, Any]:
        outcomes: list[dict[str, Any]] = []
        results: list[Any] = []
        failed = False
        for handler in config.handlers:
            if failed and not self._breaks("no-skip-after-failure"):
                outcomes.append(
                    {"name": handler.name, "status": "skipped", "durationMs": 0, "error": None}
                )
                continue
            outcome, result = await self._one(handler, context(handler), ids)
            outcomes.append(outcome)
            results.append(result)
            failed = failed or outcome["status"] == "failed"
        if failed:
            return {"status": "failed", "result": None, "handlers": outcomes}
        final = results[0] if self._breaks("sequential-first-result") else results[-1]
        return {"status": "ok", "result": final, "handlers": outcomes}

    async def _concurrent(
        self, config: _Action, context: Any, ids: dict[str, Any]
    ) -> dict[str, Any]:
        if self._breaks("concurrent-runs-sequentially"):
            pairs = [await self._one(h, context(h), ids) for h in config.handlers]
        else:
            calls = (self._one(h, context(h), ids) for h in config.handlers)
            pairs = list(await asyncio.gather(*calls))
        ok = [result for outcome, result in pairs if outcome["status"] == "ok"]
        merged: Any
        if not ok or self._breaks("concurrent-last-wins"):
            merged = ok[-1] if ok else None
        elif all(isinstance(r, dict) for r in ok):
            merged = {}
            for result in ok:
                merged = deep_merge(merged, result)
        else:
            merged = ok
        failed = any(outcome["status"] == "failed" for outcome, _ in pairs)
        if failed and self._breaks("concurrent-failure-null-result"):
            merged = None
        return {
            "status": "failed" if failed else "ok",
            "result": merged,
            "handlers": [outcome for outcome, _ in pairs],
        }
