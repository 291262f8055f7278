"""Protocol versions: parsing and the negotiation rule of SPEC.md §7.

A version is ``MAJOR.MINOR``. Minor versions of one major are compatible (new optional
fields, methods and notifications only), so negotiation picks a common major and the lower
of the two minors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple

__all__ = [
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "ProtocolVersion",
    "negotiate",
    "runner_answer",
]

_VERSION_RE: Final = re.compile(r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$")


class ProtocolVersion(NamedTuple):
    """A parsed ``MAJOR.MINOR`` protocol version; orders numerically."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ProtocolVersion:
        """Parse ``"1.0"``; raise :class:`ValueError` naming the text on anything else."""
        match = _VERSION_RE.match(text)
        if match is None:
            raise ValueError(f"not a protocol version (expected MAJOR.MINOR): {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


PROTOCOL_VERSION: Final = ProtocolVersion(1, 0)
"""The newest version this package implements."""

SUPPORTED_VERSIONS: Final = ("1.0",)
"""What the Python implementations announce in the launch record and the hello."""


def _by_major(versions: Iterable[str]) -> dict[int, int]:
    """Highest minor per major; unparsable entries are ignored (forward compatibility)."""
    best: dict[int, int] = {}
    for text in versions:
        try:
            version = ProtocolVersion.parse(text)
        except ValueError:
            continue
        best[version.major] = max(best.get(version.major, -1), version.minor)
    return best


def negotiate(ours: Iterable[str], theirs: Iterable[str]) -> ProtocolVersion | None:
    """The version the WM proposes in ``initialize``: highest common major, lower minor.

    Returns ``None`` when no major is spoken by both sides.

    >>> str(negotiate(["1.3", "2.0"], ["1.1"]))
    '1.1'
    """
    mine, peer = _by_major(ours), _by_major(theirs)
    common = set(mine) & set(peer)
    if not common:
        return None
    major = max(common)
    return ProtocolVersion(major, min(mine[major], peer[major]))


def runner_answer(requested: str, spoken: Iterable[str]) -> ProtocolVersion | None:
    """The version a runner answers to ``initialize.protocolVersion`` (SPEC.md §7).

    Same major as requested, minor = min(requested, highest spoken for that major);
    ``None`` when the major is not spoken (the runner answers -32005) or ``requested`` does
    not parse.
    """
    try:
        wanted = ProtocolVersion.parse(requested)
    except ValueError:
        return None
    best = _by_major(spoken).get(wanted.major)
    if best is None:
        return None
    return ProtocolVersion(wanted.major, min(wanted.minor, best))
