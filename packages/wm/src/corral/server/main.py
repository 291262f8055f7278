"""``corral server start --foreground``: run a workspace's server in this process.

Logs go to ``<key>.log`` in the runtime directory (rotated at 1 MiB, two old files kept),
and to stderr too when it is a terminal. The exit status is 0 after a clean stop, 4 when
another server already serves the workspace.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Final

from ..forkhint import EarlyServer
from ..runtime import server_paths
from .app import DEFAULT_IDLE_TIMEOUT, WorkspaceServer

__all__ = ["LOG_BACKUPS", "LOG_BYTES", "idle_timeout_from_env", "run_server"]

LOG_BYTES: Final = 1024 * 1024
LOG_BACKUPS: Final = 2


def idle_timeout_from_env() -> float:
    """``CORRAL_SERVER_IDLE_TIMEOUT`` (seconds) if set to a positive number, else 3 h."""
    text = os.environ.get("CORRAL_SERVER_IDLE_TIMEOUT", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_IDLE_TIMEOUT
    return value if value > 0 else DEFAULT_IDLE_TIMEOUT


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (also the ones opened after a rotation, which would
    otherwise follow the umask) is the owner's only (0600)."""

    def _open(self):  # type: ignore[no-untyped-def]  # typeshed's return type varies
        stream = super()._open()
        os.chmod(self.baseFilename, 0o600)
        return stream


def _configure_logging(log: Path) -> None:
    handler = _PrivateRotatingFileHandler(
        log, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if sys.stderr.isatty():
        root.addHandler(logging.StreamHandler())
    root.setLevel(logging.INFO)
    log.touch(mode=0o600)
    log.chmod(0o600)  # a log written before (by the detached start) is the owner's only


def run_server(
    root: Path, *, idle_timeout: float | None = None, fork_server: EarlyServer | None = None
) -> int:
    """Serve ``root`` until stopped; the exit status."""
    paths = server_paths(root)
    _configure_logging(paths.log)
    server = WorkspaceServer(
        root,
        paths,
        idle_timeout=idle_timeout if idle_timeout is not None else idle_timeout_from_env(),
        fork_server=fork_server,
    )
    return asyncio.run(server.serve())
