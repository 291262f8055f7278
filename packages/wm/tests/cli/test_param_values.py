"""``-p KEY=VALUE``: how values are read, and the protocol's nesting limit (SPEC.md §5.7)."""

from __future__ import annotations

import pytest
from corral.cli.commands import params
from corral.errors import UsageError
from corral_protocol.nesting import MAX_NESTING_DEPTH


def test_json_values_are_parsed_and_other_text_kept() -> None:
    assert params(["n=3", 'names=["a"]', "word=hello", "empty="]) == {
        "n": 3,
        "names": ["a"],
        "word": "hello",
        "empty": "",
    }


def test_a_value_at_the_limit_is_kept_and_a_deeper_one_is_a_usage_error() -> None:
    at_limit = "[" * MAX_NESTING_DEPTH + "]" * MAX_NESTING_DEPTH
    assert params([f"x={at_limit}"])["x"] is not None
    deeper = "[" * 1000 + "]" * 1000  # Python's parser would raise RecursionError
    with pytest.raises(UsageError, match=r"--param x: the value nests deeper than 128 levels"):
        params([f"x={deeper}"])


def test_a_pair_without_a_key_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--param expects KEY=VALUE"):
        params(["=3"])
