import { test } from "node:test";
import assert from "node:assert/strict";
import { isIntegerText, rawMember, splitUtf8 } from "../../src/json.js";
import { mergeResults } from "../../src/executor.js";
import { crc32, envSlug } from "../../src/wal.js";
import { resolveBare } from "../../src/loader.js";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

test("integers are checked on their source text", () => {
  const text = '{"id": 1.0, "params": {"id": -0, "depth": 1e3, "x": {"id": 5}}, "id2": 7}';
  assert.equal(rawMember(text, "id"), "1.0");
  assert.equal(rawMember(text, "params", "id"), "-0");
  assert.equal(rawMember(text, "params", "depth"), "1e3");
  assert.equal(isIntegerText("1.0"), false);
  assert.equal(isIntegerText("-0"), true);
  assert.equal(isIntegerText("9007199254740992"), false);
  assert.equal(rawMember('{"a":"}\\"","id":3}', "id"), "3");
});

test("UTF-8 splitting keeps characters whole", () => {
  const [head, rest] = splitUtf8("aé€😀", 4);
  assert.equal(head, "aé");
  assert.equal(rest, "€😀");
  assert.deepEqual(splitUtf8("abc", 10), ["abc", ""]);
});

test("concurrent results merge as SPEC §9.4 says", () => {
  assert.deepEqual(mergeResults([{ d: [1], n: { a: 1 } }, { d: [2], n: { b: 2 }, x: 1 }]), { d: [1, 2], n: { a: 1, b: 2 }, x: 1 });
  assert.deepEqual(mergeResults([{ k: 1 }, { k: [2] }]), { k: [2] });
  assert.deepEqual(mergeResults([{ a: 1 }, 5]), [{ a: 1 }, 5]);
  assert.deepEqual(mergeResults([5]), [5]);
  assert.equal(mergeResults([]), null);
});

test("WAL checksum and writer id slug (SPEC §12.2, §12.3, §12.5)", () => {
  assert.equal(crc32(Buffer.from("123456789")).toString(16), "cbf43926");
  const rec =
    '{"v":1,"writer":"wm","seq":1,"ts":"2026-11-21T07:30:00.000001Z","event":"wal.closed","runId":null,"parentRunId":null,"project":null,"env":null,"action":null,"payload":{}}';
  assert.equal(crc32(Buffer.from(rec)).toString(16).padStart(8, "0"), "68f07e9c");
  // the rule of corral_wal.make_writer_id: runs of other characters become one "-", "-._"
  // stripped at both ends, cut to 24 characters, stripped again
  assert.equal(envSlug("Dev Env/Ünïcode-and-a-very-long-name"), "dev-env-n-code-and-a-ver");
  assert.equal(envSlug("_dev_no_runtime_"), "dev_no_runtime");
  assert.equal(envSlug("abcdefghijklmnopqrstuvw-xyz"), "abcdefghijklmnopqrstuvw");
  assert.equal(envSlug("üü"), "");
});

test("bare module names resolve through package.json exports", () => {
  const root = mkdtempSync(path.join(tmpdir(), "corral-node-"));
  const pkg = path.join(root, "node_modules", "@acme", "tools");
  mkdirSync(path.join(pkg, "lib"), { recursive: true });
  writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ exports: { ".": { types: "./x.d.ts", import: "./lib/main.mjs" }, "./sub": "./lib/sub.js" } }));
  const project = path.join(root, "proj", "deep");
  mkdirSync(project, { recursive: true });
  assert.equal(resolveBare("@acme/tools", [project]), path.join(pkg, "lib", "main.mjs"));
  assert.equal(resolveBare("@acme/tools/sub", [project]), path.join(pkg, "lib", "sub.js"));
  assert.throws(() => resolveBare("nope", [project]), /Cannot find module 'nope'/);
});
