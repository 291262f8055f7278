// Reading and validating the launch record (SPEC §2.2); start-failure exits (§2.3).

import { readSync } from "node:fs";
import { isIntegerText, rawMember } from "./json.js";
import { ABSOLUTE, VERSION } from "./validate.js";

export const LAUNCH_LIMIT = 1048576;

export class StartFailure extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Read stdin up to the first LF (at most 1 MiB), synchronously. */
export function readLaunchLine(fd = 0) {
  const chunks = [];
  let total = 0;
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n;
    try {
      n = readSync(fd, buf, 0, Math.min(buf.length, LAUNCH_LIMIT - total), null);
    } catch (err) {
      if (err.code === "EAGAIN") continue;
      if (err.code === "EOF") n = 0;
      else throw new StartFailure(2, `cannot read the launch record: ${err.message}`);
    }
    if (n === 0) throw new StartFailure(2, "missing launch record: EOF before the first newline");
    const lf = buf.subarray(0, n).indexOf(0x0a);
    if (lf >= 0) {
      chunks.push(Buffer.from(buf.subarray(0, lf + 1)));
      return Buffer.concat(chunks);
    }
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total >= LAUNCH_LIMIT) throw new StartFailure(2, "missing launch record: no newline within 1 MiB");
  }
}

const invalid = (message) => new StartFailure(2, `invalid launch record: ${message}`);

/** Parse and validate the launch record line (a Buffer ending with LF). */
export function parseLaunchRecord(line) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(line.subarray(0, line.length - 1));
  } catch {
    throw invalid("not valid UTF-8");
  }
  let r;
  try {
    if (text.charCodeAt(0) === 0xfeff) throw new Error("byte order mark");
    r = JSON.parse(text);
  } catch (err) {
    throw invalid(`not JSON (${err.message})`);
  }
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw invalid("not a JSON object");
  for (const key of ["protocol", "token", "project", "env", "walDir", "parentPid", "logLevel", "conformance"]) {
    if (!Object.hasOwn(r, key)) throw invalid(`$.${key}: missing`);
  }
  if (!Array.isArray(r.protocol) || r.protocol.length === 0) throw invalid("$.protocol: expected a non-empty array");
  r.protocol.forEach((v, i) => {
    if (typeof v !== "string" || !VERSION.test(v)) throw invalid(`$.protocol[${i}]: not a version MAJOR.MINOR`);
  });
  if (typeof r.token !== "string" || !/^[0-9a-f]{32,128}$/.test(r.token)) throw invalid("$.token: does not match ^[0-9a-f]{32,128}$");
  if (typeof r.project !== "string" || !ABSOLUTE.test(r.project)) throw invalid("$.project: expected an absolute path");
  if (typeof r.env !== "string" || r.env.length === 0) throw invalid("$.env: expected a non-empty string");
  if (r.walDir !== null && (typeof r.walDir !== "string" || !ABSOLUTE.test(r.walDir))) throw invalid("$.walDir: expected an absolute path or null");
  const pidText = rawMember(text, "parentPid");
  if (typeof r.parentPid !== "number" || !isIntegerText(String(pidText).trim()) || r.parentPid < 1) {
    throw invalid("$.parentPid: expected an integer >= 1");
  }
  if (!["debug", "info", "warning", "error"].includes(r.logLevel)) throw invalid("$.logLevel: expected debug, info, warning or error");
  if (typeof r.conformance !== "boolean") throw invalid("$.conformance: expected a boolean");
  return r;
}
