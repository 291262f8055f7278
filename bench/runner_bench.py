"""The Python reference runner against floors measured in the same run.

1. Cold start: spawn -> ``initialize`` answered, vs ``floor_runner.py`` (same interpreter:
   imports asyncio + msgspec, binds, prints a hello, answers one framed request).
   Target: at most 1.5x.
2. Noop action round trip (``actions/run`` of a handler that returns at once), sequential
   p50, vs the echo round trip of the protocol core (``echo_roundtrip.corral_server``).
   Target: p50 at most 1.5x. Pipelined noop throughput (64 in flight): at least 20,000/s.
3. A 200-diagnostic result (~44 KB) pipelined: at least 5,000 results/s.
4. Idle resident memory of a configured runner. Target: under 40 MB.
5. The WAL's cost: noop p50 with the runner journaling to a WAL vs without (issue 3: the
   cost of writing must not show in action latency).

Each measurement is repeated (``--rounds``) in alternating order and printed as
min/median/max; ratios use the medians.

    uv run python bench/runner_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from corral_protocol import connect
from corral_protocol.messages import (
    ActionConfig,
    ClientCapabilities,
    ClientInfo,
    ConfigureParams,
    HandlerSpec,
    InitializeParams,
    LaunchRecord,
    RunParams,
)

HERE = Path(__file__).resolve().parent


class RawRunResult(msgspec.Struct):
    """A RunResult whose ``result`` is left undecoded."""

    status: str
    result: msgspec.Raw
    handlers: list[Any]


IN_FLIGHT = 64


def launch_line(token: str, wal_dir: str | None = None) -> bytes:
    record = LaunchRecord(
        protocol=["1.0"],
        token=token,
        project=str(HERE),
        env="bench",
        wal_dir=wal_dir,
        parent_pid=os.getpid(),
        log_level="warning",
        conformance=False,
    )
    return msgspec.json.encode(record) + b"\n"


def spawn(
    argv: list[str], token: str, wal_dir: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=HERE
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(launch_line(token, wal_dir))
    proc.stdin.close()
    port = msgspec.json.decode(proc.stdout.readline())["port"]
    return proc, port


def initialize_params(token: str) -> InitializeParams:
    return InitializeParams(
        protocol_version="1.0",
        token=token,
        client_info=ClientInfo(name="bench", version="0"),
        capabilities=ClientCapabilities(),
    )


async def cold_start(argv: list[str]) -> float:
    """Seconds from spawn to the first (initialize) reply."""
    token = secrets.token_hex(32)
    started = time.perf_counter()
    proc, port = spawn(argv, token)
    connection = await connect("127.0.0.1", port)
    await connection.request("initialize", initialize_params(token))
    elapsed = time.perf_counter() - started
    connection.close()
    proc.kill()
    proc.wait()
    return elapsed


async def percentile_latency(call: Any, count: int) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return samples[len(samples) // 2] * 1e6


async def throughput(call: Any, total: int) -> float:
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with semaphore:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - started)


async def runner_measurements(requests: int, wal_dir: str | None = None) -> dict[str, float]:
    token = secrets.token_hex(32)
    proc, port = spawn([sys.executable, "-m", "corral_runner"], token, wal_dir)
    try:
        connection = await connect("127.0.0.1", port)
        await connection.request("initialize", initialize_params(token))
        connection.notify("initialized", {})
        await connection.request(
            "runner/configure",
            ConfigureParams(
                actions={
                    "noop": ActionConfig(
                        handlers=[HandlerSpec(name="noop", source="bench_handlers:noop")]
                    ),
                    "lint": ActionConfig(
                        handlers=[HandlerSpec(name="d", source="bench_handlers:diagnostics")]
                    ),
                }
            ),
        )
        counter = 0

        def params(action: str) -> RunParams:
            nonlocal counter
            counter += 1
            return RunParams(action=action, run_id=f"r{counter}", parent_run_id=None, depth=0)

        async def noop() -> None:
            await connection.request("actions/run", params("noop"))

        async def lint() -> None:
            # The result stays undecoded (msgspec.Raw), as an action-agnostic WM that only
            # forwards it would keep it: this measures the runner, not dict construction.
            await connection.request("actions/run", params("lint"), result_type=RawRunResult)

        for _ in range(200):
            await noop()
        await asyncio.sleep(1.0)
        rss = _rss_mb(proc.pid)
        result = {
            "noop_p50": await percentile_latency(noop, requests),
            "noop_tput": await throughput(noop, requests * 4),
            "diag_tput": await throughput(lint, requests * 2),
            "idle_rss": rss,
        }
        connection.close()
        return result
    finally:
        proc.kill()
        proc.wait()


async def echo_p50(requests: int) -> float:
    # The protocol core's echo, served in a separate process like the runner.
    code = (
        f"import asyncio, sys; sys.path.insert(0, {str(HERE)!r});"
        "import echo_roundtrip; asyncio.run(echo_roundtrip.corral_server())"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        connection = await connect("127.0.0.1", port)
        body = {"action": "noop"}

        async def call() -> None:
            await connection.request("echo", body)

        for _ in range(200):
            await call()
        p50 = await percentile_latency(call, requests)
        connection.close()
        return p50
    finally:
        proc.kill()
        proc.wait()


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _stats(values: list[float], unit: str) -> str:
    return (
        f"min {min(values):10.1f}  median {statistics.median(values):10.1f}  "
        f"max {max(values):10.1f} {unit}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    runner_argv = [sys.executable, "-m", "corral_runner"]
    floor_argv = [sys.executable, str(HERE / "floor_runner.py")]
    cold: dict[str, list[float]] = {"runner": [], "floor": []}
    rows: dict[str, list[float]] = {"echo_p50": []}
    for round_ in range(args.rounds):
        order = [("runner", runner_argv), ("floor", floor_argv)]
        for name, argv in order if round_ % 2 == 0 else order[::-1]:
            cold[name].append(asyncio.run(cold_start(argv)) * 1000)
        measured = asyncio.run(runner_measurements(args.requests))
        for key, value in measured.items():
            rows.setdefault(key, []).append(value)
        with tempfile.TemporaryDirectory() as wal_dir:
            with_wal = asyncio.run(runner_measurements(args.requests, wal_dir))
        rows.setdefault("noop_p50_wal", []).append(with_wal["noop_p50"])
        rows["echo_p50"].append(asyncio.run(echo_p50(args.requests)))

    med = {
        key: statistics.median(values)
        for key, values in {**rows, **{f"cold_{k}": v for k, v in cold.items()}}.items()
    }
    print(f"runner bench, {args.rounds} rounds")
    print(f"  cold start runner        {_stats(cold['runner'], 'ms')}")
    print(f"  cold start floor         {_stats(cold['floor'], 'ms')}")
    print(f"  noop actions/run p50     {_stats(rows['noop_p50'], 'µs')}")
    print(f"  protocol echo p50        {_stats(rows['echo_p50'], 'µs')}")
    print(f"  noop throughput ({IN_FLIGHT})    {_stats(rows['noop_tput'], '/s')}")
    print(f"  200-diag results ({IN_FLIGHT})   {_stats(rows['diag_tput'], '/s')}")
    print(f"  idle RSS                 {_stats(rows['idle_rss'], 'MB')}")
    print(f"  noop p50 with WAL        {_stats(rows['noop_p50_wal'], 'µs')}")
    print(
        f"ratio cold start runner/floor: {med['cold_runner'] / med['cold_floor']:.2f}x "
        "(target <= 1.50)"
    )
    print(
        f"ratio noop p50 / echo p50:     {med['noop_p50'] / med['echo_p50']:.2f}x (target <= 1.50)"
    )
    print(f"noop throughput:               {med['noop_tput']:.0f}/s (target >= 20000)")
    print(f"200-diagnostic throughput:     {med['diag_tput']:.0f}/s (target >= 5000)")
    print(f"idle RSS:                      {med['idle_rss']:.1f} MB (target < 40)")
    print(f"ratio noop p50 WAL on/off:     {med['noop_p50_wal'] / med['noop_p50']:.2f}x")


if __name__ == "__main__":
    main()
