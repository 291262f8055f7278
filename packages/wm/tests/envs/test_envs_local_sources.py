"""Editing a local-directory dependency makes its env stale, so the next prepare reinstalls
it."""

from __future__ import annotations

import os
from pathlib import Path

from corral.envs import EnvRequest
from corral.envs.stamp import compute_inputs, describe_changes


def test_a_changed_local_package_source_changes_the_inputs(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "src").mkdir(parents=True)
    module = package / "src" / "mod.py"
    module.write_text("x = 1\n")
    request = EnvRequest(project=tmp_path / "project", name="dev", dependencies=(str(package),))
    before = compute_inputs(request, own_identity="r", uv_version="u")
    assert before.local_sources
    assert before.local_sources[0].startswith(f"{package}=")
    module.write_text("x = 22\n")
    os.utime(module, ns=(1, 2))
    after = compute_inputs(request, own_identity="r", uv_version="u")
    assert after.digest() != before.digest()
    assert describe_changes(before.as_json(), after) == ["local package source changed"]


def test_requirements_that_are_not_directories_add_no_local_source(tmp_path: Path) -> None:
    request = EnvRequest(project=tmp_path, name="dev", dependencies=("ruff>=0.16", "six"))
    assert compute_inputs(request, own_identity="r", uv_version="u").local_sources == ()
