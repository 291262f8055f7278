"""The package's public surface and its lean import."""

from __future__ import annotations

import subprocess
import sys

import corral_protocol
import pytest
from corral_protocol.merge import merge_results


def test_every_public_name_resolves() -> None:
    for name in corral_protocol.__all__:
        assert getattr(corral_protocol, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        corral_protocol.no_such_name  # noqa: B018


def test_importing_the_message_types_does_not_import_asyncio() -> None:
    code = (
        "import sys, corral_protocol.messages, corral_protocol.versions;"
        "print('asyncio' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_merge_rule_of_concurrent_results() -> None:
    assert merge_results([]) is None
    assert merge_results(
        [{"d": [1], "s": {"a": 1}, "t": "x"}, {"d": [2], "s": {"b": 2}, "t": "y"}]
    ) == {
        "d": [1, 2],
        "s": {"a": 1, "b": 2},
        "t": "y",
    }
    assert merge_results([{"a": 1}, 3]) == [{"a": 1}, 3]
    assert merge_results(["only"]) == ["only"]
