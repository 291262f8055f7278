"""What a new user types first, through the real ``corral`` command: where there is no
project, a ``-C`` that names nothing, ``--no-server`` after the command, ``corral run``
without an action, ``corral wal`` naming itself. No environment is created here."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_harness import processes_mentioning
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


@pytest.fixture
def stranger(tmp_path: Path) -> Iterator[Path]:
    """A directory without a project; a server started there by mistake is stopped after."""
    yield tmp_path
    if processes_mentioning(str(tmp_path)):
        bare("server", "stop", cwd=tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["prepare-envs"],
        ["lock"],
        ["runners", "restart"],
        ["run", "lint"],
        ["server", "start"],
        ["server", "restart"],
    ],
)
def test_without_a_project_commands_are_usage_errors_and_write_nothing(
    stranger: Path, command: list[str]
) -> None:
    tmp_path = stranger
    for argv in (["--server", *command], ["--no-server", *command]):
        if command[0] == "server" and argv[0] == "--no-server":
            continue
        result = bare(*argv, cwd=tmp_path)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert f"no Corral project under {tmp_path}" in result.stderr
        assert result.stdout == ""
        assert list(tmp_path.iterdir()) == [], argv  # no .corral/ in a stranger's directory
    assert processes_mentioning(str(tmp_path)) == {}  # and no server was started for it


def test_the_server_commands_that_start_nothing_work_anywhere(tmp_path: Path) -> None:
    status = bare("server", "status", cwd=tmp_path)
    assert status.returncode == 3, status.stderr
    assert f"no Corral server runs for {tmp_path}" in status.stdout + status.stderr
    assert list(tmp_path.iterdir()) == []


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


def test_the_version_the_client_and_server_compare_is_the_distributions() -> None:
    from corral._version import __version__  # noqa: PLC0415

    assert importlib.metadata.version("corral") == __version__


def test_version_names_corrals_packages(tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        shown = bare(flag, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.splitlines()[:2] == ["corral 0.1.0", "corral-runner 0.1.0"]
        assert "corral-python 0.1.0" in shown.stdout
        assert shown.stderr == ""
