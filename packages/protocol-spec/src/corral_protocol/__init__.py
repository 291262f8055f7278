"""Corral runner protocol v1: message types, framing codec and JSON-RPC endpoint.

The contract itself is ``SPEC.md`` and ``schemas/`` in this package's source tree; this
package is its Python binding, shared by the Workspace Manager and the Python runner.

Layers, bottom up (each usable alone):

* :mod:`~corral_protocol.framing` - sans-I/O ``Content-Length`` framing.
* :mod:`~corral_protocol.jsonrpc` - sans-I/O JSON-RPC 2.0 endpoint rules.
* :mod:`~corral_protocol.dispatch` - method table, lifecycle gate, params decoding.
* :mod:`~corral_protocol.connection` - the asyncio connection on top.
* :mod:`~corral_protocol.messages`, :mod:`~corral_protocol.methods` - typed messages.
* :mod:`~corral_protocol.results` - the standard result shapes of lint/format actions.

Names are imported lazily on first access, so ``import corral_protocol.messages`` costs only
msgspec: a runner can print its hello before it imports asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral_protocol._lazy import lazy_attributes

from .errordata import __all__ as _error_data_names
from .messages import __all__ as _message_names
from .results import __all__ as _result_names

if TYPE_CHECKING:  # explicit re-exports for type checkers; runtime access is lazy
    from .connection import Connection as Connection
    from .connection import RequestContext as RequestContext
    from .connection import connect as connect
    from .connection import connect_unix as connect_unix
    from .connection import start_server as start_server
    from .connection import start_unix_server as start_unix_server
    from .dispatch import Router as Router
    from .dispatch import decode_params as decode_params
    from .errordata import *  # noqa: F403
    from .errors import ConnectionClosedError as ConnectionClosedError
    from .errors import ErrorCode as ErrorCode
    from .errors import LocalProtocolError as LocalProtocolError
    from .errors import RpcError as RpcError
    from .framing import DEFAULT_MAX_MESSAGE_SIZE as DEFAULT_MAX_MESSAGE_SIZE
    from .framing import FrameDecoder as FrameDecoder
    from .framing import encode_frame as encode_frame
    from .jsonrpc import RpcProtocol as RpcProtocol
    from .merge import merge_results as merge_results
    from .messages import *  # noqa: F403
    from .methods import METHODS as METHODS
    from .methods import MethodSpec as MethodSpec
    from .methods import method_spec as method_spec
    from .results import *  # noqa: F403
    from .versions import PROTOCOL_VERSION as PROTOCOL_VERSION
    from .versions import SUPPORTED_VERSIONS as SUPPORTED_VERSIONS
    from .versions import ProtocolVersion as ProtocolVersion
    from .versions import negotiate as negotiate

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Connection": "connection",
    "RequestContext": "connection",
    "connect": "connection",
    "connect_unix": "connection",
    "start_server": "connection",
    "start_unix_server": "connection",
    "Router": "dispatch",
    "decode_params": "dispatch",
    "ConnectionClosedError": "errors",
    "ErrorCode": "errors",
    "LocalProtocolError": "errors",
    "RpcError": "errors",
    "DEFAULT_MAX_MESSAGE_SIZE": "framing",
    "FrameDecoder": "framing",
    "encode_frame": "framing",
    "RpcProtocol": "jsonrpc",
    "merge_results": "merge",
    "METHODS": "methods",
    "MethodSpec": "methods",
    "method_spec": "methods",
    "PROTOCOL_VERSION": "versions",
    "SUPPORTED_VERSIONS": "versions",
    "ProtocolVersion": "versions",
    "negotiate": "versions",
    **dict.fromkeys(_message_names, "messages"),
    **dict.fromkeys(_error_data_names, "errordata"),
    **dict.fromkeys(_result_names, "results"),
}

__all__ = sorted(_LAZY)  # noqa: PLE0605


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
