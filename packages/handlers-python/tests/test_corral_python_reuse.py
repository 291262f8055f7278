"""Result reuse: ``TreeStamp`` sees every change ruff could react to, and ``lint`` /
``check-format`` in a real runner skip ruff only while nothing changed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from corral_python.reuse import TreeStamp, reuse_or_run
from runner_harness import run, running

Configure = Any

LINT = "corral_python.ruff:lint"
CHECK_FORMAT = "corral_python.ruff:check_format"
NO_RUFF_CACHE = {"args": ["--no-cache"]}  # keeps ruff from writing into the tree


def settle(root: Path) -> None:
    """Date every entry under ``root`` 10 s back, so no stamp of it is racy."""
    past = time.time_ns() - 10_000_000_000
    for path in [root, *root.rglob("*")]:
        os.utime(path, ns=(past, past), follow_symlinks=False)


def stamp(root: Path) -> TreeStamp:
    taken = TreeStamp.take(root, ["ruff", "check"])
    assert taken is not None
    return taken


@pytest.fixture
def tree(tmp_path: Path, write_tree: Any) -> Path:
    root: Path = write_tree(
        tmp_path / "p",
        {"pyproject.toml": "[tool.ruff]\n", "src/a.py": "A = 1\n", ".git/info/exclude": ""},
    )
    (tmp_path / "shared.py").write_text("S = 1\n")
    (root / "src" / "linked.py").symlink_to(tmp_path / "shared.py")
    settle(root)
    settle(tmp_path / "shared.py")
    return root


def test_unchanged_tree_has_an_equal_stamp(tree: Path) -> None:
    first = stamp(tree)
    assert not first.racy
    assert stamp(tree) == first
    assert TreeStamp.take(tree, ["ruff", "format"]) != first  # the command is part of it


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: (r / "src/a.py").write_text("A = 2\n"), id="edit"),
        pytest.param(lambda r: (r / "src/b.py").write_text(""), id="new-file"),
        pytest.param(lambda r: (r / "src/a.py").unlink(), id="delete"),
        pytest.param(lambda r: (r / "src/a.py").rename(r / "src/c.py"), id="rename"),
        pytest.param(
            lambda r: (r / "pyproject.toml").write_text("[tool.ruff]\nx=1\n"), id="config"
        ),
        pytest.param(lambda r: (r / "new").mkdir(), id="new-directory"),
        pytest.param(lambda r: (r / "src/a.py").chmod(0o600), id="mode"),
        pytest.param(lambda r: (r.parent / "ruff.toml").write_text(""), id="ancestor-config"),
        pytest.param(lambda r: (r.parent / "shared.py").write_text("S = 22\n"), id="symlinked"),
        pytest.param(
            lambda r: (r / ".git/info/exclude").write_text("a.py\n"), id="project-git-exclude"
        ),
    ],
)
def test_every_change_ruff_could_see_changes_the_stamp(tree: Path, change: Any) -> None:
    before = stamp(tree)
    change(tree)
    assert stamp(tree) != before


def test_same_size_rewrite_is_seen_through_ctime_or_racy(tree: Path) -> None:
    """Rewriting a file with same-size content is never mistaken for no change."""
    before = stamp(tree)
    (tree / "src/a.py").write_text("A = 9\n")
    after = stamp(tree)
    assert after != before
    assert after.racy  # just written: such a stamp is never stored


def test_skipped_directories_are_not_walked(tree: Path) -> None:
    before = stamp(tree)
    for name in (".corral", ".git", "__pycache__", ".ruff_cache", ".venv", "node_modules"):
        (tree / "src" / name).mkdir()
        settle(tree)
        walked = stamp(tree)
        (tree / "src" / name / "x.py").write_text("import os\n")
        assert stamp(tree) == walked, name
    assert before != walked  # creating the directory itself is a change of src/


def test_too_large_or_unreadable_trees_are_not_stamped(tree: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("corral_python.reuse.MAX_ENTRIES", 1)
    assert TreeStamp.take(tree, ["ruff"]) is None
    assert TreeStamp.take(tree / "missing", ["ruff"]) is None


def test_reuse_or_run_keeps_only_settled_successful_results(tree: Path) -> None:
    state: dict[str, Any] = {}
    calls: list[int] = []

    async def work() -> int:
        calls.append(1)
        return len(calls)

    async def scenario() -> None:
        take = lambda: stamp(tree)  # noqa: E731
        assert await reuse_or_run(state, "k", take, work) == (1, False)
        assert await reuse_or_run(state, "k", take, work) == (1, True)
        assert await reuse_or_run(state, "k", take, work, enabled=False) == (2, False)
        (tree / "src/a.py").write_text("A = 3\n")  # changed and racy: runs, keeps nothing
        assert await reuse_or_run(state, "k", take, work) == (3, False)
        assert "k" not in state
        assert await reuse_or_run(state, "k", take, work) == (4, False)

        async def listing() -> list[int]:
            return [1, 2]

        settle(tree)
        made, _ = await reuse_or_run(state, "list", take, listing)
        made.append(3)  # what a caller does with its result never reaches the memory
        again, reused = await reuse_or_run(state, "list", take, listing)
        assert reused
        assert again == [1, 2]
        again.append(4)
        assert (await reuse_or_run(state, "list", take, listing))[0] == [1, 2]

        async def fail() -> int:
            raise RuntimeError("tool failed")

        settle(tree)
        state.clear()
        with pytest.raises(RuntimeError):
            await reuse_or_run(state, "k", take, fail)
        assert state == {}

    run(scenario())


def test_lint_and_check_format_reuse_results_in_a_real_runner(
    sample_project: Path, configure: Configure
) -> None:
    async def scenario() -> None:
        async with running(sample_project) as runner:
            await configure(
                runner,
                {
                    "lint": [("ruff", LINT, NO_RUFF_CACHE)],
                    "check-format": [("ruff", CHECK_FORMAT, NO_RUFF_CACHE)],
                    "lint-always": [("ruff", LINT, {**NO_RUFF_CACHE, "reuse": False})],
                },
            )
            settle(sample_project)

            async def lint(action: str = "lint", **params: Any) -> Any:
                result = await runner.run(action, params)
                assert result.status == "ok", result.handlers
                return result.result

            first = await lint()
            assert first["summary"]["ruff"].get("reused", False) is False
            second = await lint()
            assert second["summary"]["ruff"]["reused"] is True
            assert second["diagnostics"] == first["diagnostics"]
            assert (await lint("lint-always"))["summary"]["ruff"].get("reused", False) is False
            # other paths: a different command, so not the remembered result
            only = await lint(paths=["app/unused.py"])
            assert only["summary"]["ruff"].get("reused", False) is False
            # a path outside the project is never answered from a stamp of the project
            outside = sample_project.parent / "outside.py"
            outside.write_text("import os\n")
            assert (await lint(paths=[str(outside)]))["summary"]["ruff"].get(
                "reused", False
            ) is False

            # fixing the file: ruff runs again and the finding is gone
            unused = sample_project / "app/unused.py"
            unused.write_text(unused.read_text().replace("import os\n", ""))
            fixed = await lint()
            assert fixed["summary"]["ruff"].get("reused", False) is False
            assert [d["code"] for d in fixed["diagnostics"]] == ["E501"]
            settle(sample_project)
            assert (await lint())["summary"]["ruff"].get("reused", False) is False  # racy: not kept
            assert (await lint())["summary"]["ruff"]["reused"] is True

            checked = await lint("check-format")
            assert checked["summary"]["ruff-format"].get("reused", False) is False
            again = await lint("check-format")
            assert again["summary"]["ruff-format"] == {
                **checked["summary"]["ruff-format"],
                "reused": True,
            }
            assert again["diagnostics"] == checked["diagnostics"]

            # a new configuration forgets what was remembered
            await configure(runner, {"lint": [("ruff", LINT, NO_RUFF_CACHE)]})
            assert (await lint())["summary"]["ruff"].get("reused", False) is False

    run(scenario())
