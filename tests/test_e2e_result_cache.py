"""The WM's result cache end to end: real commands, real runners, real ruff.

A command answers a project from ``<project>/.corral/results`` when nothing the handlers
declared changed (SPEC.md §9.4.1), marking it ``reused``, and never answers from it once
anything that decides the result changed: each change below is made after a result was
kept, and the next command must see it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from corral.resultcache import SETTLE_NS
from example_workspace import PYTHON_ONLY
from server_harness import ServerWorld, no_leftovers

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workspace"
CACHE_ON = {"CORRAL_RESULT_CACHE": "1", "NO_COLOR": "1"}


def corral(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral", "-C", str(root), "--no-server", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
        env={**os.environ, **CACHE_ON, **env},
    )


def settle() -> None:
    """Wait until every file written so far is older than the cache's settle time (a
    result made from younger files is not kept: it might hide an edit)."""
    time.sleep(SETTLE_NS / 1e9 + 0.2)


class Lint:
    """One ``run lint --workspace --format json``: findings and which projects reused."""

    def __init__(self, root: Path, **env: str) -> None:
        done = corral(root, "run", "lint", "--workspace", "--format", "json", **env)
        assert done.returncode in (0, 1), done.stderr
        report = json.loads(done.stdout)
        self.findings: set[tuple[str, str, str]] = set()
        self.reused: dict[str, bool] = {}
        for outcome in report["projects"]:
            name = Path(outcome["project"]).name
            result = outcome["result"]
            self.reused[name] = bool(result["summary"]["ruff"].get("reused"))
            for found in result["diagnostics"]:
                self.findings.add((name, found["file"], found["code"]))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache") / "workspace"
    shutil.copytree(EXAMPLE, root, ignore=PYTHON_ONLY)
    pyproject = root / "app" / "pyproject.toml"  # so that a ruff.toml above app applies
    pyproject.write_text(re.sub(r"\[tool\.ruff\][^[]*", "", pyproject.read_text()))
    done = corral(root, "prepare-envs")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def workspace(prepared: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(prepared, root, symlinks=True)
    return root


UNUSED = ("app", "src/app/__init__.py", "F401")
INIT = Path("app/src/app/__init__.py")


def test_an_unchanged_workspace_is_answered_from_the_cache(workspace: Path) -> None:
    settle()
    first = Lint(workspace)
    assert first.findings == {UNUSED}
    assert first.reused == {"app": False, "lib": False}
    again = Lint(workspace)
    assert again.findings == first.findings
    assert again.reused == {"app": True, "lib": True}
    shown = corral(workspace, "wal", "show", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert '"reused": true' in shown.stdout or '"reused":true' in shown.stdout
    off = Lint(workspace, CORRAL_RESULT_CACHE="0")
    assert off.findings == first.findings
    assert off.reused == {"app": False, "lib": False}


def _edit(root: Path) -> None:
    path = root / INIT
    path.write_text(path.read_text().replace("import os\n", ""))


def _new_file(root: Path) -> None:
    (root / "lib" / "src" / "lib" / "extra.py").write_text("import sys\n")


def _deleted_file(root: Path) -> None:
    (root / INIT).unlink()


def _config_above(root: Path) -> None:
    (root / "ruff.toml").write_text('[lint]\nignore = ["F401"]\n')


def _tool_reinstalled(root: Path) -> None:
    stamps = list((root / "app" / ".corral" / "envs").glob("*/.corral-stamp.json"))
    assert len(stamps) == 3
    for stamp in stamps:  # what a new ruff in the env changes
        stamp.write_text(stamp.read_text() + "\n")


CHANGES: dict[str, tuple[Callable[[Path], None], set[tuple[str, str, str]], set[str]]] = {
    # change, findings after it, projects that must run again
    "file-edit": (_edit, set(), {"app"}),
    "new-file": (_new_file, {UNUSED, ("lib", "src/lib/extra.py", "F401")}, {"lib"}),
    "deleted-file": (_deleted_file, set(), {"app"}),
    "config-above-the-project": (_config_above, set(), {"app", "lib"}),
    "tool-version": (_tool_reinstalled, {UNUSED}, {"app"}),
}


@pytest.mark.parametrize("name", CHANGES)
def test_a_change_after_a_kept_result_is_seen(workspace: Path, name: str) -> None:
    change, findings, rerun = CHANGES[name]
    settle()
    assert Lint(workspace).findings == {UNUSED}
    assert Lint(workspace).reused == {"app": True, "lib": True}  # kept
    change(workspace)
    after = Lint(workspace)
    assert after.findings == findings
    assert {project for project, reused in after.reused.items() if not reused} == rerun


def test_a_result_made_while_files_were_young_is_not_kept(workspace: Path) -> None:
    _new_file(workspace)  # just now: a result made from it might hide an edit
    assert not Lint(workspace).reused["lib"]
    assert not Lint(workspace).reused["lib"]
    assert not list((workspace / "lib" / ".corral" / "results").glob("*.json"))


def test_fixing_is_never_answered_from_the_cache(workspace: Path) -> None:
    settle()
    Lint(workspace)
    fixed = corral(workspace, "run", "lint", "--workspace", "--fix", "--format", "json")
    assert fixed.returncode in (0, 1), fixed.stderr
    summaries: list[dict[str, Any]] = [
        p["result"]["summary"]["ruff"] for p in json.loads(fixed.stdout)["projects"]
    ]
    assert not any(s.get("reused") for s in summaries)


@pytest.fixture
def world(workspace: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    with no_leftovers(ServerWorld(workspace, runtime)) as world:
        yield world


def test_the_server_answers_from_the_cache_and_sees_edits(world: ServerWorld) -> None:
    env = world.env(**CACHE_ON)
    settle()

    def lint() -> dict[str, Any]:
        done = world.corral("run", "lint", "--workspace", "--format", "json", env=env)
        assert done.returncode in (0, 1), done.stderr
        return {Path(p["project"]).name: p["result"] for p in json.loads(done.stdout)["projects"]}

    lint()
    kept = lint()
    assert kept["app"]["summary"]["ruff"].get("reused") is True
    assert [d["code"] for d in kept["app"]["diagnostics"]] == ["F401"]
    _edit(world.root)
    edited = lint()
    assert not edited["app"]["summary"]["ruff"].get("reused")
    assert edited["app"]["diagnostics"] == []


def test_runners_start_only_for_projects_the_cache_cannot_answer(world: ServerWorld) -> None:
    """Lazy runners: a fresh server answering every project from the cache starts no
    runner; after an edit in one project, only that project's runner starts."""
    env = world.env(**CACHE_ON)
    settle()

    def lint() -> None:
        done = world.corral("run", "lint", "--workspace", env=env)
        assert done.returncode in (0, 1), done.stderr

    def running() -> set[str]:
        return {
            f"{Path(r['project']).name}/{r['env']}"
            for r in world.status()["runners"]
            if r["state"] not in ("stopped", "idle-stopped")
        }

    lint()  # results kept
    assert running() == {"app/dev_no_runtime", "lib/dev_no_runtime"}  # the check can fail
    assert world.corral("server", "stop").returncode == 0
    lint()  # a new server, every project answered from the cache
    assert running() == set()
    _edit(world.root)
    lint()
    assert running() == {"app/dev_no_runtime"}


def test_type_check_is_kept_and_sees_an_edit(prepared: Path) -> None:
    """On the prepared workspace itself: its runtime env holds the project installed
    editable from there (a copy's would point at the original, which mypy's handler
    rightly refuses to declare: sources outside the project)."""
    workspace = prepared
    original = (workspace / INIT).read_text()

    def type_check() -> dict[str, Any]:
        app = str(workspace / "app")
        done = corral(workspace, "run", "type-check", "--project", app, "--format", "json")
        assert done.returncode in (0, 1), done.stderr
        result: dict[str, Any] = json.loads(done.stdout)["result"]
        return result

    try:
        settle()
        assert type_check()["diagnostics"] == []
        assert type_check()["summary"]["mypy"].get("reused") is True
        (workspace / INIT).write_text("x: int = 'no'\n")
        edited = type_check()
        assert not edited["summary"]["mypy"].get("reused")
        assert [d["code"] for d in edited["diagnostics"]] == ["assignment"]
    finally:
        (workspace / INIT).write_text(original)


def test_type_check_with_sources_installed_from_elsewhere_is_never_kept(
    workspace: Path,
) -> None:
    """The copy's runtime env still holds the project installed editable from the
    original directory: mypy reads sources that change behind the env's stamp."""
    settle()
    for _ in range(2):
        app = str(workspace / "app")
        done = corral(workspace, "run", "type-check", "--project", app, "--format", "json")
        assert done.returncode in (0, 1), done.stderr
        assert not json.loads(done.stdout)["result"]["summary"]["mypy"].get("reused")
