"""Benchmark: project discovery (``corral.config.discover_projects``) against a bare os.walk.

Builds a synthetic workspace of ``--dirs`` directories (default 2,000) that discovery must
all visit: ``--projects`` projects (``pyproject.toml`` with ``[tool.corral]``), as many
plain ``pyproject.toml`` files without it, a few ``.py`` files per directory. With
``--with-skipped`` it also adds a ``.git`` directory, a ``.venv`` and a ``node_modules``
(each a few hundred directories) that discovery skips and the floor does not.

Floors, measured in the same run over the same tree: a bare ``os.walk`` (visits every
directory, touches no file), and a tighter bare ``os.scandir`` loop (one scandir per
directory, nothing else; discovery does that plus reading ``pyproject.toml`` files).
The three are interleaved in each of ``--repeats`` rounds (after one warm-up round, so all
read from the page cache; interleaving spreads machine noise over all three). Prints
min / median / max per contender and the ratio of the medians.
Not part of the test run. Usage: ``python bench/discovery.py [--dirs 2000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from corral.config import discover_projects

CORRAL = '[project]\nname = "p"\n\n[tool.corral]\npresets = ["corral-python"]\n'
PLAIN = '[project]\nname = "plain"\ndependencies = ["attrs"]\n'


def build(root: Path, dirs: int, projects: int, with_skipped: bool) -> int:
    """Create exactly ``dirs`` directories under ``root``; returns the number of projects.

    Top-level packages alternate between projects and plain libraries; each holds
    ``src/pkgN/modM`` directories with three small ``.py`` files.
    """
    per_top = max(3, dirs // max(1, projects * 2))
    made = 0
    tops = 0

    def mkdir(path: Path) -> bool:
        nonlocal made
        if made >= dirs:
            return False
        path.mkdir()
        made += 1
        return True

    while made < dirs:
        kind = "proj" if tops % 2 == 0 else "lib"
        top = root / f"{kind}{tops:03d}"
        if not mkdir(top):
            break
        (top / "pyproject.toml").write_text(CORRAL if kind == "proj" else PLAIN)
        tops += 1
        budget = per_top - 1
        if budget <= 0 or not mkdir(top / "src"):
            continue
        budget -= 1
        package = 0
        while budget > 0:
            pkg = top / "src" / f"pkg{package}"
            if not mkdir(pkg):
                break
            budget -= 1
            package += 1
            for m in range(min(9, budget)):
                if not mkdir(pkg / f"mod{m}"):
                    break
                budget -= 1
                for name in ("__init__.py", "core.py", "util.py"):
                    (pkg / f"mod{m}" / name).write_text("x = 1\n")
    if with_skipped:
        for name in (".git/objects", ".venv/lib/python3.11/site-packages", "node_modules"):
            for k in range(300):
                (root / name / f"d{k:03d}").mkdir(parents=True)
        (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return (tops + 1) // 2


def scandir_floor(root: str) -> int:
    """The tightest floor: one scandir per directory, nothing else."""
    count = 0
    pending = [root]
    while pending:
        directory = pending.pop()
        count += 1
        with os.scandir(directory) as entries:
            pending.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
    return count


def floor(root: Path) -> int:
    count = 0
    for _ in os.walk(root):
        count += 1
    return count


def measure(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Run every contender once per round, ``repeats`` rounds after a warm-up round."""
    samples: dict[str, list[float]] = {label: [] for label in contenders}
    for round_ in range(repeats + 1):
        for label, fn in contenders.items():
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            if round_:
                samples[label].append(elapsed)
    return samples


def show(label: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{label:<22} min {min(ms):7.2f} ms   median {statistics.median(ms):7.2f} ms"
        f"   max {max(ms):7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dirs", type=int, default=2000)
    parser.add_argument("--projects", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--with-skipped", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-discovery-") as tmp:
        root = Path(tmp).resolve()
        expected = build(root, args.dirs, args.projects, args.with_skipped)
        found = discover_projects(root)
        assert len(found) == expected, (len(found), expected)
        walked = floor(root)
        print(
            f"tree: {walked} directories (os.walk), {expected} projects, "
            f"repeats {args.repeats}, skipped dirs {'yes' if args.with_skipped else 'no'}"
        )
        samples = measure(
            {
                "floor: bare os.walk": lambda: floor(root),
                "floor: bare scandir": lambda: scandir_floor(str(root)),
                "discover_projects": lambda: discover_projects(root),
            },
            args.repeats,
        )
        for label, values in samples.items():
            show(label, values)
        ours = statistics.median(samples["discover_projects"])
        for label in ("floor: bare os.walk", "floor: bare scandir"):
            ratio = ours / statistics.median(samples[label])
            print(f"ratio vs {label.removeprefix('floor: ')} (median / median): {ratio:.2f}x")


if __name__ == "__main__":
    main()
