"""The JavaScript handlers run by the real Node runner over the protocol, with real ESLint
and Prettier installed by npm."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec
from corral_protocol.messages import ActionConfig, ConfigureParams, ConfigureResult, HandlerSpec
from corral_protocol.results import ToolResult
from nodejs_runtime import RUNNER_SCRIPT
from runner_harness import failure, ok, run, running

PACKAGE = Path(__file__).resolve().parents[1]
SOURCE = str(PACKAGE / "src" / "index.js")

# The configuration imports nothing: packages it would import resolve from the project
# (ESLint loads it with Node's own resolution), not from the tools' directory.
ESLINT_CONFIG = """\
export default [
  { rules: { "no-unused-vars": "error", "prefer-const": "warn", semi: ["warn", "always"] } },
];
"""
# prefer-const on line 1 (fixable), no-unused-vars for `unused` (line 2, 0-based 6..12).
APP = 'let greeting = "héllo 😀";\nconst unused = 1;\nconsole.log(greeting);\n'
UGLY = "const  x = {a:1,\n  b:2}\nconsole.log( x )\n"
PRETTY = "const x = { a: 1, b: 2 };\nconsole.log(x);\n"


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def sample(tmp_path: Path) -> Path:
    return project(
        tmp_path / "web",
        {
            "eslint.config.js": ESLINT_CONFIG,
            "package.json": '{\n  "name": "web",\n  "type": "module"\n}\n',
            "src/app.js": APP,
            "src/ugly.js": UGLY,
            "src/broken.js": "const = ;\n",
        },
    )


async def configure(runner: Any) -> None:
    handlers = {
        "lint": [("eslint", f"{SOURCE}:lint")],
        "format": [("prettier", f"{SOURCE}:format")],
        "check-format": [("prettier", f"{SOURCE}:checkFormat")],
    }
    config = {
        a: ActionConfig(handlers=[HandlerSpec(name=n, source=s) for n, s in h], mode="sequential")
        for a, h in handlers.items()
    }
    result = await runner.conn.request(
        "runner/configure", ConfigureParams(actions=config), result_type=ConfigureResult
    )
    assert all(h.status == "loaded" for h in result.handlers), result.handlers


def argv(node: Path, modules: Path) -> list[str]:
    return [str(node), str(RUNNER_SCRIPT), "--modules", str(modules)]


def tool_result(data: Any) -> ToolResult:
    return msgspec.convert(data, ToolResult)


def test_eslint_findings_fixes_and_syntax_error(tmp_path: Path, node: Path, js_tools: Path) -> None:
    root = sample(tmp_path)

    async def scenario() -> None:
        async with running(root, argv=argv(node, js_tools), env="tools") as runner:
            await configure(runner)
            done = await runner.run("lint", {})
            data = ok(done)
            tool_result(data)  # the standard shape (SPEC §13)
            by = {(d["file"], d["code"]): d for d in data["diagnostics"]}
            unused = by[("src/app.js", "no-unused-vars")]
            assert unused["range"] == {
                "start": {"line": 1, "character": 6},
                "end": {"line": 1, "character": 12},
            }
            assert unused["severity"] == "error"
            assert unused["url"].startswith("https://eslint.org/docs/")
            assert unused["tags"] == ["unnecessary"]
            prefer = by[("src/app.js", "prefer-const")]
            assert prefer["severity"] == "warning"
            assert prefer["fixable"] is True
            (edit,) = prefer["fix"]["edits"]
            assert edit["newText"] == 'const greeting = "héllo 😀";'
            # Code points, not UTF-16 units (the emoji is two of those): 25, not 26.
            assert edit["range"] == {
                "start": {"line": 0, "character": 0},
                "end": {"line": 0, "character": 25},
            }
            # The syntax error: a finding without a rule, severity error.
            broken = by[("src/broken.js", None)]
            assert broken["severity"] == "error"
            assert broken["range"]["start"]["line"] == 0
            assert data["summary"]["eslint"]["findings"] == len(data["diagnostics"])
            (outcome,) = done.handlers
            assert outcome.inputs is not None
            assert outcome.inputs.tree

            # A semicolon missing after an astral character: columns count code points.
            docs = [{"path": "src/new.js", "text": 'console.log("😀😀")\n'}]
            data = ok(await runner.run("lint", {"documents": docs, "paths": ["src"]}))
            (semi,) = data["diagnostics"]
            assert (semi["file"], semi["code"]) == ("src/new.js", "semi")
            assert semi["fix"]["edits"][0]["range"]["start"] == {"line": 0, "character": 17}
            assert semi["fix"]["edits"][0]["newText"] == ";"

            data = ok(await runner.run("lint", {"only": ["no-unused"]}))
            codes = sorted((d["file"], d["code"]) for d in data["diagnostics"])
            assert codes == [("src/app.js", "no-unused-vars"), ("src/broken.js", None)]

            data = ok(await runner.run("lint", {"documents": docs, "fix": True}))
            assert data["diagnostics"] == []
            assert data["changed"] == []
            assert [e["formatted"] for e in data["edits"]] == ['console.log("😀😀");\n']
            assert data["summary"]["eslint"]["fixed"] == 1

            data = ok(await runner.run("lint", {"paths": ["src/app.js"], "fix": True}))
            assert data["changed"] == ["src/app.js"]
            assert data["summary"]["eslint"]["fixed"] == 1
            assert [d["code"] for d in data["diagnostics"]] == ["no-unused-vars"]
            assert (root / "src/app.js").read_text(encoding="utf-8").startswith("const greeting")

            kind, message = failure(await runner.run("lint", {"unsafeFixes": True}))
            assert kind == "UnsupportedParam"
            assert "`unsafeFixes`" in message

    run(scenario())


def test_prettier_edits_check_and_write(tmp_path: Path, node: Path, js_tools: Path) -> None:
    root = sample(tmp_path)
    (root / "src/app.js").write_text('let greeting = "hi";\n', encoding="utf-8")
    (root / "eslint.config.js").write_text("export default [];\n", encoding="utf-8")

    async def scenario() -> None:
        async with running(root, argv=argv(node, js_tools), env="tools") as runner:
            await configure(runner)
            data = ok(await runner.run("check-format", {}))
            tool_result(data)
            codes = sorted((d["file"], d["code"], d["severity"]) for d in data["diagnostics"])
            assert codes == [
                ("src/broken.js", "syntax-error", "error"),
                ("src/ugly.js", "format", "warning"),
            ]
            assert data["summary"]["prettier"]["changed"] == 1

            data = ok(await runner.run("format", {"paths": ["src/ugly.js"]}))
            (edit,) = data["edits"]
            assert edit["file"] == "src/ugly.js"
            assert edit["formatted"] == PRETTY
            assert edit["original"] == hashlib.sha256(UGLY.encode()).hexdigest()
            assert (root / "src/ugly.js").read_text() == UGLY  # nothing written

            docs = [{"path": "src/ugly.js", "text": "let  y=2\n"}]
            data = ok(await runner.run("format", {"documents": docs}))
            assert [e["formatted"] for e in data["edits"]] == ["let y = 2;\n"]

            data = ok(await runner.run("format", {"paths": ["src"], "write": True}))
            assert data["changed"] == ["src/ugly.js"]
            assert (root / "src/ugly.js").read_text() == PRETTY
            data = ok(await runner.run("check-format", {"paths": ["src/ugly.js"]}))
            assert data["diagnostics"] == []

    run(scenario())


def test_missing_eslint_names_env_and_dependency(
    tmp_path: Path, node: Path, empty_modules: Path
) -> None:
    root = sample(tmp_path)

    async def scenario() -> None:
        async with running(root, argv=argv(node, empty_modules), env="web_tools") as runner:
            await configure(runner)
            kind, message = failure(await runner.run("lint", {}))
            assert kind == "ToolMissing"
            assert 'environment "web_tools"' in message
            assert '"eslint@^9"' in message
            assert "[tool.corral.envs.web_tools]" in message
            kind, message = failure(await runner.run("format", {}))
            assert kind == "ToolMissing"
            assert '"prettier@^3"' in message

    run(scenario())
