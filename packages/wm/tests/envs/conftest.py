"""Shared fixtures for the environment tests: real uv, real venvs in temporary directories.

One preparer (jobs=2) for the session builds the local runner wheels once; one prepared
environment (``six`` + the local corral-runner) is shared read-only by every test that only
inspects or starts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from corral.envs import EnvPreparer, EnvRequest, PrepareEvent, PrepareResult


@pytest.fixture(scope="session")
def preparer() -> Iterator[EnvPreparer]:
    """The session's preparer: detected (local checkout) runner source, 2 jobs."""
    with EnvPreparer(jobs=2) as prep:
        yield prep


def _prepare(
    prep: EnvPreparer,
    requests: list[EnvRequest],
    *,
    recreate: bool = False,
    events: list[PrepareEvent] | None = None,
    timeout: float = 300,
) -> list[PrepareResult]:
    """Run :meth:`EnvPreparer.prepare` to completion under a deadline."""

    async def main() -> list[PrepareResult]:
        async with asyncio.timeout(timeout):
            return await prep.prepare(
                requests, recreate=recreate, progress=None if events is None else events.append
            )

    return asyncio.run(main())


@pytest.fixture(scope="session")
def ready_env(tmp_path_factory: pytest.TempPathFactory, preparer: EnvPreparer) -> EnvRequest:
    """A prepared Python env with ``six`` and the local corral-runner. Do not modify it."""
    project = tmp_path_factory.mktemp("shared project")  # a space, on purpose
    request = EnvRequest(project, "dev", ("six",))
    [result] = _prepare(preparer, [request])
    assert result.status == "created", result.error
    return request


@pytest.fixture
def prepare() -> Callable[..., list[PrepareResult]]:
    """``prepare(preparer, requests, *, recreate=False, events=None)`` run to completion."""
    return _prepare
