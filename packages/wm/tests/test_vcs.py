"""corral.vcs against real git repositories (issue 17 item 14): changed and staged files,
renames, deletions, untracked and ignored files, names with spaces, submodules, the
default branch, and the errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from corral.vcs import (
    VcsError,
    changed_files,
    default_base,
    repository_root,
    resolve_base,
    staged_files,
)
from gitrepo import GIT_ENV, git


def init(repo: Path, branch: str = "main") -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", branch)
    git(repo, "config", "protocol.file.allow", "always")  # local submodules
    return repo


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(repo: Path, message: str = "c") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """corral.vcs's own git calls ignore the user's and the system's git configuration."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def names(repo: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(repo).as_posix() for p in paths]


def test_changed_files_since_the_merge_base(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    write(
        repo,
        {
            "kept.py": "x = 1\n",
            "edited.py": "x = 1\n",
            "gone.py": "x = 1\n",
            "old name.py": "x = 1\n",
            "dir/deep.py": "x = 1\n",
            ".gitignore": "ignored.py\n",
        },
    )
    commit(repo)
    write(repo, {"on main.py": "x = 1\n"})
    commit(repo, "main moves on")
    git(repo, "switch", "-q", "-c", "feature", "HEAD~1")
    write(repo, {"edited.py": "x = 2\n", "committed on feature.py": "y = 1\n"})
    (repo / "gone.py").unlink()
    git(repo, "mv", "old name.py", "new name.py")
    commit(repo, "feature work")
    write(repo, {"dir/deep.py": "x = 3\n", "staged.py": "s = 1\n"})
    git(repo, "add", "staged.py")
    write(repo, {"untracked file.py": "u = 1\n", "ignored.py": "i = 1\n", "weird\nname.py": ""})

    base = default_base(repo)
    assert base.description == "the merge base of HEAD and main"
    assert base.commit == git(repo, "rev-parse", "main~1")
    assert names(repo, changed_files(repo, base)) == [
        "committed on feature.py",
        "dir/deep.py",
        "edited.py",
        "new name.py",
        "staged.py",
        "untracked file.py",
        "weird\nname.py",
    ]
    assert names(repo, staged_files(repo)) == ["staged.py"]
    # an explicit ref: against HEAD only what is not committed yet
    head = resolve_base(repo, "HEAD")
    assert head.description == "HEAD"
    assert names(repo, changed_files(repo, head)) == [
        "dir/deep.py",
        "staged.py",
        "untracked file.py",
        "weird\nname.py",
    ]
    # asked from a subdirectory: the same repository
    assert repository_root(repo / "dir") == repo.resolve()


def test_a_file_deleted_in_the_work_tree_is_skipped(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    write(repo, {"a.py": "", "b.py": ""})
    commit(repo)
    write(repo, {"a.py": "changed\n"})
    git(repo, "add", "a.py")
    (repo / "a.py").unlink()  # staged change, then deleted without telling git
    assert staged_files(repo) == []
    assert changed_files(repo, resolve_base(repo, "HEAD")) == []


def test_submodules_are_not_files(tmp_path: Path) -> None:
    inner = init(tmp_path / "inner")
    write(inner, {"lib.py": ""})
    commit(inner)
    repo = init(tmp_path / "repo")
    write(repo, {"a.py": ""})
    commit(repo)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner), "sub")
    write(repo, {"sub/lib.py": "changed inside the submodule\n"})
    listed = names(repo, changed_files(repo, resolve_base(repo, "HEAD")))
    assert listed == [".gitmodules"]
    assert names(repo, staged_files(repo)) == [".gitmodules"]


def test_the_default_branch_comes_from_origin_head_first(tmp_path: Path) -> None:
    upstream = init(tmp_path / "upstream", branch="trunk")
    write(upstream, {"a.py": ""})
    commit(upstream)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    git(clone, "switch", "-q", "-c", "work")
    write(clone, {"b.py": ""})
    commit(clone)
    base = default_base(clone)
    assert base.description == "the merge base of HEAD and origin/trunk"
    assert names(clone, changed_files(clone, base)) == ["b.py"]


def test_master_when_there_is_no_main(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo", branch="master")
    write(repo, {"a.py": ""})
    commit(repo)
    assert default_base(repo).description == "the merge base of HEAD and master"


def test_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(VcsError, match="is not inside a git repository: --changed and"):
        repository_root(plain)

    fresh = init(tmp_path / "fresh")
    with pytest.raises(VcsError, match=r"has no commit yet.*--staged"):
        default_base(fresh)
    write(fresh, {"first.py": ""})
    git(fresh, "add", "first.py")
    assert names(fresh, staged_files(fresh)) == ["first.py"]  # before the first commit

    odd = init(tmp_path / "odd", branch="develop")
    write(odd, {"a.py": ""})
    commit(odd)
    with pytest.raises(VcsError, match=r"cannot tell the default branch.*--changed develop"):
        default_base(odd)
    with pytest.raises(VcsError, match="--changed nope: no such commit"):
        resolve_base(odd, "nope")
    with pytest.raises(VcsError, match="--changed --output=x: no such commit"):
        resolve_base(odd, "--output=x")  # never taken for an option

    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(VcsError, match="git is not installed"):
        repository_root(odd)
