"""EnvPreparer against real uv: create, skip, update, recreate, fail, parallel, non-Python."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import runner_harness
from corral.envs import (
    EnvPreparer,
    EnvRequest,
    OwnPackages,
    PrepareEvent,
    PrepareResult,
    base_interpreter,
    env_dir,
    env_python,
    env_status,
    runner_command,
)
from corral.envs.stamp import read_stamp
from corral.envs.uvtool import UV_FLAGS, CommandTimeoutError, run_command, uv_environment

Prepare = Callable[..., list[PrepareResult]]
REPO = Path(__file__).resolve().parents[4]


def run_in(request: EnvRequest, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env_python(request.project, request.name)), "-I", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def phases(events: list[PrepareEvent], env: str) -> list[str]:
    return [e.phase for e in events if e.env == env]


def installed(request: EnvRequest) -> set[str]:
    out = run_in(
        request,
        "import importlib.metadata as m, json; "
        "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))",
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_created_env_has_deps_and_a_regular_runner_install(ready_env: EnvRequest) -> None:
    code = "import corral_runner, corral_protocol, six; print(corral_runner.__file__)"
    out = run_in(ready_env, code)
    assert out.returncode == 0, out.stderr
    # A regular (non-editable) install inside the env, not a link to the checkout.
    assert Path(out.stdout.strip()).is_relative_to(env_dir(ready_env.project, ready_env.name))
    stamp = read_stamp(ready_env)
    assert stamp is not None
    assert stamp.inputs["dependencies"] == ["six"]
    assert stamp.inputs["corral_packages"].startswith("corral-protocol==0.1.0 checkout ")
    assert stamp.python["executable"] == str(base_interpreter())


def test_runner_command_starts_a_real_runner(ready_env: EnvRequest) -> None:
    argv = runner_command(ready_env)
    assert argv == [str(env_python(ready_env.project, ready_env.name)), "-m", "corral_runner"]
    assert Path(argv[0]).is_absolute()

    async def scenario() -> None:
        async with runner_harness.running(ready_env.project, argv=argv, env="dev") as runner:
            assert runner.hello is not None
            assert runner.hello.runner.language == "python"
            assert runner.hello.pid == runner.proc.pid
            assert await runner.conn.request("$/ping") == {}

    runner_harness.run(scenario())


def test_second_prepare_is_unchanged_and_fast(
    ready_env: EnvRequest, preparer: EnvPreparer, prepare: Prepare
) -> None:
    events: list[PrepareEvent] = []
    start = time.perf_counter()
    [result] = prepare(preparer, [ready_env], events=events)
    elapsed = time.perf_counter() - start
    assert result.status == "unchanged"
    assert result.error is None
    assert phases(events, "dev") == ["skipped"]
    # A correctness bound for the skip path (no uv, no subprocess), not a benchmark.
    assert elapsed < 0.5, elapsed


def test_update_then_recreate(tmp_path: Path, preparer: EnvPreparer, prepare: Prepare) -> None:
    first = EnvRequest(tmp_path, "lint", ("iniconfig",))
    events: list[PrepareEvent] = []
    [created] = prepare(preparer, [first], events=events)
    assert created.status == "created", created.error
    assert phases(events, "lint") == ["creating", "installing", "done"]
    assert "iniconfig" in installed(first)

    changed = EnvRequest(tmp_path, "lint", ("six",))
    assert env_status(changed, preparer.own).state == "stale"
    events.clear()
    [updated] = prepare(preparer, [changed], events=events)
    assert updated.status == "updated", updated.error
    assert phases(events, "lint") == ["installing", "done"]
    packages = installed(changed)
    assert "six" in packages
    assert "corral-runner" in packages
    assert "iniconfig" not in packages  # --exact removes what is no longer wanted
    assert env_status(changed, preparer.own).state == "ready"

    events.clear()
    [recreated] = prepare(preparer, [changed], recreate=True, events=events)
    assert recreated.status == "created", recreated.error
    assert phases(events, "lint") == ["creating", "installing", "done"]
    assert env_status(changed, preparer.own).state == "ready"


def test_python_change_recreates_the_venv(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    implicit = EnvRequest(tmp_path, "py", ())
    [first] = prepare(preparer, [implicit])
    assert first.status == "created", first.error
    explicit = EnvRequest(tmp_path, "py", (), python=str(base_interpreter()))
    status = env_status(explicit, preparer.own)
    assert status.state == "stale"
    assert "python changed" in status.message
    events: list[PrepareEvent] = []
    [second] = prepare(preparer, [explicit], events=events)
    assert second.status == "created", second.error
    assert phases(events, "py")[0] == "creating"
    assert run_in(explicit, "import corral_runner").returncode == 0


def test_failing_install_reports_uv_error_and_others_succeed(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    bad = EnvRequest(tmp_path, "bad", ("corral-no-such-package-xyz",))
    good = EnvRequest(tmp_path, "good", ("iniconfig",))
    events: list[PrepareEvent] = []
    bad_result, good_result = prepare(preparer, [bad, good], events=events)
    assert good_result.status == "created", good_result.error
    assert bad_result.status == "failed"
    error = bad_result.error
    assert error is not None
    assert "corral-no-such-package-xyz" in error
    assert "'bad'" in error
    assert str(tmp_path) in error
    assert "pip install" in error  # the command that failed
    assert "No solution found" in error  # uv's own words
    assert len(error.splitlines()) < 60
    assert phases(events, "bad") == ["creating", "installing", "failed"]
    failed = next(e for e in events if e.phase == "failed")
    assert failed.status == "failed"
    assert "installing packages failed" in failed.message
    # No stamp after a failed install: the env is not considered ready.
    assert read_stamp(bad) is None
    assert env_status(bad, preparer.own).state == "stale"
    assert env_status(good, preparer.own).state == "ready"


def test_four_envs_in_parallel(tmp_path: Path, preparer: EnvPreparer, prepare: Prepare) -> None:
    assert preparer.jobs == 2
    requests = [
        EnvRequest(tmp_path / f"p{i % 2}", f"env{i}", ("iniconfig",) if i % 2 else ("six",))
        for i in range(4)
    ]
    for request in requests:
        request.project.mkdir(exist_ok=True)
    start = time.perf_counter()
    results = prepare(preparer, requests)
    elapsed = time.perf_counter() - start
    assert [r.status for r in results] == ["created"] * 4, [r.error for r in results]
    assert [r.request for r in results] == requests
    for request in requests:
        assert env_status(request, preparer.own).state == "ready"
    print(f"4 envs, jobs=2: {elapsed:.2f} s")


def test_non_python_runner_env(tmp_path: Path, preparer: EnvPreparer, prepare: Prepare) -> None:
    request = EnvRequest(tmp_path, "js", (), runner=("node", "x.js"))
    events: list[PrepareEvent] = []
    [result] = prepare(preparer, [request], events=events)
    assert result.status == "created", result.error
    assert phases(events, "js") == ["creating", "installing", "done"]
    assert runner_command(request) == ["node", "x.js"]
    assert env_python(request.project, request.name).exists()
    assert run_in(request, "import corral_runner").returncode != 0
    stamp = read_stamp(request)
    assert stamp is not None
    assert stamp.inputs["corral_packages"] == "none"

    with_deps = EnvRequest(tmp_path, "js", ("iniconfig",), runner=("node", "x.js"))
    [updated] = prepare(preparer, [with_deps])
    assert updated.status == "updated", updated.error
    assert installed(with_deps) == {"iniconfig"}


def test_editing_the_local_runner_source_reinstalls_it(tmp_path: Path, prepare: Prepare) -> None:
    checkouts = tmp_path / "checkouts"
    for name in ("er-python", "protocol-spec", "wal"):
        shutil.copytree(
            REPO / "packages" / name,
            checkouts / name,
            ignore=shutil.ignore_patterns("__pycache__", "tests", ".*"),
        )
    source = OwnPackages.checkouts(
        checkouts / name for name in ("er-python", "protocol-spec", "wal")
    )
    project = tmp_path / "project"
    project.mkdir()
    request = EnvRequest(project, "dev", ())
    with EnvPreparer(source, jobs=1) as prep:
        [created] = prepare(prep, [request])
        assert created.status == "created", created.error
        module = checkouts / "er-python" / "src" / "corral_runner" / "errors.py"
        module.write_text(module.read_text() + "\nCORRAL_TEST_MARKER = 1\n")
        status = env_status(request, source)
        assert status.state == "stale"
        assert "Corral's packages changed" in status.message
        [updated] = prepare(prep, [request])
        assert updated.status == "updated", updated.error
    out = run_in(request, "import corral_runner.errors as e; print(e.CORRAL_TEST_MARKER)")
    assert out.stdout.strip() == "1", out.stderr


def test_conflicting_duplicate_requests_are_rejected(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    one = EnvRequest(tmp_path, "dev", ("six",))
    other = EnvRequest(tmp_path, "dev", ("iniconfig",))
    with pytest.raises(ValueError, match="conflicting definitions"):
        prepare(preparer, [one, other])
    assert not (tmp_path / ".corral").exists()


def test_duplicate_requests_are_prepared_once(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    one = EnvRequest(tmp_path, "js", ("six", "iniconfig"), runner=("node", "x.js"))
    same = EnvRequest(tmp_path, "js", ("iniconfig", "six"), runner=("node", "x.js"))
    events: list[PrepareEvent] = []
    first, second = prepare(preparer, [one, same], events=events)
    assert first.status == second.status == "created", first.error
    assert phases(events, "js") == ["creating", "installing", "done"]


def test_concurrent_preparations_of_one_env_take_turns(
    tmp_path: Path, preparer: EnvPreparer
) -> None:
    request = EnvRequest(tmp_path, "js", (), runner=("node", "x.js"))

    async def both() -> list[list[PrepareResult]]:
        # Two prepare calls at once (as two processes would): the env lock serialises them
        # and the second one finds the env ready when it gets the lock.
        return list(await asyncio.gather(preparer.prepare([request]), preparer.prepare([request])))

    statuses = sorted(result.status for [result] in asyncio.run(both()))
    assert statuses == ["created", "unchanged"]


def test_missing_project_directory_fails_cleanly(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    request = EnvRequest(tmp_path / "missing", "dev", ())
    [result] = prepare(preparer, [request])
    assert result.status == "failed"
    assert result.error is not None
    assert "does not exist" in result.error
    assert not (tmp_path / "missing").exists()


def test_uv_commands_ignore_config_and_progress(preparer: EnvPreparer) -> None:
    argv = preparer.uv.argv("pip", "install", "--python", "x", "--", "six")
    assert argv[:3] == [str(preparer.uv.path), "pip", "install"]
    assert set(UV_FLAGS) <= set(argv)
    assert argv.index("--no-config") < argv.index("--")
    assert Path(argv[0]).is_absolute()
    env = uv_environment({"VIRTUAL_ENV": "/elsewhere", "UV_INDEX_URL": "https://example"})
    assert "VIRTUAL_ENV" not in env
    assert env["UV_INDEX_URL"] == "https://example"
    assert env["UV_NO_PROGRESS"] == "1"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_command_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )

    async def scenario() -> None:
        with pytest.raises(CommandTimeoutError) as caught:
            await run_command(
                [sys.executable, "-c", code], cwd=tmp_path, env=uv_environment(), timeout=1.0
            )
        assert "started" in caught.value.result.output
        grandchild = int(pid_file.read_text())
        for _ in range(50):
            if not Path(f"/proc/{grandchild}").exists() or _is_zombie(grandchild):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"grandchild {grandchild} survived the timeout")

    asyncio.run(scenario())


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_install_project_installs_the_project_editable_with_its_dependencies(
    tmp_path: Path, preparer: EnvPreparer, prepare: Prepare
) -> None:
    project = tmp_path / "proj"
    (project / "src" / "proj").mkdir(parents=True)
    (project / "src" / "proj" / "__init__.py").write_text("VALUE = 1\n")
    request = EnvRequest(project, "runtime", (), install_project=True)
    # Not installable yet (no [project] table): the env gets its other packages only.
    [first] = prepare(preparer, [request])
    assert first.status == "created", first.error
    assert "proj" not in installed(request)

    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0"\ndependencies = ["iniconfig"]\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    status = env_status(request, preparer.own)
    assert status.state == "stale"
    assert "the project's dependencies or build settings changed" in status.message
    [second] = prepare(preparer, [request])
    assert second.status == "updated", second.error
    assert {"proj", "iniconfig"} <= installed(request)
    (project / "src" / "proj" / "__init__.py").write_text("VALUE = 2\n")  # editable
    out = run_in(request, "import proj, iniconfig; print(proj.VALUE)")
    assert out.stdout.strip() == "2", out.stderr
    # Code and version edits keep the env; its metadata's dependencies do not.
    (project / "pyproject.toml").write_text(
        (project / "pyproject.toml").read_text().replace('version = "0"', 'version = "1"')
    )
    assert env_status(request, preparer.own).state == "ready"
