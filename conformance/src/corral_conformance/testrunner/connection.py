"""One TCP connection of the test-only runner: framing errors, JSON-RPC rules, the
lifecycle gate (authentication, -32002/-32003/-32004), request tasks and cancellation.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .actions import check_run_params
from .framing import BadCharset, Body, End, Fatal, FrameReader, Oversized, Truncated
from .framing import encode_message as encode
from .launch import SPOKEN
from .rpc import Call, Invalid, Reply, RpcError, classify, valid_id
from .runstate import RunState

if TYPE_CHECKING:
    from .server import Runner

__all__ = ["Connection"]

_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_LOOSE_VERSION = re.compile(r"^([0-9]+)\.([0-9]+)$")


def _key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


class Connection:
    """A candidate (unauthenticated) or the authenticated connection."""

    def __init__(self, runner: Runner, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.runner = runner
        self.breaks = runner.breaks
        self._frames = FrameReader(reader, runner.max_message_size, runner.breaks)
        self._writer = writer
        self.authenticated = False
        self.initialized = False
        self.closed = False
        self._in_flight: dict[tuple[str, Any], asyncio.Task[Any]] = {}
        self._cancel_reason: dict[tuple[str, Any], str] = {}
        self._outgoing: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 1

    # --- output ---------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self._writer.write(encode(message, self.breaks))

    def write_raw(self, data: bytes) -> None:
        if not self.closed:
            self._writer.write(data)

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def _echo(self, request_id: Any) -> Any:
        if self.breaks("wrong-id-type") and type(request_id) is int:
            return str(request_id)
        return request_id

    def reply(self, request_id: Any, result: Any) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._echo(request_id)}
        if result is not None or not self.breaks("omit-null-result"):
            message["result"] = result
        self.send(message)

    def error(self, request_id: Any, error: RpcError) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._echo(request_id)}
        message["error"] = error.to_json()
        data = message["error"].get("data")
        if (
            self.breaks("generic-reasons")
            and error.code in (-32700, -32600, -32800)
            and isinstance(data, dict)
            and "reason" in data
        ):
            message["error"]["data"] = {**data, "reason": "error"}
        if self.breaks("result-null-in-errors"):
            message["result"] = None
        self.send(message)

    async def request(self, method: str, params: Any) -> Any:
        """Send a request to the WM and wait for its answer (RpcError on an error)."""
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outgoing[request_id] = future
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return await future

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()

    # --- input ----------------------------------------------------------------------------

    async def serve(self) -> None:
        """Read until the stream ends or breaks, then close."""
        try:
            while not self.closed:
                event = await self._frames.next()
                if isinstance(event, Body):
                    await self._body(event.data)
                elif isinstance(event, Oversized):
                    data = {"size": event.size, "limit": event.limit}
                    text = f"message of {event.size} bytes exceeds the limit of {event.limit}"
                    self.error(None, RpcError(-32001, text, data))
                elif isinstance(event, BadCharset):
                    text = f"unsupported charset {event.charset!r}"
                    self.error(None, RpcError(-32700, text, {"charset": event.charset}))
                elif isinstance(event, Fatal):
                    if not self.breaks("no-framing-errors"):
                        text = f"framing error: {event.detail}"
                        self.error(None, RpcError(-32700, text, {"reason": event.reason}))
                    break
                elif isinstance(event, Truncated):
                    if self.breaks("answer-truncated"):
                        self.error(None, RpcError(-32700, "truncated message", {"reason": "eof"}))
                    break
                elif isinstance(event, End):
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()
            for future in self._outgoing.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self.runner.connection_closed(self)

    async def _body(self, body: bytes) -> None:
        item = classify(body, self.breaks)
        if isinstance(item, Invalid):
            if item.error is not None:
                self.error(item.id, item.error)
            if item.fatal:
                self.close()
        elif isinstance(item, Reply):
            self._answer(item)
        elif item.has_id:
            await self._request(item)
        else:
            self._notification(item)

    def _set_state(self, change: Callable[[], object]) -> None:
        """Apply a state change for the very next message (or, broken, a little later)."""
        if self.breaks("deferred-state-change"):
            asyncio.get_running_loop().call_later(0.05, change)
        else:
            change()

    def _answer(self, reply: Reply) -> None:
        if self.breaks("strict-error-data") and reply.is_error and not _documented(reply.error):
            return  # dropped: the broken behaviour
        future = self._outgoing.pop(reply.id, None) if type(reply.id) is int else None
        if future is None:
            if self.breaks("answer-stray-responses"):
                self.error(
                    reply.id, RpcError(-32600, "no such request", {"reason": "invalid-message"})
                )
            return
        if reply.is_error:
            error = reply.error if isinstance(reply.error, dict) else {}
            future.set_exception(RpcError(error.get("code", -32603), str(error.get("message"))))
        else:
            future.set_result(reply.result)

    # --- notifications --------------------------------------------------------------------

    def _notification(self, call: Call) -> None:
        runner = self.runner
        if not self.initialized:
            if call.method == "exit" and self.breaks("exit-before-initialize"):
                runner.exit(1)
            return
        if call.method == "exit":
            runner.exit(0 if runner.shutdown_answered else 1)
        elif call.method == "initialized":
            runner.on_initialized(self)
        elif call.method == "$/cancelRequest":
            if isinstance(call.params, dict) and valid_id(call.params.get("id")):
                self.cancel(call.params["id"], "cancel-request")
        elif self.breaks("answer-unknown-notifications"):
            self.error(None, RpcError(-32601, f"unknown notification {call.method}"))

    def cancel(self, request_id: Any, reason: str) -> None:
        if self.breaks("ignore-cancel"):
            return
        key = _key(str(request_id) if self.breaks("cancel-id-loose") else request_id)
        task = self._in_flight.get(key)
        if task is None and self.breaks("cancel-id-loose"):
            key = next((k for k in self._in_flight if str(k[1]) == str(request_id)), key)
            task = self._in_flight.get(key)
        if task is None:
            if self.breaks("cancel-always-replies"):
                self.error(request_id, RpcError(-32800, "cancelled", {"reason": reason}))
            return
        self.cancel_task(key, task, reason)

    def in_flight_items(self) -> list[tuple[tuple[str, Any], asyncio.Task[Any]]]:
        """The requests being served, as (id key, task) pairs."""
        return list(self._in_flight.items())

    def cancel_task(self, key: tuple[str, Any], task: asyncio.Task[Any], reason: str) -> None:
        """Cancel one request; its single reply will be -32800 with ``reason``."""
        self._cancel_reason[key] = reason
        task.cancel()

    # --- requests -------------------------------------------------------------------------

    async def _request(self, call: Call) -> None:
        runner = self.runner
        if runner.shutdown_requested and not self.breaks("no-32004"):
            self.error(call.id, RpcError(-32004, "shutting down"))
            return
        if not self.initialized:
            if call.method == "initialize":
                self._initialize(call)
                return
            if not self.breaks("no-32002"):
                self.error(call.id, RpcError(-32002, "server not initialized"))
                return
        elif call.method == "initialize" and not self.breaks("reinitialize-allowed"):
            self.error(call.id, RpcError(-32003, "already initialized"))
            return
        elif self.breaks("require-initialized") and not runner.ready:
            self.error(call.id, RpcError(-32002, "waiting for initialized"))
            return
        key = _key(call.id)
        if key in self._in_flight and not self.breaks("no-duplicate-id-check"):
            self.error(
                call.id, RpcError(-32600, "id already in flight", {"reason": "duplicate-id"})
            )
            return
        state: RunState | None = None
        if call.method == "actions/run" and isinstance(call.params, dict):
            params = call.params
            state = RunState(
                self,
                str(params.get("action")),
                params.get("workDoneToken"),
                params.get("partialResultToken"),
                self.breaks,
            )
        handler = self._handler(call, state)
        if handler is None:
            return
        if len(self._in_flight) >= 16 and self.breaks("max-16-in-flight"):
            self.error(call.id, RpcError(-32603, "too busy"))
            return
        task = asyncio.create_task(handler())
        self._in_flight[key] = task
        task.add_done_callback(lambda t: self._finished(call.id, key, t, state))
        if self.breaks("serial-requests"):
            await asyncio.wait([task])

    def _finished(
        self,
        request_id: Any,
        key: tuple[str, Any],
        task: asyncio.Task[Any],
        state: RunState | None,
    ) -> None:
        if self._in_flight.get(key) is task:
            del self._in_flight[key]
        reason = self._cancel_reason.pop(key, "cancel-request")
        if state is not None:
            state.finish(cancelled=task.cancelled())
        if task.cancelled():
            if not self.breaks("cancel-no-reply"):
                self.error(request_id, RpcError(-32800, "request cancelled", {"reason": reason}))
            return
        exc = task.exception()
        if isinstance(exc, RpcError):
            self.error(request_id, exc)
        elif exc is not None:
            self.error(request_id, RpcError(-32603, f"internal error: {exc!r}"))
        else:
            self.reply(request_id, task.result())

    def _handler(
        self, call: Call, state: RunState | None
    ) -> Callable[[], Coroutine[Any, Any, Any]] | None:
        """The coroutine function serving ``call``, or None once answered here."""
        runner = self.runner
        known = {"$/ping", "shutdown", "runner/configure", "actions/run"}
        bad_params = call.has_params and not isinstance(call.params, dict)
        applies = call.method in known or self.breaks("params-before-method")
        if bad_params and applies and not self.breaks("no-32602"):
            self.error(call.id, RpcError(-32602, "params must be an object", {"path": "$"}))
            if call.method == "shutdown" and self.breaks("shutdown-despite-invalid-params"):
                runner.shutdown_requested = True
            return None
        if call.method == "$/ping":
            return _const({})
        if call.method == "shutdown":
            # At once: the very next message is already gated as ShuttingDown (SPEC §4).
            self._set_state(lambda: setattr(runner, "shutdown_requested", True))
            return lambda: runner.shutdown(self)
        if call.method == "runner/configure":
            return lambda: runner.actions.configure(call.params)
        if call.method == "actions/run":
            params = call.params if call.has_params else None
            if self.breaks("no-32602") and isinstance(params, dict):
                params = {"runId": "r", "parentRunId": None, "depth": 0, **params}
            try:
                checked = check_run_params(params)
            except RpcError as exc:
                self.error(call.id, exc)
                return None
            assert state is not None  # noqa: S101 - params are an object here
            return lambda: runner.actions.run(checked, self, state)
        if call.method.startswith("$/") and self.breaks("dollar-requests-ignored"):
            return None
        if self.breaks("no-32601"):
            return _const(None)
        self.error(call.id, RpcError(-32601, f"method not found: {call.method}"))
        return None

    def _initialize(self, call: Call) -> None:
        """SPEC order: token check (closes), authentication, params (-32602), version."""
        runner = self.runner
        params = call.params if isinstance(call.params, dict) else {}
        token = params.get("token")
        good = isinstance(token, str) and hmac.compare_digest(
            token.encode(), runner.launch.token.encode()
        )
        if not good and not self.breaks("no-token-check"):
            if self.breaks("exit-on-bad-token"):
                runner.exit(1)
            self.close()  # on the authenticated connection this also ends the runner
            return
        if self.breaks("authenticate-on-token") and not runner.authenticate(self):
            self.close()
            return
        version = params.get("protocolVersion")
        client = params.get("clientInfo")
        caps = params.get("capabilities")
        pattern = _LOOSE_VERSION if self.breaks("lenient-version-syntax") else _VERSION
        valid = (
            isinstance(version, str)
            and pattern.match(version) is not None
            and isinstance(client, dict)
            and all(isinstance(client.get(k), str) and client[k] for k in ("name", "version"))
            and isinstance(caps, dict)
        )
        if not valid and not self.breaks("no-32602"):
            self.error(call.id, RpcError(-32602, "invalid initialize params", {"path": "$"}))
            return
        answer = _negotiate(str(version), self.breaks)
        if answer is None:
            data = {"supported": list(SPOKEN)}
            self.error(call.id, RpcError(-32005, f"unsupported protocol {version}", data))
            return
        if not self.authenticated and not runner.authenticate(self):
            self.close()
            return
        self._set_state(lambda: setattr(self, "initialized", True))
        self.reply(call.id, runner.initialize_result(answer))
        if self.breaks("log-before-initialized"):
            runner.log("info", "initialized (sent too early)")


def _negotiate(requested: str, breaks: Any) -> str | None:
    match = _LOOSE_VERSION.match(requested)
    if match is None:
        return None if not breaks("accept-any-major") else SPOKEN[0]
    major, minor = int(match.group(1)), int(match.group(2))
    minors = [int(v.split(".")[1]) for v in SPOKEN if int(v.split(".")[0]) == major]
    if not minors:
        return SPOKEN[0] if breaks("accept-any-major") else None
    if breaks("echo-requested-version"):
        return requested
    if breaks("answer-highest-minor"):
        return f"{major}.{max(minors)}"
    return f"{major}.{min(minor, max(minors))}"


def _documented(error: Any) -> bool:
    """Whether an error's data has the documented shape (only what this runner checks)."""
    if not isinstance(error, dict) or "data" not in error:
        return True
    shapes = {-32012: ("depth", "limit"), -32014: ("project",), -32010: ("action",)}
    needed = shapes.get(error.get("code"))  # type: ignore[arg-type]
    data = error["data"]
    return needed is None or (isinstance(data, dict) and all(k in data for k in needed))


def _const(value: Any) -> Callable[[], Coroutine[Any, Any, Any]]:
    async def handler() -> Any:
        return value

    return handler
