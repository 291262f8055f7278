"""env_status (cheap) and check_env (probing) on real environments; paths and sources."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from corral.envs import (
    EnvPreparer,
    EnvRequest,
    OwnPackages,
    PrepareResult,
    check_env,
    env_dir,
    env_python,
    env_status,
    runner_command,
)
from corral.envs.paths import base_interpreter, validate_env_name

Prepare = Callable[..., list[PrepareResult]]
REPO = Path(__file__).resolve().parents[4]


def site_packages(request: EnvRequest) -> Path:
    [path] = env_dir(request.project, request.name).glob("lib/python3*/site-packages")
    return path


# -- no_venv / stale / ready: cheap -----------------------------------------------------


def test_no_venv_names_the_command_that_fixes_it(tmp_path: Path, preparer: EnvPreparer) -> None:
    project = tmp_path / "my project"  # a space: the command must stay pasteable
    project.mkdir()
    request = EnvRequest(project, "dev_no_runtime", ())
    status = env_status(request, preparer.own)
    assert status.state == "no_venv"
    command = f"corral prepare-envs --project {shlex.quote(str(project))} --env dev_no_runtime"
    assert command in status.message
    assert status.fix == (
        "corral",
        "prepare-envs",
        "--project",
        str(project),
        "--env",
        "dev_no_runtime",
    )
    assert not (project / ".corral").exists()  # a status never creates anything


def test_ready_and_stale_after_a_dependency_change(
    ready_env: EnvRequest, preparer: EnvPreparer
) -> None:
    assert env_status(ready_env, preparer.own).state == "ready"
    changed = EnvRequest(ready_env.project, ready_env.name, ("six", "iniconfig"))
    status = env_status(changed, preparer.own)
    assert status.state == "stale"
    assert "dependencies changed (+iniconfig)" in status.message
    assert status.changes == ("dependencies changed (+iniconfig)",)
    assert "corral prepare-envs --project" in status.message
    # Order and duplicates of dependencies do not matter.
    same = EnvRequest(ready_env.project, ready_env.name, ("six", "six"))
    assert env_status(same, preparer.own).state == "ready"


def test_stale_when_corrals_packages_change(ready_env: EnvRequest, preparer: EnvPreparer) -> None:
    checkouts = OwnPackages.checkouts(REPO / "packages" / n for n in ("er-python", "wal"))
    status = env_status(ready_env, checkouts)
    assert status.state == "stale"
    assert "Corral's packages changed" in status.message
    # corral-protocol is not among these checkouts: the status says it is missing.
    assert "corral-protocol missing" in status.message


def test_stale_when_uv_changes(ready_env: EnvRequest, preparer: EnvPreparer) -> None:
    status = env_status(ready_env, preparer.own, uv_version="99.0.0")
    assert status.state == "stale"
    assert f"uv changed ({preparer.uv.version} → 99.0.0)" in status.message


def test_status_is_cheap_and_starts_no_process(
    ready_env: EnvRequest, preparer: EnvPreparer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("env_status started a process")

    monkeypatch.setattr(subprocess.Popen, "__init__", forbidden)
    requests = [
        ready_env,
        EnvRequest(ready_env.project, ready_env.name, ("other",)),
        EnvRequest(tmp_path, "missing", ()),
    ]
    start = time.perf_counter()
    states = [env_status(r, preparer.own).state for r in requests * 10]
    per_call = (time.perf_counter() - start) / len(states)
    assert states[:3] == ["ready", "stale", "no_venv"]
    assert per_call < 0.02, per_call


# -- broken: check_env ------------------------------------------------------------------


def test_check_env_ready(ready_env: EnvRequest, preparer: EnvPreparer) -> None:
    status = asyncio.run(check_env(ready_env, preparer.own))
    assert status.state == "ready", status.message


def test_missing_runner_is_broken_and_recreate_repairs_it(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    request = EnvRequest(tmp_path, "dev", ())
    [created] = prepare(preparer, [request])
    assert created.status == "created", created.error
    shutil.rmtree(site_packages(request) / "corral_runner")

    # The cheap status cannot see inside the env; the deeper check can.
    assert env_status(request, preparer.own).state == "ready"
    status = asyncio.run(check_env(request, preparer.own))
    assert status.state == "broken"
    assert "corral_runner" in status.message
    assert "--recreate" in status.message
    assert status.fix is not None
    assert status.fix[-1] == "--recreate"

    [skipped] = prepare(preparer, [request])
    assert skipped.status == "unchanged"  # the skip path stays subprocess-free
    [recreated] = prepare(preparer, [request], recreate=True)
    assert recreated.status == "created", recreated.error
    assert asyncio.run(check_env(request, preparer.own)).state == "ready"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and symlinks")
def test_interpreter_that_cannot_run_is_broken(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    request = EnvRequest(tmp_path, "dev", (), runner=("node", "x.js"))
    [created] = prepare(preparer, [request])
    assert created.status == "created", created.error
    python = env_python(request.project, request.name)
    python.unlink()
    python.write_text("#!/bin/sh\nexit 3\n")
    python.chmod(0o644)  # not executable
    status = asyncio.run(check_env(request, preparer.own))
    assert status.state == "broken"
    assert str(python) in status.message

    # A dangling interpreter link is seen by the cheap status already, and repaired
    # by a plain prepare (no --recreate needed).
    python.unlink()
    os.symlink(tmp_path / "gone" / "python3", python)
    status = env_status(request, preparer.own)
    assert status.state == "broken"
    assert "missing" in status.message
    [repaired] = prepare(preparer, [request])
    assert repaired.status == "created", repaired.error
    assert env_status(request, preparer.own).state == "ready"


def test_missing_interpreter_is_no_venv(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    request = EnvRequest(tmp_path, "dev", (), runner=("node", "x.js"))
    [created] = prepare(preparer, [request])
    assert created.status == "created", created.error
    env_python(request.project, request.name).unlink()
    status = env_status(request, preparer.own)
    assert status.state == "no_venv"
    assert "has no interpreter" in status.message
    [repaired] = prepare(preparer, [request])
    assert repaired.status == "created", repaired.error


def test_missing_stamp_is_stale(tmp_path: Path, preparer: EnvPreparer, prepare: Prepare) -> None:
    request = EnvRequest(tmp_path, "dev", (), runner=("node", "x.js"))
    prepare(preparer, [request])
    (env_dir(request.project, request.name) / ".corral-stamp.json").write_text("{not json")
    status = env_status(request, preparer.own)
    assert status.state == "stale"
    assert "not completely prepared" in status.message


# -- paths, requests, sources -----------------------------------------------------------


def test_paths(tmp_path: Path) -> None:
    assert env_dir(tmp_path, "dev") == tmp_path / ".corral" / "envs" / "dev"
    expected = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    assert env_python(tmp_path, "dev") == env_dir(tmp_path, "dev").joinpath(*expected)
    relative = EnvRequest(Path(), "dev", ())
    assert relative.project == Path.cwd()
    assert runner_command(relative)[0] == str(env_python(Path.cwd(), "dev"))


@pytest.mark.parametrize("name", ["", "..", "a/b", "-rf", ".hidden", "x" * 101, "a b"])
def test_bad_env_names_are_rejected(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid environment name"):
        validate_env_name(name)
    with pytest.raises(ValueError, match="invalid environment name"):
        EnvRequest(tmp_path, name, ())


@pytest.mark.parametrize("dep", ["--index-url=https://evil", "-e .", "", "  "])
def test_option_like_or_empty_dependencies_are_rejected(dep: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dependenc"):
        EnvRequest(tmp_path, "dev", (dep,))


def test_detects_the_workspace_checkout() -> None:
    own = OwnPackages.detect()
    locations = {p.name: (p.origin, p.location) for p in own}
    assert locations == {
        "corral-runner": ("checkout", REPO / "packages" / "er-python"),
        "corral-protocol": ("checkout", REPO / "packages" / "protocol-spec"),
        "corral-wal": ("checkout", REPO / "packages" / "wal"),
        "corral-python": ("checkout", REPO / "packages" / "handlers-python"),
    }
    python_env = EnvRequest(REPO, "dev", ("six",))
    assert own.needed(python_env) == ("corral-protocol", "corral-runner", "corral-wal")
    preset_env = EnvRequest(REPO, "dev", ("Corral_Python>=0.1",), runner=("node", "x.js"))
    assert own.needed(preset_env) == (
        "corral-protocol",
        "corral-python",
        "corral-runner",
        "corral-wal",
    )
    assert own.needed(EnvRequest(REPO, "js", ("six",), runner=("node", "x.js"))) == ()
    names = own.needed(python_env)
    assert own.identity(names) == own.identity(names)
    assert own.identity(names).startswith("corral-protocol==0.1.0 checkout ")
    assert own.identity(()) == "none"
    with pytest.raises(ValueError, match=r"static \[project\] name and version"):
        OwnPackages.checkouts([REPO / "packages"])


def test_base_interpreter_is_a_real_binary() -> None:
    python = base_interpreter()
    assert python.is_absolute()
    assert python == python.resolve()
    assert python.read_bytes()[:2] != b"#!"  # not a pyenv-style shim script
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(sys.version_info[:2])


def test_preparer_statuses_match_env_status(
    ready_env: EnvRequest, preparer: EnvPreparer, tmp_path: Path
) -> None:
    requests = [
        ready_env,
        EnvRequest(ready_env.project, ready_env.name, ("iniconfig",)),
        EnvRequest(tmp_path, "none", ()),
    ]
    assert preparer.statuses(requests) == [env_status(r, preparer.own) for r in requests]
    assert preparer.status(ready_env).state == "ready"
