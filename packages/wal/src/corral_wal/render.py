"""Text and JSON output of the correlated history (``wal show`` / ``wal follow``).

Text is for people and stable enough to snapshot: a run prints as a header line (run id,
action, outcome, duration, where it ran), then its records from every writer in merged
order with their offset from the start of the tree, a handler summary, then its child runs
indented by two spaces. Records outside runs print as one line each. JSON is for machines:
``{"items": [...], "damage": [...]}`` where an item is ``{"kind": "run", ...}`` (children
nested) or ``{"kind": "record", "record": {...}}``; records keep their WAL member names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from corral_wal.reader import Damage
from corral_wal.record import WalRecord, parse_ts
from corral_wal.tree import HandlerSpan, RunNode

__all__ = [
    "format_details",
    "format_record_line",
    "history_to_builtins",
    "render_json",
    "render_text",
]


def render_text(items: Sequence[RunNode | WalRecord]) -> str:
    """Render top-level history items as text (ends with a newline unless empty)."""
    lines: list[str] = []
    for item in items:
        if isinstance(item, RunNode):
            _run_lines(item, item.start, _widths(item), 0, lines)
        else:
            lines.append(format_record_line(item))
    return "".join(line.rstrip() + "\n" for line in lines)


def render_json(items: Sequence[RunNode | WalRecord], damage: Sequence[Damage] = ()) -> str:
    """Render top-level items (and the damage met while reading) as indented JSON."""
    document = history_to_builtins(items, damage)
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"


def history_to_builtins(
    items: Sequence[RunNode | WalRecord], damage: Sequence[Damage] = ()
) -> dict[str, Any]:
    """The JSON document of :func:`render_json` as plain Python objects."""
    return {
        "items": [
            _run_to_builtins(i) if isinstance(i, RunNode) else _record_item(i) for i in items
        ],
        "damage": [
            {
                "kind": d.kind,
                "writer": d.writer,
                "segment": d.segment,
                "offset": d.offset,
                "detail": d.detail,
            }
            for d in damage
        ],
    }


def format_record_line(record: WalRecord) -> str:
    """One line for one record: ts, writer, event, correlation, payload details."""
    parts = [record.ts, record.writer, record.event]
    if record.run_id is not None:
        parts.append(f"run={record.run_id}")
    if record.parent_run_id is not None:
        parts.append(f"parent={record.parent_run_id}")
    for name in ("action", "project", "env"):
        value = getattr(record, name)
        if value is not None:
            parts.append(f"{name}={_scalar(value)}")
    details = format_details(record)
    if details:
        parts.append(details)
    return " ".join(parts)


def format_details(record: WalRecord) -> str:
    """The payload as ``key=value`` pairs (strings bare when safe, else JSON)."""
    pairs = []
    for key, value in record.payload.items():
        shown = value
        if key == "error" and isinstance(value, dict):
            shown = f"{value.get('type', 'Error')}: {value.get('message', '')}"
        pairs.append(f"{key}={_scalar(shown)}")
    return " ".join(pairs)


def _scalar(value: Any) -> str:
    if isinstance(value, str) and value and all(c.isprintable() and c not in ' "=' for c in value):
        return value
    return msgspec.json.encode(value).decode()


def _widths(root: RunNode) -> tuple[int, int]:
    records = [r for node in root.walk() for r in node.records]
    return max(len(r.writer) for r in records), max(len(r.event) for r in records)


def _offset(origin: str, ts: str) -> str:
    seconds = (parse_ts(ts) - parse_ts(origin)).total_seconds()
    return f"{seconds:+.3f}s"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.3f}s"


def _run_lines(
    node: RunNode, origin: str, widths: tuple[int, int], depth: int, lines: list[str]
) -> None:
    pad = "  " * depth
    outcome = node.outcome
    if node.duration_ms is not None:
        outcome += f" in {_seconds(node.duration_ms)}"
    where = " ".join(
        f"{name}={_scalar(value)}"
        for name, value in (("project", node.project), ("env", node.env))
        if value is not None
    )
    header = f"{pad}run {node.run_id} {node.action or '?'}: {outcome}"
    if node.error is not None and isinstance(node.error, dict):
        header += f" ({node.error.get('type', 'Error')}: {node.error.get('message', '')})"
    if depth == 0:
        header += f" start={node.start}"
        if node.parent_run_id is not None:
            header += f" parent={node.parent_run_id} (not in the WAL)"
    if where:
        header += f" [{where}]"
    lines.append(header)
    writer_width, event_width = widths
    ends = {(h.writer, h.end_seq): h for h in node.handlers if h.end_seq is not None}
    for record in node.records:
        line = (
            f"{pad}  {_offset(origin, record.ts)} {record.writer:<{writer_width}} "
            f"{record.event:<{event_width}} {format_details(record)}"
        )
        span = ends.get((record.writer, record.seq))
        if span is not None and span.duration_ms is not None:
            line = f"{line} ({_seconds(span.duration_ms)})"
        lines.append(line)
    if node.handlers:
        lines.append(f"{pad}  handlers: " + ", ".join(_span_text(h) for h in node.handlers))
    for child in node.children:
        _run_lines(child, origin, widths, depth + 1, lines)


def _span_text(span: HandlerSpan) -> str:
    text = f"{span.name} {span.outcome} {_seconds(span.duration_ms)}"
    if isinstance(span.error, dict):
        text += f" ({span.error.get('type', 'Error')}: {span.error.get('message', '')})"
    return text


def _record_item(record: WalRecord) -> dict[str, Any]:
    return {"kind": "record", "record": msgspec.to_builtins(record)}


def _run_to_builtins(node: RunNode) -> dict[str, Any]:
    return {
        "kind": "run",
        "runId": node.run_id,
        "parentRunId": node.parent_run_id,
        "action": node.action,
        "project": node.project,
        "env": node.env,
        "owner": node.owner,
        "writers": node.writers,
        "outcome": node.outcome,
        "error": node.error,
        "start": node.start,
        "end": node.end,
        "durationMs": node.duration_ms,
        "handlers": [
            {
                "name": h.name,
                "writer": h.writer,
                "outcome": h.outcome,
                "start": h.start,
                "end": h.end,
                "durationMs": h.duration_ms,
                "error": h.error,
            }
            for h in node.handlers
        ],
        "records": [msgspec.to_builtins(r) for r in node.records],
        "children": [_run_to_builtins(c) for c in node.children],
    }
