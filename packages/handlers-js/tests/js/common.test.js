// Units of src/common.js: positions (SPEC §13.1), paths, refusing params (§13.7).
import assert from "node:assert/strict";
import { test } from "node:test";
import { LineIndex, projectRelative, refuseUnsupported } from "../../src/common.js";

test("line/column: code points, every line ending", () => {
  const index = new LineIndex("a😀b\r\nx\ry\nz");
  assert.deepEqual(index.fromLineColumn(1, 4), { line: 0, character: 2 }); // after the emoji (UTF-16 col 4)
  assert.deepEqual(index.fromLineColumn(2, 2), { line: 1, character: 1 });
  assert.deepEqual(index.fromLineColumn(3, 1), { line: 2, character: 0 });
  assert.deepEqual(index.fromLineColumn(4, 2), { line: 3, character: 1 });
});

test("offsets: code points, across lines", () => {
  const text = "a😀b\r\nx\ry\nz";
  const index = new LineIndex(text);
  assert.deepEqual(index.fromOffset(0), { line: 0, character: 0 });
  assert.deepEqual(index.fromOffset(3), { line: 0, character: 2 });
  assert.deepEqual(index.fromOffset(text.indexOf("x")), { line: 1, character: 0 });
  assert.deepEqual(index.fromOffset(text.length), { line: 3, character: 1 });
});

test("project-relative paths with /, absolute outside", () => {
  assert.equal(projectRelative("/p", "/p/src/a.js"), "src/a.js");
  assert.equal(projectRelative("/p", "src/a.js"), "src/a.js");
  assert.equal(projectRelative("/p", "/q/a.js"), "/q/a.js");
});

test("unsupported standard params are refused, others ignored", () => {
  const ctx = (params) => ({ params, handler: "h", action: "lint" });
  assert.deepEqual(refuseUnsupported(ctx({ paths: ["a"], mine: 1 }), ["paths"]), { paths: ["a"], mine: 1 });
  assert.throws(() => refuseUnsupported(ctx({ write: false }), ["paths"]), { name: "UnsupportedParam", message: /`write`/ });
  assert.throws(() => refuseUnsupported(ctx({ documents: [{ path: "a" }] }), ["documents"]), { name: "UnsupportedParam" });
});
