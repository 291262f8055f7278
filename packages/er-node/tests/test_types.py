"""The handler SDK's type declarations (types/index.d.ts) check with ``tsc --noEmit``.

TypeScript comes from the npm registry at test time (``npx -p typescript@5``); without
npx or network the tests skip, saying so. The second test proves the check can fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from nodejs_runtime import PACKAGE

TYPES_DIR = PACKAGE / "tests" / "types"


def tsc(node: Path, project: Path) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx", path=str(node.parent)) or shutil.which("npx")
    if npx is None:
        pytest.skip("no npx next to node or on PATH: cannot fetch TypeScript")
    proc = subprocess.run(
        [npx, "--yes", "-p", "typescript@5", "tsc", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if "ENOTFOUND" in proc.stderr or "EAI_AGAIN" in proc.stderr or "ECONNREFUSED" in proc.stderr:
        pytest.skip(f"TypeScript cannot be fetched from npm: {proc.stderr.strip()[-300:]}")
    return proc


@pytest.mark.timeout(330)
def test_sdk_declarations_check(node: Path) -> None:
    proc = tsc(node, TYPES_DIR / "tsconfig.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(330)
def test_a_misused_sdk_fails_the_check(node: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.ts").write_text(
        'import type { Handler } from "corral-runner-node";\n'
        "export const h: Handler = async (ctx) => { ctx.progres(1); return undefined; };\n"
    )
    config = json.loads((TYPES_DIR / "tsconfig.json").read_text())
    config["files"] = ["bad.ts"]
    declarations = str(PACKAGE / "types" / "index.d.ts")
    config["compilerOptions"]["paths"] = {"corral-runner-node": [declarations]}
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    proc = tsc(node, tmp_path / "tsconfig.json")
    assert proc.returncode != 0
    assert "progres" in proc.stdout
