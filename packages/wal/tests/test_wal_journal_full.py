"""A journal on a disk that stops taking writes: one warning and a count, not one line per
record (an adversarial run saw 10,189 stderr lines for 3,600 runs).

The fault is real: a child process whose file-size limit (``RLIMIT_FSIZE``) the segment
reaches, so every later write fails with EFBIG exactly as on a full disk.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import logging, resource, signal, sys
    from corral_wal.journal import Journal

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
    limit = 4096
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    journal = Journal.open(sys.argv[1], "wm")
    assert journal is not None
    for n in range(2000):
        journal.record("handler.started", run_id=f"r{n}", payload={"handler": "h" * 64})
    journal.close()
    print("served")
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_gives_one_warning_and_a_count(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "wal")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "served"
    lines = done.stderr.splitlines()
    not_written = [line for line in lines if "not written" in line]
    assert len(lines) <= 3, lines[:10]
    assert any("further failures are counted" in line for line in not_written), lines
    counts = [line for line in lines if "WAL record(s) were not written" in line]
    assert len(counts) == 1, lines
    lost = int(counts[0].split(": ")[1].split(" ")[0])
    assert 1900 <= lost < 2000  # all but the first few that fit in 4 KiB
