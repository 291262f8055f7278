"""Benchmark: preparing execution environments, against floors measured in the same run.

Measures, each over several repeats (min / median / max of the repeats are printed):

* the skip path: ``EnvPreparer.prepare`` of 20 unchanged Python environments (including
  ``asyncio.run``), 20 ``env_status`` calls and one ``EnvPreparer.statuses`` of the 20,
  against a floor of 20 x (``os.stat`` of the env's interpreter + a read and
  ``json.loads`` of its stamp): what any stamp-based skip must at least do;
* creating one environment with one small cached wheel (``iniconfig``): ``uv venv`` +
  ``uv pip install`` (what ``EnvPreparer`` runs) against ``python -m venv`` + ``pip
  install`` (what a pip-based tool runs), and a full ``EnvPreparer.prepare`` of a Python
  env (venv + iniconfig + the local corral-runner wheels + the verifying interpreter start).

Not part of the test run. Needs the package index once (afterwards both caches are warm).
Usage: ``python bench/prepare_envs.py [--repeats 5] [--envs 20] [--slow-repeats 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from corral.envs import EnvPreparer, EnvRequest, env_python, env_status
from corral.envs.paths import base_interpreter, stamp_path
from corral.envs.uvtool import UV_FLAGS, uv_environment

WHEEL = "iniconfig"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, env=uv_environment())


def skip_path(
    prep: EnvPreparer, requests: list[EnvRequest], repeats: int
) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}

    def floor() -> None:
        for r in requests:
            os.stat(env_python(r.project, r.name))
            json.loads(stamp_path(r.project, r.name).read_bytes())

    def statuses() -> None:
        for r in requests:
            assert env_status(r, prep.source, uv_version=prep.uv.version).state == "ready"

    def batch() -> None:
        assert {s.state for s in prep.statuses(requests)} == {"ready"}

    def prepare() -> None:
        results = asyncio.run(prep.prepare(requests))
        assert all(r.status == "unchanged" for r in results), results

    for _ in range(repeats):
        f = timed(floor)
        s = timed(statuses)
        b = timed(batch)
        p = timed(prepare)
        rows.setdefault(f"floor: {len(requests)} x (stat + stamp json) [ms]", []).append(f * 1e3)
        rows.setdefault(f"env_status x {len(requests)} [ms]", []).append(s * 1e3)
        rows.setdefault(f"EnvPreparer.statuses({len(requests)}) [ms]", []).append(b * 1e3)
        rows.setdefault(f"prepare {len(requests)} unchanged [ms]", []).append(p * 1e3)
        rows.setdefault("env_status / floor [x]", []).append(s / f)
        rows.setdefault("statuses / floor [x]", []).append(b / f)
        rows.setdefault("prepare unchanged / floor [x]", []).append(p / f)
    return rows


def create_one(prep: EnvPreparer, root: Path, repeats: int) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    uv = str(prep.uv.path)
    python = str(base_interpreter())
    # Warm both caches once.
    warm = root / "warm"
    run([uv, "venv", *UV_FLAGS, "--python", python, str(warm / "uv")])
    run([uv, "pip", "install", *UV_FLAGS, "--python", str(warm / "uv" / "bin" / "python"), WHEEL])
    run([python, "-m", "venv", str(warm / "pip")])
    run([str(warm / "pip" / "bin" / "python"), "-m", "pip", "install", "-q", WHEEL])
    for i in range(repeats):
        uv_env, pip_env = root / f"uv{i}", root / f"pip{i}"
        uv_venv = timed(partial(run, [uv, "venv", *UV_FLAGS, "--python", python, str(uv_env)]))
        uv_python = str(uv_env / "bin" / "python")
        install = [uv, "pip", "install", *UV_FLAGS, "--python", uv_python, WHEEL]
        uv_pip = timed(partial(run, install))
        py_venv = timed(partial(run, [python, "-m", "venv", str(pip_env)]))
        pip_python = str(pip_env / "bin" / "python")
        pip = timed(partial(run, [pip_python, "-m", "pip", "install", "-q", "--no-input", WHEEL]))
        project = root / f"project{i}"
        project.mkdir()
        full = timed(partial(asyncio.run, prep.prepare([EnvRequest(project, "dev", (WHEEL,))])))
        rows.setdefault("uv venv [ms]", []).append(uv_venv * 1e3)
        rows.setdefault("uv pip install (cached wheel) [ms]", []).append(uv_pip * 1e3)
        rows.setdefault("python -m venv [ms]", []).append(py_venv * 1e3)
        rows.setdefault("pip install (cached wheel) [ms]", []).append(pip * 1e3)
        rows.setdefault("uv venv+install [ms]", []).append((uv_venv + uv_pip) * 1e3)
        rows.setdefault("venv+pip [ms]", []).append((py_venv + pip) * 1e3)
        rows.setdefault("(venv+pip) / (uv venv+install) [x]", []).append(
            (py_venv + pip) / (uv_venv + uv_pip)
        )
        rows.setdefault("EnvPreparer create, Python env [ms]", []).append(full * 1e3)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the skip path")
    parser.add_argument("--envs", type=int, default=20, help="unchanged envs to check")
    parser.add_argument("--slow-repeats", type=int, default=3, help="repeats of env creation")
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="envs-bench-") as tmp, EnvPreparer() as prep:
        root = Path(tmp)
        requests = []
        for i in range(args.envs):
            project = root / f"p{i % 5}"
            project.mkdir(exist_ok=True)
            requests.append(EnvRequest(project, f"env{i}", (WHEEL,)))
        start = time.perf_counter()
        results = asyncio.run(prep.prepare(requests))
        setup = time.perf_counter() - start
        failed = [r.error for r in results if r.status == "failed"]
        if failed:
            raise SystemExit("\n".join(e or "" for e in failed))
        print(f"created {args.envs} Python envs with jobs={prep.jobs} in {setup:.1f} s")
        rows |= skip_path(prep, requests, args.repeats)
        rows |= create_one(prep, root / "create", args.slow_repeats)
    print(f"uv {prep.uv.version}; runner source: {prep.source.describe()}")
    print(f"{'metric':44} {'min':>9} {'median':>9} {'max':>9}")
    for name, values in rows.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"{name:44} {low:9.2f} {mid:9.2f} {high:9.2f}")


if __name__ == "__main__":
    main()
