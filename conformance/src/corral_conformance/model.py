"""The case format as typed Python objects.

``conformance/case.schema.json`` is the normative, language-neutral description of a case
file; these msgspec structs are its Python mirror (``tests/test_case_files.py`` proves every
shipped case satisfies both). A case is a script of steps run against freshly launched
runners; every step names itself with the ``"step"`` member. Member names are camelCase in
JSON and snake_case here. Values typed ``Any`` are JSON values that may hold ``${var}``
references (substituted when the step runs) or, for patterns, matcher operators.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import msgspec

__all__ = [
    "DEFAULT_SKIP",
    "AssertDistinct",
    "Case",
    "CloseConnection",
    "Connect",
    "Expect",
    "ExpectClosed",
    "ExpectExit",
    "ExpectHello",
    "ExpectNothing",
    "ExpectOutput",
    "ExpectUnordered",
    "ExpectWal",
    "ForEach",
    "Initialize",
    "KillParent",
    "Launch",
    "Repeat",
    "Send",
    "SendRaw",
    "ServeWm",
    "Signal",
    "Sleep",
    "Step",
    "decode_case",
]

DEFAULT_SKIP: tuple[str, ...] = ("runner/log", "runner/output")
"""Notifications an ``expect``-like step passes over unless it sets ``skip`` itself."""


class _Step(
    msgspec.Struct,
    tag_field="step",
    forbid_unknown_fields=True,
    kw_only=True,
    rename="camel",
):
    """Members every step may have."""

    comment: str | None = None


class Launch(_Step, tag="launch"):
    """Start a runner; write the launch record (defaults + ``record`` - ``omit``)."""

    process: str = "runner"
    record: dict[str, Any] = {}
    omit: list[str] = []
    raw_line: str | None = None
    via_parent: bool = False
    validate: bool = True


class ExpectHello(_Step, tag="expectHello"):
    """The first stdout line is a valid hello (nothing before it), within ``within_ms``."""

    process: str = "runner"
    within_ms: int = 5000
    pattern: Any = None


class ExpectExit(_Step, tag="expectExit"):
    """The process exits within ``within_ms`` with ``code`` (an int, a list, or any)."""

    process: str = "runner"
    code: int | list[int] | None = None
    within_ms: int = 5000
    stdout_empty: bool = False
    stderr_not_empty: bool = False


class Connect(_Step, tag="connect"):
    """Open a TCP connection to the hello port of ``process``."""

    connection: str = "main"
    process: str = "runner"
    within_ms: int = 2000


class Initialize(_Step, tag="initialize"):
    """Send a correct ``initialize``, expect success, then (by default) ``initialized``."""

    connection: str = "main"
    id: int | str = 0
    protocol_version: str | None = None
    capabilities: dict[str, Any] = {}
    initialized: bool = True
    within_ms: int = 3000


class Send(_Step, tag="send"):
    """Send one JSON value as a correctly framed message."""

    message: Any
    connection: str = "main"
    validate: bool = True


class SendRaw(_Step, tag="sendRaw"):
    """Send bytes assembled from ``parts``, optionally ``chunk_size`` bytes per write."""

    parts: list[dict[str, Any]]
    connection: str = "main"
    chunk_size: int | None = None
    delay_ms: int = 0
    validate: bool = True


class Expect(_Step, tag="expect"):
    """The next message (not in ``skip``) matches ``pattern`` within ``within_ms``."""

    pattern: Any
    connection: str = "main"
    within_ms: int = 2000
    skip: list[Any] | None = None
    volatile: bool = False


class ForEach(msgspec.Struct, forbid_unknown_fields=True):
    """An integer range ``from_ <= var < to`` for generated patterns."""

    var: str
    from_: int = msgspec.field(name="from")
    to: int


class ExpectUnordered(_Step, tag="expectUnordered"):
    """The next messages match ``patterns`` plus ``pattern`` for each of ``for_each``."""

    connection: str = "main"
    patterns: list[Any] | None = None
    pattern: Any = None
    for_each: ForEach | None = None
    within_ms: int = 2000
    skip: list[Any] | None = None
    volatile: bool = False


class ExpectNothing(_Step, tag="expectNothing"):
    """No message (not in ``skip``) arrives and the connection stays open for ``for_ms``."""

    for_ms: int
    connection: str = "main"
    skip: list[Any] | None = None


class ExpectClosed(_Step, tag="expectClosed"):
    """The runner closes the connection within ``within_ms``; no message (not in ``skip``)
    arrives first, and with ``no_bytes`` not a single byte ever arrived on it."""

    connection: str = "main"
    within_ms: int = 2000
    skip: list[Any] | None = None
    no_bytes: bool = False


class CloseConnection(_Step, tag="closeConnection"):
    """Close the driver's side (``half_close``: only stop writing, keep reading)."""

    connection: str = "main"
    half_close: bool = False


class KillParent(_Step, tag="killParent"):
    """SIGKILL the intermediate parent of a runner launched with ``viaParent``."""

    process: str = "runner"


class Signal(_Step, tag="signal"):
    """Send a POSIX signal to the spawned runner process. Needs ``posixSignals``."""

    signal: str
    process: str = "runner"


class Sleep(_Step, tag="sleep"):
    """Wait ``ms`` milliseconds (scaled)."""

    ms: int


class Repeat(_Step, tag="repeat"):
    """Run ``steps`` once for each value of ``var`` in ``from_ <= var < to``."""

    var: str
    from_: int = msgspec.field(name="from")
    to: int
    steps: StepList


class ServeWm(_Step, tag="serveWm"):
    """Act as the WM: the next message is a request matching ``pattern``; answer it."""

    pattern: Any
    connection: str = "main"
    result: Any = None
    error: Any = None
    within_ms: int = 3000
    skip: list[Any] | None = None
    validate: bool = True


class AssertDistinct(_Step, tag="assertDistinct"):
    """The list variable ``var`` holds ``count`` pairwise different values."""

    var: str
    count: int | None = None


class ExpectOutput(_Step, tag="expectOutput"):
    """``text`` (``repeat`` times) written by handler code reaches the WM within ``within_ms``
    in ``runner/output`` notifications of ``stream`` - with ``run_id`` set, in notifications
    whose ``runId`` is that value (null: not attributed; an absent ``runId`` counts as null).
    ``accounted``: the stream's text bytes plus its ``dropped`` counts must reach exactly
    that many bytes; ``max_text``: at most that many text bytes arrive on the stream."""

    text: str
    repeat: int = 1
    stream: str = "stdout"
    process: str = "runner"
    within_ms: int = 2000
    run_id: Any = msgspec.UNSET
    accounted: int | None = None
    max_text: int | None = None


class ExpectWal(_Step, tag="expectWal"):
    """The runner's WAL stream in ``${walDir}`` (its directory names the hello's pid) is
    intact (SPEC §12.3, §12.1: frames, checksums, seq from 0, writer = directory, schema)
    and its records match ``records`` in order (each pattern a later record than the
    previous; others may lie between). ``closed``: the last record is ``wal.closed``."""

    records: list[Any]
    process: str = "runner"
    closed: bool = False
    within_ms: int = 2000


Step: TypeAlias = (
    Launch
    | ExpectHello
    | ExpectExit
    | Connect
    | Initialize
    | Send
    | SendRaw
    | Expect
    | ExpectUnordered
    | ExpectNothing
    | ExpectClosed
    | CloseConnection
    | KillParent
    | Signal
    | Sleep
    | Repeat
    | ServeWm
    | AssertDistinct
    | ExpectOutput
    | ExpectWal
)


StepList: TypeAlias = Annotated[list[Step], msgspec.Meta(min_length=1)]
"""A non-empty list of steps."""


class Case(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """One case file. Its id is its path below the cases directory, without ``.json``."""

    description: str
    steps: StepList
    rule: str | None = None
    requires: list[str] = []
    must_fail_with: list[str] = []
    timeout_ms: int | None = None
    schema: str | None = msgspec.field(default=None, name="$schema")


_DECODER = msgspec.json.Decoder(Case)


def decode_case(data: bytes) -> Case:
    """Decode a case file's bytes; raises ``msgspec.ValidationError``/``DecodeError``."""
    return _DECODER.decode(data)
