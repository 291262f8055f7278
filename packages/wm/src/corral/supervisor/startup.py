"""Starting one runner: spawn, launch record, hello, ``initialize``, ``initialized``, configure.

:func:`start_runner` is the readiness handshake of docs/architecture.md#launch-and-hello, each
step within its deadline: a runner is ready only when all of them succeeded. Any failure —
a command that cannot start, no hello, a hello of a protocol the WM does not speak, an
``initialize`` refused or late, a connection dropped, even a fault nobody foresaw — is a
:class:`HandshakeError` whose message names the runner, the step and the end of its stderr;
the process is stopped before it is raised. It knows nothing of states or restarts
(:mod:`corral.supervisor.runner` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from corral_protocol import Connection, ConnectionClosedError, RpcError, connect
from corral_protocol.messages import (
    ClientCapabilities,
    ClientInfo,
    ConfigureParams,
    ConfigureResult,
    HandlerLoadStatus,
    Hello,
    InitializedParams,
    InitializeParams,
    InitializeResult,
    LaunchRecord,
)
from corral_protocol.versions import SUPPORTED_VERSIONS, negotiate

from .process import RunnerProcess, StartError
from .spec import RunnerSpec

__all__ = ["WM_INFO", "Handshake", "HandshakeError", "handler_modules", "start_runner"]

WM_INFO = ClientInfo(name="corral", version="0.1.0")


class HandshakeError(Exception):
    """The runner did not become ready; ``reason`` says why, with its stderr tail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Handshake:
    """A runner that completed the handshake: its process, connection and hello."""

    process: RunnerProcess
    conn: Connection
    hello: Hello
    configuration: ConfigureParams | None = None
    """The configuration it was given (None: none)."""
    load_errors: list[HandlerLoadStatus] = field(default_factory=list)
    """Handlers its configuration named that failed to load (reported, not fatal)."""


def _negotiated(spoken: list[str]) -> str:
    """The version to propose in ``initialize``; StartError if no major is shared."""
    version = negotiate(SUPPORTED_VERSIONS, spoken)
    if version is None:
        raise StartError(f"runner speaks protocol {spoken}, the WM {list(SUPPORTED_VERSIONS)}")
    return str(version)


def handler_modules(configuration: ConfigureParams | None) -> list[str]:
    """The modules of the configured ``module:attribute`` handler sources."""
    if configuration is None:
        return []
    modules = {
        handler.source.partition(":")[0]
        for action in configuration.actions.values()
        for handler in action.handlers
        if ":" in handler.source and not handler.source.startswith("entrypoint:")
    }
    return sorted(modules)


async def start_runner(
    spec: RunnerSpec, *, spawned: Callable[[RunnerProcess], None] = lambda _: None
) -> Handshake:
    """Run the handshake for ``spec`` (see the module docstring). ``spawned`` is called with
    the process as soon as it exists (so a caller can watch it die during the handshake).
    Raises :class:`HandshakeError`; cancelling stops the process first."""
    settings = spec.settings
    token = secrets.token_hex(32)
    record = LaunchRecord(
        protocol=list(SUPPORTED_VERSIONS),
        token=token,
        project=str(spec.key.project),
        env=spec.key.env,
        wal_dir=None if spec.wal_dir is None else str(spec.wal_dir),
        parent_pid=os.getpid(),
        log_level=spec.log_level,  # type: ignore[arg-type]
        conformance=spec.conformance,
    )
    process: RunnerProcess | None = None
    conn: Connection | None = None
    try:
        configuration = None if spec.configure is None else spec.configure()
        process = await RunnerProcess.spawn(
            spec.command(),
            record,
            cwd=spec.key.project,
            spawner=spec.spawner,
            preload=handler_modules(configuration),
        )
        spawned(process)
        hello = await process.read_hello(settings.hello_timeout)
        version = _negotiated(hello.protocol)
        load_errors: list[HandlerLoadStatus] = []
        async with asyncio.timeout(settings.initialize_timeout):
            conn = await connect("127.0.0.1", hello.port, spec.router_factory(), name=str(spec.key))
            result = await conn.request(
                "initialize",
                InitializeParams(
                    protocol_version=version,
                    token=token,
                    client_info=WM_INFO,
                    capabilities=ClientCapabilities(
                        max_message_size=conn.protocol.max_message_size
                    ),
                ),
                result_type=InitializeResult,
            )
            conn.protocol.peer_max_message_size = result.capabilities.max_message_size
            conn.notify("initialized", InitializedParams())
            if configuration is not None:
                configured = await conn.request(
                    "runner/configure", configuration, result_type=ConfigureResult
                )
                load_errors = [h for h in configured.handlers if h.error is not None]
    except asyncio.CancelledError:
        await _discard(process, conn)
        raise
    except Exception as exc:  # every failure, foreseen or not, is a failed start: never a hang
        with contextlib.suppress(Exception):
            await _discard(process, conn)
        raise HandshakeError(_reason(spec, exc, process)) from exc
    return Handshake(
        process=process,
        conn=conn,
        hello=hello,
        configuration=configuration,
        load_errors=load_errors,
    )


def _reason(spec: RunnerSpec, exc: BaseException, process: RunnerProcess | None) -> str:
    if isinstance(exc, StartError):
        return f"{spec.key} failed to start: {exc}"
    if isinstance(exc, TimeoutError):
        reason = (
            f"{spec.key} did not answer initialize within {spec.settings.initialize_timeout:g} s"
        )
    elif isinstance(exc, OSError | RpcError | ConnectionClosedError):
        reason = f"{spec.key} failed during initialize: {exc}"
    else:
        reason = f"{spec.key} failed to start (unexpected {type(exc).__name__}: {exc})"
    if process is not None:
        tail = process.stderr_tail.text()
        if tail.strip():
            reason += "\nstderr (last lines):\n" + "\n".join(
                f"  | {line}" for line in tail.splitlines()
            )
    return reason


async def _discard(process: RunnerProcess | None, conn: Connection | None) -> None:
    if conn is not None:
        conn.close()
    if process is not None:
        await process.close()
