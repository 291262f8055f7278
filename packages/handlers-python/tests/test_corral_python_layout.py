"""import_packages: a project's packages and modules from its file tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from corral_python.layout import import_packages


def tree(root: Path, files: list[str]) -> Path:
    for relative in files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            ["src/attr/__init__.py", "src/attrs/__init__.py", "tests/test_x.py", "docs/conf.py"],
            ["src/attr", "src/attrs"],
            id="src layout",
        ),
        pytest.param(
            ["src/ns/part/mod.py", "src/single.py", "src/conftest.py", "src/data/x.txt"],
            ["src/ns", "src/single.py"],
            id="src layout: namespace package and module",
        ),
        pytest.param(
            [
                "httpx/__init__.py",
                "tests/__init__.py",
                "docs/__init__.py",
                "scripts/__init__.py",
                "examples/__init__.py",
                "noxfile.py",
                "setup.py",
                "conftest.py",
                "test_top.py",
                "top_test.py",
                "helper.py",
                "notes/readme.py",
                "my-dir/__init__.py",
                ".hidden/__init__.py",
            ],
            ["helper.py", "httpx"],
            id="flat layout",
        ),
        pytest.param(["venv/__init__.py", "env/pyvenv.cfg", "env/__init__.py"], [], id="envs"),
        pytest.param(["src/README.md", "pkg/__init__.py"], ["pkg"], id="empty src: flat"),
        pytest.param(["a/tool.py", "b/tool.py"], [], id="nothing"),
    ],
)
def test_import_packages(tmp_path: Path, files: list[str], expected: list[str]) -> None:
    assert import_packages(tree(tmp_path / "p", files)) == expected
