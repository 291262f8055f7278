"""The runner side of the connection lifecycle (SPEC.md §3 and §8), as a pure object.

``Launched -> Connected (candidate) -> Initialized -> ShuttingDown -> Exited``. The gate
decides, for every incoming call, whether it may be served now:

* before a successful ``initialize``: only ``initialize``; other requests -32002, all
  notifications ignored (an unauthenticated peer cannot even make the runner exit);
* after it: a second ``initialize`` -32003; after ``shutdown``: every request -32004, only
  the ``exit`` notification still acts.

The exit code is 0 if ``shutdown`` was received before the process ends, 1 otherwise,
whatever ends it (``exit``, connection close, SIGTERM, parent death).
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

    def gate(self, method: str) -> RpcError | None:
        """The error that refuses ``method`` now, or ``None`` to serve it."""
        if not self.authenticated:
            if method == "initialize":
                return None
            return RpcError(
                ErrorCode.SERVER_NOT_INITIALIZED,
                f"{method} before initialize: the first request must be initialize",
            )
        if method == "initialize":
            return RpcError(ErrorCode.ALREADY_INITIALIZED, "initialize was already answered")
        if self.shutdown_received and method != "exit":
            return RpcError(
                ErrorCode.SHUTTING_DOWN, f"{method} after shutdown: only exit is accepted"
            )
        return None

    @property
    def exit_code(self) -> int:
        """0 if ``shutdown`` was received, else 1."""
        return 0 if self.shutdown_received else 1
