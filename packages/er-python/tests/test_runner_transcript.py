"""A typical session with the real runner, recorded frame by frame and pinned as a snapshot.

Volatile values (token, durations, tracebacks, pid, port) are normalised; ``runner/log`` and
``runner/output`` notifications are left out because their timing is not deterministic.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
from corral_protocol import FrameDecoder, encode_frame
from corral_protocol.framing import Frame
from runner_harness import run, spawn
from syrupy.assertion import SnapshotAssertion

SKIPPED = {"runner/log", "runner/output"}


def normalise(value: Any, token: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "durationMs":
                out[key] = "<ms>"
            elif key == "traceback" and item is not None:
                out[key] = "<traceback>"
            else:
                out[key] = normalise(item, token)
        return out
    if isinstance(value, list):
        return [normalise(item, token) for item in value]
    if value == token:
        return "<token>"
    return value


class Transcript:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str):
        self.reader, self.writer, self.token = reader, writer, token
        self.decoder = FrameDecoder()
        self.lines: list[tuple[str, Any]] = []
        self.inbox: list[Any] = []

    def send(self, message: dict[str, Any]) -> None:
        self.lines.append(("wm->runner", normalise(message, self.token)))
        self.writer.write(encode_frame(msgspec.json.encode(message)))

    async def until_reply(self, request_id: int) -> None:
        while True:
            while self.inbox:
                message = self.inbox.pop(0)
                if message.get("method") in SKIPPED:
                    continue
                self.lines.append(("runner->wm", normalise(message, self.token)))
                if message.get("id") == request_id and "method" not in message:
                    return
            data = await self.reader.read(65536)
            assert data, "runner closed the connection"
            for event in self.decoder.feed(data):
                assert isinstance(event, Frame)
                self.inbox.append(msgspec.json.decode(event.body))


def test_typical_session_transcript(project: Path, snapshot: SnapshotAssertion) -> None:
    async def scenario() -> None:
        runner = await spawn(project)
        hello = await runner.read_hello()
        reader, writer = await asyncio.open_connection("127.0.0.1", hello.port)
        t = Transcript(reader, writer, runner.record.token)
        next_id = 0

        async def call(method: str, params: Any = None) -> None:
            nonlocal next_id
            next_id += 1
            message: dict[str, Any] = {"jsonrpc": "2.0", "id": next_id, "method": method}
            if params is not None:
                message["params"] = params
            t.send(message)
            await t.until_reply(next_id)

        def run_params(action: str, params: Any, **extra: Any) -> dict[str, Any]:
            return {
                "action": action,
                "params": params,
                "runId": f"r{next_id + 1}",
                "parentRunId": None,
                "depth": 0,
                **extra,
            }

        await call("actions/run", run_params("echo", {}))  # before initialize: -32002
        await call(
            "initialize",
            {
                "protocolVersion": "1.0",
                "token": runner.record.token,
                "clientInfo": {"name": "transcript", "version": "0"},
                "capabilities": {},
            },
        )
        t.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        await call(
            "runner/configure",
            {
                "actions": {
                    "echo": {"handlers": [{"name": "echo", "source": "conformance/echo"}]},
                    "check": {
                        "mode": "sequential",
                        "handlers": [
                            {"name": "first", "source": "conformance/echo"},
                            {
                                "name": "second",
                                "source": "conformance/fail",
                                "config": {"strict": True},
                            },
                            {"name": "third", "source": "conformance/echo"},
                        ],
                    },
                    "steps": {"handlers": [{"name": "steps", "source": "conformance/progress"}]},
                    "broken": {"handlers": [{"name": "gone", "source": "not_a_module:handler"}]},
                }
            },
        )
        await call("actions/run", run_params("echo", {"text": "héllo", "n": [1, 2.5, None]}))
        await call("actions/run", run_params("check", {"message": "nope"}))
        await call("actions/run", run_params("steps", {"steps": 2}, workDoneToken="wd"))
        await call("actions/run", run_params("missing", {}))
        await call("$/ping")
        await call("no/such/method", {})
        await call("shutdown")
        await call("$/ping")
        t.send({"jsonrpc": "2.0", "method": "exit"})
        code = await runner.wait_exit()
        writer.close()
        assert code == 0
        assert t.lines == snapshot

    run(scenario())
