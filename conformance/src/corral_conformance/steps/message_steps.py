"""Steps that open connections and send: connect, initialize, send, sendRaw,
closeConnection, serveWm.

Every JSON message the driver sends is validated against the protocol schemas unless the
step says ``"validate": false`` (cases that send invalid messages on purpose); an invalid
message in a step that did not opt out is a harness error (the case is wrong).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import socket
import time
from typing import Any

from corral_protocol.versions import negotiate

from .. import __version__
from ..context import CaseContext
from ..matcher import describe, json_equal, match
from ..model import DEFAULT_SKIP, CloseConnection, Connect, Initialize, Send, SendRaw, ServeWm
from ..outcome import HarnessError, RunnerFailure
from ..variables import substitute
from ..wire import Closed, WireConnection
from .expect_steps import closed_failure, next_message

__all__ = [
    "close_connection",
    "connect",
    "encode_json",
    "frame",
    "initialize",
    "send",
    "send_raw",
    "serve_wm",
]

_WRITE_TIMEOUT_MS = 10_000


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as every conforming sender emits it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def frame(body: bytes) -> bytes:
    """``Content-Length: N\\r\\n\\r\\n`` + body."""
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _describe_bytes(data: bytes, limit: int = 300) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "backslashreplace")
    if len(text) > limit:
        return f"{text[:limit]}... ({len(data)} bytes)"
    return text


async def _write(
    ctx: CaseContext,
    conn: WireConnection,
    data: bytes,
    *,
    validate: bool,
    chunk_size: int | None = None,
    delay_ms: int = 0,
) -> None:
    """Write to the runner; a closed or stuck connection is the runner's failure."""
    timeout = (
        ctx.seconds(_WRITE_TIMEOUT_MS)
        + len(data) / 20e6
        + ctx.seconds(delay_ms) * (len(data) // (chunk_size or len(data) or 1))
    )
    try:
        problems = await asyncio.wait_for(
            conn.write(data, chunk_size=chunk_size, delay_s=ctx.seconds(delay_ms)), timeout
        )
    except TimeoutError:
        raise RunnerFailure(
            f"the runner stopped reading: {len(data)} bytes not written within {timeout:.1f} s"
        ) from None
    except (ConnectionError, OSError) as exc:
        raise RunnerFailure(
            f"cannot write to connection {conn.name!r}: {exc.__class__.__name__}: {exc}",
            expected="the connection is open",
            got="the runner closed it",
        ) from None
    if validate and problems:
        raise HarnessError(
            "the case sends a message the protocol schemas reject (mark the step "
            f'"validate": false if that is deliberate): {problems[0]}'
        )


async def connect(ctx: CaseContext, step: Connect) -> None:
    """Open a TCP connection to 127.0.0.1:<hello port>."""
    if step.connection in ctx.connections:
        raise HarnessError(f"connection {step.connection!r} is already open")
    proc = ctx.process(step.process)
    if proc.hello is None:
        raise HarnessError(f"connect before expectHello of process {step.process!r}")
    port = int(proc.hello["port"])
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), ctx.seconds(step.within_ms)
        )
    except (OSError, TimeoutError) as exc:
        raise RunnerFailure(
            f"cannot connect to 127.0.0.1:{port}, the hello's port: {exc!r}",
            expected="the runner listens on the port of its hello",
            got="connection refused or timed out",
        ) from None
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_message(name: str, direction: str, value: Any) -> None:
        if direction == "closed":
            ctx.transcript.event("closed", connection=name, reason=value)
        else:
            ctx.transcript.event(direction, connection=name, message=value)

    ctx.connections[step.connection] = WireConnection(
        step.connection,
        reader,
        writer,
        ctx.schemas,
        ctx.note_violation,
        on_message,
        step.process,
    )
    ctx.transcript.event("connect", connection=step.connection, port=port)
    ctx.transcript.step({"step": "connect", "connection": step.connection})


async def _send_message(
    ctx: CaseContext, conn: WireConnection, message: Any, *, validate: bool, record: bool = True
) -> None:
    await _write(ctx, conn, frame(encode_json(message)), validate=validate)
    ctx.transcript.event("send", connection=conn.name, message=message)
    if record:
        ctx.transcript.step({"step": "send", "connection": conn.name, "message": message})


async def send(ctx: CaseContext, step: Send) -> None:
    """Send one JSON value, correctly framed."""
    conn = ctx.connection(step.connection)
    await _send_message(ctx, conn, substitute(step.message, ctx.vars), validate=step.validate)


async def initialize(ctx: CaseContext, step: Initialize) -> None:
    """Authenticate and initialize; remember the runner's capabilities."""
    conn = ctx.connection(step.connection)
    proc = ctx.process(conn.process_name)
    assert proc.hello is not None  # noqa: S101 - connect requires the hello
    version = step.protocol_version
    if version is None:
        spoken = proc.hello.get("protocol")
        chosen = negotiate(
            [ctx.schemas.protocol_version], spoken if isinstance(spoken, list) else []
        )
        if chosen is None:
            raise RunnerFailure(
                f"the runner speaks none of the driver's versions: hello.protocol = {spoken}",
                expected=f"a {ctx.schemas.protocol_version.split('.')[0]}.x version",
                got=describe(spoken),
            )
        version = str(chosen)
    params = {
        "protocolVersion": version,
        "token": ctx.vars.get(f"{proc.name}.token"),
        "clientInfo": {"name": "corral-conformance", "version": __version__},
        "capabilities": substitute(step.capabilities, ctx.vars),
    }
    request = {"jsonrpc": "2.0", "id": step.id, "method": "initialize", "params": params}
    await _send_message(ctx, conn, request, validate=True, record=False)
    deadline = time.monotonic() + ctx.seconds(step.within_ms)
    item = await next_message(conn, DEFAULT_SKIP, deadline)
    expected = f'{{"id": {json.dumps(step.id)}, "result": {{"protocolVersion": ...}}}}'
    if item is None:
        raise RunnerFailure(
            f"no initialize result within {step.within_ms} ms", expected=expected, got="nothing"
        )
    if isinstance(item, Closed):
        raise await closed_failure(ctx, conn, item, expected)
    outcome = match({"id": step.id, "result": {"$type": "object"}}, item.message)
    if not outcome:
        raise RunnerFailure(
            f"initialize did not succeed ({outcome.path}: {outcome.reason})",
            expected=expected,
            got=describe(item.message, 400),
        )
    result = item.message["result"]
    _check_initialize_result(proc.hello, version, result)
    if ctx.capabilities is None:
        ctx.capabilities = dict(result.get("capabilities", {}))
        ctx.vars.set("maxMessageSize", ctx.capabilities.get("maxMessageSize"))
    ctx.vars.set("protocolVersion", result.get("protocolVersion"))
    ctx.transcript.step({"step": "initialize", "connection": conn.name, "got": item.message})
    if step.initialized:
        note = {"jsonrpc": "2.0", "method": "initialized", "params": {}}
        await _write(ctx, conn, frame(encode_json(note)), validate=True)
        ctx.transcript.event("send", connection=conn.name, message=note)


def _check_initialize_result(hello: dict[str, Any], requested: str, result: Any) -> None:
    """SPEC: same MAJOR, MINOR not above the request; runnerInfo equal to the hello's runner."""
    answered = result.get("protocolVersion") if isinstance(result, dict) else None
    ask_major, _, ask_minor = requested.partition(".")
    got_major, _, got_minor = str(answered).partition(".")
    if got_major != ask_major or not got_minor.isdigit() or int(got_minor) > int(ask_minor):
        raise RunnerFailure(
            "initialize answered another MAJOR or a higher MINOR than requested",
            expected=f"{ask_major}.<= {ask_minor}",
            got=describe(answered),
        )
    if not json_equal(result.get("runnerInfo"), hello.get("runner")):
        raise RunnerFailure(
            "initialize runnerInfo differs from the hello's runner",
            expected=describe(hello.get("runner")),
            got=describe(result.get("runnerInfo")),
        )


def _part_bytes(ctx: CaseContext, part: dict[str, Any]) -> tuple[bytes, bool]:
    """One sendRaw part as bytes; the flag says whether it is a complete framed message."""
    if not isinstance(part, dict):
        raise HarnessError("a sendRaw part must be an object")
    if "bodyParts" in part:
        inner = part["bodyParts"]
        if not isinstance(inner, list):
            raise HarnessError("bodyParts must be a list of parts")
        body_part = {k: v for k, v in part.items() if k != "bodyParts"}
        body = b"".join(_part_bytes(ctx, p)[0] for p in inner)
        return _part_bytes(ctx, {**body_part, "bodyHex": body.hex()})
    part = substitute(part, ctx.vars)
    keys = set(part) - {"count", "headers"}
    if len(keys) != 1:
        raise HarnessError(f"a sendRaw part needs exactly one kind, got {sorted(part)}")
    (kind,) = keys
    value = part[kind]
    try:
        if kind == "text":
            return str(value).encode("utf-8"), False
        if kind == "hex":
            return bytes.fromhex(value), False
        if kind == "base64":
            return base64.b64decode(value, validate=True), False
        if kind == "fill":
            count = part.get("count")
            if type(count) is not int or count < 0 or not isinstance(value, str) or not value:
                raise HarnessError("fill needs a non-empty string and an integer count >= 0")
            return value.encode("utf-8") * count, False
        if kind == "frame":
            body = encode_json(value)
        elif kind == "body":
            body = str(value).encode("utf-8")
        elif kind == "bodyHex":
            body = bytes.fromhex(value)
        else:
            raise HarnessError(f"unknown sendRaw part kind {kind!r}")
    except (ValueError, TypeError, binascii.Error) as exc:
        raise HarnessError(f"bad sendRaw part {kind}: {exc}") from None
    headers = part.get("headers")
    if headers is None:
        return frame(body), True
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        raise HarnessError("headers must be a list of header lines")
    head = "".join(h.replace("{length}", str(len(body))) + "\r\n" for h in headers) + "\r\n"
    return head.encode("utf-8") + body, True


async def send_raw(ctx: CaseContext, step: SendRaw) -> None:
    """Send bytes assembled from parts, possibly one chunk per write."""
    conn = ctx.connection(step.connection)
    if step.chunk_size is not None and step.chunk_size < 1:
        raise HarnessError("chunkSize must be >= 1")
    data = b"".join(_part_bytes(ctx, part)[0] for part in step.parts)
    await _write(
        ctx,
        conn,
        data,
        validate=step.validate,
        chunk_size=step.chunk_size,
        delay_ms=step.delay_ms,
    )
    shown = _describe_bytes(data)
    ctx.transcript.event("sendRaw", connection=conn.name, size=len(data), bytes=shown)
    ctx.transcript.step(
        {"step": "sendRaw", "connection": conn.name, "size": len(data), "bytes": shown}
    )


async def close_connection(ctx: CaseContext, step: CloseConnection) -> None:
    """Close (or half-close) the driver's side of a connection."""
    conn = ctx.connection(step.connection)
    if step.half_close:
        conn.half_close()
    else:
        await conn.close()
        del ctx.connections[step.connection]
    ctx.transcript.event("close", connection=step.connection, half=step.half_close)
    ctx.transcript.step(
        {"step": "closeConnection", "connection": step.connection, "halfClose": step.half_close}
    )


async def serve_wm(ctx: CaseContext, step: ServeWm) -> None:
    """Act as the WM: receive a runner->WM request matching the pattern and answer it."""
    conn = ctx.connection(step.connection)
    pattern = substitute(step.pattern, ctx.vars)
    deadline = time.monotonic() + ctx.seconds(step.within_ms)
    item = await next_message(conn, step.skip, deadline)
    if item is None:
        raise RunnerFailure(
            f"no request from the runner within {step.within_ms} ms",
            expected=describe(pattern, 400),
            got="nothing",
        )
    if isinstance(item, Closed):
        raise await closed_failure(ctx, conn, item, describe(pattern, 400))
    message = item.message
    result = match(pattern, message)
    if not result or "id" not in message or "method" not in message:
        reason = f"{result.path}: {result.reason}" if not result else "not a request"
        raise RunnerFailure(
            f"expected a request from the runner ({reason})",
            expected=describe(pattern, 400),
            got=describe(message, 400),
        )
    ctx.commit(result.captures)
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
    if step.error is not None:
        reply["error"] = substitute(step.error, ctx.vars)
    else:
        reply["result"] = substitute(step.result, ctx.vars)
    await _write(ctx, conn, frame(encode_json(reply)), validate=step.validate)
    ctx.transcript.event("send", connection=conn.name, message=reply)
    ctx.transcript.step({"step": "serveWm", "connection": conn.name, "got": message, "sent": reply})
