"""What a new user types first, through the real ``corral`` command: where there is no
project, a ``-C`` that names nothing, ``--no-server`` after the command, ``corral run``
without an action, ``corral wal`` naming itself. No environment is created here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from test_e2e_cli import CORRAL


def bare(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``corral ARGS`` in ``cwd`` (without the ``-C`` of :func:`test_e2e_cli.corral`)."""
    return subprocess.run(
        [*CORRAL, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    "command",
    [["status"], ["prepare-envs"], ["lock"], ["runners", "restart"], ["run", "lint"]],
)
def test_without_a_project_commands_are_usage_errors_and_write_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    for argv in (["--server", *command], ["--no-server", *command]):
        result = bare(*argv, cwd=tmp_path)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert f"no Corral project under {tmp_path}" in result.stderr
        assert result.stdout == ""
        assert list(tmp_path.iterdir()) == [], argv  # no .corral/ in a stranger's directory


def test_a_root_that_is_not_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    a_file = tmp_path / "file"
    a_file.write_text("")
    for root in (missing, a_file):
        for command in (["status"], ["run", "lint"], ["wal", "show"]):
            result = bare("-C", str(root), *command, cwd=tmp_path)
            assert result.returncode == 2, (root, command, result.stdout, result.stderr)
            assert f"-C {root}: no such directory" in result.stderr
    assert not missing.exists()


def test_server_options_may_follow_the_command(tmp_path: Path) -> None:
    for argv in (
        ["status", "--no-server"],
        ["run", "lint", "--workspace", "--format", "json", "--no-server"],
        ["prepare-envs", "--server"],
    ):
        result = bare(*argv, cwd=tmp_path)
        assert "unrecognized arguments" not in result.stderr, argv
        assert result.returncode == 2, (argv, result.stderr)  # no project here: see above
    both = bare("run", "lint", "--server", "--no-server", cwd=tmp_path)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_run_without_an_action_asks_for_the_action_only(tmp_path: Path) -> None:
    result = bare("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "corral run: error: the following arguments are required: action"
    )


def test_corral_wal_names_itself_in_help_and_errors(tmp_path: Path) -> None:
    shown = bare("wal", "show", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: corral wal show")
    assert "python -m corral_wal" not in shown.stdout
    wrong = bare("wal", "frob", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "corral wal: error: argument COMMAND: invalid choice: 'frob'" in wrong.stderr
