"""Echo round trip over 127.0.0.1 between two processes: corral_protocol vs a floor.

The floor is written here with bare asyncio streams + msgspec and no dispatch layer (no
router, no per-request task, no id bookkeeping beyond a dict of futures). Both are measured
in the same run, in alternating rounds, so machine noise hits both alike.

For each implementation and round: sequential latency (p50, p99 of single round trips) and
pipelined throughput (64 requests in flight). Prints min/median/max across rounds and the
ratios corral/floor (latency: lower is better; throughput: higher is better).

    uv run python bench/echo_roundtrip.py [--rounds 5] [--requests 3000] [--size 3000]

Targets (issue 2): latency p50 within 1.3x of the floor, throughput at least 0.8x.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

import msgspec
from corral_protocol import Router, connect, start_server

IN_FLIGHT = 64


# --- floor: bare asyncio streams + msgspec -----------------------------------------------


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readuntil(b"\r\n\r\n")
    length = int(header.split(b":", 1)[1].split(b"\r\n", 1)[0])
    return await reader.readexactly(length)


def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def floor_server() -> None:
    decode, encode = msgspec.json.decode, msgspec.json.encode

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                msg = decode(await _read_frame(reader))
                reply = {"jsonrpc": "2.0", "id": msg["id"], "result": msg["params"]}
                writer.write(_frame(encode(reply)))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


class FloorClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.waiters: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        decode = msgspec.json.decode
        while True:
            msg = decode(await _read_frame(self.reader))
            self.waiters.pop(msg["id"]).set_result(msg["result"])

    async def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiters[self.next_id] = fut
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.writer.write(_frame(msgspec.json.encode(body)))
        return await fut

    def close(self) -> None:
        self.task.cancel()
        self.writer.close()


# --- corral_protocol -------------------------------------------------------------------


async def corral_server() -> None:
    async def echo(params: Any, ctx: Any) -> Any:
        return params

    def router() -> Router:
        r = Router()
        r.add_request("echo", echo, dict)
        return r

    server = await start_server(lambda c: None, "127.0.0.1", 0, router_factory=router)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


# --- measurement -----------------------------------------------------------------------


async def measure(impl: str, requests: int, size: int) -> tuple[float, float, float]:
    """Start a server process of ``impl``; return (p50 µs, p99 µs, requests/s)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", impl], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        params = {"blob": "x" * size}
        if impl == "floor":
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            client: Any = FloorClient(reader, writer)
            call = client.request
        else:
            client = await connect("127.0.0.1", port)
            call = client.request
        for _ in range(200):  # warm-up
            await call("echo", params)
        samples = []
        for _ in range(requests):
            t0 = time.perf_counter()
            await call("echo", params)
            samples.append(time.perf_counter() - t0)
        samples.sort()
        p50 = samples[len(samples) // 2] * 1e6
        p99 = samples[int(len(samples) * 0.99)] * 1e6

        total = requests * 4
        sem = asyncio.Semaphore(IN_FLIGHT)

        async def one() -> None:
            async with sem:
                await call("echo", params)

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(total)))
        throughput = total / (time.perf_counter() - t0)
        client.close()
        return p50, p99, throughput
    finally:
        proc.kill()
        proc.wait()


def _stats(values: list[float]) -> str:
    return (
        f"min {min(values):9.1f}  median {statistics.median(values):9.1f}  max {max(values):9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--size", type=int, default=3000, help="payload bytes per message")
    parser.add_argument("--serve", choices=["floor", "corral"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(floor_server() if args.serve == "floor" else corral_server())
        return

    results: dict[str, list[tuple[float, float, float]]] = {"floor": [], "corral": []}
    for round_ in range(args.rounds):
        for impl in ("floor", "corral") if round_ % 2 == 0 else ("corral", "floor"):
            results[impl].append(asyncio.run(measure(impl, args.requests, args.size)))

    print(f"echo round trip, {args.size}-byte payload, {args.rounds} rounds")
    for impl, rows in results.items():
        print(f"  {impl:6s} p50 µs     {_stats([r[0] for r in rows])}")
        print(f"  {impl:6s} p99 µs     {_stats([r[1] for r in rows])}")
        print(f"  {impl:6s} req/s ({IN_FLIGHT})  {_stats([r[2] for r in rows])}")
    med = {
        impl: [statistics.median(r[i] for r in rows) for i in range(3)]
        for impl, rows in results.items()
    }
    lat = med["corral"][0] / med["floor"][0]
    tail = med["corral"][1] / med["floor"][1]
    thr = med["corral"][2] / med["floor"][2]
    print(f"ratio latency p50 corral/floor: {lat:.2f}x (target <= 1.30)")
    print(f"ratio latency p99 corral/floor: {tail:.2f}x")
    print(f"ratio throughput corral/floor:  {thr:.2f}x (target >= 0.80)")


if __name__ == "__main__":
    main()
