"""Validation of every message against the protocol's JSON Schemas.

The schemas and ``index.json`` come from ``corral_protocol.schemas`` (the files of
``packages/protocol-spec/schemas``). ``index.json`` maps each method to its direction, kind,
params schema and result schema; responses are matched to the method of their request by
id (:class:`PendingRequests`).

Beyond the schemas, :func:`rule_violations` checks the few runner -> WM rules a schema cannot
express (text size limits of ``runner/output`` and ``runner/log``).

Contract: :meth:`ProtocolSchemas.check_message` returns a list of human-readable violations
(empty when the message is valid), each naming the schema file and the JSON path. It never
raises on any decoded JSON value. Validators are compiled once per :class:`ProtocolSchemas`
and are safe to share between concurrently running cases.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Final, Literal

from corral_protocol.messages import MAX_TEXT_BYTES
from corral_protocol.schemas import load_index, load_schema, schema_registry
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

__all__ = [
    "Direction",
    "MethodInfo",
    "PendingRequests",
    "ProtocolSchemas",
    "is_request_id",
    "rule_violations",
]

TEXT_LIMIT: Final = MAX_TEXT_BYTES
"""SPEC "Output and logging": max UTF-8 bytes of runner/output text and runner/log message."""

Direction = Literal["wm-to-runner", "runner-to-wm"]

MAX_SAFE_INTEGER: Final = 2**53 - 1


def is_request_id(value: Any) -> bool:
    """Whether ``value`` is a valid JSON-RPC id of the protocol (string or safe integer)."""
    if type(value) is str:
        return True
    return type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


def rule_violations(message: Any) -> list[str]:
    """Runner -> WM rules beyond the schemas: output text and log messages <= 16384 bytes."""
    if not isinstance(message, dict) or not isinstance(message.get("params"), dict):
        return []
    params = message["params"]
    checks = {"runner/output": "text", "runner/log": "message"}
    member = checks.get(message.get("method"))  # type: ignore[arg-type]
    value = params.get(member) if member else None
    if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > TEXT_LIMIT:
        size = len(value.encode("utf-8", "surrogatepass"))
        return [f"{message['method']} {member} of {size} bytes exceeds {TEXT_LIMIT} (split it)"]
    return []


def id_key(value: Any) -> tuple[str, Any]:
    """A hashable key that keeps ``"1"`` and ``1`` apart."""
    return (type(value).__name__, value)


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """One method of ``index.json``."""

    name: str
    direction: Direction
    kind: Literal["request", "notification"]
    params: str | None
    result: str | None


class PendingRequests:
    """Requests sent on one connection in one direction and not yet answered.

    ``add`` records a request id with its method; ``take`` pops the method of the oldest
    outstanding request with that id (ids may be reused once answered), or returns ``None``
    when no request with that id is outstanding (a duplicate or unsolicited reply).
    """

    def __init__(self) -> None:
        self._pending: defaultdict[tuple[str, Any], deque[str]] = defaultdict(deque)

    def add(self, request_id: Any, method: str) -> None:
        """Record an outstanding request."""
        self._pending[id_key(request_id)].append(method)

    def candidates(self, request_id: Any) -> list[str]:
        """The methods of the outstanding requests with this id, oldest first."""
        return list(self._pending.get(id_key(request_id), ()))

    def take(self, request_id: Any, method: str | None = None) -> str | None:
        """Pop an outstanding request ``request_id`` (the oldest, or the one of ``method``).

        Returns its method, or ``None`` when no request with that id is outstanding.
        """
        queue = self._pending.get(id_key(request_id))
        if not queue:
            return None
        if method is not None and method in queue:
            queue.remove(method)
            return method
        return queue.popleft()

    def outstanding(self) -> int:
        """How many requests are still unanswered."""
        return sum(len(q) for q in self._pending.values())


class ProtocolSchemas:
    """The compiled protocol schemas and the method table of ``index.json``."""

    def __init__(self) -> None:
        index = load_index()
        self.protocol_version: str = index["protocolVersion"]
        self.methods: dict[str, MethodInfo] = {
            m["name"]: MethodInfo(m["name"], m["direction"], m["kind"], m["params"], m["result"])
            for m in index["methods"]
        }
        self._registry = schema_registry()
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, file_name: str) -> Draft202012Validator:
        """The compiled validator of one schema file (e.g. ``"hello.json"``)."""
        validator = self._validators.get(file_name)
        if validator is None:
            validator = Draft202012Validator(load_schema(file_name), registry=self._registry)
            self._validators[file_name] = validator
        return validator

    def violations(self, file_name: str, instance: Any, where: str = "$") -> list[str]:
        """Validate ``instance``; return at most one message (the best match) per call."""
        error = best_match(self.validator(file_name).iter_errors(instance))
        if error is None:
            return []
        path = where + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        return [f"{file_name} rejects {path}: {error.message}"]

    def check_message(
        self,
        message: Any,
        sender: Direction,
        sent_requests: PendingRequests,
        received_requests: PendingRequests,
    ) -> list[str]:
        """Validate one message sent by ``sender``.

        ``sent_requests`` holds the sender's own outstanding requests (a request is added);
        ``received_requests`` holds the requests the sender received and must answer (a
        response takes its request from there, so its result is checked against that
        method's result schema, and a reply to nothing is reported).
        """
        if not isinstance(message, dict):
            return [f"a message must be a JSON object, got {type(message).__name__}"]
        if "method" in message:
            kind = "request" if "id" in message else "notification"
            file_name = f"{kind}-message.json"
            problems = self.violations(file_name, message)
            method = message.get("method")
            info = self.methods.get(method) if isinstance(method, str) else None
            if kind == "request" and is_request_id(message.get("id")):
                sent_requests.add(message["id"], method if isinstance(method, str) else "")
            if problems or info is None:
                return problems
            if info.direction != sender:
                return [f"{method} is a {info.direction} method, sent in the wrong direction"]
            if info.kind != kind:
                return [f"{method} is a {info.kind}, sent as a {kind}"]
            if info.params is not None:
                params = message.get("params", {})
                problems = self.violations(info.params, params, "$.params")
            return problems
        if "result" not in message and "error" not in message:
            # Neither a call nor a response (SPEC: answered -32600 echoing a valid id).
            if is_request_id(message.get("id")):
                sent_requests.add(message["id"], "")
            return ["an object with neither method nor result/error is not a message"]
        problems = self.violations("response-message.json", message)
        request_id = message.get("id")
        if request_id is None and "error" in message:
            return problems
        method = None
        if is_request_id(request_id):
            method = received_requests.take(
                request_id, self._best_match(message, received_requests)
            )
        if method is None:
            problems.append(
                f"response to id {request_id!r}, which has no outstanding request "
                "(every request is answered exactly once)"
            )
            return problems
        if problems or "result" not in message:
            return problems
        info = self.methods.get(method)
        if info is None or info.kind != "request":
            return problems
        if info.result is None:
            if message["result"] is not None:
                return [f"the result of {method} must be null"]
            return problems
        return self.violations(info.result, message["result"], "$.result")

    def _best_match(self, message: dict[str, Any], pending: PendingRequests) -> str | None:
        """Which of several outstanding requests sharing an id a response answers.

        Only matters when a case deliberately reuses an id in flight (the receiver must answer
        the newer one -32600): an error answers the newest, a result the oldest request whose
        result schema accepts it.
        """
        methods = pending.candidates(message.get("id"))
        if len(methods) < 2:
            return None
        if "error" in message:
            return methods[-1]
        for method in methods:
            info = self.methods.get(method)
            result_schema = info.result if info is not None else None
            if result_schema is not None and not self.violations(
                result_schema, message.get("result")
            ):
                return method
        return None
