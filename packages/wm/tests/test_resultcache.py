"""The WM's result cache (corral.resultcache): what keeps a result, what invalidates it.

Real files on disk; a result's "run started" time is given explicitly so that freshly
written test files are not racy (the settle rule has its own test).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corral.resultcache import MAX_ENTRIES, SETTLE_NS, CacheKey, ResultCache, take_stamp
from corral_protocol.messages import ErrorDetail, HandlerInputs, HandlerOutcome, RunResult

RUFF_LIKE = HandlerInputs(
    tree=True,
    skip=["build"],
    ancestors=["pyproject.toml", "ruff.toml"],
    files=["tool/ruff"],
    key="ruff check --output-format=json",
)
LINT_RESULT = {"diagnostics": [], "summary": {"ruff": {"findings": 0, "files": 1}}}


def later() -> int:
    """A run start after everything the test wrote (nothing is racy)."""
    return time.time_ns() + 10 * SETTLE_NS


def result(*inputs: HandlerInputs | None, status: str = "ok") -> RunResult:
    outcomes = [
        HandlerOutcome(
            name=f"h{i}",
            status="ok",
            duration_ms=1.0,
            error=None,
            inputs=msgspec.UNSET if declared is None else declared,
        )
        for i, declared in enumerate(inputs)
    ]
    if status == "failed":
        error = ErrorDetail(type="ToolError", message="ruff crashed", traceback=None)
        outcomes.append(HandlerOutcome(name="bad", status="failed", duration_ms=1.0, error=error))
        return RunResult(status="failed", result=None, handlers=outcomes)
    return RunResult(status="ok", result=LINT_RESULT, handlers=outcomes)


def key(params: Any = None, *, env_stamp: str = "e1", config: Any = None) -> CacheKey:
    handlers = [{"name": "ruff", "source": "corral_python.ruff:lint", "config": config or {}}]
    return CacheKey(
        project="/p", action="lint", params=params, handlers=handlers, env_stamp=env_stamp
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "outer" / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "m.py").write_text("import os\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "tool").mkdir()
    (root / "tool" / "ruff").write_text("v1")
    return root


@pytest.fixture
def cache() -> ResultCache:
    return ResultCache()


def kept(cache: ResultCache, project: Path, k: CacheKey | None = None) -> RunResult | None:
    return cache.lookup(project, k or key())


def test_a_kept_result_is_answered_marked_reused(cache: ResultCache, project: Path) -> None:
    assert kept(cache, project) is None
    assert cache.store(project, key(), result(RUFF_LIKE), later())
    answer = kept(cache, project)
    assert answer is not None
    assert answer.result["summary"]["ruff"] == {"findings": 0, "files": 1, "reused": True}
    assert answer.result["diagnostics"] == []
    assert [h.name for h in answer.handlers] == ["h0"]
    assert list((project / ".corral" / "results").glob("*.json"))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: (p / "src" / "m.py").write_text("import sys\n"), id="file-edit"),
        pytest.param(lambda p: (p / "src" / "new.py").write_text(""), id="new-file"),
        pytest.param(lambda p: (p / "src" / "m.py").unlink(), id="deleted-file"),
        pytest.param(lambda p: (p / "src" / "pkg").mkdir(), id="new-directory"),
        pytest.param(lambda p: (p / "src" / "m.py").rename(p / "m.py"), id="moved-file"),
        pytest.param(
            lambda p: (p.parent / "ruff.toml").write_text("[lint]\n"), id="config-above-new"
        ),
        pytest.param(
            lambda p: (p.parent.parent / "pyproject.toml").write_text(""), id="config-two-up"
        ),
        pytest.param(lambda p: (p / "tool" / "ruff").write_text("v2"), id="tool-executable"),
        pytest.param(lambda p: os.utime(p / "src" / "m.py", ns=(1, 1)), id="same-size-other-mtime"),
    ],
)
def test_every_declared_input_invalidates(cache: ResultCache, project: Path, change: Any) -> None:
    assert cache.store(project, key(), result(RUFF_LIKE), later())
    assert kept(cache, project) is not None
    change(project)
    assert kept(cache, project) is None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: (p / "build" / "sub").mkdir(), id="declared-skip"),
        pytest.param(lambda p: (p / "build" / "x.py").write_text(""), id="inside-skip"),
        pytest.param(lambda p: (p / ".corral" / "other").mkdir(parents=True), id="corral-dir"),
        pytest.param(lambda p: (p / ".ruff_cache").mkdir(), id="tool-cache"),
        pytest.param(lambda p: (p / ".git").mkdir(), id="vcs-internals"),
        pytest.param(lambda p: (p.parent / "notes.txt").write_text(""), id="undeclared-above"),
    ],
)
def test_what_was_not_declared_does_not_invalidate(
    cache: ResultCache, project: Path, change: Any
) -> None:
    (project / "build").mkdir(exist_ok=True)
    assert cache.store(project, key(), result(RUFF_LIKE), later())
    change(project)
    assert kept(cache, project) is not None


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(key(params={"paths": ["src"]}), id="params"),
        pytest.param(key(env_stamp="e2"), id="env-contents-and-tool-version"),
        pytest.param(key(config={"select": ["E"]}), id="handler-config"),
        pytest.param(
            CacheKey(project="/p", action="lint", params=None, handlers=[], env_stamp="e1"),
            id="handlers-preset",
        ),
        pytest.param(
            CacheKey(project="/p", action="fmt", params=None, handlers=[], env_stamp="e1"),
            id="action",
        ),
    ],
)
def test_a_different_key_is_a_different_result(
    cache: ResultCache, project: Path, other: CacheKey
) -> None:
    assert cache.store(project, key(), result(RUFF_LIKE), later())
    assert kept(cache, project, other) is None
    assert kept(cache, project) is not None


def test_only_fully_declared_ok_results_are_kept(cache: ResultCache, project: Path) -> None:
    assert not cache.store(project, key(), result(RUFF_LIKE, None), later())
    assert not cache.store(project, key(), result(), later())  # no handler at all
    assert not cache.store(project, key(), result(RUFF_LIKE, status="failed"), later())
    assert kept(cache, project) is None
    both = HandlerInputs(files=["pyproject.toml"])
    assert cache.store(project, key(), result(RUFF_LIKE, both), later())
    assert kept(cache, project) is not None


def test_buffer_contents_are_never_cached(cache: ResultCache, project: Path) -> None:
    with_documents = key(params={"documents": [{"path": "src/m.py", "text": "x = 1\n"}]})
    assert not cache.store(project, with_documents, result(RUFF_LIKE), later())
    assert kept(cache, project, with_documents) is None


def test_racy_results_are_not_kept(cache: ResultCache, project: Path) -> None:
    """A file modified within SETTLE_NS of the run's start (or after it) may hide an edit
    the tool did or did not see: such a result is not kept."""
    just_now = time.time_ns()
    assert not cache.store(project, key(), result(RUFF_LIKE), just_now)
    assert kept(cache, project) is None
    stale = time.time_ns() - 100 * SETTLE_NS
    os.utime(project / "src" / "m.py", ns=(stale, stale))  # its ctime is still now
    assert not cache.store(project, key(), result(RUFF_LIKE), just_now)


def test_a_disabled_cache_keeps_and_answers_nothing(project: Path) -> None:
    off = ResultCache(enabled=False)
    assert not off.store(project, key(), result(RUFF_LIKE), later())
    assert ResultCache().lookup(project, key()) is None


@pytest.mark.parametrize(
    "damage",
    [b"", b"{not json", b'{"format": 99}', b"[]"],
    ids=["empty", "bad-json", "other-format", "wrong-type"],
)
def test_a_damaged_entry_is_a_miss_never_an_error(
    cache: ResultCache, project: Path, damage: bytes
) -> None:
    assert cache.store(project, key(), result(RUFF_LIKE), later())
    (entry,) = (project / ".corral" / "results").glob("*.json")
    entry.write_bytes(damage)
    assert kept(cache, project) is None
    assert cache.store(project, key(), result(RUFF_LIKE), later())  # and it heals
    assert kept(cache, project) is not None


def test_an_unwritable_cache_is_no_cache(cache: ResultCache, project: Path) -> None:
    (project / ".corral").mkdir()
    (project / ".corral" / "results").write_text("a file where the directory goes")
    assert not cache.store(project, key(), result(RUFF_LIKE), later())
    assert kept(cache, project) is None


def test_entries_are_bounded_per_project(cache: ResultCache, project: Path) -> None:
    for n in range(MAX_ENTRIES + 5):
        assert cache.store(project, key(params={"n": n}), result(RUFF_LIKE), later())
    assert len(list((project / ".corral" / "results").glob("*.json"))) == MAX_ENTRIES
    assert kept(cache, project, key(params={"n": MAX_ENTRIES + 4})) is not None
    cache.forget([project])
    assert not list((project / ".corral" / "results").glob("*.json"))


def test_stamps_follow_symlinks_to_their_targets(tmp_path: Path, project: Path) -> None:
    target = tmp_path / "shared.py"
    target.write_text("a = 1\n")
    (project / "src" / "link.py").symlink_to(target)
    before = take_stamp(project, [RUFF_LIKE])
    target.write_text("a = 22\n")
    after = take_stamp(project, [RUFF_LIKE])
    assert before is not None
    assert after is not None
    assert before.digest != after.digest


def test_the_cache_key_digest_is_independent_of_dict_order() -> None:
    a = key(params={"a": 1, "b": 2}, config={"x": 1, "y": 2})
    b = key(params={"b": 2, "a": 1}, config={"y": 2, "x": 1})
    assert a.digest() == b.digest()
    assert a.digest() != key(params={"a": 1, "b": 3}).digest()
