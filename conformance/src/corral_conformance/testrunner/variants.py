"""The deliberately broken variants of the test-only runner.

Each variant breaks exactly one rule of the protocol (its description says which). The
suite's own test ``test_suite_can_fail.py`` runs every case against the variants its
``mustFailWith`` names and requires the case to *fail* there: a case that no broken runner
can fail proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import Final

__all__ = ["VARIANTS", "Breaks"]

VARIANTS: Final = MappingProxyType(
    {
        # --- launch and hello --------------------------------------------------------------
        "print-before-hello": "writes a log line to stdout before the hello",
        "multiline-hello": "pretty-prints the hello over several lines",
        "hello-wrong-port": "announces a port it does not listen on",
        "fixed-port": "listens on a fixed port instead of port 0 (a second runner cannot bind)",
        "ignore-protocol-mismatch": "starts although no protocol major is in common",
        "lenient-launch-record": "starts with defaults when the launch record is missing/invalid",
        "strict-launch-record": "rejects launch records with unknown members",
        "first-protocol-only": "only looks at the first version of the launch record's list",
        "runner-info-mismatch": "initialize runnerInfo differs from the hello's runner",
        # --- authentication ----------------------------------------------------------------
        "no-token-check": "accepts initialize with any or no token",
        "exit-on-bad-token": "exits when a connection presents a wrong token",
        "accept-second-connection": "serves a new connection while one is authenticated",
        "keep-losing-candidates": "keeps other candidate connections open after one wins",
        "authenticate-on-token": "authenticates on the right token even if initialize fails",
        # --- framing -----------------------------------------------------------------------
        "length-in-chars": "writes Content-Length in characters instead of bytes",
        "strict-headers": "accepts only the exact header 'Content-Length: N'",
        "ignore-charset": "decodes bodies of any Content-Type charset as UTF-8",
        "assume-complete-reads": "treats a message split over several reads as malformed",
        "one-frame-per-read": "drops what follows the first message of each read",
        "small-body-limit": "rejects bodies over 1 MiB while announcing 64 MiB",
        "no-size-limit": "reads and parses bodies of any size",
        "no-framing-errors": "closes on fatal framing errors without the -32700 answer",
        "lenient-content-length": "parses Content-Length with int() (+12, 20 digits, 1_0)",
        "allow-duplicate-content-length": "accepts a repeated Content-Length",
        "accept-bare-lf": "accepts header lines ending in a bare LF",
        "no-header-limit": "accepts header blocks over 8192 bytes",
        "answer-truncated": "answers a message truncated by EOF with an error",
        "allow-control-bytes": "accepts control bytes and stray CRs in header lines",
        "header-limit-off-by-one": "rejects a header block of exactly 8192 bytes",
        # --- JSON-RPC ----------------------------------------------------------------------
        "no-parse-error": "silently drops bodies that are not UTF-8 JSON",
        "fatal-parse-error": "closes the connection after a -32700 for bad JSON",
        "lenient-utf8": "decodes invalid UTF-8 with replacement characters",
        "batch-silent": "does not answer batches",
        "no-nesting-limit": "parses bodies nested deeper than 128 levels (and dies of it)",
        "non-object-ignored": "does not answer JSON values that are not objects",
        "no-jsonrpc-check": "accepts any jsonrpc member and non-string methods",
        "lenient-ids": "accepts any JSON value as an id and echoes it",
        "no-32601": "answers unknown methods with a null result",
        "dollar-requests-ignored": "does not answer unknown $/ requests",
        "answer-unknown-notifications": "answers unknown notifications with an error",
        "no-32602": "does not validate params",
        "params-before-method": "answers array params with -32602 even for unknown methods",
        "wrong-id-type": "echoes integer ids as strings",
        "answer-stray-responses": "answers responses that match no request with -32600",
        "result-null-in-errors": 'adds "result": null to error responses',
        "omit-null-result": "leaves out a null result (e.g. of shutdown)",
        "batch-by-first-byte": "treats any body starting with [ as a batch, even invalid JSON",
        "strict-error-data": "drops WM error replies whose data has an undocumented shape",
        "strip-bom": "ignores a byte order mark before the JSON body",
        "invalid-message-ignored": "does not answer objects that are neither call nor response",
        "no-duplicate-id-check": "serves a request whose id is still in flight",
        # --- lifecycle ---------------------------------------------------------------------
        "no-32002": "serves requests before initialize",
        "deferred-state-change": "applies initialize/shutdown only after the next message",
        "lenient-version-syntax": "accepts versions with leading zeros (01.0, 1.00)",
        "require-initialized": "answers -32002 until the initialized notification arrives",
        "exit-before-initialize": "honours exit before initialize",
        "reinitialize-allowed": "answers a second initialize successfully",
        "echo-requested-version": "answers initialize with the requested version verbatim",
        "answer-highest-minor": "answers initialize with its highest minor, not the minimum",
        "accept-any-major": "accepts an initialize of an unsupported major",
        "shutdown-despite-invalid-params": "starts shutting down on a shutdown with bad params",
        "no-32004": "serves requests after shutdown",
        "shutdown-waits-for-runs": "lets in-flight runs finish instead of cancelling them",
        "exit-code-0-always": "always exits with code 0",
        "exit-code-1-always": "always exits with code 1",
        "ignore-parent-death": "keeps running when its parent dies",
        "ignore-sigterm": "ignores SIGTERM",
        "sigterm-default": "leaves SIGTERM at its default action (dies by it)",
        # --- actions -----------------------------------------------------------------------
        "configure-load-error-rpc": "answers a failed handler load with a JSON-RPC error",
        "fixtures-always-enabled": "serves conformance fixtures without a conformance launch",
        "outcome-without-duration": "leaves durationMs out of handler outcomes",
        "params-default-null": "passes null, not {}, when actions/run has no params",
        "unknown-action-null": "answers an unknown action with an ok null result",
        "no-skip-after-failure": "keeps running sequential handlers after a failure",
        "fail-ignores-message": "the fail fixture ignores its message parameter",
        "sequential-first-result": "returns the first, not the last, sequential handler's result",
        "concurrent-last-wins": "returns the last concurrent handler's result instead of merging",
        "concurrent-failure-null-result": "failed concurrent run: null, not the ok results merged",
        "concurrent-runs-sequentially": "runs concurrent handlers one after another",
        "configure-merges": "merges runner/configure into the old configuration",
        "nested-returns-value": "the nested fixture returns the inner result, not the run result",
        "project-run-depth-unchanged": "sends project/runAction with the same depth",
        "project-run-error-propagates": "turns a WM error into a JSON-RPC error of actions/run",
        "crash-ignored": "the crash fixture fails the handler instead of exiting",
        "duplicate-handler-names-accepted": "accepts duplicate handler names in one action",
        "configure-async-apply": "applies runner/configure after runs that follow it",
        "fixture-params-unchecked": "fixtures accept params of the wrong shape",
        "nested-unknown-action-rpc-error": "nested of an unknown action becomes a JSON-RPC error",
        "nested-forwards-progress": "forwards the progress of nested local runs",
        # --- cancellation ------------------------------------------------------------------
        "ignore-cancel": "ignores $/cancelRequest",
        "cancel-no-reply": "cancels but never replies to the cancelled request",
        "cancel-always-replies": "replies -32800 to cancels of unknown or finished ids",
        "cancel-id-loose": 'matches cancel ids by their text ("1" cancels 1)',
        # --- progress ----------------------------------------------------------------------
        "progress-after-reply": "sends progress and partial results after the reply",
        "no-progress": "sends no work-done progress",
        "partial-reversed": "sends partial results in reverse order",
        "progress-token-stringified": "echoes progress tokens as strings",
        "progress-without-token": "sends work-done progress although no workDoneToken was given",
        "progress-begin-per-handler": "forwards every handler's begin as a begin",
        "end-not-deferred": "forwards a handler's end at once instead of just before the reply",
        # --- output ------------------------------------------------------------------------
        "print-corrupts-stream": "writes handler prints into the protocol stream",
        "print-swallowed": "discards handler prints",
        "printed-counts-chars": "the print fixture counts characters, not bytes",
        "log-before-initialized": "sends runner/log before the initialized notification",
        "output-not-split": "forwards a large write as one runner/output over 16384 bytes",
        "output-after-reply": "forwards captured output after the run's reply",
        "log-level-ignored": "sends runner/log below the launch logLevel",
        "output-unbounded": "keeps all output waiting for initialized: no bound, no dropped",
        "output-dropped-uncounted": "drops waiting output past the bound without counting it",
        "output-runid-null": "sends handler output with runId null instead of the run's id",
        # --- reason tokens -----------------------------------------------------------------
        "generic-reasons": "sends the reason token 'error' for every -32700/-32600/-32800",
        # --- WAL stream --------------------------------------------------------------------
        "no-wal": "writes no WAL stream although the launch record names a walDir",
        "wal-bad-checksum": "writes WAL frames whose CRC is off by one",
        "wal-not-closed": "ends its WAL stream without wal.closed on a clean exit",
        "wal-no-handler-records": "records runs in the WAL but not their handlers",
        # --- concurrency -------------------------------------------------------------------
        "max-16-in-flight": "answers -32603 when more than 16 requests are in flight",
        "serial-requests": "handles one request at a time",
        "ping-blocked-while-busy": "blocks its I/O loop while a handler sleeps",
    }
)
"""Variant name -> the rule it breaks."""


class Breaks:
    """The set of variants a test-only runner was started with."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        chosen = frozenset(names)
        unknown = sorted(chosen - VARIANTS.keys())
        if unknown:
            raise ValueError(f"unknown variant(s): {', '.join(unknown)}")
        self._names = chosen

    def __call__(self, name: str) -> bool:
        """Whether variant ``name`` is active (``name`` must be a known variant)."""
        if name not in VARIANTS:
            raise KeyError(f"not a variant: {name}")
        return name in self._names

    def __repr__(self) -> str:
        return f"Breaks({sorted(self._names)})"
