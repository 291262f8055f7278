"""Writer configuration: durability policy, rotation, retention (SPEC §12.5-12.6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from corral_wal.events import DEFAULT_DURABLE_EVENTS, DEFAULT_EAGER_EVENTS

__all__ = ["Durability", "WalConfig"]

Durability = Literal["always", "boundaries", "batch", "never"]
"""When the writer calls fsync on its own initiative.

* ``always``: every append is durable when ``append`` returns (fsync per append; appends
  from several threads or tasks that wait together share one fsync: group commit).
* ``boundaries`` (default): appends of :attr:`WalConfig.durable_events` (run outcomes,
  runner state changes, env preparation, stream open/close) are durable when ``append``
  returns; appends of :attr:`WalConfig.eager_events` (run accepted/started) start an fsync
  at once in the background but do not wait for it; all others are batched: made durable
  by the next fsync or by the background flusher at most ``batch_delay`` seconds (or
  ``batch_bytes`` bytes) after they were written, whichever comes first.
* ``batch``: no append waits; everything is fsynced by the flusher within ``batch_delay``.
* ``never``: the writer never fsyncs by itself (the OS writes back when it likes). Explicit
  :meth:`WalWriter.sync` and ``wait_durable`` still fsync.

Under every policy ``append`` returns after one ``write(2)`` of the whole frame, so a
record survives the death of its process (SIGKILL included) as soon as ``append`` returns;
fsync adds survival of an OS crash or power loss.
"""

_DAY = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WalConfig:
    """Knobs of one :class:`~corral_wal.writer.WalWriter` (all have defaults).

    Attributes:
        durability: see :data:`Durability`.
        durable_events: event types that are boundaries under ``boundaries``.
        eager_events: event types fsynced at once, without waiting, under ``boundaries``.
        batch_delay: longest time (s) a batched record waits for its fsync.
        batch_bytes: unsynced bytes that trigger a batched fsync early.
        segment_bytes: a segment is closed and a new one started before an append that
            would grow it beyond this size (a single larger record gets a segment alone).
        max_segments: retention by count: keep at most this many segments per stream,
            the open one included (None: unlimited).
        max_age: retention by age (s): delete closed segments last written longer ago than
            this (None: unlimited). Only ever the oldest segments go, so retention never
            opens a hole in the middle of a stream.
        sweep_dead_writers: on open, also apply retention to streams of writers that are
            no longer alive (their lock is free), and remove streams wholly past
            ``max_age``. Without it, streams of dead incarnations would never be pruned.
            One writer per workspace should sweep (the WM): a sweep visits every stream.
        max_streams: a sweep that finds more than this many streams also deletes whole
            dead streams, least recently written first, down to three quarters of it
            (None: unlimited). Every process incarnation has its own stream, so without it
            their number grows with every runner ever started.
        sweep_interval: a sweeping writer sweeps at open only if no sweep finished in the
            last ``sweep_interval`` seconds (recorded by the mtime of the WAL directory's
            ``.swept`` file) or the directory holds more than ``max_streams`` streams
            (None: at every open). A sweep visits every stream (~0.1 ms each); a workspace
            used for a while holds hundreds, and each command opens a WM.
    """

    durability: Durability = "boundaries"
    durable_events: frozenset[str] = field(default=DEFAULT_DURABLE_EVENTS)
    eager_events: frozenset[str] = field(default=DEFAULT_EAGER_EVENTS)
    batch_delay: float = 0.2
    batch_bytes: int = 1024 * 1024
    segment_bytes: int = 8 * 1024 * 1024
    max_segments: int | None = 20
    max_age: float | None = 14 * _DAY
    sweep_dead_writers: bool = True
    max_streams: int | None = 1000
    sweep_interval: float | None = 3600.0

    def __post_init__(self) -> None:
        if self.durability not in ("always", "boundaries", "batch", "never"):
            raise ValueError(f"unknown durability policy {self.durability!r}")
        if not self.batch_delay > 0:
            raise ValueError("batch_delay must be > 0 seconds")
        if self.batch_bytes < 1 or self.segment_bytes < 1:
            raise ValueError("batch_bytes and segment_bytes must be >= 1")
        if self.max_segments is not None and self.max_segments < 1:
            raise ValueError("max_segments must be >= 1 or None")
        if self.max_age is not None and not self.max_age > 0:
            raise ValueError("max_age must be > 0 seconds or None")
        if self.max_streams is not None and self.max_streams < 1:
            raise ValueError("max_streams must be >= 1 or None")
        if self.sweep_interval is not None and self.sweep_interval < 0:
            raise ValueError("sweep_interval must be >= 0 seconds or None")

    def waits_for(self, event: str) -> bool:
        """Whether an append of ``event`` returns only once it is durable."""
        if self.durability == "always":
            return True
        return self.durability == "boundaries" and event in self.durable_events

    def syncs_early(self, event: str) -> bool:
        """Whether an append of ``event`` starts a background fsync at once."""
        return self.durability == "boundaries" and event in self.eager_events
