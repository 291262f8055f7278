"""Benchmark: the cost of a WAL append, against floors measured in the same run.

Measures, each over several repeats (min / median / max of the repeats are printed):

* floor: a bare ``os.write`` of the same frame bytes to an open ``O_APPEND`` fd, and a bare
  ``os.write`` + ``os.fsync``;
* ``append`` of a batched event (``handler.started``) under the default policy
  (``boundaries``: the flusher thread fsyncs in the background) and under ``never``:
  per-record latency p50/p99 and throughput;
* ``append`` of a durable-boundary event (``run.finished``: returns once fsynced), sync
  and ``append_async`` from an event loop;
* one simulated action: the WAL records of one ``lint`` run with two handlers, written by
  the WM and its runner (2 of its 10 records wait for fsync, 4 start one in the
  background), default policy vs ``never``; with instant handlers and with 1 ms handlers
  (then the background fsyncs finish while the handlers run, as in real use).

Ratios are against the floor of the same repeat. Not part of the test run.
Usage: ``python bench/wal_write.py [--repeats 5] [--records 20000] [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from corral_wal import (
    HANDLER_FINISHED,
    HANDLER_STARTED,
    RUN_ACCEPTED,
    RUN_FINISHED,
    RUN_STARTED,
    WalConfig,
    WalRecord,
    WalWriter,
    encode_record,
)

PAYLOAD = {"handler": "ruff_lint", "index": 0}
RUN = {"run_id": "0f6c1d2a9b8e4c57", "action": "lint", "project": "/home/dev/ws/app", "env": "dev"}
NO_RETENTION = {"max_segments": None, "max_age": None, "sweep_dead_writers": False}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object], count: int) -> list[float]:
    samples = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples


def sample_frame() -> bytes:
    record = WalRecord(
        v=1,
        writer="runner-dev-4250-m3x0q2a1",
        seq=123456,
        ts="2026-11-21T07:30:00.123456Z",
        event=HANDLER_STARTED,
        run_id=RUN["run_id"],
        parent_run_id=None,
        project=RUN["project"],
        env=RUN["env"],
        action=RUN["action"],
        payload=PAYLOAD,
    )
    return encode_record(record)


def floor_write(root: Path, frame: bytes, count: int) -> list[float]:
    fd = os.open(root / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return timed(lambda: os.write(fd, frame), count)
    finally:
        os.close(fd)


def floor_write_fsync(root: Path, frame: bytes, count: int) -> list[float]:
    fd = os.open(root / "floor-sync.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def once() -> None:
        os.write(fd, frame)
        os.fsync(fd)

    try:
        return timed(once, count)
    finally:
        os.close(fd)


def wal_append(root: Path, name: str, durability: str, count: int) -> tuple[list[float], float]:
    config = WalConfig(durability=durability, **NO_RETENTION)  # type: ignore[arg-type]
    with WalWriter(root, name, config) as writer:
        samples = timed(lambda: writer.append(HANDLER_STARTED, **RUN, payload=PAYLOAD), count)
        started = time.perf_counter()
        for _ in range(count):
            writer.append(HANDLER_STARTED, **RUN, payload=PAYLOAD)
        throughput = count / (time.perf_counter() - started)
    return samples, throughput


def wal_boundary(root: Path, name: str, count: int) -> list[float]:
    with WalWriter(root, name, WalConfig(**NO_RETENTION)) as writer:  # type: ignore[arg-type]
        return timed(lambda: writer.append(RUN_FINISHED, **RUN, payload={"status": "ok"}), count)


def wal_boundary_async(root: Path, name: str, count: int) -> list[float]:
    async def main(writer: WalWriter) -> list[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            await writer.append_async(RUN_FINISHED, **RUN, payload={"status": "ok"})
            samples.append(time.perf_counter() - start)
        return samples

    with WalWriter(root, name, WalConfig(**NO_RETENTION)) as writer:  # type: ignore[arg-type]
        return asyncio.run(main(writer))


def simulated_actions(
    root: Path, tag: str, durability: str, count: int, handler_s: float = 0.0
) -> list[float]:
    config = WalConfig(durability=durability, **NO_RETENTION)  # type: ignore[arg-type]
    accepted = {"scope": "action", "source": "cli", "depth": 0}
    with WalWriter(root, f"wm-{tag}", config) as wm, WalWriter(root, f"r-{tag}", config) as runner:

        def action() -> None:
            wm.append(RUN_ACCEPTED, **RUN, payload=accepted)
            wm.append(RUN_STARTED, **RUN, payload={"runner": "r"})
            runner.append(RUN_ACCEPTED, **RUN, payload={**accepted, "source": "wm"})
            runner.append(RUN_STARTED, **RUN, payload={"handlers": ["ruff", "mypy"]})
            for handler in ("ruff", "mypy"):
                runner.append(HANDLER_STARTED, **RUN, payload={"handler": handler})
                if handler_s:
                    time.sleep(handler_s)
                runner.append(HANDLER_FINISHED, **RUN, payload={"handler": handler})
            runner.append(RUN_FINISHED, **RUN, payload={"status": "ok"})
            wm.append(RUN_FINISHED, **RUN, payload={"status": "ok"})

        return timed(action, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--records", type=int, default=20000, help="appends per repeat")
    parser.add_argument("--durable", type=int, default=300, help="fsynced appends per repeat")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (a real disk)")
    args = parser.parse_args()
    frame = sample_frame()
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="wal-bench-") as tmp:
            root = Path(tmp)
            floor = floor_write(root, frame, args.records)
            floor_sync = floor_write_fsync(root, frame, args.durable)
            default, default_tp = wal_append(root, f"d{repeat}", "boundaries", args.records)
            never, never_tp = wal_append(root, f"n{repeat}", "never", args.records)
            boundary = wal_boundary(root, f"b{repeat}", args.durable)
            boundary_async = wal_boundary_async(root, f"a{repeat}", args.durable)
            act_default = simulated_actions(root, f"{repeat}d", "boundaries", args.durable // 3)
            act_never = simulated_actions(root, f"{repeat}n", "never", args.durable // 3)
            real_default = simulated_actions(root, f"{repeat}rd", "boundaries", 60, 0.001)
            real_never = simulated_actions(root, f"{repeat}rn", "never", 60, 0.001)
        f50 = percentile(floor, 0.5)
        fsync50 = percentile(floor_sync, 0.5)
        add("floor os.write p50 [us]", f50 * 1e6)
        add("floor os.write p99 [us]", percentile(floor, 0.99) * 1e6)
        add("floor os.write+fsync p50 [us]", fsync50 * 1e6)
        for name, samples in (("default", default), ("never", never)):
            add(f"append batched ({name}) p50 [us]", percentile(samples, 0.5) * 1e6)
            add(f"append batched ({name}) p99 [us]", percentile(samples, 0.99) * 1e6)
            add(f"append batched ({name}) p50 / floor [x]", percentile(samples, 0.5) / f50)
        add("append throughput default [k rec/s]", default_tp / 1e3)
        add("append throughput never [k rec/s]", never_tp / 1e3)
        add("append durable boundary p50 [us]", percentile(boundary, 0.5) * 1e6)
        add("append durable boundary p99 [us]", percentile(boundary, 0.99) * 1e6)
        add("durable boundary / (write+fsync) [x]", percentile(boundary, 0.5) / fsync50)
        add("append_async durable p50 [us]", percentile(boundary_async, 0.5) * 1e6)
        add("1 action (10 records) default p50 [us]", percentile(act_default, 0.5) * 1e6)
        add("1 action (10 records) never p50 [us]", percentile(act_never, 0.5) * 1e6)
        add(
            "1 action, 2x1ms handlers: default-never [us]",
            (percentile(real_default, 0.5) - percentile(real_never, 0.5)) * 1e6,
        )

    print(f"frame: {len(frame)} bytes; {args.repeats} repeats of {args.records} appends")
    print(f"{'metric':44} {'min':>9} {'median':>9} {'max':>9}")
    for name, values in rows.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"{name:44} {low:9.2f} {mid:9.2f} {high:9.2f}")


if __name__ == "__main__":
    main()
