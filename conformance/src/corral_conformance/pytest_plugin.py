"""pytest plugin: ``pytest --corral-runner "<command>"`` runs every conformance case as a test.

Registered through the ``pytest11`` entry point, so it is loaded by *every* pytest run where
``corral-conformance`` is installed. Without ``--corral-runner``/``--corral-runner-argv`` it
does nothing but declare its options: no collection, no imports of the driver (those happen
lazily, inside the hooks, only when a runner is given).

Options: ``--corral-runner CMD`` (shlex-split) or ``--corral-runner-argv JSON``,
``--corral-case GLOB`` (repeatable), ``--corral-cases-dir DIR``,
``--corral-expected-failures FILE`` (listed cases become strict xfails: a listed case that
passes fails the run, like the CLI's stale-baseline rule), ``--corral-timeout-scale F`` and
``--corral-only`` (deselect every other collected test). Outcomes map to pytest's: pass,
fail (runner failure), skip (unmet requirement), and harness errors fail with a message
starting ``HARNESS ERROR`` so they are never mistaken for runner failures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .context import RunOptions
    from .loader import LoadedCase
    from .outcome import CaseResult
    from .protocol import ProtocolSchemas

__all__ = ["CaseItem", "CorralSuite"]

_SCHEMAS_KEY: pytest.StashKey[ProtocolSchemas] = pytest.StashKey()
_OPTIONS_KEY: pytest.StashKey[RunOptions] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's options (the only thing it does without a runner)."""
    group = parser.getgroup("corral-conformance", "Corral runner conformance suite")
    group.addoption("--corral-runner", help="runner command line to test (shlex-split)")
    group.addoption("--corral-runner-argv", help='runner argv as a JSON array ["node","r.js"]')
    group.addoption(
        "--corral-case", action="append", default=[], metavar="GLOB", help="case id glob"
    )
    group.addoption("--corral-cases-dir", help="directory of cases (default: the shipped ones)")
    group.addoption("--corral-expected-failures", help="baseline file of expected failures")
    group.addoption("--corral-timeout-scale", type=float, default=1.0, help="timeout factor")
    group.addoption("--corral-only", action="store_true", help="deselect all other tests")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("corral_runner") or config.getoption("corral_runner_argv"))


class CaseError(Exception):
    """Carries a failed or errored :class:`CaseResult` to :meth:`CaseItem.repr_failure`."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.message)
        self.result = result


class CaseItem(pytest.Item):
    """One conformance case run against the configured runner."""

    def __init__(self, *, loaded: LoadedCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        # A case takes no fixtures. Plugins that wrap every test's call (pytest-lsp 1.0)
        # assume items have ``funcargs`` and, without it, break the run for every item.
        self.funcargs: dict[str, object] = {}

    def runtest(self) -> None:
        """Run the case; map its outcome to pytest's."""
        import asyncio  # noqa: PLC0415 - lazy: the plugin loads in every pytest run

        from .engine import run_case  # noqa: PLC0415
        from .outcome import Status  # noqa: PLC0415

        schemas = self.config.stash[_SCHEMAS_KEY]
        options = self.config.stash[_OPTIONS_KEY]
        result = asyncio.run(run_case(self.loaded, options, schemas))
        if result.status is Status.SKIP:
            pytest.skip(result.message)
        if result.status is not Status.PASS:
            raise CaseError(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        """The driver's own failure explanation, plus the raw transcript."""
        if not isinstance(excinfo.value, CaseError):
            return str(super().repr_failure(excinfo, style=style))
        from .outcome import Status  # noqa: PLC0415
        from .report import failure_block  # noqa: PLC0415
        from .transcript import render  # noqa: PLC0415

        result = excinfo.value.result
        prefix = "HARNESS ERROR (the driver or the case file is at fault)\n"
        head = prefix if result.status is Status.HARNESS_ERROR else ""
        return f"{head}{failure_block(result)}\n-- transcript\n{render(result.transcript)}"

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Point reports at the case file."""
        return self.loaded.path, None, f"conformance case {self.loaded.id}"


class CorralSuite(pytest.Collector):
    """The collector of the conformance cases (parent of the :class:`CaseItem` s)."""

    def collect(self) -> list[pytest.Item]:
        """One item per selected case."""
        from .loader import CaseLoader  # noqa: PLC0415
        from .paths import cases_dir  # noqa: PLC0415

        config = self.config
        root = config.getoption("corral_cases_dir")
        loader = CaseLoader(Path(root) if root else cases_dir())
        cases = loader.select(config.getoption("corral_case"))
        expected: dict[str, str] = {}
        baseline_file = config.getoption("corral_expected_failures")
        if baseline_file:
            from .baseline import load_baseline  # noqa: PLC0415

            expected = load_baseline(Path(baseline_file)).entries
        items: list[pytest.Item] = []
        for loaded in cases:
            item = CaseItem.from_parent(self, name=loaded.id, loaded=loaded)
            if loaded.id in expected:
                reason = expected[loaded.id] or "listed in the expected-failures baseline"
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
            items.append(item)
        return items


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the cases (before -k/-m deselection sees the items) when a runner is given."""
    if not _enabled(config):
        return
    from .cli import parse_runner_argv, resolve_relative_paths  # noqa: PLC0415
    from .context import RunOptions  # noqa: PLC0415
    from .protocol import ProtocolSchemas  # noqa: PLC0415

    try:
        argv = parse_runner_argv(
            config.getoption("corral_runner"), config.getoption("corral_runner_argv")
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_OPTIONS_KEY] = RunOptions(
        tuple(resolve_relative_paths(argv)),
        timeout_scale=config.getoption("corral_timeout_scale"),
    )
    config.stash[_SCHEMAS_KEY] = ProtocolSchemas()
    suite = CorralSuite.from_parent(session, name="corral-conformance", path=session.path)
    cases = suite.collect()
    if config.getoption("corral_only"):
        config.hook.pytest_deselected(items=list(items))
        items.clear()
    items.extend(cases)
