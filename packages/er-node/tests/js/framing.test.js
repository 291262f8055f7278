import { test } from "node:test";
import assert from "node:assert/strict";
import { Decoder, FramingError, frame } from "../../src/framing.js";

const body = '{"jsonrpc":"2.0","id":1,"method":"$/ping"}';

test("a framed message round-trips, one byte at a time", () => {
  const bytes = frame(body);
  assert.equal(bytes.toString(), `Content-Length: 42\r\n\r\n${body}`);
  const d = new Decoder();
  const events = [];
  for (const b of bytes) events.push(...d.push(Buffer.from([b])));
  assert.deepEqual(events.map((e) => e.body.toString()), [body]);
  assert.equal(d.pending, false);
});

test("accepted header blocks", () => {
  for (const head of [
    "content-length:   42  \r\n\r\n",
    'CONTENT-LENGTH: 042\r\nContent-Type: application/vscode-jsonrpc; charset="UTF-8"\r\nX-Trace: 7\r\n\r\n',
    "Content-Type: application/json\r\nContent-Length:42\r\n\r\n",
  ]) {
    const events = new Decoder().push(Buffer.from(head + body));
    assert.equal(events.length, 1, head);
  }
});

test("fatal header errors carry their reason token", () => {
  const cases = {
    "Content-Length: 42\n\n": "malformed-header",
    "Content-Length: 42\r\nContent-Length: 42\r\n\r\n": "duplicate-content-length",
    "Content-Length: -1\r\n\r\n": "invalid-content-length",
    "Content-Length: \r\n\r\n": "invalid-content-length",
    "Content-Type: application/json\r\n\r\n": "missing-content-length",
    "\r\n": "missing-content-length",
    "Content-Length 42\r\n\r\n": "malformed-header",
    "Content-Lëngth: 42\r\n\r\n": "malformed-header",
    ["X".repeat(8193)]: "headers-too-large",
  };
  for (const [head, reason] of Object.entries(cases)) {
    assert.throws(() => new Decoder().push(Buffer.from(head)), (e) => e instanceof FramingError && e.reason === reason, head);
  }
});

test("too large and foreign charsets are skipped, recoverably", () => {
  const d = new Decoder(65536);
  const events = d.push(Buffer.concat([Buffer.from("Content-Length: 70000\r\n\r\n"), Buffer.alloc(70000, 0x20), frame(body)]));
  assert.deepEqual(events[0], { kind: "tooLarge", size: 70000 });
  assert.equal(events[1].body.toString(), body);
  const c = new Decoder().push(Buffer.from(`Content-Length: 42\r\nContent-Type: application/json; charset=latin-1\r\n\r\n${body}`));
  assert.deepEqual(c, [{ kind: "charset", charset: "latin-1" }]);
});
