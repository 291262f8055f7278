"""Running one case against one runner command, to exactly one outcome.

Contract of :func:`run_case`: it never raises (except ``CancelledError``); whatever happens
it tears the case's processes and connections down and returns a
:class:`~corral_conformance.outcome.CaseResult`:

* ``pass`` when every step succeeded and no protocol violation was noticed;
* ``fail`` when the runner broke a rule, including overrunning the case's time budget
  (``timeoutMs``, default 60 s, scaled) - with the deciding step, expected/got and the
  runner's stderr tail;
* ``skip`` when a requirement is unmet (platform feature or runner capability);
* ``harness-error`` for an unusable case file, a requirement the case never lets the driver
  evaluate, a runner command that cannot be started, or any unexpected exception.
"""

from __future__ import annotations

import asyncio
import time
import traceback

from .context import CaseContext, RunOptions
from .loader import LoadedCase
from .outcome import CaseResult, HarnessError, RunnerFailure, SkipCase, Status
from .protocol import ProtocolSchemas
from .steps import run_steps

__all__ = ["DEFAULT_CASE_TIMEOUT_MS", "run_case"]

DEFAULT_CASE_TIMEOUT_MS = 60_000


def _check_requirements_evaluated(ctx: CaseContext, requires: list[str]) -> None:
    """A case that requires capabilities must let the driver learn them (initialize)."""
    if not ctx.evaluate_requirements(requires):
        raise HarnessError(
            f"the case requires {requires} but never initializes, so the runner's "
            "capabilities stay unknown"
        )


async def run_case(loaded: LoadedCase, options: RunOptions, schemas: ProtocolSchemas) -> CaseResult:
    """Run one loaded case; see the module docstring."""
    started = time.monotonic()
    if loaded.case is None or loaded.error is not None:
        return CaseResult(
            loaded.id, Status.HARNESS_ERROR, message=loaded.error or "unusable case file"
        )
    case = loaded.case
    ctx = CaseContext(loaded.id, options, schemas)
    result = CaseResult(loaded.id, Status.PASS, rule=case.rule)
    budget_ms = case.timeout_ms or DEFAULT_CASE_TIMEOUT_MS
    try:
        ctx.evaluate_requirements(case.requires)  # platform features are known at once
        budget = asyncio.timeout(ctx.seconds(budget_ms))
        try:
            async with budget:
                await run_steps(ctx, case.steps, case.requires)
        except TimeoutError:
            if not budget.expired():
                raise
            raise RunnerFailure(
                f"the case did not finish within its {budget_ms} ms budget",
                expected="every step finishes",
                got=f"still in step {ctx.step_path} ({ctx.step_kind})",
            ) from None
        ctx.check_violations()
        _check_requirements_evaluated(ctx, case.requires)
    except SkipCase as exc:
        result.status, result.message = Status.SKIP, str(exc)
    except RunnerFailure as exc:
        result.status, result.message = Status.FAIL, exc.message
        result.expected, result.got = exc.expected, exc.got
        result.step, result.step_kind = ctx.step_path or None, ctx.step_kind or None
    except HarnessError as exc:
        result.status, result.message = Status.HARNESS_ERROR, str(exc)
        result.step, result.step_kind = ctx.step_path or None, ctx.step_kind or None
    except Exception as exc:
        result.status = Status.HARNESS_ERROR
        result.message = f"driver error: {exc.__class__.__name__}: {exc}"
        result.detail = traceback.format_exc()
        result.step, result.step_kind = ctx.step_path or None, ctx.step_kind or None
    finally:
        await asyncio.shield(ctx.teardown())
    if result.status in (Status.FAIL, Status.HARNESS_ERROR):
        result.stderr_tail = ctx.stderr_tail()
    result.transcript = ctx.transcript.raw()
    result.normalised = ctx.transcript.normalised()
    result.duration_s = time.monotonic() - started
    return result
