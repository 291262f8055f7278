"""Router: method lookup, the lifecycle gate and params decoding (SPEC.md §5)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from corral_protocol import ErrorCode, Router, RpcError, RunParams
from corral_protocol.jsonrpc import NotificationReceived, RequestReceived


async def _handler(params: Any, ctx: Any) -> Any:
    return params


def request(method: str, params: bytes | None = None) -> RequestReceived:
    return RequestReceived(1, method, msgspec.Raw(params or b""))


def router(gate: Any = None) -> Router:
    r = Router(gate)
    r.add_request("actions/run", _handler, RunParams)
    r.add_request("shutdown", _handler, None)
    r.add_notification("note", lambda p: None, RunParams)
    return r


def refuse(code: int) -> RpcError:
    return RpcError(code, "refused")


def test_unknown_method_is_method_not_found() -> None:
    with pytest.raises(RpcError) as info:
        router().resolve_request(request("nope"))
    assert info.value.code == ErrorCode.METHOD_NOT_FOUND
    assert "nope" in info.value.message


def test_unknown_dollar_request_is_method_not_found_too() -> None:
    with pytest.raises(RpcError) as info:
        router().resolve_request(request("$/unknown"))
    assert info.value.code == ErrorCode.METHOD_NOT_FOUND


def test_gate_runs_before_lookup_even_for_unknown_methods() -> None:
    seen: list[str] = []

    def gate(method: str) -> RpcError | None:
        seen.append(method)
        return refuse(ErrorCode.SERVER_NOT_INITIALIZED)

    for method in ("actions/run", "nope"):
        with pytest.raises(RpcError) as info:
            router(gate).resolve_request(request(method, b"{}"))
        assert info.value.code == ErrorCode.SERVER_NOT_INITIALIZED
    assert seen == ["actions/run", "nope"]


def test_params_decode_to_the_registered_type() -> None:
    raw = b'{"action":"lint","runId":"r1","parentRunId":null,"depth":0,"extra":1}'
    resolved = router().resolve_request(request("actions/run", raw))
    assert resolved.params == RunParams(action="lint", run_id="r1", parent_run_id=None, depth=0)
    assert resolved.handler is _handler


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        pytest.param(b'{"action":1,"runId":"r","parentRunId":null,"depth":0}', "$.action"),
        pytest.param(b'{"action":"a","runId":"r","parentRunId":null,"depth":-1}', "$.depth"),
        pytest.param(b'{"action":"a","parentRunId":null,"depth":0}', "$"),
        pytest.param(b"[1, 2]", "$"),
        pytest.param(b"null", "$"),
        pytest.param(b'"x"', "$"),
        pytest.param(None, "$"),
    ],
)
def test_bad_params_are_invalid_params_with_a_path(raw: bytes | None, path: str) -> None:
    with pytest.raises(RpcError) as info:
        router().resolve_request(request("actions/run", raw))
    assert info.value.code == ErrorCode.INVALID_PARAMS
    assert info.value.data["path"] == path
    assert info.value.data["reason"]


def test_untyped_method_accepts_absent_or_object_params_only() -> None:
    assert router().resolve_request(request("shutdown")).params is None
    assert router().resolve_request(request("shutdown", b'{"x": 1}')).params is None
    with pytest.raises(RpcError) as info:
        router().resolve_request(request("shutdown", b"[]"))
    assert info.value.code == ErrorCode.INVALID_PARAMS


def test_notifications_unknown_gated_or_malformed_are_ignored() -> None:
    r = router()
    assert r.resolve_notification(NotificationReceived("unknown", msgspec.Raw(b"{}"))) is None
    assert r.resolve_notification(NotificationReceived("$/x", msgspec.Raw(b"{}"))) is None
    assert r.resolve_notification(NotificationReceived("note", msgspec.Raw(b"[]"))) is None
    gated = router(lambda m: refuse(-32002))
    good = b'{"action":"a","runId":"r","parentRunId":null,"depth":0}'
    assert gated.resolve_notification(NotificationReceived("note", msgspec.Raw(good))) is None
    resolved = r.resolve_notification(NotificationReceived("note", msgspec.Raw(good)))
    assert resolved is not None
    assert resolved.params.action == "a"
