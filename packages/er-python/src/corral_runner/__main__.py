"""``python -m corral_runner``: the reference runner's entry point.

Reads the launch record from stdin, prints the hello, then serves one WM connection until
the protocol, the WM or a signal ends it (SPEC.md §1-§3). Only the launch phase's imports
load before the hello; the rest loads while the WM connects.
"""

from __future__ import annotations

import contextlib
import os
import sys


def main() -> None:
    """Console-script entry point; never returns."""
    from .launch import LaunchError, fail, launch  # noqa: PLC0415  (lean start-up)

    try:
        launched = launch(sys.stdin.buffer, sys.stdout.buffer)
    except LaunchError as error:
        fail(error)
        return
    import asyncio  # noqa: PLC0415  (after the hello on purpose)

    from .server import Runner  # noqa: PLC0415

    async def serve() -> int:
        return await Runner(launched).run()

    code = asyncio.run(serve())
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    # Worker threads of cancelled sync handlers may still run: do not wait for them.
    os._exit(code)


if __name__ == "__main__":
    main()
