"""``corral run lint --workspace`` against bare ruff and pre-commit, measured in one run.

On a generated workspace (default 20 projects x 50 files, every project using the
``corral-python`` preset):

* floor: bare ``ruff check`` over the whole tree (one process, the same ruff version);
* warm: ``lint`` at workspace scope through one Workspace Manager whose runners are up,
  once with nothing changed (the handlers reuse their last result) and once after a file of
  every project was edited (ruff runs in every project);
* cold: the ``corral run lint --workspace`` command (envs prepared, no runner started),
  with runners forked from the fork server (the default on Linux) and spawned;
* the floor of one process per project: a started Python forking a child per project
  that runs ruff there (what docs/architecture.md#runner-per-env costs before any WM or protocol
  work);
* the floor of starting an asyncio program that speaks msgspec: ``python -c "import
  asyncio, msgspec"`` (a WM cannot start for less); with the previous floor, the least a
  cold command of this design could take;
* pre-commit: ``pre-commit run --all-files`` with a ruff hook (its hook env installed);
* through the workspace's server (issue 13; its own runtime directory, stopped at the end):
  the first command with no server running (envs prepared; it starts one), then the server
  warm with nothing changed, with one file edited in one project, with a file edited in
  every project; and the client's own cost, ``corral server status`` through the server,
  against its floor ``python -c "import socket"`` in the same venv.

Each is repeated ``--rounds`` times (alternating) and printed as min/median/max seconds;
ratios use the medians. Targets (issue 7): warm within 1.3x of bare ruff; cold faster than
pre-commit. Targets (issue 13): server warm, nothing changed or one project edited <= 0.5x
bare ruff; every project edited <= 1.2x the per-project floor; first command <= 2.0x
pre-commit; client status <= 1.5x its floor. The embedded rows run with
``CORRAL_SERVER=0``. pre-commit is installed into a throwaway venv with uv (a bench-only tool).

    uv run python bench/lint_workspace.py [--projects 20] [--files 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uv
from corral.workspace import WorkspaceManager

MODULE = '''"""Module {index} of project {project}."""

import os
{unused}

def function_{index}(value: int) -> int:
    """Return a value derived from ``value``."""
    total = value * {index}
    for step in range(3):
        total += step
    return total + len(os.sep)
'''


def generate(root: Path, projects: int, files: int) -> None:
    for p in range(projects):
        project = root / f"project{p:02d}"
        package = project / "src" / f"pkg{p:02d}"
        package.mkdir(parents=True)
        (project / "pyproject.toml").write_text(
            f'[project]\nname = "project{p:02d}"\nversion = "0"\n\n'
            '[tool.corral]\npresets = ["corral-python"]\n\n[tool.ruff]\nline-length = 100\n'
        )
        (package / "__init__.py").write_text('"""Package."""\n')
        for f in range(files - 1):
            unused = "import sys\n" if f % 10 == 0 else ""
            (package / f"module{f:02d}.py").write_text(
                MODULE.format(index=f, project=p, unused=unused)
            )


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


FORK_FLOOR = """
import os, subprocess, sys
projects, ruff = sys.argv[1:-1], sys.argv[-1]
children = []
for project in projects:
    pid = os.fork()
    if pid == 0:
        subprocess.run([ruff, "check", "--no-cache", "--exit-zero", "--output-format=json", "."],
                       cwd=project, capture_output=True)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""
"""The floor of any design with one process per project (docs/architecture.md#runner-per-env) that
runs ruff there:
one already-started Python forks a child per project, each runs ruff on its project. No
WM, no protocol, no env checks."""


def setup_precommit(root: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    """A venv with pre-commit, a git repo of the workspace and a local ruff hook."""
    uv_bin = uv.find_uv_bin()
    venv = work / "precommit-venv"
    subprocess.run([uv_bin, "venv", "--no-project", "-q", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv_bin, "pip", "install", "-q", "--python", str(python), "pre-commit"], check=True
    )
    ruff_version = subprocess.run(
        [sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    (root / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: ruff\n    name: ruff\n"
        "    entry: ruff check --no-cache\n    language: python\n    types: [python]\n"
        f"    additional_dependencies: ['ruff=={ruff_version}']\n"
    )
    git = ["git", "-c", "user.email=b@e", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], cwd=root, check=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(work / "pre-commit-home")}
    argv = [str(venv / "bin" / "pre-commit"), "run", "--all-files"]
    subprocess.run(argv, cwd=root, env=env, capture_output=True, check=False)  # install hook env
    return argv, env


def _stats(values: list[float]) -> str:
    return (
        f"min {min(values):7.3f}  median {statistics.median(values):7.3f}  max {max(values):7.3f} s"
    )


def edit_every_project(root: Path, round_: int, only: str = "project*") -> None:
    """Change one module of every project matching ``only`` (ruff must run again there)."""
    for module in sorted(root.glob(f"{only}/src/pkg*/module00.py")):
        text = module.read_text().split("\n# edit ")[0]
        module.write_text(f"{text}\n# edit {round_}\n")


def served(root: Path, work: Path, rounds: int) -> dict[str, list[float]]:
    """The rows through a real server (own runtime directory; stopped before each first
    command and at the end). Edits are followed by a pause so the files settle (a run right
    after an edit keeps no reusable result, see corral_python.reuse)."""
    runtime = work / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "CORRAL_SERVER")}
    env["CORRAL_RUNTIME_DIR"] = str(runtime)
    corral = [sys.executable, "-m", "corral"]
    lint = [*corral, "run", "lint", "--workspace", "--server"]
    stop = [*corral, "server", "stop"]
    status = [*corral, "server", "status"]
    floor = [sys.executable, "-c", "import socket"]
    samples: dict[str, list[float]] = {k: [] for k in ("first", "warm", "one", "every")}
    samples.update({"status": [], "socket": []})
    try:
        for round_ in range(rounds):
            subprocess.run(stop, cwd=root, env=env, capture_output=True, check=False)
            samples["first"].append(timed(lint, root, env))
            time.sleep(2.5)
            timed(lint, root, env)  # results kept from settled files
            samples["warm"].append(timed(lint, root, env))
            edit_every_project(root, 100 + round_, only="project00")
            time.sleep(2.5)
            samples["one"].append(timed(lint, root, env))
            edit_every_project(root, 200 + round_)
            time.sleep(2.5)
            samples["every"].append(timed(lint, root, env))
            samples["status"].append(timed(status, root, env))
            samples["socket"].append(timed(floor, root, env))
    finally:
        subprocess.run(stop, cwd=root, env=env, capture_output=True, check=False)
    return samples


async def warm_runs(root: Path, rounds: int) -> tuple[list[float], list[float]]:
    """(unchanged tree: results reused, one file edited in every project) per round."""
    unchanged, edited = [], []
    async with await WorkspaceManager.open(root, wal=False) as wm:
        await wm.run("lint")  # start every runner, resolve presets
        await wm.run("lint")  # ruff's own cache directory now exists
        for _ in range(rounds):
            started = time.perf_counter()
            await wm.run("lint")
            unchanged.append(time.perf_counter() - started)
        for round_ in range(rounds):
            edit_every_project(root, round_)
            started = time.perf_counter()
            await wm.run("lint")
            edited.append(time.perf_counter() - started)
    return unchanged, edited


def prepare(root: Path) -> float:
    async def run() -> float:
        started = time.perf_counter()
        async with await WorkspaceManager.open(root, wal=False) as wm:
            results = await wm.prepare_envs()
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise SystemExit(f"env preparation failed: {failed[0].error}")
        return time.perf_counter() - started

    return asyncio.run(run())


def commands(
    root: Path, rounds: int, precommit: tuple[list[str], dict[str, str]] | None
) -> dict[str, list[float]]:
    """The command-line measurements, alternating within each round."""
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "--exit-zero", "."]
    corral = [sys.executable, "-m", "corral", "run", "lint", "--workspace"]
    embedded = {**os.environ, "CORRAL_SERVER": "0"}  # no server: the command's own WM
    spawning = {**embedded, "CORRAL_FORK_SERVER": "0"}
    projects = sorted(str(p) for p in root.glob("project*"))
    env_ruff = root / "project00" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "ruff"
    fork_floor = [sys.executable, "-c", FORK_FLOOR, *projects, str(env_ruff)]
    startup = [sys.executable, "-c", "import asyncio, msgspec"]
    samples: dict[str, list[float]] = {
        "floor": [],
        "cold": [],
        "spawn": [],
        "forks": [],
        "startup": [],
        "pre": [],
    }
    for _ in range(rounds):
        samples["floor"].append(timed(ruff, root))
        samples["cold"].append(timed(corral, root, embedded))
        samples["spawn"].append(timed(corral, root, spawning))
        samples["forks"].append(timed(fork_floor, root))
        samples["startup"].append(timed(startup, root))
        if precommit is not None:
            samples["pre"].append(timed(precommit[0], root, precommit[1]))
    return samples


def report_served(srv: dict[str, list[float]], s: dict[str, list[float]]) -> None:
    """Print the server rows and their ratios against the floors measured in this run."""
    print(f"  server: first command  {_stats(srv['first'])}  (no server running)")
    print(f"  server warm, unchanged {_stats(srv['warm'])}")
    print(f"  server warm, 1 edited  {_stats(srv['one'])}  (a file of one project)")
    print(f"  server warm, all edit  {_stats(srv['every'])}  (a file of every project)")
    print(f"  client: server status  {_stats(srv['status'])}")
    print(f"  import socket (floor)  {_stats(srv['socket'])}  (python -c: the client floor)")
    med = statistics.median
    floor = med(s["floor"])
    print(f"ratio server unchanged/ruff: {med(srv['warm']) / floor:.2f}x (target <= 0.50)")
    print(f"ratio server 1 edited/ruff:  {med(srv['one']) / floor:.2f}x (target <= 0.50)")
    forks = med(s["forks"])
    print(f"ratio server all/per-proj:   {med(srv['every']) / forks:.2f}x (target <= 1.20)")
    status = med(srv["status"]) / med(srv["socket"])
    print(f"ratio status/import socket:  {status:.2f}x (target <= 1.50)")
    if s["pre"]:
        first = med(srv["first"]) / med(s["pre"])
        print(f"ratio server first/pre-com:  {first:.2f}x (target <= 2.00)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-pre-commit", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="corral-bench-"))
    try:
        root = work / "ws"
        generate(root, args.projects, args.files)
        print(f"workspace: {args.projects} projects x {args.files} files in {root}")
        print(f"prepare-envs (not part of the comparison): {prepare(root):.1f} s")
        precommit = None if args.no_pre_commit else setup_precommit(root, work)
        s = commands(root, args.rounds, precommit)
        time.sleep(2.5)  # let the generated files settle (see corral_python.reuse)
        warm, edited = asyncio.run(warm_runs(root, args.rounds))
        srv = served(root, work, args.rounds)

        print(f"  bare ruff check        {_stats(s['floor'])}")
        print(f"  corral warm            {_stats(warm)}  (nothing changed: results reused)")
        print(f"  corral warm, edited    {_stats(edited)}  (a file edited in every project)")
        print(f"  corral cold (command)  {_stats(s['cold'])}")
        print(f"  cold, no fork server   {_stats(s['spawn'])}  (CORRAL_FORK_SERVER=0)")
        print(f"  fork+ruff per project  {_stats(s['forks'])}  (floor: one process per project)")
        print(f"  start asyncio+msgspec  {_stats(s['startup'])}  (floor: starting any WM)")
        if s["pre"]:
            print(f"  pre-commit ruff hook   {_stats(s['pre'])}")
        med = statistics.median
        floor = med(s["floor"])
        print(f"ratio warm/bare ruff:        {med(warm) / floor:.2f}x (target <= 1.30)")
        print(f"ratio warm edited/bare ruff: {med(edited) / floor:.2f}x (ruff runs everywhere)")
        report_served(srv, s)
        if s["pre"]:
            pre = med(s["pre"])
            print(f"ratio cold/pre-commit:       {med(s['cold']) / pre:.2f}x (target < 1.00)")
            print(f"ratio floor/pre-commit:      {med(s['forks']) / pre:.2f}x (per-project floor)")
            least = med(s["forks"]) + med(s["startup"])
            print(f"ratio floors/pre-commit:     {least / pre:.2f}x (start-up + per-project)")
        print(f"ratio cold/no fork server:   {med(s['cold']) / med(s['spawn']):.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
