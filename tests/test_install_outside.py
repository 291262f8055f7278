"""Corral installed as a tool, outside this repository, from its built wheels.

``uv build --all-packages --wheel``, then ``corral`` and ``corral-python`` go into a clean
venv in a temporary directory from those files only (``--no-index --find-links``: their
third-party dependencies come from the package index first). A copy of the example
workspace is linted with that venv's ``corral``: the README's findings and exit code.

A find-links directory holding fake ``corral-runner``, ``corral-protocol``, ``corral-wal``
and ``corral-python`` 99.0.0 wheels (each fails on import) is handed to every uv command
the run makes (``UV_FIND_LINKS``): a lookup of any of them by name would install the fake,
so the environments holding the real 0.1.0 files prove that Corral's own packages came
from the installation, never from an index. The example's committed lock files serve the
installed corral unchanged, and a lock resolved afresh with the fakes around lists none of
Corral's packages.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import uv
from example_workspace import PYTHON_ONLY

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workspace"
OWN = ("corral", "corral-runner", "corral-protocol", "corral-wal", "corral-python")
FAKES = ("corral-runner", "corral-protocol", "corral-wal", "corral-python")
UV = uv.find_uv_bin()


def _clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without anything pointing at the repository's venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT")
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    env["NO_COLOR"] = "1"
    return {**env, **extra}


def _run(argv: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=_clean_environ(**extra),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _requires(wheel: Path) -> list[str]:
    """Requires-Dist of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    return [
        line.partition(":")[2].strip()
        for line in text.split("\n\n", 1)[0].splitlines()
        if line.startswith("Requires-Dist:")
    ]


def _fake_wheel(directory: Path, dist: str) -> None:
    """``<dist>`` 99.0.0 whose module exits on import."""
    module = dist.replace("-", "_")
    info = f"{module}-99.0.0.dist-info"
    files = {
        f"{module}/__init__.py": b"raise SystemExit('fake package from an index')\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: 99.0.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([f"{info}/RECORD", "", ""])
    with zipfile.ZipFile(directory / f"{module}-99.0.0-py3-none-any.whl", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", record.getvalue())


def _installed(python: Path) -> dict[str, str]:
    result = subprocess.run(
        [UV, "pip", "list", "--python", str(python), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {item["name"]: item["version"] for item in json.loads(result.stdout)}


@pytest.mark.timeout(600)
def test_installed_corral_lints_the_example_outside_the_repository(tmp_path: Path) -> None:
    times: dict[str, float] = {}
    start = time.monotonic()
    dist = tmp_path / "dist"
    built = _run([UV, "build", "--all-packages", "--wheel", "--out-dir", str(dist)], REPO)
    assert built.returncode == 0, built.stderr[-3000:]
    wheels = {w.name.split("-")[0].replace("_", "-"): w for w in dist.glob("*.whl")}
    assert set(OWN) <= set(wheels), sorted(wheels)
    times["build"] = time.monotonic() - start

    start = time.monotonic()
    venv = tmp_path / "tool venv"
    python = venv / "bin" / "python"
    assert _run([UV, "venv", "--no-config", str(venv)], tmp_path).returncode == 0
    third_party = sorted(
        {r for name in OWN for r in _requires(wheels[name]) if not r.startswith("corral")}
    )
    deps = _run([UV, "pip", "install", "--python", str(python), *third_party], tmp_path)
    assert deps.returncode == 0, deps.stderr[-3000:]
    no_index = ["--no-index", "--find-links", str(dist)]  # Corral's packages: these files only
    own = _run(
        [UV, "pip", "install", "--python", str(python), *no_index, "corral", "corral-python"],
        tmp_path,
    )
    assert own.returncode == 0, own.stderr[-3000:]
    tool = _installed(python)
    assert {name: tool[name] for name in OWN} == dict.fromkeys(OWN, "0.1.0")
    times["install"] = time.monotonic() - start

    fakes = tmp_path / "index"
    fakes.mkdir()
    for name in FAKES:
        _fake_wheel(fakes, name)
    # The fakes would win any lookup by name (proof that this test can fail).
    wanted = tmp_path / "probe.in"
    wanted.write_text("corral-runner>=0.1\n")
    probe = _run(
        [UV, "pip", "compile", "--no-config", "--python", str(python), str(wanted)],
        tmp_path,
        UV_FIND_LINKS=str(fakes),
    )
    assert "corral-runner==99.0.0" in probe.stdout, probe.stdout + probe.stderr

    workspace = tmp_path / "example"
    shutil.copytree(EXAMPLE, workspace, ignore=PYTHON_ONLY)
    locks = {p: p.read_text() for p in workspace.glob("*/pylock.corral-*.toml")}
    assert len(locks) == 6
    start = time.monotonic()
    lint = _run(
        [str(venv / "bin" / "corral"), "run", "lint", "--workspace"],
        workspace,
        UV_FIND_LINKS=str(fakes),
    )
    times["first lint"] = time.monotonic() - start
    assert lint.returncode == 1, lint.stdout + lint.stderr
    assert "app/src/app/__init__.py" in lint.stdout
    assert "F401" in lint.stdout
    assert "lib/src" not in lint.stdout
    # The committed locks serve an installed corral as they serve this checkout.
    assert {p: p.read_text() for p in locks} == locks
    assert "locked" not in lint.stderr

    site = next((venv / "lib").glob("python3*/site-packages"))
    for project in ("app", "lib"):
        for env in ("dev_workspace", "dev_no_runtime"):
            env_dir = workspace / project / ".corral" / "envs" / env
            packages = _installed(env_dir / "bin" / "python")
            assert packages["corral-runner"] == "0.1.0", (project, env, packages)
            assert packages["corral-python"] == "0.1.0", (project, env, packages)
            assert "99.0.0" not in packages.values(), (project, env, packages)
            stamp = json.loads((env_dir / ".corral-stamp.json").read_text())
            assert f"corral-runner 0.1.0 (installed at {site})" in stamp["corral_packages_from"]

    # Resolving a lock afresh with the fakes around: Corral's packages are not in it.
    start = time.monotonic()
    tool_corral = str(venv / "bin" / "corral")
    relock = _run(
        [tool_corral, "lock", "--upgrade", "--project", "app", "--env", "dev_workspace"],
        workspace,
        UV_FIND_LINKS=str(fakes),
    )
    times["lock --upgrade"] = time.monotonic() - start
    assert relock.returncode == 0, relock.stdout + relock.stderr
    text = (workspace / "app" / "pylock.corral-dev_workspace.toml").read_text()
    assert "99.0.0" not in text
    assert 'name = "corral' not in text
    assert 'name = "msgspec"' in text

    start = time.monotonic()
    again = _run([str(venv / "bin" / "corral"), "run", "lint", "--workspace"], workspace)
    times["second lint"] = time.monotonic() - start
    assert again.returncode == 1, again.stdout + again.stderr
    assert "preparing" not in again.stderr
    print("install outside the repository:", {k: round(v, 1) for k, v in times.items()})
