"""Durable per-process WAL streams of Corral's lifecycle events (ADR-0015, SPEC §12).

Every process that owns lifecycle transitions (the Workspace Manager and each runner)
appends to its own stream under the workspace's ``.corral/wal/<writer id>/`` with a
:class:`WalWriter`; readers merge all streams into one ordered, correlated history
(:func:`read_wal`, :func:`build_history`), follow them live (:class:`Follower`) and check
their integrity (:func:`verify_wal`). Diagnostic logs are not part of the WAL.

Typical use by a writer::

    with WalWriter(ws / ".corral" / "wal", make_writer_id("wm")) as wal:
        wal.append(RUN_ACCEPTED, run_id=rid, action="lint", project=str(proj),
                   payload={"scope": "action", "source": "cli", "depth": 0})
        await wal.append_async(RUN_FINISHED, run_id=rid, action="lint",
                               project=str(proj), payload={"status": "ok"})
"""

from __future__ import annotations

from corral_protocol.wal.config import Durability, WalConfig
from corral_protocol.wal.events import (
    DEFAULT_DURABLE_EVENTS,
    DEFAULT_EAGER_EVENTS,
    ENV_PREPARED,
    HANDLER_CANCELLED,
    HANDLER_FAILED,
    HANDLER_FINISHED,
    HANDLER_STARTED,
    KNOWN_EVENTS,
    REQUIRED_PAYLOAD,
    RUN_ACCEPTED,
    RUN_CANCELLED,
    RUN_FAILED,
    RUN_FINISHED,
    RUN_STARTED,
    RUNNER_STATE,
    RUNNER_STATES,
    WAL_CLOSED,
    WAL_OPENED,
)
from corral_protocol.wal.follow import Follower
from corral_protocol.wal.layout import (
    is_stream_live,
    list_segments,
    list_writers,
    make_writer_id,
    segment_name,
    validate_writer_id,
)
from corral_protocol.wal.merge import merge_streams
from corral_protocol.wal.reader import Damage, StreamScan, WalScan, read_stream, read_wal
from corral_protocol.wal.record import (
    FORMAT_VERSION,
    MAX_RECORD_BYTES,
    RecordError,
    WalRecord,
    checksum,
    decode_record,
    encode_record,
    format_ts,
    parse_ts,
)
from corral_protocol.wal.recovery import Recovery
from corral_protocol.wal.render import render_json, render_text
from corral_protocol.wal.tree import HandlerSpan, History, RunNode, build_history
from corral_protocol.wal.verify import VerifyReport, render_verify, verify_wal
from corral_protocol.wal.writer import AppendResult, WalWriter, WalWriterError

__all__ = [
    "DEFAULT_DURABLE_EVENTS",
    "DEFAULT_EAGER_EVENTS",
    "ENV_PREPARED",
    "FORMAT_VERSION",
    "HANDLER_CANCELLED",
    "HANDLER_FAILED",
    "HANDLER_FINISHED",
    "HANDLER_STARTED",
    "KNOWN_EVENTS",
    "MAX_RECORD_BYTES",
    "REQUIRED_PAYLOAD",
    "RUNNER_STATE",
    "RUNNER_STATES",
    "RUN_ACCEPTED",
    "RUN_CANCELLED",
    "RUN_FAILED",
    "RUN_FINISHED",
    "RUN_STARTED",
    "WAL_CLOSED",
    "WAL_OPENED",
    "AppendResult",
    "Damage",
    "Durability",
    "Follower",
    "HandlerSpan",
    "History",
    "RecordError",
    "Recovery",
    "RunNode",
    "StreamScan",
    "VerifyReport",
    "WalConfig",
    "WalRecord",
    "WalScan",
    "WalWriter",
    "WalWriterError",
    "build_history",
    "checksum",
    "decode_record",
    "encode_record",
    "format_ts",
    "is_stream_live",
    "list_segments",
    "list_writers",
    "make_writer_id",
    "merge_streams",
    "parse_ts",
    "read_stream",
    "read_wal",
    "render_json",
    "render_text",
    "render_verify",
    "segment_name",
    "validate_writer_id",
    "verify_wal",
]
