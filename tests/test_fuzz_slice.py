"""A short, fixed slice of the fuzzer (``fuzz/``) in the test suite: the same targets and
properties as ``fuzz/run.py``, with few inputs and a fixed seed, so a regression in what the
runner, the config loader or the WAL reader survive fails here first."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
from targets import (
    WireTarget,
    check_config,
    check_wal,
    config_tables,
    wal_segments,
    wire_cases,
)


def fixed_slice(examples: int) -> settings:
    """Few inputs, always the same ones (no example database, derandomized)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireTarget]:
    target = WireTarget(tmp_path_factory.mktemp("fuzz-project"))
    target.start()
    yield target
    target.close()


def test_a_real_runner_survives_fuzzed_wire_input(wire: WireTarget) -> None:
    @fixed_slice(150)
    @given(wire_cases)
    def fuzzed(case: tuple[str, bytes]) -> None:
        wire.check_case(case)

    fuzzed()
    assert wire.stats.inputs >= 150
    assert wire.stats.replies > wire.stats.inputs  # the pings, at least, were answered
    assert wire.stats.candidates > 0


def test_the_config_loader_answers_every_table_or_names_the_file(tmp_path: Path) -> None:
    @fixed_slice(200)
    @given(config_tables)
    def fuzzed(table: dict[str, object]) -> None:
        check_config(table, tmp_path)

    fuzzed()


def test_the_wal_reader_reports_damage_never_raises(tmp_path: Path) -> None:
    @fixed_slice(200)
    @given(wal_segments)
    def fuzzed(content: bytes) -> None:
        check_wal(content, tmp_path)

    fuzzed()
