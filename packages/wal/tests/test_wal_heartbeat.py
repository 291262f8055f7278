"""Liveness without flock (SPEC §12.5): a fresh ``live`` heartbeat file marks a stream live,
a stale one does not, and the sweep removes a dead heartbeat writer's stream entirely."""

from __future__ import annotations

import os
import time
from pathlib import Path

from corral_wal import encode_record, read_stream, verify_wal
from corral_wal.layout import HEARTBEAT_FILE, is_stream_live
from corral_wal.record import WalRecord
from corral_wal.retention import sweep_dead_streams

WRITER = "runner-node-4242-m3x0q1z8"


def _stream(wal_dir: Path, *, heartbeat_age: float | None) -> Path:
    """A stream of one record (no wal.closed), written the way a heartbeat writer does."""
    stream = wal_dir / WRITER
    stream.mkdir(parents=True)
    record = WalRecord(
        v=1,
        writer=WRITER,
        seq=0,
        ts="2026-11-21T07:30:00.000000Z",
        event="wal.opened",
        run_id=None,
        parent_run_id=None,
        project=None,
        env=None,
        action=None,
        payload={"pid": 4242, "recovered": None},
    )
    (stream / f"{0:020d}.wal").write_bytes(encode_record(record) + b'{"torn')
    old = time.time() - 30 * 24 * 3600
    os.utime(stream / f"{0:020d}.wal", (old, old))
    if heartbeat_age is not None:
        beat = stream / HEARTBEAT_FILE
        beat.write_text("4242\n")
        when = time.time() - heartbeat_age
        os.utime(beat, (when, when))
    return stream


def test_a_fresh_heartbeat_makes_a_stream_live(tmp_path: Path) -> None:
    stream = _stream(tmp_path, heartbeat_age=1)
    assert is_stream_live(stream)
    scan = read_stream(tmp_path, WRITER)
    assert scan.live
    assert verify_wal(tmp_path).ok  # a live stream's partial line is a write in progress
    assert sweep_dead_streams(tmp_path, max_segments=20, max_age=3600) == []
    assert stream.exists()


def test_a_stale_heartbeat_is_a_dead_stream(tmp_path: Path) -> None:
    stream = _stream(tmp_path, heartbeat_age=60)
    assert not is_stream_live(stream)
    assert not verify_wal(tmp_path).ok  # the partial line is now a torn tail
    deleted = sweep_dead_streams(tmp_path, max_segments=20, max_age=3600)
    assert deleted == [f"{WRITER}/{0:020d}.wal"]
    assert not stream.exists()  # the stale heartbeat does not keep the directory alive


def test_no_heartbeat_and_no_lock_is_dead(tmp_path: Path) -> None:
    assert not is_stream_live(_stream(tmp_path, heartbeat_age=None))
