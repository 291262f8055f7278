"""A non-blocking journal over a :class:`~corral_wal.writer.WalWriter`.

For event-loop processes (the WM, the Python runner) whose appends must never delay a
reply: :meth:`Journal.record` only appends to a list (well under a microsecond); one writer
thread wakes once per :data:`BATCH_WINDOW` while records are pending and appends them all,
and the WAL fsyncs per its policy. Waking a thread per record costs more than the write
itself (GIL hand-offs) and showed in action latency. The price: a record reaches the page
cache within ~50 ms and is durable within the WAL's batch delay after that; a process
killed in between loses that tail. A WAL that cannot be opened or written is reported in
the diagnostics log and then ignored: the journal never takes its process down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from .config import WalConfig
from .events import RUN_EVENTS, RUNNER_STATE
from .writer import WalWriter

__all__ = ["BATCH_WINDOW", "NONBLOCKING_CONFIG", "Journal", "RunRecorder", "run_recorder"]

_log = logging.getLogger("corral_wal.journal")
BATCH_WINDOW: Final = 0.05
"""Seconds the writer thread lets records accumulate before writing them."""
CLOSE_TIMEOUT: Final = 2.0

NONBLOCKING_CONFIG: Final = WalConfig(
    durable_events=frozenset(), eager_events=RUN_EVENTS | {RUNNER_STATE}
)
"""Nothing waits for fsync; run boundaries and runner states are fsynced eagerly in the
background, other records within the batch delay."""

_Record = tuple[str, str | None, str | None, str | None, str | None, str | None, dict[str, Any]]


RunRecorder = Callable[[str, dict[str, Any]], None]
"""``record(event, payload)`` for one run: the run's ids are bound in."""


def run_recorder(
    journal: Journal | None,
    *,
    run_id: str,
    parent_run_id: str | None,
    project: str | None,
    env: str | None,
    action: str | None,
) -> RunRecorder:
    """A recorder for one run's records (a no-op without a journal)."""
    if journal is None:
        return _ignore

    def record(event: str, payload: dict[str, Any]) -> None:
        journal.record(
            event,
            run_id=run_id,
            parent_run_id=parent_run_id,
            project=project,
            env=env,
            action=action,
            payload=payload,
        )

    return record


def _ignore(event: str, payload: dict[str, Any]) -> None:
    """The recorder of a process without a WAL."""


class Journal:
    """Appends lifecycle records from a dedicated thread (see the module docstring)."""

    def __init__(
        self,
        wal_dir: Path,
        writer_id: str,
        *,
        config: WalConfig = NONBLOCKING_CONFIG,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._writer = WalWriter(wal_dir, writer_id, config, meta=meta)
        self._pending: list[_Record] = []
        self._unwritten = 0  # records lost since the last one written (drain thread only)
        self._first_error = ""
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._drain, name="corral-wal", daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls,
        wal_dir: str | Path | None,
        writer_id: str,
        *,
        meta: Mapping[str, Any] | None = None,
        sweep: bool = True,
    ) -> Journal | None:
        """A journal in ``wal_dir``, or ``None`` (no WAL asked for, or it cannot be opened).

        ``sweep``: apply retention to dead writers' streams on open. One writer per
        workspace should (the WM); a runner does not: a cold command starts many.
        """
        if wal_dir is None:
            return None
        config = (
            NONBLOCKING_CONFIG if sweep else replace(NONBLOCKING_CONFIG, sweep_dead_writers=False)
        )
        try:
            return cls(Path(wal_dir), writer_id, config=config, meta=meta)
        except Exception as exc:  # a broken WAL must not stop the process
            _log.warning("WAL disabled: cannot open a stream in %s: %s", wal_dir, exc)
            return None

    @property
    def writer_id(self) -> str:
        """This process's writer id in the WAL."""
        return self._writer.writer_id

    def record(
        self,
        event: str,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        project: str | None = None,
        env: str | None = None,
        action: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Queue one record (any thread; never blocks)."""
        item = (event, run_id, parent_run_id, project, env, action, payload or {})
        self._pending.append(item)
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

    def _write(self, batch: list[_Record]) -> None:
        for event, run_id, parent_run_id, project, env, action, payload in batch:
            try:
                self._writer.append(
                    event,
                    run_id=run_id,
                    parent_run_id=parent_run_id,
                    project=project,
                    env=env,
                    action=action,
                    payload=payload,
                )
            except Exception as exc:  # report once, count the rest, keep serving
                if not self._unwritten:
                    self._first_error = str(exc)
                    _log.warning(
                        "WAL record %s of run %s not written: %s (further failures are "
                        "counted, not reported one by one)",
                        event,
                        run_id,
                        exc,
                    )
                self._unwritten += 1
            else:
                if self._unwritten:
                    self._report_unwritten("WAL writing works again")

    def _report_unwritten(self, context: str) -> None:
        """One line for the records lost since the first failure was reported."""
        _log.warning(
            "%s: %d WAL record(s) were not written (first error: %s)",
            context,
            self._unwritten,
            self._first_error,
        )
        self._unwritten = 0

    def close(self) -> None:
        """Write what is queued, then close the stream (``wal.closed``, final fsync)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(CLOSE_TIMEOUT)
        if self._unwritten and not self._thread.is_alive():
            self._report_unwritten("WAL closed")
        try:
            self._writer.close()
        except Exception as exc:
            _log.warning("WAL close failed: %s", exc)
