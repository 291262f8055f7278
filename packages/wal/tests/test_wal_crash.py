"""Crash test with real processes: a writer SIGKILLed at random moments, many times.

After every kill: every record the child reported durable is present and intact, every
record whose ``append`` returned is present (a SIGKILL cannot lose the page cache), no
record is misread (each payload's blob matches its ``n``), seqs are contiguous, and a torn
tail, if any, is reported by ``verify`` (and nothing else is). The next child reopens the
same stream, so recovery after each crash is exercised by a real new process. Tearing by
SIGKILL needs the kill to land inside a ``write`` of a large record, which is rare; so
every fourth iteration without a natural torn tail also appends the prefix of a frame, as
a power loss in the middle of a write would leave it.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from corral_wal import WalConfig, WalWriter, encode_record, read_stream, verify_wal
from corral_wal.layout import list_segments

CHILD = Path(__file__).with_name("wal_crash_child.py")
WRITER = "runner-crash-1"
ITERATIONS = 30

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock")


def load_child() -> Any:
    spec = importlib.util.spec_from_file_location("wal_crash_child", CHILD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Output:
    """Collects a child's stdout on a thread (the pipe never fills, reads never block)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        # Our own copy of the pipe: the Popen may close its stdout while this thread reads
        # (seen as EBADF in a loaded run); the copy lives until the pump ends.
        self._fd = os.dup(proc.stdout.fileno())
        self.data = b""
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while chunk := os.read(self._fd, 65536):
                self.data += chunk
        finally:
            os.close(self._fd)

    def wait_for(self, marker: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while marker not in self.data and self._thread.is_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return marker in self.data

    def wait_for_count(self, prefix: bytes, count: int, timeout: float) -> bool:
        """Wait until ``count`` lines starting with ``prefix`` arrived (or the child ended)."""
        deadline = time.monotonic() + timeout
        while self.data.count(b"\n" + prefix) < count and self._thread.is_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def lines(self) -> list[str]:
        self._thread.join(10)
        complete = self.data[: self.data.rfind(b"\n") + 1]  # a cut-off last line is ignored
        return complete.decode().splitlines()


def simulate_torn_write(wal_dir: Path, rng: random.Random) -> int:
    """Append a random prefix of a plausible next frame to the last segment."""
    segment = list_segments(wal_dir / WRITER)[-1][1]
    records = read_stream(wal_dir, WRITER).records
    frame = encode_record(
        type(records[-1])(
            **{
                **{f: getattr(records[-1], f) for f in records[-1].__struct_fields__},
                "seq": records[-1].seq + 1,
                "payload": {"blob": "y" * 500},
            }
        )
    )
    cut = rng.randint(1, len(frame) - 1)
    with segment.open("ab") as f:
        f.write(frame[:cut])
    return cut


def test_sigkill_at_random_moments_never_loses_or_misreads_a_record(tmp_path: Path) -> None:
    child = load_child()
    rng = random.Random(20261121)
    wal_dir = tmp_path / "wal"
    durable: set[int] = set()
    appended: dict[int, int] = {}
    stats = {"natural_torn": 0, "simulated_torn": 0, "killed_before_open": 0, "records": 0}
    started = time.monotonic()
    for iteration in range(ITERATIONS):
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(wal_dir), WRITER, str(iteration + 1)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        output = Output(proc)
        if rng.random() < 0.2:  # anywhere: interpreter start, recovery, first appends
            time.sleep(rng.uniform(0.005, 0.15))
        else:
            assert output.wait_for(b"READY", timeout=15), "child never opened its writer"
            # Some durable records first (a count, not a time: a loaded machine is slower),
            # then a random moment.
            output.wait_for_count(b"D ", rng.randint(3, 12), timeout=15)
            time.sleep(rng.uniform(0.0, 0.1))
        proc.kill()
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL, stderr.decode()
        lines = output.lines()
        if not any(line.startswith("READY") for line in lines):
            stats["killed_before_open"] += 1
        for line in lines:
            kind, *fields = line.split()
            if kind == "D":
                durable.add(int(fields[0]))
            elif kind == "W":
                appended[int(fields[0])] = int(fields[1])
        if not (wal_dir / WRITER).exists():
            continue

        scan = read_stream(wal_dir, WRITER)
        by_seq = {r.seq: r for r in scan.records}
        assert {d.kind for d in scan.damage} <= {"torn-tail"}, scan.damage
        assert [r.seq for r in scan.records] == list(range(len(scan.records)))
        for record in scan.records:  # no misread: content matches what was written
            if "blob" in record.payload:
                n, size = record.payload["n"], record.payload["size"]
                assert record.payload["blob"] == child.expected_blob(n, size)
        missing = sorted(durable - by_seq.keys())
        assert not missing, f"reported durable but lost: {missing[:10]}"
        for seq, n in appended.items():  # append returned => survives a process kill
            assert by_seq[seq].payload["n"] == n

        torn = [d for d in scan.damage if d.kind == "torn-tail"]
        if not torn and iteration % 4 == 3:
            simulate_torn_write(wal_dir, rng)
            stats["simulated_torn"] += 1
            torn = [d for d in read_stream(wal_dir, WRITER).damage if d.kind == "torn-tail"]
            assert torn
        elif torn:
            stats["natural_torn"] += 1
        report = verify_wal(wal_dir)
        assert report.ok == (not torn)
        assert [d.kind for d in report.damage] == ["torn-tail"] * len(torn)
        assert len(torn) <= 1
        stats["records"] = len(scan.records)

    # a reopened writer cuts the last torn tail (if any) and continues cleanly
    config = WalConfig(max_segments=None, max_age=None, sweep_dead_writers=False)
    last_torn = [d for d in verify_wal(wal_dir).damage if d.kind == "torn-tail"]
    with WalWriter(wal_dir, WRITER, config) as writer:
        assert (writer.recovery is not None) == bool(last_torn)
        writer.append("custom.after_crashes", payload={})
    report = verify_wal(wal_dir)
    assert report.ok, report.damage
    scan = read_stream(wal_dir, WRITER)
    assert [r.seq for r in scan.records] == list(range(len(scan.records)))
    assert durable <= {r.seq for r in scan.records}
    elapsed = time.monotonic() - started
    print(f"crash test: {stats}, {len(durable)} durable seqs checked, {elapsed:.1f}s")
    assert stats["simulated_torn"] + stats["natural_torn"] >= 3
    assert len(durable) > 100
