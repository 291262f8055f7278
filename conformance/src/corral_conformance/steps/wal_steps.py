"""The ``expectWal`` step: a runner's WAL stream (SPEC §12, §12.9), read from the outside.

The driver reads ``${walDir}/<writer id>/*.wal`` itself - it does not use the reference
reader - checking the frame (``crc SP json LF``, CRC-32 over the stored bytes), the
record schema (``wal-record.json``), ``writer`` = the directory name, ``seq`` from 0 in
steps of 1, and segment names (the seq of their first record, 20 digits).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import zlib
from pathlib import Path
from typing import Any

from ..context import CaseContext
from ..matcher import describe, match
from ..model import ExpectWal
from ..outcome import HarnessError, RunnerFailure
from ..variables import substitute

__all__ = ["expect_wal", "read_stream"]

_SEGMENT = re.compile(r"^[0-9]{20}\.wal$")


def read_stream(stream: Path, schemas: Any) -> list[dict[str, Any]]:
    """Every record of one stream, in order; raises RunnerFailure on the first damage."""
    records: list[dict[str, Any]] = []
    segments = sorted(p for p in stream.iterdir() if _SEGMENT.match(p.name))
    if not segments:
        raise RunnerFailure(f"the WAL stream {stream.name} has no segment file")
    for segment in segments:
        data = segment.read_bytes()
        first_in_segment = True
        offset = 0
        while offset < len(data):
            end = data.find(b"\n", offset)
            where = f"{segment.name} at byte {offset}"
            if end < 0:
                torn = describe(data[offset : offset + 80])
                raise RunnerFailure(f"a torn frame (no LF) in {where}", got=torn)
            line = data[offset:end]
            offset = end + 1
            if len(line) < 10 or line[8:9] != b" " or not re.fullmatch(rb"[0-9a-f]{8}", line[:8]):
                raise RunnerFailure(
                    f"a bad frame in {where}",
                    expected="8 lowercase hex, SP, JSON, LF",
                    got=describe(line[:80]),
                )
            body = line[9:]
            crc = f"{zlib.crc32(body):08x}"
            if crc != line[:8].decode():
                raise RunnerFailure(
                    f"checksum mismatch in {where}", expected=crc, got=line[:8].decode()
                )
            try:
                record = json.loads(body)
            except ValueError as exc:
                raise RunnerFailure(f"bad JSON in {where}: {exc}") from None
            problems = schemas.violations("wal-record.json", record)
            if problems:
                raise RunnerFailure(
                    f"an invalid WAL record in {where}: {problems[0]}", got=describe(record)
                )
            if record["writer"] != stream.name:
                raise RunnerFailure(
                    f"writer {record['writer']!r} differs from its stream directory {stream.name!r}"
                )
            if record["seq"] != len(records):
                raise RunnerFailure(f"seq {record['seq']} where {len(records)} was due ({where})")
            if first_in_segment and int(segment.name[:20]) != record["seq"]:
                raise RunnerFailure(f"segment {segment.name} starts with seq {record['seq']}")
            first_in_segment = False
            records.append(record)
    return records


def _find_stream(wal_dir: Path, pid: Any) -> Path | None:
    if not wal_dir.is_dir():
        return None
    pattern = re.compile(rf"^runner-([a-z0-9._-]+-)?{pid}-[0-9a-z]+$")
    found = [p for p in wal_dir.iterdir() if p.is_dir() and pattern.match(p.name)]
    return found[0] if len(found) == 1 else None


def _match_in_order(patterns: list[Any], records: list[dict[str, Any]]) -> str | None:
    """None if each pattern matches a record after the previous one's; else the problem."""
    position = 0
    for index, pattern in enumerate(patterns):
        while position < len(records) and not match(pattern, records[position]):
            position += 1
        if position == len(records):
            return f"no record (in order) matches records[{index}] {describe(pattern, 200)}"
        position += 1
    return None


async def expect_wal(ctx: CaseContext, step: ExpectWal) -> None:
    """The runner's stream is intact and holds the expected records (SPEC §12.9)."""
    wal_dir = Path(str(ctx.vars.get(f"{step.process}.walDir")))
    pid = ctx.vars.get(f"{step.process}.pid")
    patterns = substitute(step.records, ctx.vars)
    if not isinstance(patterns, list):
        raise HarnessError("records must be a list of patterns")
    deadline = time.monotonic() + ctx.seconds(step.within_ms)
    while True:
        stream = _find_stream(wal_dir, pid)
        problem: str
        records: list[dict[str, Any]] = []
        if stream is None:
            problem = f"no WAL stream runner-<env slug>-{pid}-<start> in {wal_dir}"
        else:
            try:
                records = read_stream(stream, ctx.schemas)
            except RunnerFailure as failure:
                if time.monotonic() >= deadline:
                    raise
                problem = str(failure)
            else:
                problem = _match_in_order(patterns, records) or ""
                if (
                    not problem
                    and step.closed
                    and (not records or records[-1]["event"] != "wal.closed")
                ):
                    problem = "the stream does not end with wal.closed"
        if not problem:
            break
        if time.monotonic() >= deadline:
            events = [f"{r['event']}({r.get('runId')})" for r in records]
            raise RunnerFailure(
                problem,
                expected=f"{len(patterns)} records in order"
                + (", then wal.closed" if step.closed else ""),
                got=describe(events, 600) if records else "no records",
            )
        await asyncio.sleep(0.05)
    ctx.transcript.step(
        {
            "step": "expectWal",
            "records": [[r["event"], r["runId"], r["parentRunId"], r["action"]] for r in records],
        }
    )
