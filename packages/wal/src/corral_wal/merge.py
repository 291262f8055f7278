"""Merging the streams of a workspace into one history (SPEC §12.8).

Ordering rules, in priority order:

1. **Stream order.** Records of one writer keep their seq order, always. (Writers also
   never let ``ts`` go backwards within a stream, so rule 2 agrees with rule 1.)
2. **Causality.** A record never comes before the *anchor* of its own run, nor before the
   anchor of its parent run. The anchor of run R is R's ``run.accepted`` record that sorts
   first by rule 3; a run without any ``run.accepted`` record has no anchor and imposes
   nothing. (Writers share the host clock, but a timestamp is taken a little before the
   write and clocks can be stepped, so a runner's first record of a run may carry a
   slightly earlier ``ts`` than the WM's acceptance of that run.)
3. **Time.** Otherwise records go by ``ts`` (text order equals time order), ties broken by
   writer id, then seq.

Rule 2 wins over rule 3: a record whose anchors have not been placed yet waits at the head
of its stream. If every remaining stream waits (only possible with inconsistent data, e.g.
runs that name each other as parents), the head that sorts first by rule 3 goes next, so
the merge always terminates and always contains every record exactly once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from corral_wal.events import RUN_ACCEPTED
from corral_wal.record import WalRecord

__all__ = ["find_anchors", "merge_key", "merge_streams"]


def merge_key(record: WalRecord) -> tuple[str, str, int]:
    """The rule-3 sort key: ``(ts, writer, seq)``."""
    return (record.ts, record.writer, record.seq)


def find_anchors(records: Iterable[WalRecord]) -> dict[str, tuple[str, int]]:
    """Map each run id to the ``(writer, seq)`` of its anchor (first ``run.accepted``)."""
    best: dict[str, tuple[str, str, int]] = {}
    for record in records:
        if record.event != RUN_ACCEPTED or record.run_id is None:
            continue
        key = merge_key(record)
        current = best.get(record.run_id)
        if current is None or key < current:
            best[record.run_id] = key
    return {run: (key[1], key[2]) for run, key in best.items()}


def merge_streams(streams: Iterable[Sequence[WalRecord]]) -> list[WalRecord]:
    """Merge per-writer record lists (each in seq order) into one ordered history."""
    lists = [list(s) for s in streams if s]
    anchors = find_anchors(r for s in lists for r in s)
    placed: set[str] = set()
    positions = [0] * len(lists)
    heap: list[tuple[tuple[str, str, int], int]] = []
    waiting: dict[str, list[int]] = {}
    out: list[WalRecord] = []

    def awaited(record: WalRecord) -> str | None:
        for run in (record.run_id, record.parent_run_id):
            if run is None or run in placed:
                continue
            anchor = anchors.get(run)
            if anchor is not None and anchor != (record.writer, record.seq):
                return run
        return None

    def schedule(index: int) -> None:
        if positions[index] >= len(lists[index]):
            return
        head = lists[index][positions[index]]
        run = awaited(head)
        if run is None:
            heapq.heappush(heap, (merge_key(head), index))
        else:
            waiting.setdefault(run, []).append(index)

    for index in range(len(lists)):
        schedule(index)
    while heap or waiting:
        if heap:
            _, index = heapq.heappop(heap)
        else:  # every head waits: inconsistent data, fall back to rule 3
            index = min(
                (i for group in waiting.values() for i in group),
                key=lambda i: merge_key(lists[i][positions[i]]),
            )
            for run, group in list(waiting.items()):
                if index in group:
                    group.remove(index)
                    if not group:
                        del waiting[run]
        record = lists[index][positions[index]]
        positions[index] += 1
        out.append(record)
        if record.run_id is not None and anchors.get(record.run_id) == (
            record.writer,
            record.seq,
        ):
            placed.add(record.run_id)
            for released in waiting.pop(record.run_id, []):
                schedule(released)
        schedule(index)
    return out
