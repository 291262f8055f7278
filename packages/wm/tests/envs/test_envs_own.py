"""Corral's own packages: requirement names, repacking an installed distribution into a
wheel, and a missing one (never asked from a package index)."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import importlib.metadata
import io
import zipfile
from pathlib import Path

import pytest
from corral.envs import EnvPreparer, EnvRequest, OwnPackage, OwnPackageError, OwnPackages
from corral.envs.own import repack, requirement_name

REPO = Path(__file__).resolve().parents[4]
CHECKOUTS = [REPO / "packages" / name for name in ("er-python", "protocol-spec", "wal")]


@pytest.mark.parametrize(
    ("requirement", "name"),
    [
        ("corral-python", "corral-python"),
        ("Corral_Python >= 0.1", "corral-python"),
        ("corral.python[extra]; python_version >= '3.11'", "corral-python"),
        ("ruff>=0.16", "ruff"),
        ("corral-python @ https://example.org/x.whl", None),
        ("./tools/plugin", None),
        ("tools/plugin", None),
        ("/abs/corral_python-0.1.0-py3-none-any.whl", None),
    ],
)
def test_requirement_names(requirement: str, name: str | None) -> None:
    assert requirement_name(requirement) == name


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def installed_distribution(site: Path) -> Path:
    """A distribution as an installer leaves it: package, bytecode, a console script
    outside site-packages, installer files in .dist-info, RECORD listing them all."""
    files = {
        "demo_pkg/__init__.py": b"VALUE = 1\n",
        "demo_pkg/data/table.json": b"{}\n",
        "demo_pkg/__pycache__/__init__.cpython-311.pyc": b"\x00compiled",
        "demo_pkg-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.4\nName: Demo_Pkg\nVersion: 1.0\n"
            b"Requires-Dist: corral-runner==0.1.0\nRequires-Dist: msgspec>=0.18\n"
            b"Requires-Dist: pytest; extra == 'test'\n\nLong description: Name: no\n"
        ),
        "demo_pkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
            b"Tag: py2-none-any\nTag: py3-none-any\n"
        ),
        "demo_pkg-1.0.dist-info/entry_points.txt": b"[console_scripts]\ndemo = demo_pkg:main\n",
        "demo_pkg-1.0.dist-info/INSTALLER": b"uv\n",
        "demo_pkg-1.0.dist-info/REQUESTED": b"",
        "demo_pkg-1.0.dist-info/direct_url.json": b'{"url": "file:///x.whl", "archive_info": {}}',
        "../../../bin/demo": b"#!/usr/bin/python\n",
    }
    bin_dir = site / "../../../bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for relative, data in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append([relative, _hash(data), str(len(data))])
    rows.append(["demo_pkg-1.0.dist-info/RECORD", "", ""])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (site / "demo_pkg-1.0.dist-info" / "RECORD").write_text(out.getvalue())
    return site / "demo_pkg-1.0.dist-info"


@pytest.fixture
def demo(tmp_path: Path) -> OwnPackage:
    dist_info = installed_distribution(tmp_path / "lib" / "python3.11" / "site-packages")
    return OwnPackage.from_distribution(importlib.metadata.PathDistribution(dist_info))


def test_an_installed_distribution_is_repacked_into_the_wheel_it_came_from(
    demo: OwnPackage, tmp_path: Path
) -> None:
    assert (demo.name, demo.version, demo.origin) == ("demo-pkg", "1.0", "installed")
    assert demo.own_requires == ("corral-runner",)
    assert demo.third_party_requires == ("msgspec>=0.18",)
    wheel = repack(demo, tmp_path / "out")
    assert wheel.name == "demo_pkg-1.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = archive.read("demo_pkg-1.0.dist-info/RECORD").decode()
        contents = {name: archive.read(name) for name in names}
    # No bytecode, script launcher or installer file; the .dist-info files come last.
    assert names == [
        "demo_pkg/__init__.py",
        "demo_pkg/data/table.json",
        "demo_pkg-1.0.dist-info/METADATA",
        "demo_pkg-1.0.dist-info/WHEEL",
        "demo_pkg-1.0.dist-info/entry_points.txt",
        "demo_pkg-1.0.dist-info/RECORD",
    ]
    rows = list(csv.reader(io.StringIO(record)))
    assert rows[-1] == ["demo_pkg-1.0.dist-info/RECORD", "", ""]
    for name, digest, size in rows[:-1]:
        assert digest == _hash(contents[name])
        assert int(size) == len(contents[name])
    # Reproducible: the same files give the same bytes.
    assert repack(demo, tmp_path / "again").read_bytes() == wheel.read_bytes()


def test_a_modified_installation_is_refused(demo: OwnPackage, tmp_path: Path) -> None:
    (demo.location.parent / "demo_pkg" / "__init__.py").write_text("VALUE = 2\n")
    with pytest.raises(OwnPackageError, match=r"demo_pkg/__init__\.py differs from the hash"):
        repack(demo, tmp_path / "out")
    (demo.location.parent / "demo_pkg" / "__init__.py").unlink()
    with pytest.raises(OwnPackageError, match="is missing"):
        repack(demo, tmp_path / "out")


def test_the_identity_of_an_installed_package_follows_its_record(demo: OwnPackage) -> None:
    before = demo.identity()
    assert before.startswith("demo-pkg==1.0 installed ")
    record = demo.location / "RECORD"
    record.write_text(record.read_text() + "demo_pkg/new.py,,\n")
    assert demo.identity() != before


def test_a_missing_own_package_fails_without_asking_an_index(tmp_path: Path) -> None:
    """corral-python not installed beside corral: a clear failure naming the fix; nothing
    named corral-python is ever handed to uv."""
    request = EnvRequest(tmp_path, "dev", ("corral-python",))
    with EnvPreparer(OwnPackages.checkouts(CHECKOUTS), jobs=1) as preparer:
        status = preparer.status(request)
        [result] = asyncio.run(preparer.prepare([request]))
    assert status.state == "no_venv"
    assert result.status == "failed"
    assert result.error is not None
    assert "corral-python is one of Corral's own packages" in result.error
    assert "never from a package index" in result.error
    assert "--with corral-python" in result.error
    assert not (tmp_path / ".corral" / "envs" / "dev").exists()
