"""The server's log is rotated and bounded in size (issue 13: ``corral server logs``)."""

from __future__ import annotations

import logging
from pathlib import Path

from corral.server.main import LOG_BACKUPS, LOG_BYTES, _configure_logging


def test_the_log_is_rotated_and_bounded(tmp_path: Path) -> None:
    log = tmp_path / "key.log"
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        _configure_logging(log)
        line = "x" * 1000
        for _ in range(5 * LOG_BYTES // 1000):  # five times what one file holds
            logging.getLogger("corral.server").info(line)
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            handler.close()
            root.removeHandler(handler)
        root.setLevel(level)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["key.log", *(f"key.log.{n}" for n in range(1, LOG_BACKUPS + 1))]
    sizes = [p.stat().st_size for p in tmp_path.iterdir()]
    assert all(size <= LOG_BYTES for size in sizes), sizes
    assert sum(sizes) <= (LOG_BACKUPS + 1) * LOG_BYTES
    assert log.stat().st_mode & 0o077 == 0
