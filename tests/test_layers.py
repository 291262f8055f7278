"""Layering, enforced in the test run: imports only go down (docs/architecture.md#layers).

Two mechanisms, one reason each:

* Between distributions, the import-linter contracts in the root ``pyproject.toml``
  (``[tool.importlinter]``): declarative, reviewable in one place, runnable alone as
  ``uv run lint-imports``, and they check indirect imports too.
* Inside the WM, a check over the same import graph (grimp, which import-linter is built
  on): front ends are named by a pattern so that it covers ``corral.server``,
  ``corral.client``, ``corral.lsp`` and ``corral.mcp`` as soon as they exist, which an
  import-linter contract cannot (it refuses a source module that does not exist yet).

The last test plants bad imports in a copy of the packages and requires each check to fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

FRONT_END = re.compile(r"^corral\.(cli|server|client|lsp|mcp)(\.|$)")
"""The WM's front ends: the CLI today; the server, client library, LSP and MCP later."""
WM_INTERNALS = re.compile(r"^corral\.(supervisor|envs|config)(\.|$)")
"""What front ends never import: they use the ``WorkspaceManager`` API instead."""

RANKS = (
    (re.compile(r"^corral\.__main__$"), 3),
    (re.compile(r"^corral\.(cli|lsp|mcp)(\.|$)"), 2),
    (re.compile(r"^corral\.(server|client)(\.|$)"), 1),
)
"""Layers inside the WM, bottom (0, the core: config, envs, supervisor, the API) to top; a
module imports only modules of its own rank or below."""


def rank(module: str) -> int:
    for pattern, value in RANKS:
        if pattern.match(module):
            return value
    return 0


def front_end_imports(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    """Every direct import (importer, imported) of a WM internal by a front-end module."""
    return {
        (module, imported)
        for module in graph.modules
        if FRONT_END.match(module)
        for imported in graph.find_modules_directly_imported_by(module)
        if WM_INTERNALS.match(imported)
    }


def upward_imports(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    """Every direct import inside ``corral`` of a module of a higher rank."""
    return {
        (module, imported)
        for module in graph.modules
        if module == "corral" or module.startswith("corral.")
        for imported in graph.find_modules_directly_imported_by(module)
        if rank(imported) > rank(module)
    }


@pytest.fixture(scope="module")
def wm_graph() -> grimp.ImportGraph:
    return grimp.build_graph("corral", cache_dir=None)


def test_distributions_import_only_downwards(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # lint_imports prepends the cwd
    code = lint_imports(config_filenames=(str(PYPROJECT),), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, report
    assert "Contracts: 6 kept, 0 broken." in report


def test_every_contract_is_run() -> None:
    """A contract dropped from pyproject.toml (or a root package) shows up here."""
    import tomllib  # noqa: PLC0415

    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert set(config["root_packages"]) == {
        "corral_protocol",
        "corral_wal",
        "corral_runner",
        "corral",
        "corral_python",
        "corral_conformance",
    }
    assert [c["id"] for c in config["contracts"]] == [
        "protocol-is-the-bottom",
        "wal-over-protocol",
        "runner-over-wal",
        "wm-never-imports-runners",
        "handlers-over-runner",
        "conformance-is-language-neutral",
    ]


def test_the_wm_core_never_imports_a_front_end(wm_graph: grimp.ImportGraph) -> None:
    assert upward_imports(wm_graph) == set()


def test_front_ends_import_no_wm_internals(wm_graph: grimp.ImportGraph) -> None:
    """Front ends use the WM API (workspace, reports, errors), never its internals."""
    assert front_end_imports(wm_graph) == set()


PLANTED = {
    # distribution contracts
    "corral_protocol/_planted_up.py": "import corral_wal\n",
    "corral/_planted_runner.py": "from corral_runner import server\n",
    # a front end that does not exist yet, reaching into the supervisor
    "corral/lsp/__init__.py": "from corral.supervisor.states import RunnerState\n",
    # the core importing a front end
    "corral/_planted_core.py": "import corral.cli.app\n",
}

PROBE = """
import json, sys
import grimp
from importlinter.cli import lint_imports
sys.path.insert(0, sys.argv[2])
from test_layers import front_end_imports, upward_imports
code = lint_imports(config_filenames=(sys.argv[1],), no_cache=True, no_logo=True)
graph = grimp.build_graph("corral", cache_dir=None)
print("RESULT " + json.dumps({
    "code": code,
    "front_end": sorted(front_end_imports(graph)),
    "upward": sorted(upward_imports(graph)),
}))
"""


def test_each_check_fails_on_a_planted_bad_import(tmp_path: Path) -> None:
    """Copies of corral_protocol and corral shadow the real ones (PYTHONPATH comes before
    the editable installs); the planted imports must break exactly the matching checks."""
    sources = {
        "corral_protocol": ROOT / "packages" / "protocol-spec" / "src" / "corral_protocol",
        "corral": ROOT / "packages" / "wm" / "src" / "corral",
    }
    for name, source in sources.items():
        shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for relative, text in PLANTED.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(PYPROJECT), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"},
    )
    result_line = [line for line in probe.stdout.splitlines() if line.startswith("RESULT ")]
    assert result_line, probe.stdout + probe.stderr
    result = json.loads(result_line[0].removeprefix("RESULT "))
    report = probe.stdout
    assert result["code"] == 1, report
    broken = re.findall(r"^(.+?)\s*BROKEN$", report, re.MULTILINE)
    assert sorted(broken) == sorted(
        [
            "corral_protocol imports no other Corral package",
            "corral (the WM) never imports corral_runner or handler packages",
        ]
    ), report
    assert "corral_protocol._planted_up -> corral_wal" in report
    assert "corral._planted_runner -> corral_runner.server" in report
    assert ["corral.lsp", "corral.supervisor.states"] in result["front_end"]
    assert result["upward"] == [["corral._planted_core", "corral.cli.app"]]
