from __future__ import annotations

import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory holding the sample handler modules (it is on the runner's path)."""
    for name in ("sample_handlers.py", "broken_import.py", "slow_import.py"):
        shutil.copy(HERE / name, tmp_path / name)
    return tmp_path
