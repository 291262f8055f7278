"""The run registry: cancellation, progress and output attribution, output bounds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from corral.errors import RunCancelledError
from corral.runs import MAX_OUTPUT_BYTES, MAX_OUTPUT_RECORDS, RunRegistry, output_record
from corral_protocol.messages import LogParams, OutputParams, ProgressParams, WorkDoneReport

PROJECT = Path("/ws/app")


def say(registry: RunRegistry, segment: str | None, text: str, **extra: int) -> str | None:
    params = OutputParams(stream="stdout", text=text, run_id=segment, **extra)
    return registry.on_output(params, output_record(params, PROJECT, "dev"))


def test_output_is_attributed_through_segments_and_nested_runs() -> None:
    async def scenario() -> None:
        registry = RunRegistry()
        seen: list[tuple[str | None, str]] = []
        registry.output_bus.add_listener(lambda event: seen.append((event[0], event[1].text)))
        gate = asyncio.Event()

        async def work() -> str:
            registry.run_started("top", None)
            registry.segment_started("seg-1", "top", PROJECT, "dev")
            # A handler of seg-1 asked for a project run, whose segment prints.
            registry.run_started("nested", "seg-1")
            registry.segment_started("seg-2", "nested", PROJECT, "dev")
            assert say(registry, "seg-1", "outer\n") == "top"
            assert say(registry, "seg-2", "inner\n") == "top"
            assert say(registry, "unknown", "stray\n") is None
            assert say(registry, None, "no run id\n") is None
            await gate.wait()
            return "done"

        task = asyncio.ensure_future(registry.run("top", work()))
        await asyncio.sleep(0)
        gate.set()
        assert await task == "done"
        output = registry.take_output("top")
        assert [r.text for r in output.records] == ["outer\n", "inner\n"]
        assert seen == [
            ("top", "outer\n"),
            ("top", "inner\n"),
            (None, "stray\n"),
            (None, "no run id\n"),
        ]
        assert registry.take_output("top").records == []  # taken once

    asyncio.run(scenario())


def test_log_records_keep_their_level() -> None:
    params = LogParams(level="warning", message="careful", run_id="s")
    record = output_record(params, PROJECT, "dev")
    assert (record.stream, record.text, record.level) == ("log", "careful", "warning")


def test_output_beyond_the_bounds_is_counted_not_kept() -> None:
    async def scenario() -> None:
        registry = RunRegistry()

        async def work() -> None:
            registry.segment_started("seg", "top", PROJECT, "dev")
            for _ in range(MAX_OUTPUT_RECORDS + 5):
                say(registry, "seg", "x")
            say(registry, "seg", "y", dropped=7)  # the runner dropped 7 itself

        await registry.run("top", work())
        output = registry.take_output("top")
        assert len(output.records) == MAX_OUTPUT_RECORDS
        assert output.dropped == 5 + 1 + 7

        big = RunRegistry()

        async def large() -> None:
            big.segment_started("seg", "top", PROJECT, "dev")
            say(big, "seg", "z" * (MAX_OUTPUT_BYTES - 10))
            say(big, "seg", "z" * 20)
            say(big, "seg", "z" * 5)

        await big.run("top", large())
        kept = big.take_output("top")
        assert [len(r.text) for r in kept.records] == [MAX_OUTPUT_BYTES - 10, 5]
        assert kept.dropped == 1

    asyncio.run(scenario())


def test_cancel_raises_run_cancelled_in_the_caller_and_cancels_the_work() -> None:
    async def scenario() -> None:
        registry = RunRegistry()
        started = asyncio.Event()
        cancelled = asyncio.Event()

        async def work() -> None:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        task = asyncio.ensure_future(registry.run("r1", work()))
        await started.wait()
        assert registry.cancel("r1")
        with pytest.raises(RunCancelledError) as info:
            await task
        assert info.value.run_id == "r1"
        assert cancelled.is_set()
        assert not registry.cancel("r1")  # no longer going
        assert not registry.cancel("never")

    asyncio.run(scenario())


def test_progress_is_published_only_for_tokens_the_wm_handed_out() -> None:
    registry = RunRegistry()
    seen = []
    registry.progress_bus.add_listener(seen.append)
    registry.segment_started("seg", "top", PROJECT, "dev")
    value = WorkDoneReport(message="half", percentage=50)
    registry.on_progress(ProgressParams(token="seg:work", value=value))
    registry.on_progress(ProgressParams(token="seg:other", value=value))
    registry.on_progress(ProgressParams(token="nope:work", value=value))
    registry.on_progress(ProgressParams(token=42, value=value))
    assert [(p.run_id, p.parent_run_id, p.env) for p in seen] == [("seg", "top", "dev")]
