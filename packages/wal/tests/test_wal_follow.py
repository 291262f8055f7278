"""Follower: incremental reads across rotation, partial lines, new streams, retention."""

from __future__ import annotations

from pathlib import Path

from corral_wal import (
    HANDLER_STARTED,
    Follower,
    WalConfig,
    WalWriter,
    encode_record,
    list_segments,
    read_stream,
)

SMALL = WalConfig(segment_bytes=600, max_segments=None, max_age=None, sweep_dead_writers=False)


def append(w: WalWriter, count: int) -> list[int]:
    return [
        w.append(HANDLER_STARTED, run_id="r", payload={"handler": f"h{n}"}).seq
        for n in range(count)
    ]


def test_follow_from_start_then_live_across_rotations(tmp_path: Path) -> None:
    with WalWriter(tmp_path, "wm", SMALL) as w:
        append(w, 10)
        follower = Follower(tmp_path, from_start=True)
        records, damage = follower.poll()
        assert [r.seq for r in records] == list(range(11))
        assert damage == []
        new = append(w, 25)  # several rotations between polls
        records, damage = follower.poll()
        assert [r.seq for r in records] == new
        assert damage == []
        assert follower.poll() == ([], [])
    assert len(list_segments(tmp_path / "wm")) > 3


def test_follow_from_now_skips_history_without_false_gaps(tmp_path: Path) -> None:
    with WalWriter(tmp_path, "wm", SMALL) as w:
        append(w, 10)
        follower = Follower(tmp_path)
        assert follower.poll() == ([], [])
        new = append(w, 3)
        records, damage = follower.poll()
        assert [r.seq for r in records] == new
        assert damage == []


def test_follow_waits_for_the_end_of_a_line(tmp_path: Path) -> None:
    WalWriter(tmp_path, "wm", SMALL).close()
    follower = Follower(tmp_path, from_start=True)
    assert len(follower.poll()[0]) == 2
    last = read_stream(tmp_path, "wm").records[-1]
    frame = encode_record(
        type(last)(**{**{f: getattr(last, f) for f in last.__struct_fields__}, "seq": last.seq + 1})
    )
    segment = list_segments(tmp_path / "wm")[-1][1]
    with segment.open("ab") as f:
        f.write(frame[:20])
    assert follower.poll() == ([], [])  # a write in progress, not decoded early
    with segment.open("ab") as f:
        f.write(frame[20:])
    records, damage = follower.poll()
    assert [r.seq for r in records] == [last.seq + 1]
    assert damage == []


def test_follow_survives_retention_under_its_cursor(tmp_path: Path) -> None:
    config = WalConfig(segment_bytes=600, max_segments=2, max_age=None)
    with WalWriter(tmp_path, "wm", config) as w:
        follower = Follower(tmp_path, from_start=True)
        follower.poll()
        append(w, 40)  # the segment the cursor was in is gone by now
        w.sync()
        records, damage = follower.poll()
        assert records
        assert damage == []  # expired history, not damage
        assert [r.seq for r in records] == sorted(r.seq for r in records)
