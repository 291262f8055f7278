"""No wait is unbounded unless asked for: a run that does not finish within the project's
``[runner] run_timeout`` is cancelled in the runner and reported failed, naming the limit
and how to raise it (issue 19, bug 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from workspaces import make_handler_workspace

HANDLERS = textwrap.dedent(
    """
    import asyncio

    from corral_runner import ActionContext


    async def forever(ctx: ActionContext) -> dict:
        marker = ctx.project / "forever.state"
        marker.write_text("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            marker.write_text("cancelled")
            raise
        return {}
    """
)
CONFIG = (
    "[runner]\nrun_timeout = 1.5\n\n"
    '[[actions.forever.handlers]]\nname = "forever"\nsource = "handlers:forever"\n'
)


def test_a_run_past_its_timeout_is_cancelled_and_failed(tmp_path: Path) -> None:
    root = make_handler_workspace(tmp_path, ("alpha",), CONFIG, HANDLERS)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "corral", "-C", str(root), "--no-server", "run", "forever"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=root / "alpha",
        check=False,
    )
    took = time.perf_counter() - started
    assert done.returncode == 3, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "RunTimeout" in output
    assert "did not finish within 1.5 s" in output
    assert "run_timeout" in output
    assert (root / "alpha" / "forever.state").read_text() == "cancelled"
    assert took < 60
