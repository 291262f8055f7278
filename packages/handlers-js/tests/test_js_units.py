"""The handlers' JavaScript unit tests (``node --test tests/js``), run by pytest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(120)
def test_handlers_js_unit_tests_pass(node: Path) -> None:
    files = sorted(str(p) for p in (PACKAGE / "tests" / "js").glob("*.test.js"))
    assert files
    proc = subprocess.run(
        [str(node), "--test", *files],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
