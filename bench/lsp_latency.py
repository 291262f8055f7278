"""Edit-to-diagnostics latency of ``corral lsp`` against ``ruff server`` and a bare ruff process.

On a generated 300-line module with findings, in one project using the ``corral-python``
preset (envs prepared first), the same minimal LSP client drives each server over stdio:
``initialize``, ``didOpen``, then ``--edits`` full-text ``didChange`` edits (an unused import
added and removed in turn), timing each from the ``didChange`` to the
``publishDiagnostics`` of that document version. Also timed:

* a bare ``ruff check --stdin-filename`` process per edit (the floor a checker that starts
  a process per edit pays);
* ``corral lsp``'s first diagnostics after ``initialize`` on a workspace whose server is not
  running (it starts one, and the runners).

``corral lsp`` runs with ``debounce: 0`` (its default of 250 ms waits for typing to pause;
the targets are about the work, not the wait) and ``ruff server`` uses the env's ruff (the
same version). Printed: min/median/p99/max per series and the ratios of the targets:
corral p50 <= 1.0x a bare ruff process, p50 <= 3x ruff server, p99 <= 2x its own p50.

    uv run python bench/lsp_latency.py [--edits 200] [--lines 300]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

MODULE_LINE = "def function_{n}(value: int) -> int:\n    return value * {n}  # line {n}\n\n\n"


def generate(root: Path, lines: int) -> Path:
    project = root / "proj"
    package = project / "src" / "proj"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0"\n\n[tool.corral]\npresets = ["corral-python"]\n'
    )
    (package / "__init__.py").write_text("")
    body = "".join(MODULE_LINE.format(n=n) for n in range(lines // 4))
    module = package / "module.py"
    module.write_text('"""A module with findings."""\n\nimport os\nimport json\n\n\n' + body)
    return module


class LspClient:
    """A minimal LSP client over a subprocess's stdio (Content-Length framing)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.published: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, argv: list[str], cwd: Path, env: dict[str, str]) -> LspClient:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
        )
        return cls(proc)

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = msgspec.json.encode({"jsonrpc": "2.0", **message})
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def request(self, method: str, params: Any) -> Any:
        ident = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[ident] = future
        self._send({"id": ident, "method": method, "params": params})
        return await asyncio.wait_for(future, 120)

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    async def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            header = await stream.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            message = msgspec.json.decode(await stream.readexactly(length))
            if "id" in message and "method" not in message:
                future = self.waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message.get("result"))
            elif "id" in message:  # a request from the server: answer it, empty
                self._send({"id": message["id"], "result": None})
            elif message.get("method") == "textDocument/publishDiagnostics":
                await self.published.put(message["params"])

    def drain(self) -> None:
        """Forget what was published so far (before an edit: nothing stale can answer it)."""
        while not self.published.empty():
            self.published.get_nowait()

    async def diagnostics_for(self, uri: str, version: int) -> list[Any]:
        """The first publication for ``uri`` after :meth:`drain`: of ``version``, or without a
        version (a server that does not send one)."""
        while True:
            params = await asyncio.wait_for(self.published.get(), 120)
            if params["uri"] == uri and params.get("version") in (version, None):
                return list(params["diagnostics"])

    async def close(self) -> None:
        with _suppressed():
            await asyncio.wait_for(self.request("shutdown", None), 10)
            self.notify("exit", None)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()


class _suppressed:  # noqa: N801
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


async def session(
    argv: list[str], module: Path, text: str, edits: int, *, env: dict[str, str], options: Any
) -> tuple[float, list[float]]:
    """(seconds to the first diagnostics after initialize, latency of each edit); the
    workspace root is the module's grandparent's parent (``ws``)."""
    root = module.parents[3]
    client = await LspClient.start(argv, root, env)
    uri = module.as_uri()
    started = time.perf_counter()
    await client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": "bench"}],
            "capabilities": {"textDocument": {"publishDiagnostics": {"versionSupport": True}}},
            "initializationOptions": options,
        },
    )
    client.notify("initialized", {})
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
    )
    await client.diagnostics_for(uri, 1)
    first = time.perf_counter() - started
    latencies = []
    for version in range(2, edits + 2):
        edited = "import sys\n" + text if version % 2 == 0 else text
        await asyncio.sleep(0.005)  # a late duplicate of the last publication lands first
        client.drain()
        sent = time.perf_counter()
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": edited}],
            },
        )
        found = await client.diagnostics_for(uri, version)
        latencies.append(time.perf_counter() - sent)
        unused = any("`sys` imported but unused" in d.get("message", "") for d in found)
        if unused != (version % 2 == 0):  # the answer must be about this edit's text
            raise SystemExit(f"{argv[0]}: diagnostics of v{version} do not match its text")
    await client.close()
    return first, latencies


def bare_ruff(ruff: Path, module: Path, edits: int) -> list[float]:
    text = module.read_text()
    times = []
    for version in range(edits):
        edited = "import sys\n" + text if version % 2 == 0 else text
        started = time.perf_counter()
        subprocess.run(
            [str(ruff), "check", "--output-format=json", "--stdin-filename", str(module), "-"],
            input=edited.encode(),
            capture_output=True,
            cwd=module.parent,
            check=False,
        )
        times.append(time.perf_counter() - started)
    return times


def _row(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"  {name:28s} min {ms[0]:7.1f}  median {statistics.median(ms):7.1f}  "
        f"p99 {p99:7.1f}  max {ms[-1]:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--lines", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="corral-lsp-bench-"))
    runtime = work / "runtime"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "CORRAL_SERVER")}
    env.update(CORRAL_RUNTIME_DIR=str(runtime), CORRAL_RESULT_CACHE="0")
    corral = [sys.executable, "-m", "corral"]
    try:
        module = generate(work / "ws", args.lines)
        root = work / "ws"
        subprocess.run(
            [*corral, "-C", str(root), "--no-server", "prepare-envs"],
            env=env,
            check=True,
            capture_output=True,
        )
        ruff = root / "proj" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "ruff"
        options = {"debounce": 0}

        text = module.read_text()
        lsp = [*corral, "lsp"]
        cold_first, _ = asyncio.run(session(lsp, module, text, 1, env=env, options=options))
        _, corral_lat = asyncio.run(
            session(lsp, module, text, args.edits, env=env, options=options)
        )
        _, ruff_lat = asyncio.run(
            session([str(ruff), "server"], module, text, args.edits, env=env, options=None)
        )
        bare = bare_ruff(ruff, module, args.edits)
        subprocess.run(
            [*corral, "-C", str(root), "server", "stop"], env=env, capture_output=True, check=False
        )

        print(f"LSP latency, {args.edits} edits of a {args.lines}-line module (debounce 0)")
        print(_row("corral lsp (warm)", corral_lat))
        print(_row("ruff server", ruff_lat))
        print(_row("bare ruff process per edit", bare))
        print(f"  corral lsp first diagnostics, no server running: {cold_first:.2f} s")
        med = statistics.median
        p50 = med(corral_lat)
        p99 = sorted(corral_lat)[min(len(corral_lat) - 1, int(len(corral_lat) * 0.99))]
        print(f"ratio corral p50 / bare ruff p50:   {p50 / med(bare):.2f}x (target <= 1.0)")
        print(f"ratio corral p50 / ruff server p50: {p50 / med(ruff_lat):.2f}x (target <= 3.0)")
        print(f"ratio corral p99 / its p50:         {p99 / p50:.2f}x (target <= 2.0)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
