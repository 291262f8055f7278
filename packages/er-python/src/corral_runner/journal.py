"""The runner's own WAL stream (ADR-0015, SPEC.md §12), kept off the action's critical path.

When the launch record names a ``walDir``, the runner records ``run.*`` and ``handler.*``
events of every run it executes (local nested runs included) in its stream, writer id
``runner-<env>-<pid>-<start>``. The event loop only puts records on a queue (about a
microsecond); one writer thread appends them, and the WAL fsyncs them in the background:
a runner record is durable within the WAL's batch delay, and its cost never delays a reply.
A WAL that cannot be opened or written is reported in the diagnostics and then ignored: the
journal must never take the runner down.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any, Final

from corral_protocol.wal import WalConfig, WalWriter, make_writer_id
from corral_protocol.wal.events import RUN_EVENTS

__all__ = ["RunnerJournal"]

_log = logging.getLogger("corral.runner.journal")
_STOP: Final = object()
CLOSE_TIMEOUT: Final = 2.0

# Nothing waits for fsync on the event loop; run boundaries are fsynced eagerly in the
# background, handler records within the batch delay.
RUNNER_WAL_CONFIG: Final = WalConfig(durable_events=frozenset(), eager_events=RUN_EVENTS)


class RunnerJournal:
    """Appends this runner's lifecycle records from a dedicated thread."""

    def __init__(self, wal_dir: Path, *, project: str, env: str, version: str) -> None:
        self.project = project
        self.env = env
        self._writer = WalWriter(
            wal_dir,
            make_writer_id("runner", env),
            RUNNER_WAL_CONFIG,
            meta={"program": "corral-runner", "version": version},
        )
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name="corral-wal", daemon=True)
        self._thread.start()

    @property
    def writer_id(self) -> str:
        """This runner's writer id in the WAL."""
        return self._writer.writer_id

    @classmethod
    def open(
        cls, wal_dir: str | None, *, project: str, env: str, version: str
    ) -> RunnerJournal | None:
        """A journal for ``wal_dir``, or ``None`` (no WAL asked for, or it cannot be opened)."""
        if wal_dir is None:
            return None
        try:
            return cls(Path(wal_dir), project=project, env=env, version=version)
        except Exception as exc:
            _log.warning("WAL disabled: cannot open a stream in %s: %s", wal_dir, exc)
            return None

    def record(
        self,
        event: str,
        *,
        run_id: str,
        parent_run_id: str | None,
        action: str,
        payload: dict[str, Any],
    ) -> None:
        """Queue one record (any thread, never blocks)."""
        self._queue.put((event, run_id, parent_run_id, action, payload))

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            event, run_id, parent_run_id, action, payload = item
            try:
                self._writer.append(
                    event,
                    run_id=run_id,
                    parent_run_id=parent_run_id,
                    project=self.project,
                    env=self.env,
                    action=action,
                    payload=payload,
                )
            except Exception as exc:
                _log.warning("WAL record %s of run %s not written: %s", event, run_id, exc)

    def close(self) -> None:
        """Write what is queued, then close the stream (``wal.closed``, final fsync)."""
        self._queue.put(_STOP)
        self._thread.join(CLOSE_TIMEOUT)
        try:
            self._writer.close()
        except Exception as exc:
            _log.warning("WAL close failed: %s", exc)
