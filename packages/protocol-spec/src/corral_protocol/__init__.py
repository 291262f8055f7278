"""Corral runner protocol v1: message types, framing codec and JSON-RPC endpoint.

The contract itself is ``SPEC.md`` and ``schemas/`` in this package's source tree; this
package is its Python binding, shared by the Workspace Manager and the Python runner.

Layers, bottom up (each usable alone):

* :mod:`~corral_protocol.framing` - sans-I/O ``Content-Length`` framing.
* :mod:`~corral_protocol.jsonrpc` - sans-I/O JSON-RPC 2.0 endpoint rules.
* :mod:`~corral_protocol.dispatch` - method table, lifecycle gate, params decoding.
* :mod:`~corral_protocol.connection` - the asyncio connection on top.
* :mod:`~corral_protocol.messages`, :mod:`~corral_protocol.methods` - typed messages.
"""

from .connection import Connection, RequestContext, connect, start_server
from .dispatch import Router, decode_params
from .errors import ConnectionClosedError, ErrorCode, LocalProtocolError, RpcError
from .framing import DEFAULT_MAX_MESSAGE_SIZE, FrameDecoder, encode_frame
from .jsonrpc import RpcProtocol
from .messages import *  # noqa: F403  (the message types are the public API)
from .messages import __all__ as _message_names
from .methods import METHODS, MethodSpec, method_spec
from .versions import PROTOCOL_VERSION, SUPPORTED_VERSIONS, ProtocolVersion, negotiate

__version__ = "0.1.0"

__all__ = [  # noqa: PLE0604  (extended with the message type names below)
    "DEFAULT_MAX_MESSAGE_SIZE",
    "METHODS",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "Connection",
    "ConnectionClosedError",
    "ErrorCode",
    "FrameDecoder",
    "LocalProtocolError",
    "MethodSpec",
    "ProtocolVersion",
    "RequestContext",
    "Router",
    "RpcError",
    "RpcProtocol",
    "connect",
    "decode_params",
    "encode_frame",
    "method_spec",
    "negotiate",
    "start_server",
    *_message_names,
]
