"""Corral on real projects against bare ruff: parity of findings and times, measured in one run.

At bench time (never in the test suite) the sdists of five open-source projects (default
attrs, click, httpx, requests, rich; the newest on PyPI) are downloaded with ``pip download
--no-deps --no-binary :all:`` (pip run by uv), unpacked into a temporary workspace, and each
gets ``[tool.corral] presets = ["corral-python"]`` in its ``pyproject.toml``. Then:

* ``corral prepare-envs`` (timed once, not part of the comparison);
* parity of ``lint``: the findings of ``corral --no-server run lint --workspace --format
  json`` against bare ``ruff check --output-format json`` at the workspace root, compared as
  (file, line, column, code) sets; the bare ruff is the very binary of the projects'
  ``dev_no_runtime`` env, whose version the env's lock file (``pylock.corral-*.toml``) pins;
* parity of ``check-format``: the files ``corral run check-format --workspace`` reports
  against the files ``ruff format --check`` would reformat;
* times of both commands, alternating, ``--rounds`` times: min/median/max and the ratio of
  the medians (corral's command starts its own Workspace Manager and runners each time:
  the cold cost; ``--warm`` also measures lint through one WM whose runners are up).

    uv run python bench/real_projects.py [--rounds 5] [--sdists DIR] [--warm]

``--sdists DIR`` keeps the downloads in DIR (reused when present) instead of a temporary
directory. Exit status 1 when any parity check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

import uv
from corral.workspace import WorkspaceManager

PROJECTS = ("attrs", "click", "httpx", "requests", "rich")
PRESET = '\n[tool.corral]\npresets = ["corral-python"]\n'
CORRAL = [sys.executable, "-m", "corral", "--no-server"]
ENV = {**os.environ, "CORRAL_SERVER": "0"}

BARE_LINT = ["check", "--output-format", "json", "--exit-zero", "."]
BARE_FORMAT = ["format", "--check", "."]

Finding = tuple[str, int, int, str]
"""(file relative to the workspace root, 1-based line, 1-based column, code)."""


def download(names: tuple[str, ...], into: Path) -> list[Path]:
    """The newest sdist of each name in ``into`` (downloaded unless one is there)."""
    into.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not _sdist_of(n, into)]
    if missing:
        started = time.perf_counter()
        argv = [uv.find_uv_bin(), "tool", "run", "--from", "pip", "pip", "download"]
        argv += ["--no-deps", "--no-binary", ":all:", "-q", "-d", str(into), *missing]
        subprocess.run(argv, check=True)
        print(f"downloaded {', '.join(missing)} in {time.perf_counter() - started:.1f} s")
    found = [_sdist_of(n, into) for n in names]
    return [s for s in found if s is not None]


def _sdist_of(name: str, where: Path) -> Path | None:
    pattern = re.compile(rf"^{re.escape(name)}-\d[^-]*\.tar\.gz$", re.IGNORECASE)
    hits = sorted(p for p in where.iterdir() if pattern.match(p.name))
    return hits[-1] if hits else None


def unpack(sdist: Path, root: Path) -> Path:
    """``sdist`` unpacked as ``root/<name>`` with the preset added to its pyproject.toml."""
    name = sdist.name.split("-")[0].lower()
    with tarfile.open(sdist) as archive:
        archive.extractall(root / ".unpack", filter="data")
    (top,) = (root / ".unpack").iterdir()
    project = root / name
    top.rename(project)
    (root / ".unpack").rmdir()
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if "[tool.corral]" in text:
        raise SystemExit(f"{pyproject} has a [tool.corral] table already")
    pyproject.write_text(text + PRESET, encoding="utf-8")
    return project


def run(argv: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    return result, time.perf_counter() - started


def corral_report(root: Path, action: str) -> tuple[dict[str, object], int]:
    result, _ = run([*CORRAL, "run", action, "--workspace", "--format", "json"], root)
    if result.returncode not in (0, 1):
        raise SystemExit(f"corral run {action} exited {result.returncode}:\n{result.stderr}")
    report: dict[str, object] = json.loads(result.stdout)
    return report, result.returncode


def corral_findings(root: Path, report: dict[str, object]) -> set[Finding]:
    findings: set[Finding] = set()
    for project in report["projects"]:  # type: ignore[attr-defined]
        if project["status"] != "ok":
            print(f"  !! {project['project']}: {project['status']}: {project.get('error')}")
            continue
        base = Path(project["project"]).relative_to(root)
        for d in project["result"]["diagnostics"]:
            start = d["range"]["start"]
            code = d["code"] or ""
            findings.add((str(base / d["file"]), start["line"] + 1, start["character"] + 1, code))
    return findings


def ruff_findings(root: Path, output: str) -> set[Finding]:
    findings: set[Finding] = set()
    for item in json.loads(output):
        file = str(Path(item["filename"]).relative_to(root))
        loc = item["location"] or {"row": 1, "column": 1}
        findings.add((file, loc["row"], loc["column"], item["code"] or ""))
    return findings


def would_reformat(root: Path, output: str) -> set[str]:
    """The files of ``ruff format --check --output-format json``."""
    return {str(Path(item["filename"]).relative_to(root)) for item in json.loads(output)}


def locked_version(project: Path, env: str, package: str) -> str:
    lock = tomllib.loads((project / f"pylock.corral-{env}.toml").read_text(encoding="utf-8"))
    return next(str(p["version"]) for p in lock["packages"] if p["name"] == package)


def parity(label: str, corral: set[Finding] | set[str], bare: set[Finding] | set[str]) -> bool:
    both = corral & bare
    print(
        f"{label}: corral {len(corral)}, bare ruff {len(bare)}, same {len(both)}, "
        f"only corral {len(corral - bare)}, only ruff {len(bare - corral)}"
    )
    for kind, extra in (("only corral", corral - bare), ("only ruff", bare - corral)):
        for item in sorted(extra, key=str)[:10]:
            print(f"  {kind}: {item}")
    return corral == bare


def stats(values: list[float]) -> str:
    med = statistics.median(values)
    return f"min {min(values):6.3f}  median {med:6.3f}  max {max(values):6.3f} s"


def per_project(findings: set[Finding] | set[str]) -> str:
    counts: dict[str, int] = {}
    for item in findings:
        name = Path(item if isinstance(item, str) else item[0]).parts[0]
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} {counts[name]}" for name in sorted(counts))


def touch_every_project(root: Path, round_: int) -> None:
    """Append a comment to one module of every project: ruff must run there again."""
    for project in sorted(p for p in root.iterdir() if (p / ".corral").is_dir()):
        module = min(project.rglob("__init__.py"), key=lambda p: (len(p.parts), str(p)))
        text = module.read_text(encoding="utf-8").split("\n# bench edit ")[0]
        module.write_text(f"{text}\n# bench edit {round_}\n", encoding="utf-8")


async def warm_lint(root: Path, rounds: int) -> tuple[list[float], list[float]]:
    """lint at workspace scope through one WM whose runners are up: (nothing changed, so
    results are reused; a module of every project edited, so ruff runs everywhere)."""
    reused, edited = [], []
    async with await WorkspaceManager.open(root, wal=False) as wm:
        await wm.run("lint")
        for _ in range(rounds):  # first: a file edited just now is not trusted for reuse
            started = time.perf_counter()
            await wm.run("lint")
            reused.append(time.perf_counter() - started)
        for round_ in range(rounds):
            touch_every_project(root, round_)
            started = time.perf_counter()
            await wm.run("lint")
            edited.append(time.perf_counter() - started)
    return reused, edited


def check_parity(root: Path, ruff: Path) -> bool:
    """Print the parity of lint and check-format; whether both agree with bare ruff."""
    bare_lint, _ = run([str(ruff), *BARE_LINT], root)
    report, lint_exit = corral_report(root, "lint")
    ours = corral_findings(root, report)
    lint_ok = parity(
        "lint findings (file, line, column, code)", ours, ruff_findings(root, bare_lint.stdout)
    )
    print(f"  per project: {per_project(ours) or 'none'}; corral exit {lint_exit}")
    bare_fmt, _ = run([str(ruff), *BARE_FORMAT, "--output-format", "json"], root)
    fmt_report, fmt_exit = corral_report(root, "check-format")
    files = {f[0] for f in corral_findings(root, fmt_report)}
    format_ok = parity("check-format files", files, would_reformat(root, bare_fmt.stdout))
    print(f"  per project: {per_project(files) or 'none'}")
    print(f"  exit codes: corral {fmt_exit}, ruff format --check {bare_fmt.returncode}")
    return lint_ok and format_ok and fmt_exit == bare_fmt.returncode


def measure(root: Path, ruff: Path, rounds: int, warm: bool) -> None:
    """Print the times of both commands (alternating) and the ratios of the medians."""
    argvs = {
        "bare ruff check": [str(ruff), *BARE_LINT],
        "corral run lint --workspace": [*CORRAL, "run", "lint", "--workspace"],
        "bare ruff format --check": [str(ruff), *BARE_FORMAT],
        "corral run check-format --workspace": [*CORRAL, "run", "check-format", "--workspace"],
    }
    samples: dict[str, list[float]] = {name: [] for name in argvs}
    for _ in range(rounds):
        for name, argv in argvs.items():
            samples[name].append(run(argv, root)[1])
    if warm:
        reused, edited = asyncio.run(warm_lint(root, rounds))  # last: it edits files
        samples["corral lint, warm WM (results reused)"] = reused
        samples["corral lint, warm WM, files edited"] = edited
    print(f"times over {rounds} rounds (alternating; corral commands start their own WM):")
    for name, values in samples.items():
        rounded = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:37} {stats(values)}  [{rounded}]")
    med = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        "corral lint / ruff check": ("corral run lint --workspace", "bare ruff check"),
        "corral check-format / ruff format --check": (
            "corral run check-format --workspace",
            "bare ruff format --check",
        ),
        "warm lint (results reused) / ruff check": (
            "corral lint, warm WM (results reused)",
            "bare ruff check",
        ),
        "warm lint (files edited) / ruff check": (
            "corral lint, warm WM, files edited",
            "bare ruff check",
        ),
    }
    for label, (ours, theirs) in ratios.items():
        if ours in med:
            print(f"ratio {label + ' (medians):':56} {med[ours] / med[theirs]:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sdists", type=Path, default=None, help="keep/reuse downloads here")
    parser.add_argument("--projects", nargs="+", default=list(PROJECTS))
    parser.add_argument("--warm", action="store_true", help="also lint through a warm WM")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="corral-real-"))
    try:
        sdists = download(tuple(args.projects), args.sdists or work / "sdists")
        root = work / "ws"
        root.mkdir()
        projects = [unpack(s, root) for s in sdists]
        print("projects: " + ", ".join(s.name.removesuffix(".tar.gz") for s in sdists))
        prepared, seconds = run([*CORRAL, "prepare-envs"], root)
        if prepared.returncode != 0:
            raise SystemExit(f"prepare-envs failed:\n{prepared.stdout}\n{prepared.stderr}")
        print(f"prepare-envs (not compared): {seconds:.1f} s")

        env = "dev_no_runtime"
        versions = {locked_version(p, env, "ruff") for p in projects}
        ruff = projects[0] / ".corral" / "envs" / env / "bin" / "ruff"
        shown = subprocess.run([ruff, "--version"], capture_output=True, text=True, check=True)
        print(f"ruff locked in {env}: {', '.join(sorted(versions))}; bare: {shown.stdout.strip()}")
        if len(versions) != 1:
            raise SystemExit("the projects' locks pin different ruff versions")
        same = check_parity(root, ruff)
        measure(root, ruff, args.rounds, args.warm)
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
