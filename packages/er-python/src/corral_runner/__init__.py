"""Corral's Python reference runner and the handler SDK.

Extension authors use :class:`ActionContext` (see :mod:`corral_runner.sdk`); the process
itself is started by the WM as ``python -m corral_runner`` (SPEC.md §1).
"""

from .sdk import ActionContext, Document, Handler, HandlerCancelledError

__version__ = "0.1.0"

__all__ = ["ActionContext", "Document", "Handler", "HandlerCancelledError"]
