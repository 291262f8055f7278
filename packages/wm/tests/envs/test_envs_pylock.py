"""Lock files (PEP 751 pylock.corral-<env>.toml): naming, inputs, and real uv resolving,
installing exactly, keeping pins, upgrading, and a copy of the project getting the same
versions."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from corral.envs import EnvPreparer, EnvRequest, OwnPackages, PrepareResult, env_python
from corral.envs.locking import LockOutcome
from corral.envs.own import OwnPackage
from corral.envs.pylock import (
    LockInputs,
    finish_lock,
    lock_inputs,
    lock_state,
    locked_versions,
    pylock_path,
    python_floor,
    read_header,
)

Prepare = Callable[..., list[PrepareResult]]
RUNNER = OwnPackage("corral-runner", "0.1.0", "checkout", Path("/x"), ("msgspec>=0.18",))


def test_the_lock_file_is_named_as_pep_751_says(tmp_path: Path) -> None:
    assert pylock_path(EnvRequest(tmp_path, "dev_no_runtime")).name == (
        "pylock.corral-dev_no_runtime.toml"
    )
    assert pylock_path(EnvRequest(tmp_path, "py3.12")).name == "pylock.corral-py3-12.toml"


@pytest.mark.parametrize(
    ("python", "requires", "floor"),
    [
        (None, None, "3.11"),
        (None, ">=3.9", "3.11"),
        (None, ">=3.12,<4", "3.12"),
        ("3.13", ">=3.12", "3.13"),
        ("/usr/bin/python3", ">=3.12", "3.12"),
    ],
)
def test_python_floor(tmp_path: Path, python: str | None, requires: str | None, floor: str) -> None:
    if requires is not None:
        (tmp_path / "pyproject.toml").write_text(f'[project]\nrequires-python = "{requires}"\n')
    assert python_floor(EnvRequest(tmp_path, "dev", python=python)) == floor


def test_lock_inputs_leave_corrals_packages_to_the_installation(tmp_path: Path) -> None:
    own = OwnPackages([RUNNER])
    request = EnvRequest(tmp_path, "dev", ("ruff>=0.16", "corral-runner"), locked=True)
    inputs = lock_inputs(request, own)
    assert inputs.requirements == ("msgspec>=0.18", "ruff>=0.16")
    assert inputs.corral_packages == ("corral-runner",)
    assert inputs.project == "no"
    assert lock_state(request, inputs).status == "missing"
    assert lock_state(EnvRequest(tmp_path, "dev"), inputs).status == "none"


UV_LOCK = """\
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"

[[packages]]
name = "corral-runner"
version = "0.1.0"
archive = { path = "/tmp/w/corral_runner-0.1.0-py3-none-any.whl", hashes = { sha256 = "ab" } }

[[packages]]
name = "msgspec"
version = "0.23.0"
wheels = [
    { url = "https://example.org/msgspec.whl", hashes = { sha256 = "cd" } },
]
"""


def test_finish_lock_strips_corrals_packages_and_heads_the_file(tmp_path: Path) -> None:
    request = EnvRequest(tmp_path, "dev", locked=True)
    inputs = LockInputs(("msgspec>=0.18",), ("corral-runner",), "no", "3.11")
    text = finish_lock(UV_LOCK, request, inputs)
    assert text.startswith("# The locked packages of Corral environment 'dev'")
    data = tomllib.loads(text)
    assert [p["name"] for p in data["packages"]] == ["msgspec"]
    assert data["lock-version"] == "1.0"
    assert data["tool"]["corral"] == {
        "env": "dev",
        "inputs": inputs.digest(),
        "python": "3.11",
        "requirements": ["msgspec>=0.18"],
    }
    # The header is read without the packages.
    assert read_header(text) == data["tool"]["corral"]
    assert text.index("[tool.corral]") < text.index("[[packages]]")
    assert locked_versions(text) == {"msgspec": "0.23.0"}
    broken = UV_LOCK.replace('name = "msgspec"', 'name = "msgspec"\nname = "x"')
    with pytest.raises(ValueError, match="the resolved lock does not parse"):
        finish_lock(broken, request, inputs)


# -- real uv ------------------------------------------------------------------------------


def _installed(request: EnvRequest) -> dict[str, str]:
    out = subprocess.run(
        [str(env_python(request.project, request.name)), "-I", "-c",
         "import importlib.metadata as m, json; "
         "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def _lock(preparer: EnvPreparer, requests: list[EnvRequest], *, upgrade: bool) -> list[LockOutcome]:
    async def main() -> list[LockOutcome]:
        async with asyncio.timeout(300):
            return await preparer.lock(requests, upgrade=upgrade)

    return asyncio.run(main())


def test_locked_env_lifecycle(tmp_path: Path, preparer: EnvPreparer, prepare: Prepare) -> None:
    project = tmp_path / "project"
    project.mkdir()
    pinned = EnvRequest(project, "tools", ("iniconfig==2.0.0",), locked=True)
    lock = pylock_path(pinned)

    # No lock yet: preparing creates it, and installs exactly it.
    [created] = prepare(preparer, [pinned])
    assert created.status == "created", created.error
    assert created.lock is not None
    assert created.lock.status == "created"
    text = lock.read_text()
    versions = locked_versions(text)
    assert versions["iniconfig"] == "2.0.0"
    assert "msgspec" in versions  # what Corral's packages need is locked ...
    assert not any(name.startswith("corral-") for name in versions)  # ... they are not
    assert _installed(pinned)["iniconfig"] == "2.0.0"
    assert preparer.status(pinned).state == "ready"

    # The configuration changes: the lock is stale; preparing resolves it again, keeping
    # the pins that still fit (the env stays reproducible).
    loose = EnvRequest(project, "tools", ("iniconfig>=2",), locked=True)
    status = preparer.status(loose)
    assert status.state == "stale"
    assert "its lock file was resolved for other requirements" in status.message
    [relocked] = prepare(preparer, [loose])
    assert relocked.status == "updated", relocked.error
    assert relocked.lock is not None
    assert relocked.lock.status == "updated"
    assert relocked.lock.changes == ()
    assert locked_versions(lock.read_text())["iniconfig"] == "2.0.0"
    assert _installed(loose)["iniconfig"] == "2.0.0"
    assert read_header(lock.read_text()) == {
        "env": "tools",
        "inputs": lock_inputs(loose, preparer.own).digest(),
        "python": "3.11",
        "requirements": sorted({"iniconfig>=2", *preparer.own.third_party_requires(
            preparer.own.needed(loose))}),
    }  # fmt: skip

    # A fresh lock is left alone by `lock`; --upgrade takes the newest versions.
    [same] = _lock(preparer, [loose], upgrade=False)
    assert same.status == "unchanged"
    [upgraded] = _lock(preparer, [loose], upgrade=True)
    assert upgraded.status == "updated", upgraded.error
    newest = locked_versions(lock.read_text())["iniconfig"]
    assert newest != "2.0.0"
    assert f"iniconfig 2.0.0 -> {newest}" in upgraded.changes
    status = preparer.status(loose)
    assert status.state == "stale"
    assert "its lock file changed" in status.message
    [updated] = prepare(preparer, [loose])
    assert updated.status == "updated", updated.error
    assert updated.lock is None  # installed as it is
    assert _installed(loose)["iniconfig"] == newest

    # Another checkout of the project gets exactly the committed lock.
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns(".corral"))
    other = EnvRequest(clone, "tools", ("iniconfig>=2",), locked=True)
    [cloned] = prepare(preparer, [other])
    assert cloned.status == "created", cloned.error
    assert cloned.lock is None
    assert (clone / lock.name).read_text() == lock.read_text()
    assert _installed(other)["iniconfig"] == newest
