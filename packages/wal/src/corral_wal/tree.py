"""Correlating merged records into run trees (SPEC §12.8, "Correlation").

* Every record with a ``runId`` belongs to that run, whichever writer wrote it.
* A run's parent is the first non-null ``parentRunId`` among its records; a run whose
  parent has no records (e.g. retired by retention) is a root and says so.
* The run's *owner* is the writer of its anchor (its first ``run.accepted``), else the
  writer of its first record. Its *outcome* is the owner's last terminal record
  (``run.finished`` → the payload's ``status``, ``run.failed`` → ``error``,
  ``run.cancelled`` → ``cancelled``), else the last terminal record of any writer, else
  ``unfinished``. Its duration runs from its first record to that terminal record.
* Handler spans pair ``handler.started`` with the next terminal ``handler.*`` of the same
  writer, run and handler name.
* Records without a ``runId`` (runner states, env preparation, stream open/close) stand
  alone in the timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from corral_wal.events import (
    HANDLER_CANCELLED,
    HANDLER_FAILED,
    HANDLER_STARTED,
    HANDLER_TERMINAL_EVENTS,
    RUN_ACCEPTED,
    RUN_CANCELLED,
    RUN_FAILED,
    RUN_TERMINAL_EVENTS,
)
from corral_wal.record import WalRecord, parse_ts

__all__ = ["HandlerSpan", "History", "RunNode", "build_history", "duration_ms"]


def duration_ms(start: str | None, end: str | None) -> float | None:
    """Milliseconds from ``start`` to ``end`` (record timestamps), or None if either is."""
    if start is None or end is None:
        return None
    delta = parse_ts(end) - parse_ts(start)
    return round(delta.total_seconds() * 1000, 3)


def measured_ms(record: WalRecord | None) -> float | None:
    """The ``durationMs`` a terminal record carries (the writer's monotonic measurement),
    if it is a number >= 0. Timestamps are when records were *written*, which a writer
    that batches its appends (the journal) does after the fact: the measurement wins."""
    if record is None:
        return None
    value = record.payload.get("durationMs")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


@dataclass(slots=True)
class HandlerSpan:
    """One handler execution inside a run, as one writer recorded it."""

    name: str
    writer: str
    start: str | None
    end: str | None = None
    outcome: str = "unfinished"
    error: Any = None
    end_seq: int | None = None
    """Seq (in ``writer``'s stream) of the record that ended the span."""
    measured: float | None = None
    """The ``durationMs`` its end record carries, if any."""

    @property
    def duration_ms(self) -> float | None:
        """The measured duration, else milliseconds from start to end if both were
        recorded."""
        if self.measured is not None:
            return self.measured
        return duration_ms(self.start, self.end)


@dataclass(slots=True)
class RunNode:
    """One run: its records from every writer, its handlers and its child runs."""

    run_id: str
    parent_run_id: str | None = None
    action: str | None = None
    project: str | None = None
    env: str | None = None
    owner: str | None = None
    records: list[WalRecord] = field(default_factory=list)
    handlers: list[HandlerSpan] = field(default_factory=list)
    children: list[RunNode] = field(default_factory=list)
    outcome: str = "unfinished"
    outcome_record: WalRecord | None = None
    error: Any = None

    @property
    def start(self) -> str:
        """Timestamp of the run's first record."""
        return self.records[0].ts

    @property
    def end(self) -> str | None:
        """Timestamp of the record that settled the outcome, if any."""
        return self.outcome_record.ts if self.outcome_record else None

    @property
    def duration_ms(self) -> float | None:
        """The outcome record's measured duration, else milliseconds from the first record
        to the outcome, if settled."""
        measured = measured_ms(self.outcome_record)
        return measured if measured is not None else duration_ms(self.start, self.end)

    @property
    def writers(self) -> list[str]:
        """Writers that recorded this run, in order of their first record."""
        return list(dict.fromkeys(r.writer for r in self.records))

    @property
    def last_ts(self) -> str:
        """Latest timestamp anywhere in the subtree."""
        return max([self.records[-1].ts, *(c.last_ts for c in self.children)])

    def walk(self) -> list[RunNode]:
        """This node and all descendants, depth first."""
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes


@dataclass(slots=True)
class History:
    """The correlated history: top-level items in order, and every run by id."""

    items: list[RunNode | WalRecord]
    runs: dict[str, RunNode]

    def since(self, ts: str) -> list[RunNode | WalRecord]:
        """Top-level items with activity at or after ``ts`` (a record timestamp)."""
        return [
            item
            for item in self.items
            if (item.last_ts if isinstance(item, RunNode) else item.ts) >= ts
        ]


def build_history(records: Sequence[WalRecord]) -> History:
    """Correlate merged records (see :func:`~corral_wal.merge.merge_streams`)."""
    runs: dict[str, RunNode] = {}
    order: list[RunNode | WalRecord] = []
    for record in records:
        if record.run_id is None:
            order.append(record)
            continue
        node = runs.get(record.run_id)
        if node is None:
            node = runs[record.run_id] = RunNode(record.run_id)
            order.append(node)
        node.records.append(record)
        node.parent_run_id = node.parent_run_id or record.parent_run_id
        node.action = node.action or record.action
        node.project = node.project or record.project
        node.env = node.env or record.env
        if node.owner is None and record.event == RUN_ACCEPTED:
            node.owner = record.writer
    items: list[RunNode | WalRecord] = []
    for item in order:
        if isinstance(item, RunNode):
            _settle(item)
            parent = runs.get(item.parent_run_id) if item.parent_run_id else None
            if parent is not None and not _is_ancestor(item, parent, runs):
                parent.children.append(item)
                continue
        items.append(item)
    return History(items, runs)


def _is_ancestor(node: RunNode, of: RunNode, runs: dict[str, RunNode]) -> bool:
    """Whether ``node`` is ``of`` or one of its ancestors (guards against parent cycles)."""
    seen: set[str] = set()
    current: RunNode | None = of
    while current is not None and current.run_id not in seen:
        if current is node:
            return True
        seen.add(current.run_id)
        current = runs.get(current.parent_run_id) if current.parent_run_id else None
    return False


def _settle(node: RunNode) -> None:
    if node.owner is None:
        node.owner = node.records[0].writer
    terminals = [r for r in node.records if r.event in RUN_TERMINAL_EVENTS]
    own = [r for r in terminals if r.writer == node.owner]
    settled = own or terminals
    if settled:
        chosen = settled[-1]
        node.outcome_record = chosen
        if chosen.event == RUN_FAILED:
            node.outcome, node.error = "error", chosen.payload.get("error")
        elif chosen.event == RUN_CANCELLED:
            node.outcome = "cancelled"
        else:
            node.outcome = str(chosen.payload.get("status", "ok"))
    open_spans: dict[tuple[str, str], list[HandlerSpan]] = {}
    for record in node.records:
        name = record.payload.get("handler")
        if not isinstance(name, str):
            continue
        key = (record.writer, name)
        if record.event == HANDLER_STARTED:
            span = HandlerSpan(name, record.writer, record.ts)
            node.handlers.append(span)
            open_spans.setdefault(key, []).append(span)
        elif record.event in HANDLER_TERMINAL_EVENTS:
            pending = open_spans.get(key)
            if pending:
                span = pending.pop(0)
            else:  # its start was lost: keep the outcome anyway
                span = HandlerSpan(name, record.writer, None)
                node.handlers.append(span)
            span.end, span.end_seq = record.ts, record.seq
            span.measured = measured_ms(record)
            if record.event == HANDLER_FAILED:
                span.outcome, span.error = "failed", record.payload.get("error")
            elif record.event == HANDLER_CANCELLED:
                span.outcome = "cancelled"
            else:
                span.outcome = "ok"
