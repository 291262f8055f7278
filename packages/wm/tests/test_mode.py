"""Server or embedded: the flags, CORRAL_SERVER and CI, in that order."""

from __future__ import annotations

import pytest
from corral.mode import flag_from_argv, server_wanted


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        (None, {}, True),
        (None, {"CI": "true"}, False),
        (None, {"CI": ""}, True),
        (True, {"CI": "1"}, True),
        (False, {}, False),
        (None, {"CORRAL_SERVER": "0", "CI": ""}, False),
        (None, {"CORRAL_SERVER": "yes", "CI": "1"}, True),
        (None, {"CORRAL_SERVER": "maybe"}, True),
        (False, {"CORRAL_SERVER": "1"}, False),
    ],
)
def test_server_wanted(flag: bool | None, environ: dict[str, str], expected: bool) -> None:
    assert server_wanted(flag, environ) is expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "lint"], None),
        (["--no-server", "run", "lint"], False),
        (["-C", "ws", "--server", "run"], True),
        (["-C", "--no-server", "run"], None),  # "--no-server" is -C's value here
        (["run", "--no-server"], None),  # after the command word: not the global flag
    ],
)
def test_flag_from_argv(argv: list[str], expected: bool | None) -> None:
    assert flag_from_argv(argv) is expected
