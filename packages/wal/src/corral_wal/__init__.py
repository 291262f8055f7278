"""Durable per-process WAL streams of Corral's lifecycle events (SPEC §12;
docs/architecture.md#wal-streams).

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

from typing import TYPE_CHECKING

from corral_protocol._lazy import lazy_attributes

if TYPE_CHECKING:  # explicit re-exports for type checkers; runtime access is lazy
    from .config import Durability as Durability
    from .config import WalConfig as WalConfig
    from .events import DEFAULT_DURABLE_EVENTS as DEFAULT_DURABLE_EVENTS
    from .events import DEFAULT_EAGER_EVENTS as DEFAULT_EAGER_EVENTS
    from .events import ENV_PREPARED as ENV_PREPARED
    from .events import HANDLER_CANCELLED as HANDLER_CANCELLED
    from .events import HANDLER_FAILED as HANDLER_FAILED
    from .events import HANDLER_FINISHED as HANDLER_FINISHED
    from .events import HANDLER_STARTED as HANDLER_STARTED
    from .events import KNOWN_EVENTS as KNOWN_EVENTS
    from .events import REQUIRED_PAYLOAD as REQUIRED_PAYLOAD
    from .events import RUN_ACCEPTED as RUN_ACCEPTED
    from .events import RUN_CANCELLED as RUN_CANCELLED
    from .events import RUN_FAILED as RUN_FAILED
    from .events import RUN_FINISHED as RUN_FINISHED
    from .events import RUN_OUTPUT as RUN_OUTPUT
    from .events import RUN_STARTED as RUN_STARTED
    from .events import RUNNER_STATE as RUNNER_STATE
    from .events import RUNNER_STATES as RUNNER_STATES
    from .events import WAL_CLOSED as WAL_CLOSED
    from .events import WAL_OPENED as WAL_OPENED
    from .follow import Follower as Follower
    from .layout import is_stream_live as is_stream_live
    from .layout import list_segments as list_segments
    from .layout import list_writers as list_writers
    from .layout import make_writer_id as make_writer_id
    from .layout import segment_name as segment_name
    from .layout import validate_writer_id as validate_writer_id
    from .merge import merge_streams as merge_streams
    from .reader import Damage as Damage
    from .reader import StreamScan as StreamScan
    from .reader import WalScan as WalScan
    from .reader import read_stream as read_stream
    from .reader import read_wal as read_wal
    from .record import FORMAT_VERSION as FORMAT_VERSION
    from .record import MAX_RECORD_BYTES as MAX_RECORD_BYTES
    from .record import RecordError as RecordError
    from .record import WalRecord as WalRecord
    from .record import checksum as checksum
    from .record import decode_record as decode_record
    from .record import encode_record as encode_record
    from .record import format_ts as format_ts
    from .record import parse_ts as parse_ts
    from .recovery import Recovery as Recovery
    from .render import render_json as render_json
    from .render import render_text as render_text
    from .tree import HandlerSpan as HandlerSpan
    from .tree import History as History
    from .tree import RunNode as RunNode
    from .tree import build_history as build_history
    from .verify import VerifyReport as VerifyReport
    from .verify import render_verify as render_verify
    from .verify import verify_wal as verify_wal
    from .writer import AppendResult as AppendResult
    from .writer import WalWriter as WalWriter
    from .writer import WalWriterError as WalWriterError

# Imported on first access: `import corral_wal.events` (a runner, say) must not
# pay for the reader, renderer and follower.
_LAZY: dict[str, str] = {
    "AppendResult": "writer",
    "DEFAULT_DURABLE_EVENTS": "events",
    "DEFAULT_EAGER_EVENTS": "events",
    "Damage": "reader",
    "Durability": "config",
    "ENV_PREPARED": "events",
    "FORMAT_VERSION": "record",
    "Follower": "follow",
    "HANDLER_CANCELLED": "events",
    "HANDLER_FAILED": "events",
    "HANDLER_FINISHED": "events",
    "HANDLER_STARTED": "events",
    "HandlerSpan": "tree",
    "History": "tree",
    "KNOWN_EVENTS": "events",
    "MAX_RECORD_BYTES": "record",
    "REQUIRED_PAYLOAD": "events",
    "RUNNER_STATE": "events",
    "RUNNER_STATES": "events",
    "RUN_ACCEPTED": "events",
    "RUN_CANCELLED": "events",
    "RUN_FAILED": "events",
    "RUN_FINISHED": "events",
    "RUN_OUTPUT": "events",
    "RUN_STARTED": "events",
    "RecordError": "record",
    "Recovery": "recovery",
    "RunNode": "tree",
    "StreamScan": "reader",
    "VerifyReport": "verify",
    "WAL_CLOSED": "events",
    "WAL_OPENED": "events",
    "WalConfig": "config",
    "WalRecord": "record",
    "WalScan": "reader",
    "WalWriter": "writer",
    "WalWriterError": "writer",
    "build_history": "tree",
    "checksum": "record",
    "decode_record": "record",
    "encode_record": "record",
    "format_ts": "record",
    "is_stream_live": "layout",
    "list_segments": "layout",
    "list_writers": "layout",
    "make_writer_id": "layout",
    "merge_streams": "merge",
    "parse_ts": "record",
    "read_stream": "reader",
    "read_wal": "reader",
    "render_json": "render",
    "render_text": "render",
    "render_verify": "verify",
    "segment_name": "layout",
    "validate_writer_id": "layout",
    "verify_wal": "verify",
}

__all__ = sorted(_LAZY)  # noqa: PLE0605


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
