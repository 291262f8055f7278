"""``corral run``'s PATHS may follow its options, as hooks append file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from corral.cli.app import _parse


def test_paths_after_options_are_paths() -> None:
    args = _parse(["run", "lint", "--fix", "--skip-outside-projects", "a.py", "b/c.py"])
    assert args.paths == [Path("a.py"), Path("b/c.py")]
    assert args.fix
    assert args.skip_outside_projects
    assert _parse(["run", "lint", "a.py", "--fix"]).paths == [Path("a.py")]


def test_unknown_options_are_still_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse(["run", "lint", "--fix", "--bogus", "a.py"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --bogus a.py" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["status", "extra"])
