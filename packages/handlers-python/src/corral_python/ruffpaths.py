"""Which of the explicitly given paths ruff is shown.

ruff checks every *file* named on its command line, whatever its suffix: ``ruff check
setup.cfg`` reports ``B018`` and ``F821`` and ``ruff check notes.txt`` a syntax error. A
walk of a directory, by contrast, takes only the files its ``include`` settings name.
``corral run lint --changed`` (or ``--staged``, or a pre-commit hook) passes every changed
file, so the handlers give ruff only the files its own walk would take:

- directories and paths that do not exist are ruff's to judge (it walks the one and
  reports the other);
- a file whose suffix ruff includes by default (``.py``, ``.pyi``, ``.ipynb``) and any
  ``pyproject.toml`` (ruff checks its ``[tool.ruff]``) are kept;
- any other file is kept only when ``ruff check --show-files`` over its directory lists
  it, so a project's ``include`` / ``extend-include`` (``*.pyw``, scripts without a
  suffix) are honoured. That costs one more ruff run, and only when such a file is given.

An empty answer means every given path was left out: the handler then has nothing to run
(ruff given no path would check the whole project).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corral_runner.sdk import ActionContext

from .tools import Tool, run_tool, tool_paths

__all__ = ["RUFF_SUFFIXES", "ruff_paths"]

RUFF_SUFFIXES = frozenset({".py", ".pyi", ".ipynb"})
"""Suffixes of the files ruff's default ``include`` takes."""


async def ruff_paths(
    ctx: ActionContext[Any],
    tool: Tool,
    paths: Sequence[str] | None,
    options: Sequence[str],
) -> list[str]:
    """``paths`` as ruff's command line should name them (see the module's docstring), in
    their given order. ``None`` (no paths given) is the project itself. ``options`` are the
    exclusion options the real run uses (so ``--show-files`` agrees with it)."""
    given = tool_paths(ctx, paths)
    if paths is None:
        return given
    doubtful = [p for p in given if _doubtful(ctx.project / p)]
    if not doubtful:
        return given
    directories = sorted({str(Path(p).parent) for p in doubtful})
    run = await run_tool(ctx, tool, ["check", "--show-files", *options, "--", *directories])
    if run.returncode != 0:
        raise run.failure()
    left_out = _not_listed(ctx.project, doubtful, run.stdout)
    if left_out:
        ctx.logger.debug("not Python to ruff, left out: %s", sorted(left_out))
    return [p for p in given if p not in left_out]


def _not_listed(project: Path, doubtful: Sequence[str], listing: bytes) -> set[str]:
    """The ``doubtful`` paths (relative to ``project``, or absolute) that ``listing`` (the
    output of ``ruff check --show-files``: one absolute path per line) does not name."""
    listed = {
        Path(line.strip()).resolve()
        for line in listing.decode("utf-8", "replace").splitlines()
        if line.strip()
    }
    return {p for p in doubtful if (project / p).resolve() not in listed}


def _doubtful(path: Path) -> bool:
    """A file ruff would check only because it was named (see the module's docstring)."""
    if path.suffix in RUFF_SUFFIXES or path.name == "pyproject.toml":
        return False
    return path.is_file()
