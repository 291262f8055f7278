"""Steps about runner processes: launch, expectHello, expectExit, killParent, signal,
expectOutput.

The launch record a ``launch`` step writes (SPEC "Launch") is, before the case's
``record`` overrides and ``omit`` removals::

    {"protocol": ["<the schemas' version>"], "token": <64 random lowercase hex chars>,
     "project": <a fresh empty directory, also the cwd>, "env": "conformance",
     "walDir": null, "parentPid": <the driver's pid, or the relay's with viaParent>,
     "logLevel": <--log-level, default "info">, "conformance": true}

``${walDir}`` names ``<project>/.corral/wal`` (not created) for ``"walDir": "${walDir}"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

import msgspec

from ..context import CaseContext
from ..matcher import describe, match
from ..model import ExpectExit, ExpectHello, ExpectOutput, KillParent, Launch, Signal
from ..outcome import HarnessError, RunnerFailure
from ..process import HELLO_LINE_LIMIT, RunnerProcess
from ..variables import substitute
from ..wire import parse_json_strict

__all__ = ["expect_exit", "expect_hello", "expect_output", "kill_parent", "launch", "signal"]


def _set(ctx: CaseContext, proc: str, name: str, value: object) -> None:
    """Bind ``<proc>.<name>``, and plain ``<name>`` for the default process ``runner``."""
    ctx.vars.set(f"{proc}.{name}", value)
    if proc == "runner":
        ctx.vars.set(name, value)


async def launch(ctx: CaseContext, step: Launch) -> None:
    """Spawn the runner and write its launch record."""
    if step.process in ctx.processes:
        raise HarnessError(f"process {step.process!r} is already launched")

    def on_output(name: str, stream: str, line: str) -> None:
        ctx.transcript.event(stream, process=name, line=line)

    proc = RunnerProcess(
        step.process,
        list(ctx.options.runner_argv),
        via_parent=step.via_parent,
        on_output=on_output,
    )
    ctx.processes[step.process] = proc  # before start: teardown must see it
    try:
        parent_pid = await proc.start()
    except OSError as exc:
        raise HarnessError(f"cannot start the runner command {proc.spawn_argv}: {exc}") from None
    token = secrets.token_hex(32)
    project = str(proc.project)
    _set(ctx, step.process, "project", project)
    _set(ctx, step.process, "parentPid", parent_pid)
    _set(ctx, step.process, "walDir", str(proc.project / ".corral" / "wal"))
    record: dict[str, object] = {
        "protocol": [ctx.schemas.protocol_version],
        "token": token,
        "project": project,
        "env": "conformance",
        "walDir": None,
        "parentPid": parent_pid,
        "logLevel": ctx.options.log_level,
        "conformance": True,
    }
    overrides = substitute(step.record, ctx.vars)
    record.update(overrides)
    for name in step.omit:
        record.pop(name, None)
    effective_token = record.get("token")
    _set(ctx, step.process, "token", effective_token if isinstance(effective_token, str) else token)
    for needle in {token, project, str(proc.project_realpath)}:
        placeholder = "<token>" if needle == token else "<project>"
        ctx.transcript.replace(needle, placeholder)
    shown: dict[str, object] = {}
    if step.raw_line is not None:
        data = str(substitute(step.raw_line, ctx.vars)).encode("utf-8")
        shown["rawLine"] = step.raw_line
    else:
        if step.validate:
            problems = ctx.schemas.violations("launch-record.json", record)
            if problems:
                raise HarnessError(
                    'the launch record violates its schema (set "validate": false if '
                    f"deliberate): {problems[0]}"
                )
        data = json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"
        shown.update({"record": overrides} if overrides else {})
        shown.update({"omit": step.omit} if step.omit else {})
    ctx.transcript.event(
        "launch", process=step.process, argv=proc.spawn_argv, pid=proc.proc.pid if proc.proc else 0
    )
    ctx.transcript.event("stdin", process=step.process, line=data.decode("utf-8", "replace"))
    await proc.write_stdin(data)
    ctx.transcript.step(
        {"step": "launch", "process": step.process, "viaParent": step.via_parent, **shown}
    )


async def expect_hello(ctx: CaseContext, step: ExpectHello) -> None:
    """The first stdout line is a hello (nothing before it); remember its port and pid."""
    proc = ctx.process(step.process)
    assert proc.stdout is not None  # noqa: S101 - started
    try:
        await asyncio.wait_for(proc.stdout.first_line_done.wait(), ctx.seconds(step.within_ms))
    except TimeoutError:
        partial = bytes(proc.stdout.before_first_line[:300]).decode("utf-8", "replace")
        raise RunnerFailure(
            f"no hello line on stdout within {step.within_ms} ms",
            expected="one JSON hello line",
            got=repr(partial) if partial else "nothing",
        ) from None
    if proc.stdout.first_line_overflow:
        raise RunnerFailure(
            f"the first stdout line exceeds {HELLO_LINE_LIMIT} bytes",
            expected="one hello line of at most 64 KiB",
            got=f"{len(proc.stdout.before_first_line)}+ bytes",
        )
    line = proc.stdout.first_line
    if line is None:
        exited, code = await proc.wait_exit(1.0)
        partial = bytes(proc.stdout.before_first_line[:300]).decode("utf-8", "replace")
        status = f" (exit code {code})" if exited else ""
        raise RunnerFailure(
            f"stdout ended before a complete hello line{status}",
            expected="one JSON hello line ending in \\n",
            got=repr(partial) if partial else "nothing",
        )
    shown = line[:300].decode("utf-8", "replace")
    try:
        hello = parse_json_strict(line)
    except ValueError:
        raise RunnerFailure(
            "the first stdout line is not a JSON hello (nothing may precede the hello)",
            expected='{"corral": "hello", ...}',
            got=repr(shown),
        ) from None
    problems = ctx.schemas.violations("hello.json", hello)
    if problems:
        raise RunnerFailure(f"invalid hello: {problems[0]}", got=repr(shown))
    proc.hello = hello
    ctx.transcript.event("hello", process=step.process, hello=hello)
    _set(ctx, step.process, "port", hello["port"])
    _set(ctx, step.process, "pid", hello["pid"])
    _set(ctx, step.process, "helloProtocol", hello["protocol"])
    if step.pattern is not None:
        result = match(substitute(step.pattern, ctx.vars), hello)
        if not result:
            raise RunnerFailure(
                f"hello does not match at {result.path}: {result.reason}",
                expected=describe(step.pattern),
                got=repr(shown),
            )
        ctx.commit(result.captures)
    ctx.transcript.step({"step": "expectHello", "process": step.process, "hello": hello})


async def expect_exit(ctx: CaseContext, step: ExpectExit) -> None:
    """The process exits in time with the expected code (and stdout/stderr conditions)."""
    proc = ctx.process(step.process)
    exited, code = await proc.wait_exit(ctx.seconds(step.within_ms))
    wanted = step.code if not isinstance(step.code, int) else [step.code]
    if not exited:
        raise RunnerFailure(
            f"the runner is still running {step.within_ms} ms later",
            expected=f"exit with code {step.code}" if step.code is not None else "exit",
            got="still running",
        )
    if wanted is not None:
        if code is None:
            raise HarnessError("the exit code is unknowable after killParent: omit code")
        if code not in wanted:
            raise RunnerFailure(
                f"the runner exited with code {code}",
                expected=f"exit code {step.code}",
                got=f"exit code {code}",
            )
    for capture in (proc.stdout, proc.stderr):
        if capture is not None:
            with contextlib.suppress(TimeoutError):  # a grandchild may hold the pipe
                await asyncio.wait_for(capture.eof.wait(), ctx.seconds(1000))
    if step.stdout_empty and proc.stdout is not None and proc.stdout.total:
        written = (bytes(proc.stdout.before_first_line) or bytes(proc.stdout.data))[:300]
        raise RunnerFailure(
            f"the runner wrote {proc.stdout.total} bytes to stdout",
            expected="nothing on stdout",
            got=repr(written.decode("utf-8", "replace")),
        )
    if step.stderr_not_empty and proc.stderr is not None and not proc.stderr.total:
        raise RunnerFailure(
            "the runner wrote nothing to stderr",
            expected="a one-line reason on stderr",
            got="empty stderr",
        )
    ctx.transcript.event("exit", process=step.process, code=code)
    ctx.transcript.step({"step": "expectExit", "process": step.process, "code": code})


async def kill_parent(ctx: CaseContext, step: KillParent) -> None:
    """SIGKILL the relay parent of a ``viaParent`` runner."""
    proc = ctx.process(step.process)
    if not proc.via_parent:
        raise HarnessError("killParent needs a runner launched with viaParent: true")
    await proc.kill_parent()
    ctx.transcript.event("killParent", process=step.process)
    ctx.transcript.step({"step": "killParent", "process": step.process})


async def signal(ctx: CaseContext, step: Signal) -> None:
    """Send a POSIX signal to the spawned runner process (SPEC: the WM signals the process it
    spawned; the hello pid is informative)."""
    if "posixSignals" not in ctx.options.features:
        raise HarnessError("signal steps need a case that requires posixSignals")
    proc = ctx.process(step.process)
    import signal as signals  # noqa: PLC0415 - the step's name shadows the module

    if not step.signal.startswith("SIG") or not hasattr(signals, step.signal):
        raise HarnessError(f"unknown signal {step.signal!r}")
    try:
        proc.send_signal(step.signal)
    except ProcessLookupError as exc:
        raise RunnerFailure(f"cannot signal the runner: {exc}") from None
    ctx.transcript.event("signal", process=step.process, signal=step.signal)
    ctx.transcript.step({"step": "signal", "process": step.process, "signal": step.signal})


def _forwarded(ctx: CaseContext, step: ExpectOutput) -> tuple[str, int, int]:
    """(text of the stream, restricted to ``run_id`` if set; its text bytes; dropped bytes)."""
    texts: list[str] = []
    total = dropped = 0
    for conn in ctx.connections.values():
        if conn.process_name != step.process:
            continue
        for stream, text, run_id, lost in conn.output_records:
            if stream != step.stream:
                continue
            total += len(text.encode("utf-8"))
            dropped += lost
            if step.run_id is msgspec.UNSET or run_id == step.run_id:
                texts.append(text)
    return "".join(texts), total, dropped


async def expect_output(ctx: CaseContext, step: ExpectOutput) -> None:
    """Text reaches the WM in ``runner/output`` notifications of the stream (SPEC: captured
    handler output is forwarded), attributed to ``runId`` if given; with ``accounted``, the
    stream's text and ``dropped`` bytes add up to it (SPEC §10.3 Bound). Notifications are
    collected as they arrive, whether or not a step consumed them."""
    if step.stream not in ("stdout", "stderr") or step.repeat < 1:
        raise HarnessError("stream must be stdout or stderr, repeat >= 1")
    text = str(substitute(step.text, ctx.vars)) * step.repeat
    run_id = step.run_id if step.run_id is msgspec.UNSET else substitute(step.run_id, ctx.vars)
    step = msgspec.structs.replace(step, run_id=run_id)
    where = "" if run_id is msgspec.UNSET else f" with runId {json.dumps(run_id)}"
    deadline = time.monotonic() + ctx.seconds(step.within_ms)
    while True:
        forwarded, total, dropped = _forwarded(ctx, step)
        if step.max_text is not None and total > step.max_text:
            raise RunnerFailure(
                f"{total} bytes of text arrived on {step.stream}, over the bound",
                expected=f"at most {step.max_text} bytes of text (the rest counted in dropped)",
                got=f"{total} bytes of text, dropped {dropped}",
            )
        if step.accounted is not None and total + dropped > step.accounted:
            raise RunnerFailure(
                f"text plus dropped on {step.stream} exceed what was written",
                expected=f"{step.accounted} bytes in text and dropped",
                got=f"{total} bytes of text + dropped {dropped}",
            )
        done = text in forwarded and (step.accounted is None or total + dropped == step.accounted)
        if done:
            break
        if time.monotonic() >= deadline:
            raise RunnerFailure(
                f"{describe(text, 60)} did not arrive in runner/output{where} within "
                f"{step.within_ms} ms"
                + ("" if step.accounted is None else f" (accounted: {total + dropped})"),
                expected=f"runner/output notifications ({step.stream}){where} carrying the text"
                + ("" if step.accounted is None else f", text + dropped = {step.accounted}"),
                got=f"{len(forwarded)} characters forwarded on {step.stream}{where}: "
                f"{describe(forwarded[-200:], 200)}; text bytes {total}, dropped {dropped}",
            )
        await asyncio.sleep(0.02)
    shown: dict[str, Any] = {"step": "expectOutput", "stream": step.stream}
    shown["text"] = describe(text, 100)
    if run_id is not msgspec.UNSET:
        shown["runId"] = run_id
    if step.accounted is not None:
        shown["accounted"] = step.accounted
    ctx.transcript.step(shown)
