"""Why an environment could not be prepared: one exception type and its report format."""

from __future__ import annotations

from corral.envs.request import EnvRequest
from corral.envs.status import format_command
from corral.envs.uvtool import CommandResult

__all__ = ["ERROR_TAIL_LINES", "EnvPrepareError", "command_failure", "what"]

ERROR_TAIL_LINES = 40


class EnvPrepareError(Exception):
    """One environment could not be prepared; ``str()`` is the full report."""


def what(request: EnvRequest) -> str:
    """``environment 'dev' of project /path`` for messages."""
    return f"environment {request.name!r} of project {request.project}"


_NPM_ERROR_PREFIXES = ("npm error ", "npm ERR! ")


def _error_line(output: str) -> str | None:
    """The tool's own one-line diagnosis, if any: uv's first ``error: ...`` line, or npm's
    first ``npm error ...`` line that is not its ``code`` line."""
    for line in output.splitlines():
        if line.startswith("error:"):
            return line.removeprefix("error:").strip() or None
        for prefix in _NPM_ERROR_PREFIXES:
            rest = line.removeprefix(prefix).strip() if line.startswith(prefix) else ""
            if rest and not rest.startswith("code "):
                return rest
    return None


def command_failure(request: EnvRequest, step: str, result: CommandResult, why: str) -> str:
    """A failed command's report: headline (with uv's diagnosis), command, output tail."""
    tail = result.tail(ERROR_TAIL_LINES) or "(no output)"
    indented = "\n".join(f"  {line}" for line in tail.splitlines())
    diagnosis = _error_line(result.output)
    headline = f"{what(request)}: {step} failed ({why})"
    if diagnosis:
        headline += f": {diagnosis}"
    return (
        f"{headline}\n"
        f"command: {format_command(list(result.argv))}\n"
        f"output (last {ERROR_TAIL_LINES} lines):\n{indented}"
    )
