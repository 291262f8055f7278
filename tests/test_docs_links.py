"""Citations of ``docs/architecture.md#<anchor>`` in code and docs point at anchors that exist.

Docstrings cite the architecture page instead of design records the repository does not
hold; this keeps those citations from rotting when a section is renamed or removed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
CITATION = re.compile(r"docs/architecture\.md#([A-Za-z0-9_-]+)")
ANCHOR = re.compile(r'<a id="([A-Za-z0-9_-]+)"></a>')
SEARCHED = ("packages", "conformance", "tests", "bench", "docs", "examples")
SUFFIXES = {".py", ".md", ".toml"}


def source_files() -> list[Path]:
    """The repository's own text files (dot-directories such as envs and caches pruned)."""
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for top in SEARCHED:
        for directory, subdirs, names in os.walk(ROOT / top):
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d != "__pycache__"]
            files += [Path(directory, n) for n in names if Path(n).suffix in SUFFIXES]
    return files


def cited() -> dict[str, list[str]]:
    """{anchor: [file:line, ...]} of every citation in the repository's own files."""
    found: dict[str, list[str]] = {}
    for path in source_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for anchor in CITATION.findall(line):
                found.setdefault(anchor, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_every_cited_anchor_exists() -> None:
    anchors = set(ANCHOR.findall(ARCHITECTURE.read_text(encoding="utf-8")))
    citations = cited()
    assert citations, "nothing cites docs/architecture.md (has the search broken?)"
    missing = {anchor: where for anchor, where in citations.items() if anchor not in anchors}
    assert missing == {}


def test_the_architecture_page_has_its_stable_anchors() -> None:
    anchors = ANCHOR.findall(ARCHITECTURE.read_text(encoding="utf-8"))
    assert anchors == [
        "runner-per-env",
        "launch-and-hello",
        "lifecycle",
        "execution-scopes",
        "wal-streams",
        "server",
        "layers",
    ]
