"""WalWriter: seq continuity, rotation, retention, fsync policy, async use, failures."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from corral_wal import (
    HANDLER_STARTED,
    RUN_FINISHED,
    RUN_STARTED,
    WAL_CLOSED,
    WAL_OPENED,
    WalConfig,
    WalWriter,
    WalWriterError,
    list_segments,
    make_writer_id,
    read_stream,
    segment_name,
    validate_writer_id,
)
from corral_wal.journal import Journal
from corral_wal.layout import list_writers
from corral_wal.retention import SWEPT_MARKER, sweep_due

NO_RETENTION = {"max_segments": None, "max_age": None, "sweep_dead_writers": False}


def handler(writer: WalWriter, n: int, **kw: Any) -> Any:
    return writer.append(HANDLER_STARTED, run_id="r1", payload={"handler": f"h{n}"}, **kw)


def seqs(wal_dir: Path, writer: str) -> list[int]:
    scan = read_stream(wal_dir, writer)
    assert scan.damage == []
    return [r.seq for r in scan.records]


# ------------------------------------------------------------------ ids and layout
def test_writer_ids_are_unique_per_incarnation_and_filesystem_safe() -> None:
    a = make_writer_id("runner", "Dev No/Runtime env!", pid=4242, started=1_700_000_000.0)
    assert a == "runner-dev-no-runtime-env-4242-loyw3v28"
    assert make_writer_id("wm", pid=1, started=1.0) != make_writer_id("wm", pid=1, started=2.0)
    assert validate_writer_id(make_writer_id("wm")).startswith(f"wm-{os.getpid()}-")
    for bad in ("", "WM", "../x", ".x", "a" * 65, "a b"):
        with pytest.raises(ValueError, match="invalid WAL writer id"):
            validate_writer_id(bad)


def test_first_open_writes_wal_opened_and_close_writes_wal_closed(tmp_path: Path) -> None:
    with WalWriter(tmp_path, "wm", meta={"program": "corral-wm 0.1"}) as w:
        assert w.next_seq == 1
        assert w.durable_seq >= 0  # wal.opened is a boundary event
    records = read_stream(tmp_path, "wm").records
    assert [r.event for r in records] == [WAL_OPENED, WAL_CLOSED]
    assert records[0].payload == {"program": "corral-wm 0.1", "pid": os.getpid(), "recovered": None}
    assert [p.name for _, p in list_segments(tmp_path / "wm")] == [segment_name(0)]


def test_seq_continues_across_reopen(tmp_path: Path) -> None:
    for _ in range(3):
        with WalWriter(tmp_path, "wm") as w:
            for n in range(5):
                handler(w, n)
    assert seqs(tmp_path, "wm") == list(range(21))


def test_a_second_live_writer_of_the_same_stream_is_refused(tmp_path: Path) -> None:
    with WalWriter(tmp_path, "wm"), pytest.raises(BlockingIOError, match="live writer"):
        WalWriter(tmp_path, "wm", lock_timeout=0.05)


def test_timestamps_never_go_backwards_in_a_stream(tmp_path: Path, clock: Any) -> None:
    with WalWriter(tmp_path, "wm", clock=clock) as w:
        clock.advance(1000)
        first = handler(w, 1)
        clock.advance(-500)  # the wall clock was stepped back
        second = handler(w, 2)
    assert second.ts == first.ts
    with WalWriter(tmp_path, "wm", clock=clock) as w:  # also across a reopen
        assert handler(w, 3).ts == first.ts


def test_invalid_records_spend_no_seq_and_write_nothing(tmp_path: Path) -> None:
    with WalWriter(tmp_path, "wm") as w:
        size = w.segment.stat().st_size
        with pytest.raises(ValueError, match="required"):
            w.append(RUN_FINISHED, run_id="r1", payload={})
        with pytest.raises(ValueError, match="event name"):
            w.append("Not An Event")
        with pytest.raises(TypeError):
            w.append("custom.event", payload={"x": object()})
        assert w.segment.stat().st_size == size
        assert w.append("custom.event").seq == 1
    assert seqs(tmp_path, "wm") == [0, 1, 2]


def test_closed_writer_refuses_appends(tmp_path: Path) -> None:
    w = WalWriter(tmp_path, "wm")
    w.close()
    w.close()  # idempotent
    assert w.closed
    with pytest.raises(WalWriterError, match="closed"):
        handler(w, 1)
    with pytest.raises(WalWriterError, match="closed"):
        w.sync()


# ------------------------------------------------------------------ rotation and retention
def test_rotation_by_size_keeps_seq_and_names_segments_by_first_seq(tmp_path: Path) -> None:
    config = WalConfig(segment_bytes=1000, **NO_RETENTION)  # type: ignore[arg-type]
    with WalWriter(tmp_path, "wm", config) as w:
        for n in range(40):
            handler(w, n)
        big = w.append("custom.big", payload={"blob": "x" * 3000})  # alone in its segment
        handler(w, 99)
    segments = list_segments(tmp_path / "wm")
    assert len(segments) > 5
    scan = read_stream(tmp_path, "wm")
    assert scan.damage == []
    assert [r.seq for r in scan.records] == list(range(44))
    for info in scan.segments:
        assert info.name == segment_name(info.first_seq)
        assert info.size <= 1000 or info.records == 1
    assert any(i.first_seq == big.seq and i.records == 1 for i in scan.segments)


def test_seq_continues_across_reopen_after_rotation(tmp_path: Path) -> None:
    config = WalConfig(segment_bytes=600, **NO_RETENTION)  # type: ignore[arg-type]
    for _ in range(3):
        with WalWriter(tmp_path, "wm", config) as w:
            for n in range(7):
                handler(w, n)
    assert seqs(tmp_path, "wm") == list(range(27))


def test_retention_by_count_deletes_only_the_oldest(tmp_path: Path) -> None:
    config = WalConfig(segment_bytes=500, max_segments=3, max_age=None)
    with WalWriter(tmp_path, "wm", config) as w:
        for n in range(60):
            handler(w, n)
        last = handler(w, 60).seq
    segments = list_segments(tmp_path / "wm")
    assert len(segments) == 3
    scan = read_stream(tmp_path, "wm")
    assert scan.damage == []  # a deleted prefix is expired history, not a gap
    assert scan.records[-1].seq == last + 1
    assert scan.records[0].seq == segments[0][0]


def test_retention_by_age_on_open(tmp_path: Path) -> None:
    config = WalConfig(segment_bytes=500, max_segments=None, max_age=3600)
    with WalWriter(tmp_path, "wm", config) as w:
        for n in range(30):
            handler(w, n)
    segments = list_segments(tmp_path / "wm")
    old = time.time() - 7200
    for _, path in segments[:3]:
        os.utime(path, (old, old))
    os.utime(segments[4][1], (old, old))  # old but after a young one: kept (no holes)
    WalWriter(tmp_path, "wm", config).close()
    remaining = [p.name for _, p in list_segments(tmp_path / "wm")]
    assert remaining[0] == segments[3][1].name
    assert segments[4][1].name in remaining
    assert read_stream(tmp_path, "wm").damage == []


def test_dead_streams_are_swept_and_live_ones_left_alone(tmp_path: Path) -> None:
    config = WalConfig(max_age=3600)
    quiet = WalConfig(max_age=3600, sweep_dead_writers=False)  # runners: no sweep
    WalWriter(tmp_path, "runner-dead-1", quiet).close()
    live = WalWriter(tmp_path, "runner-live-2", quiet)
    old = time.time() - 7200
    for name in ("runner-dead-1", "runner-live-2"):
        for _, path in list_segments(tmp_path / name):
            os.utime(path, (old, old))
    WalWriter(tmp_path, "wm", config).close()
    assert not (tmp_path / "runner-dead-1").exists()
    assert list_segments(tmp_path / "runner-live-2")
    live.close()


def test_a_sweep_keeps_at_most_max_streams_deleting_the_least_recent_dead_ones(
    tmp_path: Path,
) -> None:
    """Every process incarnation has its own stream: without a cap their number grows
    with every runner ever started (and so does the cost of each sweep)."""
    config = WalConfig(max_streams=4)
    quiet = WalConfig(max_streams=4, sweep_dead_writers=False)  # runners: no sweep
    dead = [f"runner-dead-{n}" for n in range(6)]
    for age, name in enumerate(dead):  # runner-dead-0 is the newest
        WalWriter(tmp_path, name, quiet).close()
        stamp = time.time() - 100 * (age + 1)
        for _, path in list_segments(tmp_path / name):
            os.utime(path, (stamp, stamp))
    live = WalWriter(tmp_path, "runner-live-9", quiet)
    old = time.time() - 10_000  # the oldest of all, but its writer is alive
    for _, path in list_segments(tmp_path / "runner-live-9"):
        os.utime(path, (old, old))
    WalWriter(tmp_path, "wm", config).close()  # sweeps: 8 streams > 4, down to 3
    kept = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert kept == ["runner-dead-0", "runner-live-9", "wm"]
    assert read_stream(tmp_path, "runner-dead-0").damage == []
    live.close()


def test_streams_removed_by_age_count_towards_max_streams(tmp_path: Path) -> None:
    quiet = WalConfig(sweep_dead_writers=False)
    for n in range(10):
        WalWriter(tmp_path, f"runner-dead-{n}", quiet).close()
        stamp = time.time() - (7200 if n < 4 else 100 - n)  # 0-3 past max_age
        for _, path in list_segments(tmp_path / f"runner-dead-{n}"):
            os.utime(path, (stamp, stamp))
    WalWriter(tmp_path, "wm", WalConfig(max_age=3600, max_streams=8)).close()
    kept = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert kept == [*(f"runner-dead-{n}" for n in range(4, 10)), "wm"]  # 7 <= 8


def _dead_stream_past_max_age(wal_dir: Path, name: str) -> None:
    WalWriter(wal_dir, name, WalConfig(sweep_dead_writers=False)).close()
    old = time.time() - 7200
    for _, path in list_segments(wal_dir / name):
        os.utime(path, (old, old))


def test_a_sweep_is_skipped_while_the_last_one_is_recent(tmp_path: Path) -> None:
    """Each command opens a WM, and a sweep visits every stream: at most one per
    ``sweep_interval`` (the end of the last one is the mtime of ``.swept``)."""
    config = WalConfig(max_age=3600, sweep_interval=600)
    WalWriter(tmp_path, "wm", config).close()  # sweeps (no marker yet) and marks
    marker = tmp_path / SWEPT_MARKER
    assert marker.is_file()
    _dead_stream_past_max_age(tmp_path, "runner-dead-1")
    WalWriter(tmp_path, "wm", config).close()
    assert (tmp_path / "runner-dead-1").exists()  # swept 0 s ago: not due
    assert "runner-dead-1" in list_writers(tmp_path)  # the marker is no stream
    long_ago = time.time() - 601
    os.utime(marker, (long_ago, long_ago))
    WalWriter(tmp_path, "wm", config).close()
    assert not (tmp_path / "runner-dead-1").exists()  # due again, and swept
    assert marker.stat().st_mtime > long_ago + 1  # and marked


def test_a_marker_from_the_future_does_not_stop_sweeps(tmp_path: Path) -> None:
    config = WalConfig(max_age=3600, sweep_interval=600)
    WalWriter(tmp_path, "wm", config).close()
    future = time.time() + 86400  # a clock that jumped back since
    os.utime(tmp_path / SWEPT_MARKER, (future, future))
    _dead_stream_past_max_age(tmp_path, "runner-dead-1")
    WalWriter(tmp_path, "wm", config).close()
    assert not (tmp_path / "runner-dead-1").exists()


def test_too_many_streams_make_a_sweep_due_at_once(tmp_path: Path) -> None:
    config = WalConfig(max_streams=3, sweep_interval=600)
    WalWriter(tmp_path, "wm", config).close()  # marks
    for n in range(4):
        WalWriter(tmp_path, f"runner-dead-{n}", WalConfig(sweep_dead_writers=False)).close()
    assert sweep_due(tmp_path, interval=600, max_streams=3)
    assert not sweep_due(tmp_path, interval=600, max_streams=10)
    WalWriter(tmp_path, "wm", config).close()  # 5 streams > 3: down to 2 (3 * 3 // 4)
    assert len(list_writers(tmp_path)) == 2
    assert not sweep_due(tmp_path, interval=600, max_streams=3)  # at the cap: not due again


def test_sweep_interval_none_sweeps_at_every_open(tmp_path: Path) -> None:
    config = WalConfig(max_age=3600, sweep_interval=None)
    WalWriter(tmp_path, "wm", config).close()
    _dead_stream_past_max_age(tmp_path, "runner-dead-1")
    WalWriter(tmp_path, "wm", config).close()
    assert not (tmp_path / "runner-dead-1").exists()
    with pytest.raises(ValueError, match="sweep_interval"):
        WalConfig(sweep_interval=-1)


def test_only_sweeping_writers_sweep(tmp_path: Path) -> None:
    config = WalConfig(max_streams=1, sweep_dead_writers=False)
    for name in ("runner-a-1", "runner-b-2", "runner-c-3"):
        WalWriter(tmp_path, name, config).close()
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3
    journal = Journal.open(tmp_path, "runner-d-4", sweep=False)
    assert journal is not None
    journal.close()
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 4
    journal = Journal.open(tmp_path, "wm", meta={"program": "test"})  # sweeps by default
    assert journal is not None
    journal.close()
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 5  # under the default cap


def test_max_streams_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_streams"):
        WalConfig(max_streams=0)


# ------------------------------------------------------------------ fsync policy
def open_counted(tmp_path: Path, fsync: Any, **config: Any) -> WalWriter:
    return WalWriter(tmp_path, "wm", WalConfig(**{**NO_RETENTION, **config}), fsync=fsync)


def test_policy_never_calls_no_fsync(tmp_path: Path, counting_fsync: Any) -> None:
    w = open_counted(tmp_path, counting_fsync, durability="never")
    for n in range(20):
        handler(w, n)
    w.append(RUN_FINISHED, run_id="r1", payload={"status": "ok"})
    w.close()
    assert counting_fsync.calls == 0


def test_policy_never_still_honours_an_explicit_sync(tmp_path: Path, counting_fsync: Any) -> None:
    with open_counted(tmp_path, counting_fsync, durability="never") as w:
        handler(w, 1)
        assert w.durable_seq == -1
        w.sync()
        assert counting_fsync.calls >= 1
        assert w.durable_seq == 1


def test_policy_always_syncs_every_append(tmp_path: Path, counting_fsync: Any) -> None:
    with open_counted(tmp_path, counting_fsync, durability="always") as w:
        before = counting_fsync.calls
        for n in range(10):
            result = handler(w, n)
            assert result.durable
            assert w.durable_seq == result.seq
        assert counting_fsync.calls - before == 10


def test_policy_boundaries_batches_until_a_boundary(tmp_path: Path, counting_fsync: Any) -> None:
    with open_counted(tmp_path, counting_fsync, batch_delay=60) as w:
        time.sleep(0.05)  # let the open's housekeeping pass finish
        before = counting_fsync.calls
        batched = [handler(w, n) for n in range(25)]
        assert not any(r.durable for r in batched)
        time.sleep(0.05)
        assert counting_fsync.calls == before
        assert w.durable_seq < batched[0].seq
        boundary = w.append(RUN_FINISHED, run_id="r1", payload={"status": "ok"})
        assert boundary.durable
        assert counting_fsync.calls == before + 1  # one fsync covers all 26 records
        assert w.durable_seq == boundary.seq
        forced = handler(w, 99, durable=True)  # per-record override
        assert forced.durable
        assert counting_fsync.calls == before + 2


def test_policy_boundaries_syncs_run_starts_eagerly_without_waiting(
    tmp_path: Path, counting_fsync: Any
) -> None:
    with open_counted(tmp_path, counting_fsync, batch_delay=60) as w:
        counting_fsync.delay = 0.5
        started = time.monotonic()
        result = w.append(RUN_STARTED, run_id="r1", payload={})
        assert time.monotonic() - started < 0.3  # the caller did not wait for the fsync
        assert not result.durable
        deadline = time.monotonic() + 5  # ... but it is durable long before batch_delay
        while w.durable_seq < result.seq and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.durable_seq >= result.seq
        counting_fsync.delay = 0


def test_policy_boundaries_flushes_a_batch_within_batch_delay(
    tmp_path: Path, counting_fsync: Any
) -> None:
    with open_counted(tmp_path, counting_fsync, batch_delay=0.05) as w:
        last = handler(w, 1)
        deadline = time.monotonic() + 2
        while w.durable_seq < last.seq and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.durable_seq >= last.seq


def test_batch_bytes_triggers_an_early_flush(tmp_path: Path, counting_fsync: Any) -> None:
    with open_counted(tmp_path, counting_fsync, batch_delay=60, batch_bytes=2000) as w:
        results = [handler(w, n) for n in range(30)]
        deadline = time.monotonic() + 2
        while w.durable_seq < results[10].seq and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.durable_seq >= results[10].seq


def test_policy_batch_never_waits(tmp_path: Path, counting_fsync: Any) -> None:
    with open_counted(tmp_path, counting_fsync, durability="batch", batch_delay=0.01) as w:
        counting_fsync.delay = 0.5
        started = time.monotonic()
        result = w.append(RUN_FINISHED, run_id="r1", payload={"status": "ok"})
        assert time.monotonic() - started < 0.3
        assert not result.durable
        assert w.wait_durable(result.seq, timeout=5)
        counting_fsync.delay = 0


def test_concurrent_waiters_share_fsyncs(tmp_path: Path, counting_fsync: Any) -> None:
    counting_fsync.delay = 0.02

    async def main(w: WalWriter) -> list[Any]:
        return await asyncio.gather(
            *(
                w.append_async(RUN_FINISHED, run_id=f"r{n}", payload={"status": "ok"})
                for n in range(50)
            )
        )

    with open_counted(tmp_path, counting_fsync, durability="always") as w:
        before = counting_fsync.calls
        results = asyncio.run(main(w))
        assert all(r.durable for r in results)
        assert counting_fsync.calls - before < 10  # group commit, not 50 fsyncs


def test_async_durable_append_does_not_block_the_event_loop(
    tmp_path: Path, counting_fsync: Any
) -> None:
    async def main(w: WalWriter) -> tuple[Any, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        result = await w.append_async(RUN_FINISHED, run_id="r1", payload={"status": "ok"})
        done.set()
        await task
        return result, ticks

    with open_counted(tmp_path, counting_fsync) as w:
        counting_fsync.delay = 0.2
        result, ticks = asyncio.run(main(w))
        counting_fsync.delay = 0
    assert result.durable
    assert ticks >= 10  # the loop kept running while the fsync took 200 ms


def test_a_failed_fsync_breaks_the_writer(tmp_path: Path, counting_fsync: Any) -> None:
    w = open_counted(tmp_path, counting_fsync)
    counting_fsync.fail = OSError(errno.EIO, "I/O error")
    with pytest.raises(WalWriterError, match="broken"):
        w.append(RUN_FINISHED, run_id="r1", payload={"status": "ok"})
    with pytest.raises(WalWriterError, match="broken"):
        handler(w, 1)

    async def wait() -> None:
        await w.wait_durable_async()

    with pytest.raises(WalWriterError):
        asyncio.run(wait())
    w.close()  # does not hang, releases the stream
    counting_fsync.fail = None
    WalWriter(tmp_path, "wm").close()


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE fault injection")
def test_a_failed_write_is_rolled_back(tmp_path: Path) -> None:
    """A real short write (file size limit) leaves no partial frame behind."""
    script = textwrap.dedent(
        """
        import resource, signal, sys
        from corral_wal import WalWriter, WalWriterError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        w = WalWriter(sys.argv[1], "wm")
        size = w.segment.stat().st_size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 500, resource.RLIM_INFINITY))
        try:
            w.append("custom.big", payload={"blob": "x" * 2000})
        except WalWriterError as exc:
            print("failed:", exc)
        assert w.segment.stat().st_size == size, "partial frame left behind"
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        print("next seq", w.append("custom.small").seq)
        w.close()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "failed: WAL write failed" in proc.stdout
    assert "next seq 1" in proc.stdout
    assert seqs(tmp_path, "wm") == [0, 1, 2]


def test_many_threads_appending_and_waiting(tmp_path: Path, counting_fsync: Any) -> None:
    """Leader-based group commit under contention: every wait is honoured, no seq lost."""
    counting_fsync.delay = 0.001
    config = {"segment_bytes": 4000, "batch_delay": 0.01}
    errors: list[BaseException] = []
    with open_counted(tmp_path, counting_fsync, **config) as w:

        def work(k: int) -> None:
            try:
                for n in range(150):
                    if n % 5 == 0:
                        result = w.append(RUN_FINISHED, run_id=f"r{k}", payload={"status": "ok"})
                        assert result.durable
                        assert w.durable_seq >= result.seq
                    else:
                        handler(w, n)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total_waits = 8 * 30
        assert counting_fsync.calls < total_waits + 60  # waiters shared rounds
    assert errors == []
    assert seqs(tmp_path, "wm") == list(range(8 * 150 + 2))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_streams_and_segments_are_the_owners_only(tmp_path: Path) -> None:
    """Records hold run params and handler output (SPEC.md §12.9): 0700 / 0600, whatever
    the umask lets others read; directories that already exist keep their modes."""
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    old_umask = os.umask(0o022)
    try:
        wal_dir = tmp_path / "fresh" / "wal"
        with WalWriter(wal_dir, "wm", WalConfig(**NO_RETENTION)) as writer:
            handler(writer, 1)
        with WalWriter(existing, "wm", WalConfig(**NO_RETENTION)) as writer:
            handler(writer, 1)
    finally:
        os.umask(old_umask)
    assert (wal_dir.stat().st_mode & 0o777) == 0o700
    assert ((wal_dir / "wm").stat().st_mode & 0o777) == 0o700
    segments = list((wal_dir / "wm").glob("*.wal"))
    assert segments
    assert all((s.stat().st_mode & 0o777) == 0o600 for s in segments)
    assert (existing.stat().st_mode & 0o777) == 0o755
    assert ((existing / "wm").stat().st_mode & 0o777) == 0o700
