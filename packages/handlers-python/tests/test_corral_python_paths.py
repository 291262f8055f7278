"""``project_relative``: how tool-reported file names become project-relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from corral_python.diagnostics import project_relative


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "real" / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("A = 1\n")
    return root


def test_absolute_and_relative_names_inside_the_project(project: Path) -> None:
    assert project_relative(project, str(project / "src" / "a.py")) == "src/a.py"
    assert project_relative(project, "src/a.py") == "src/a.py"
    assert project_relative(project, "src/../src/./a.py") == "src/a.py"


def test_a_file_outside_the_project_keeps_its_absolute_path(project: Path) -> None:
    outside = project.parent / "other.py"
    assert project_relative(project, str(outside)) == outside.as_posix()
    assert project_relative(project, "../other.py") == outside.as_posix()


def test_a_symlinked_project_accepts_either_spelling(project: Path, tmp_path: Path) -> None:
    """A tool may report the resolved path of a project reached through a symlink."""
    link = tmp_path / "link"
    link.symlink_to(project, target_is_directory=True)
    assert project_relative(link, str(project / "src" / "a.py")) == "src/a.py"  # resolved
    assert project_relative(link, str(link / "src" / "a.py")) == "src/a.py"  # as given


def test_a_symlinked_file_into_the_project_is_named_by_its_target(
    project: Path, tmp_path: Path
) -> None:
    alias = tmp_path / "alias.py"
    alias.symlink_to(project / "src" / "a.py")
    assert project_relative(project, str(alias)) == "src/a.py"
