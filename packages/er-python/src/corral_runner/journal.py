"""The runner's own WAL stream (ADR-0015, SPEC.md §12), kept off the action's critical path.

When the launch record names a ``walDir``, the runner records ``run.*`` and ``handler.*``
events of every run it executes (local nested runs included) in its stream, writer id
``runner-<env>-<pid>-<start>``. The event loop only appends records to a list (well under
a microsecond); a writer thread wakes once per :data:`BATCH_WINDOW` while records are
pending and writes them all, and the WAL fsyncs them in the background. Waking the thread
per record would cost more than the write itself (GIL hand-offs), and on a busy machine it
showed in action latency. A runner record is therefore written within ~50 ms and durable
within the WAL's batch delay after that; a runner killed in between loses that tail.
A WAL that cannot be opened or written is reported in the diagnostics and then ignored: the
journal must never take the runner down.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Final

from corral_protocol.wal import WalConfig, WalWriter, make_writer_id
from corral_protocol.wal.events import RUN_EVENTS

__all__ = ["RunnerJournal"]

_log = logging.getLogger("corral.runner.journal")
CLOSE_TIMEOUT: Final = 2.0
BATCH_WINDOW: Final = 0.05
"""Seconds the writer thread lets records accumulate before writing them."""

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
        self._pending: list[tuple[str, str, str | None, str, dict[str, Any]]] = []
        self._wake = threading.Event()
        self._stopping = False
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
        """Queue one record (any thread; never blocks)."""
        self._pending.append((event, run_id, parent_run_id, action, payload))
        if len(self._pending) == 1:
            self._wake.set()

    def _drain(self) -> None:
        while True:
            self._wake.wait()
            if not self._stopping:
                time.sleep(BATCH_WINDOW)
            self._wake.clear()
            batch, self._pending = self._pending, []  # list swap: atomic under the GIL
            self._write(batch)
            if self._stopping:
                self._write(self._pending)
                return

    def _write(self, batch: list[tuple[str, str, str | None, str, dict[str, Any]]]) -> None:
        for event, run_id, parent_run_id, action, payload in batch:
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
        self._stopping = True
        self._wake.set()
        self._thread.join(CLOSE_TIMEOUT)
        try:
            self._writer.close()
        except Exception as exc:
            _log.warning("WAL close failed: %s", exc)
