"""The intermediate "parent" process for parent-death cases (stdlib only, run as a script).

Usage: ``python relay.py PIDFILE RUNNER_ARGV...``

It starts the runner with the relay's own stdin/stdout/stderr (so the launch record the
driver writes reaches the runner and the hello and logs reach the driver unchanged), writes
the runner's pid to PIDFILE, waits for it and exits with its status. The driver writes
``parentPid`` = the relay's pid into the launch record and can SIGKILL the relay; a
conforming runner then notices that its parent died and exits by itself.

This file must stay importable and runnable without the rest of the package: it is run
by path with the driver's interpreter, and its start-up time counts in every such case.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    """Run the relay; return the exit status to use."""
    if len(argv) < 2:
        sys.stderr.write("usage: relay.py PIDFILE RUNNER_ARGV...\n")
        return 2
    pidfile, command = argv[0], argv[1:]
    child = subprocess.Popen(command)  # noqa: S603 - the runner command, as an argv list
    temp = pidfile + ".tmp"
    with open(temp, "w", encoding="ascii") as handle:
        handle.write(str(child.pid))
    os.replace(temp, pidfile)
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
