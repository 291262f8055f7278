"""Is a running runner still answering? The ``$/ping`` monitor (jupyter's restarter role).

:class:`HealthMonitor` pings a Running runner every ``ping_interval``; no answer within
``ping_timeout`` makes it *unresponsive* (the runner may just be busy in native code:
runners answer pings while handlers run, so a busy handler alone never causes this); an
answer again makes it *responsive*; still unanswered ``unhealthy_grace`` after it became
unresponsive, the monitor *gives up* on it. A runner whose process is *stopped* (SIGSTOP, a
debugger: ``is_stopped``) is not busy and will not answer: the monitor gives up at the first
unanswered ping, without the grace. What each means for the runner's state is the
caller's business (:mod:`corral.supervisor.runner`): the monitor only observes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from corral_protocol import Connection, ConnectionClosedError, RpcError
from corral_protocol.messages import PingParams, PingResult

from ..config import RunnerSettings

__all__ = ["HealthMonitor"]


@dataclass
class HealthMonitor:
    """See the module docstring. Run :meth:`run` as a task; cancel it to stop."""

    conn: Connection
    settings: RunnerSettings
    clock: Callable[[], float]
    unresponsive: Callable[[str], None]
    """Called once when pings stop being answered (with the reason)."""
    responsive: Callable[[], None]
    """Called when an unresponsive runner answers again."""
    give_up: Callable[[float, bool], None]
    """Called (with the seconds it has been unresponsive, and whether its process is
    stopped) when the grace period is over, or at once for a stopped process; the monitor
    then ends."""
    is_stopped: Callable[[], bool] = lambda: False
    """Whether the runner's process is stopped (not merely busy)."""

    async def run(self) -> None:
        """Ping until the connection closes, the caller cancels, or it gives up."""
        settings = self.settings
        unhealthy_since: float | None = None
        while not self.conn.is_closed:
            await asyncio.sleep(settings.ping_interval)
            try:
                async with asyncio.timeout(settings.ping_timeout):
                    await self.conn.request("$/ping", PingParams(), result_type=PingResult)
            except TimeoutError:
                now = self.clock()
                if self.is_stopped():
                    self.give_up(0.0 if unhealthy_since is None else now - unhealthy_since, True)
                    return
                if unhealthy_since is None:
                    unhealthy_since = now
                    self.unresponsive(f"no $/ping answer within {settings.ping_timeout:g} s")
                elif now - unhealthy_since >= settings.unhealthy_grace:
                    self.give_up(now - unhealthy_since, False)
                    return
            except (ConnectionClosedError, RpcError):
                return
            else:
                if unhealthy_since is not None:
                    unhealthy_since = None
                    self.responsive()
