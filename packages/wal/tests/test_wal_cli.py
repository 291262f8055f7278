"""``python -m corral_wal`` as a real subprocess: output, exit codes, follow."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from corral_wal import (
    HANDLER_STARTED,
    RUN_ACCEPTED,
    RUN_FINISHED,
    WalWriter,
    build_history,
    checksum,
    list_segments,
    read_wal,
    render_text,
)
from corral_wal.cli import parse_since


def wal(
    *args: str, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral_wal", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def write_run(wal_dir: Path, run_id: str = "r-1", *, child: str | None = None) -> None:
    with WalWriter(wal_dir, "wm") as w:
        w.append(RUN_ACCEPTED, run_id=run_id, action="lint", payload=accepted())
        if child:
            w.append(RUN_ACCEPTED, run_id=child, parent_run_id=run_id, payload=accepted(1))
            w.append(RUN_FINISHED, run_id=child, parent_run_id=run_id, payload={"status": "ok"})
        w.append(RUN_FINISHED, run_id=run_id, action="lint", payload={"status": "ok"})


def accepted(depth: int = 0) -> dict[str, Any]:
    return {"scope": "action", "source": "cli", "depth": depth}


def test_help_explains_commands_with_an_example() -> None:
    result = wal("--help")
    assert result.returncode == 0
    for word in ("show", "follow", "verify", "examples:", "exit codes"):
        assert word in result.stdout
    for command in ("show", "follow", "verify"):
        sub = wal(command, "--help")
        assert sub.returncode == 0
        assert "--dir" in sub.stdout
        assert "examples:" in sub.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert wal().returncode == 2
    assert wal("frobnicate").returncode == 2
    result = wal("show", "--dir", str(tmp_path), "--since", "yesterday-ish")
    assert result.returncode == 2
    assert "invalid time" in result.stderr
    missing = wal("verify", "--dir", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "no WAL directory" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_show_prints_the_same_tree_as_the_library(tmp_path: Path) -> None:
    write_run(tmp_path, child="r-2")
    result = wal("show", "--dir", str(tmp_path), "--run", "r-1")
    assert result.returncode == 0, result.stderr
    history = build_history(read_wal(tmp_path).records)
    assert result.stdout == render_text([history.runs["r-1"]])
    assert "run r-2" in result.stdout
    assert result.stderr == ""


def test_show_json_and_unknown_run(tmp_path: Path) -> None:
    write_run(tmp_path)
    result = wal("show", "--dir", str(tmp_path), "--format", "json")
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert [i["kind"] for i in document["items"]] == ["record", "run", "record"]
    unknown = wal("show", "--dir", str(tmp_path), "--run", "r-404")
    assert unknown.returncode == 1
    assert "no records of run 'r-404'" in unknown.stderr


def test_show_finds_the_workspace_wal_from_a_subdirectory(tmp_path: Path) -> None:
    write_run(tmp_path / ".corral" / "wal")
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    result = wal("show", "--run", "r-1", cwd=sub)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("run r-1 lint: ok")


def test_show_warns_about_damage_but_shows_the_rest(tmp_path: Path) -> None:
    write_run(tmp_path)
    segment = list_segments(tmp_path / "wm")[0][1]
    lines = segment.read_bytes().splitlines(True)
    lines[1] = lines[1].replace(b"lint", b"lynt")
    segment.write_bytes(b"".join(lines))
    result = wal("show", "--dir", str(tmp_path), "--run", "r-1")
    assert result.returncode == 0
    assert "run r-1" in result.stdout
    assert "1 damaged item(s) skipped" in result.stderr


def test_a_checksummed_line_of_invalid_utf8_is_damage_like_any_other(tmp_path: Path) -> None:
    """A frame whose checksum is right but whose body is not UTF-8 once made ``show`` and
    ``verify`` raise UnicodeDecodeError, so the whole WAL directory was unreadable."""
    write_run(tmp_path)
    segment = list_segments(tmp_path / "wm")[0][1]
    lines = segment.read_bytes().splitlines(True)
    body = lines[1][9:-1].replace(b"lint", b"l\xffnt")
    assert body != lines[1][9:-1]
    lines[1] = b"%08x %s\n" % (checksum(body), body)
    segment.write_bytes(b"".join(lines))
    shown = wal("show", "--dir", str(tmp_path), "--run", "r-1")
    assert shown.returncode == 0, shown.stderr
    assert "run r-1" in shown.stdout
    assert "1 damaged item(s) skipped" in shown.stderr
    verified = wal("verify", "--dir", str(tmp_path), "--format", "json")
    assert verified.returncode == 1, verified.stderr
    damage = json.loads(verified.stdout)["streams"][0]["damage"]
    assert [d["kind"] for d in damage] == ["bad-json"]
    assert "not valid UTF-8" in damage[0]["detail"]


def test_verify_exit_codes(tmp_path: Path) -> None:
    write_run(tmp_path)
    ok = wal("verify", "--dir", str(tmp_path))
    assert ok.returncode == 0, ok.stdout
    assert "wm: ok" in ok.stdout
    segment = list_segments(tmp_path / "wm")[0][1]
    with segment.open("ab") as f:
        f.write(b"0badf00d {")
    torn = wal("verify", "--dir", str(tmp_path))
    assert torn.returncode == 1
    assert "torn-tail" in torn.stdout
    report = json.loads(wal("verify", "--dir", str(tmp_path), "--format", "json").stdout)
    assert report["ok"] is False
    assert report["streams"][0]["damage"][0]["kind"] == "torn-tail"


class LinePump:
    """Reads a text stream on a thread; :meth:`wait_for` blocks until a condition on the
    lines read so far holds (or fails at the deadline)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in iter(stream.readline, ""):
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(
        self, condition: Callable[[list[str]], bool], what: str, timeout: float = 20
    ) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self.lines), timeout):
                raise AssertionError(f"timed out waiting for {what}; got {self.lines!r}")

    def join(self) -> None:
        self._thread.join(5)


def test_follow_prints_new_records_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    write_run(tmp_path, "r-old")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "corral_wal",
            "follow",
            "--dir",
            str(tmp_path),
            "--run",
            "r-new",
            "--interval",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = LinePump(proc.stdout), LinePump(proc.stderr)
    try:
        # Its one stderr line says the existing history is skipped: from now on, every
        # record written is shown.
        err.wait_for(lambda lines: any(ln.startswith("following ") for ln in lines), "ready")
        with WalWriter(tmp_path, "runner-dev-1") as w:  # a stream that appears later
            w.append(RUN_ACCEPTED, run_id="r-new", payload=accepted())
            w.append(HANDLER_STARTED, run_id="r-new", payload={"handler": "ruff"})
            w.append(RUN_ACCEPTED, run_id="r-kid", parent_run_id="r-new", payload=accepted(1))
            w.append(RUN_ACCEPTED, run_id="r-other", payload=accepted())
        out.wait_for(lambda lines: len(lines) >= 3, "three records")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        out.join()
        err.join()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0
    stderr = "".join(err.lines)
    assert stderr == f"following {tmp_path} (Ctrl-C stops)\n"
    lines = out.lines
    events = [line.split()[2] for line in lines]
    assert events == ["run.accepted", "handler.started", "run.accepted"]
    assert "run=r-kid parent=r-new" in lines[2]
    assert not any("r-old" in line or "r-other" in line for line in lines)


def test_parse_since_accepts_instants_dates_and_ages() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == "2026-11-21T10:00:00.000000Z"
    assert parse_since("90s", now) == "2026-11-21T11:58:30.000000Z"
    assert parse_since("2026-11-20", now) == "2026-11-20T00:00:00.000000Z"
    assert parse_since("2026-11-21T13:00:00+01:00", now) == "2026-11-21T12:00:00.000000Z"


def test_show_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    with WalWriter(tmp_path, "wm") as w:  # far more output than a pipe buffer holds
        for n in range(1500):
            w.append(RUN_ACCEPTED, run_id=f"r-{n}", action="lint", payload=accepted())
    show = subprocess.Popen(
        [sys.executable, "-m", "corral_wal", "show", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert show.stdout is not None
    show.stdout.readline()
    show.stdout.close()  # the reader goes away, like `| head -n 1`
    _, stderr = show.communicate(timeout=60)
    assert show.returncode == 0
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr
