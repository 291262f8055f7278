"""The runner side of the connection lifecycle (SPEC.md §4 and §8), as a pure object.

``Launched -> Connected (candidate) -> Initialized -> ShuttingDown -> Exited``.
:meth:`Lifecycle.admit` decides, for every incoming call in arrival order, whether it may be
served now; :meth:`Lifecycle.begin_shutdown` records an accepted ``shutdown`` (params valid)
at once, so the very next message already sees it:

* before a successful ``initialize``: only ``initialize``; other requests -32002, all
  notifications ignored (an unauthenticated peer cannot even make the runner exit);
* after ``shutdown``: every request -32004 (a second ``initialize`` and ``shutdown``
  included), only the ``exit`` notification still acts;
* otherwise a second ``initialize`` gets -32003.

The exit code is 0 if and only if the reply to ``shutdown`` was sent, whatever ends the
process (``exit``, connection close, SIGTERM, parent death).
"""

from __future__ import annotations

from dataclasses import dataclass

from corral_protocol.errors import ErrorCode, RpcError

__all__ = ["Lifecycle"]


@dataclass
class Lifecycle:
    """Lifecycle state of one connection; only the authenticated one gets past ``initialize``."""

    authenticated: bool = False
    initialized_notified: bool = False
    shutdown_received: bool = False
    shutdown_answered: bool = False

    def admit(self, method: str) -> RpcError | None:
        """The error that refuses ``method`` now, or ``None`` to serve it (see module doc)."""
        if not self.authenticated:
            if method == "initialize":
                return None
            return RpcError(
                ErrorCode.SERVER_NOT_INITIALIZED,
                f"{method} before initialize: the first request must be initialize",
            )
        if self.shutdown_received:
            if method == "exit":
                return None
            return RpcError(
                ErrorCode.SHUTTING_DOWN, f"{method} after shutdown: only exit is accepted"
            )
        if method == "initialize":
            return RpcError(ErrorCode.ALREADY_INITIALIZED, "initialize was already answered")
        return None

    def begin_shutdown(self) -> None:
        """A valid ``shutdown`` was accepted: from the next message on, refuse requests."""
        self.shutdown_received = True

    @property
    def exit_code(self) -> int:
        """0 if the reply to ``shutdown`` was sent, else 1."""
        return 0 if self.shutdown_answered else 1
