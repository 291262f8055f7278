"""Damage on disk: flipped bytes, truncation, missing segments, torn tails, recovery."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from corral_wal import (
    HANDLER_STARTED,
    WalConfig,
    WalWriter,
    list_segments,
    read_stream,
    verify_wal,
)
from corral_wal.layout import acquire_stream_lock

CONFIG = WalConfig(segment_bytes=800, max_segments=None, max_age=None, sweep_dead_writers=False)


def write_stream(wal_dir: Path, count: int = 30, writer: str = "wm") -> None:
    with WalWriter(wal_dir, writer, CONFIG) as w:
        for n in range(count):
            w.append(HANDLER_STARTED, run_id="r1", payload={"handler": f"h{n}"})


def line_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A]
    return starts[:-1]


def kinds(scan: Any) -> list[str]:
    return [d.kind for d in scan.damage]


def flip(path: Path, offset: int, value: int | None = None, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] = value if value is not None else data[offset] ^ mask
    path.write_bytes(bytes(data))


@pytest.fixture
def stream(tmp_path: Path) -> Path:
    write_stream(tmp_path)
    return tmp_path


def middle_segment(wal_dir: Path) -> Path:
    segments = list_segments(wal_dir / "wm")
    assert len(segments) >= 4
    return segments[len(segments) // 2][1]


@pytest.mark.parametrize(
    ("where", "value", "kind"),
    [
        ("json", None, "checksum-mismatch"),  # a flipped bit in the record's JSON
        ("crc", ord("f"), "checksum-mismatch"),  # the checksum itself, still hex
        ("crc", ord("G"), "bad-frame"),  # the checksum, no longer hex
        ("space", ord("x"), "bad-frame"),
    ],
)
def test_flipped_byte_in_the_middle_is_reported_and_skipped(
    stream: Path, where: str, value: int | None, kind: str
) -> None:
    before = read_stream(stream, "wm").records
    segment = middle_segment(stream)
    line = line_offsets(segment)[1]
    offset = {"json": line + 40, "crc": line + 2, "space": line + 8}[where]
    if where == "crc" and segment.read_bytes()[offset] == value:
        value = ord("0")
    flip(segment, offset, value)
    scan = read_stream(stream, "wm")
    assert kinds(scan) == [kind]  # no seq-gap: the damaged line explains the missing seq
    assert scan.damage[0].segment == segment.name
    assert scan.damage[0].offset == line
    lost = [r for r in before if r not in scan.records]
    assert len(lost) == 1
    assert [r for r in before if r != lost[0]] == scan.records  # the rest is read, intact
    assert not verify_wal(stream).ok


def test_a_byte_turned_into_a_line_feed_costs_one_record(stream: Path) -> None:
    before = read_stream(stream, "wm").records
    segment = middle_segment(stream)
    flip(segment, line_offsets(segment)[1] + 50, ord("\n"))
    scan = read_stream(stream, "wm")
    assert kinds(scan) == ["checksum-mismatch", "bad-frame"]
    assert len(scan.records) == len(before) - 1


def test_a_lost_line_feed_merges_two_records_and_both_are_reported(stream: Path) -> None:
    before = read_stream(stream, "wm").records
    segment = middle_segment(stream)
    flip(segment, line_offsets(segment)[2] - 1, ord(" "))
    scan = read_stream(stream, "wm")
    assert "checksum-mismatch" in kinds(scan)
    assert "seq-gap" in kinds(scan)  # one damaged line cannot explain two missing seqs
    assert len(scan.records) == len(before) - 2


def test_truncated_middle_segment(stream: Path) -> None:
    before = read_stream(stream, "wm").records
    segment = middle_segment(stream)
    line = line_offsets(segment)[1]
    with segment.open("r+b") as f:
        f.truncate(line + 17)
    scan = read_stream(stream, "wm")
    assert kinds(scan) == ["torn-tail", "seq-gap"]
    assert scan.damage[0].offset == line
    assert "at a segment boundary" in scan.damage[1].detail
    assert all(r in before for r in scan.records)
    assert not verify_wal(stream).ok


def test_missing_middle_segment_is_a_seq_gap(stream: Path) -> None:
    segment = middle_segment(stream)
    gone = read_stream(stream, "wm").segments
    info = next(s for s in gone if s.name == segment.name)
    segment.unlink()
    scan = read_stream(stream, "wm")
    assert kinds(scan) == ["seq-gap"]
    assert f"seqs {info.first_seq}..{info.last_seq} missing" in scan.damage[0].detail
    report = verify_wal(stream)
    assert not report.ok
    assert report.streams[0].damage[0].kind == "seq-gap"


def test_missing_first_segments_are_expired_history_not_damage(stream: Path) -> None:
    list_segments(stream / "wm")[0][1].unlink()
    assert read_stream(stream, "wm").damage == []


def test_torn_tail_of_a_dead_stream_is_reported_then_recovered(stream: Path) -> None:
    segment = list_segments(stream / "wm")[-1][1]
    before = read_stream(stream, "wm").records
    size = segment.stat().st_size
    with segment.open("ab") as f:
        f.write(b'1234abcd {"v":1,"writer":"wm","seq":')  # an interrupted write
    scan = read_stream(stream, "wm")
    assert kinds(scan) == ["torn-tail"]
    assert scan.damage[0].offset == size
    assert scan.records == before
    assert not verify_wal(stream).ok

    with WalWriter(stream, "wm", CONFIG) as w:  # reopening cuts the tail and says so
        assert w.recovery is not None
        assert w.recovery.discarded_bytes == 36
        assert w.next_seq == before[-1].seq + 2
    scan = read_stream(stream, "wm")
    assert scan.damage == []
    opened = scan.records[len(before)]
    assert opened.seq == before[-1].seq + 1
    assert opened.payload["recovered"] == {
        "segment": segment.name,
        "offset": size,
        "discardedBytes": 36,
    }
    assert verify_wal(stream).ok


def test_torn_tail_of_a_live_stream_is_a_write_in_progress(stream: Path) -> None:
    segment = list_segments(stream / "wm")[-1][1]
    with segment.open("ab") as f:
        f.write(b"1234abcd {")
    fd = acquire_stream_lock(stream / "wm")  # as if its writer were alive
    try:
        scan = read_stream(stream, "wm")
        assert scan.live
        assert scan.damage == []
        assert "being written" in scan.notes[0]
    finally:
        os.close(fd)
    assert kinds(read_stream(stream, "wm")) == ["torn-tail"]


def test_reopen_after_damaged_last_lines_never_reuses_a_seq(stream: Path) -> None:
    segment = list_segments(stream / "wm")[-1][1]
    last = read_stream(stream, "wm").records[-1].seq
    offsets = line_offsets(segment)
    flip(segment, offsets[-1] + 30)  # the last complete record (wal.closed) is damaged
    with WalWriter(stream, "wm", CONFIG) as w:
        assert w.next_seq == last + 2  # its seq stays spent
    scan = read_stream(stream, "wm")
    assert kinds(scan) == ["checksum-mismatch"]
    assert len({r.seq for r in scan.records}) == len(scan.records)


def test_reopen_reuses_an_empty_last_segment(stream: Path) -> None:
    last = read_stream(stream, "wm").records[-1].seq
    empty = stream / "wm" / f"{last + 1:020d}.wal"
    empty.touch()  # the process died right after a rotation
    assert read_stream(stream, "wm").damage == []
    with WalWriter(stream, "wm", CONFIG) as w:
        assert w.segment == empty
        assert w.next_seq == last + 2  # wal.opened took seq last + 1
    scan = read_stream(stream, "wm")
    assert scan.damage == []
    assert scan.segments[-1].first_seq == last + 1


def test_records_of_another_writer_and_repeated_seqs_are_rejected(tmp_path: Path) -> None:
    write_stream(tmp_path, 5, "wm")
    write_stream(tmp_path, 5, "runner-x")
    target = list_segments(tmp_path / "wm")[-1][1]
    intruder = list_segments(tmp_path / "runner-x")[0][1].read_bytes().splitlines(True)[1]
    repeat = target.read_bytes().splitlines(True)[-1]
    with target.open("ab") as f:
        f.write(intruder + repeat)
    scan = read_stream(tmp_path, "wm")
    assert kinds(scan) == ["writer-mismatch", "seq-regression"]


def test_verify_counts_every_stream(tmp_path: Path) -> None:
    write_stream(tmp_path, 5, "wm")
    write_stream(tmp_path, 5, "runner-a")
    shutil.copytree(tmp_path / "runner-a", tmp_path / "runner-b")  # wrong writer ids
    report = verify_wal(tmp_path)
    assert [s.writer for s in report.streams] == ["runner-a", "runner-b", "wm"]
    assert [s.damage == [] for s in report.streams] == [True, False, True]
    assert {d.kind for d in report.damage} == {"writer-mismatch"}
