"""``.corral/``: everything Corral writes in a project or workspace, kept out of VCS and tools.

What it holds (all local state, rebuilt or re-recorded as needed, never committed)::

    <project>/.corral/
        .gitignore          "*": git ignores the directory and everything in it
        .ignore             "*": the same for tools that read .ignore files (ruff, ripgrep,
                            fd, ag), which ruff honours even outside a git repository
        envs/<env>/         the project's virtual environments (made by uv)
        envs/.<env>.lock    held while an environment is prepared
        presets.json        the resolved preset texts (a cache)
    <workspace>/.corral/
        wal/                the write-ahead log of the WM and its runners

mypy and pytest skip it as a dot-directory by default, and Corral's own handlers exclude
it explicitly. Whoever creates ``.corral/`` calls :func:`ensure_state_dir` first, so the
markers exist before anything else does. Marker files that exist are left alone (a user
may have edited them).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Final

__all__ = ["MARKERS", "STATE_DIR", "ensure_state_dir"]

STATE_DIR: Final = ".corral"

_IGNORE_ALL: Final = "# Created by Corral: local state (environments, caches, WAL).\n*\n"
MARKERS: Final = {".gitignore": _IGNORE_ALL, ".ignore": _IGNORE_ALL}
"""Files written into every ``.corral/`` directory, with their text."""


def ensure_state_dir(parent: Path) -> Path:
    """``parent/.corral``, created if missing, with its :data:`MARKERS` in place.

    Raises ``OSError`` if the directory cannot be created; a marker that cannot be
    written is skipped (best effort: the directory itself is usable).
    """
    directory = parent / STATE_DIR
    # Envs, caches and the WAL (run params, handler output) are the owner's only.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, text in MARKERS.items():
        path = directory / name
        if path.exists():
            continue
        with contextlib.suppress(OSError):
            path.write_text(text, encoding="utf-8")
    return directory
