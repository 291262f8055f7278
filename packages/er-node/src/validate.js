// Params validation of the methods a runner serves (SPEC §9, the schemas in
// packages/protocol-spec/schemas). Each check returns null or {path, reason} (-32602 data).
// `raw(path...)` gives the source text of a member, for integer checks (SPEC §1.3).

import { isIntegerText } from "./json.js";

export const VERSION = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
export const ABSOLUTE = /^(\/|[A-Za-z]:[\\/]|\\\\)/;

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const bad = (path, reason) => ({ path, reason });

function integer(value, rawText, path, min) {
  if (typeof value !== "number" || rawText === undefined || !isIntegerText(rawText.trim())) {
    return bad(path, "expected an integer");
  }
  if (value < min) return bad(path, `expected an integer >= ${min}`);
  return null;
}

function nonEmpty(value, path) {
  if (typeof value !== "string") return bad(path, "expected a string");
  if (value.length === 0) return bad(path, "expected a non-empty string");
  return null;
}

function stringOrInteger(value, rawText, path) {
  if (typeof value === "string") return null;
  return integer(value, rawText, path, -Number.MAX_SAFE_INTEGER) && bad(path, "expected a string or an integer");
}

export function checkInitialize(p, raw) {
  if (typeof p.protocolVersion !== "string") return bad("$.protocolVersion", "expected a string");
  if (!VERSION.test(p.protocolVersion)) return bad("$.protocolVersion", "expected MAJOR.MINOR");
  if (typeof p.token !== "string" || !/^[0-9a-f]{32,128}$/.test(p.token)) {
    return bad("$.token", "expected a launch token");
  }
  if (!isObject(p.clientInfo)) return bad("$.clientInfo", "expected an object");
  for (const key of ["name", "version"]) {
    const e = nonEmpty(p.clientInfo[key], `$.clientInfo.${key}`);
    if (e) return e;
  }
  if (!isObject(p.capabilities)) return bad("$.capabilities", "expected an object");
  if (p.capabilities.maxMessageSize !== undefined) {
    const e = integer(
      p.capabilities.maxMessageSize,
      raw("capabilities", "maxMessageSize"),
      "$.capabilities.maxMessageSize",
      65536,
    );
    if (e) return e;
  }
  return null;
}

export function checkConfigure(p) {
  if (!isObject(p.actions)) return bad("$.actions", "expected an object");
  for (const [name, config] of Object.entries(p.actions)) {
    const at = `$.actions[${JSON.stringify(name)}]`;
    if (name.length === 0) return bad("$.actions", "action names must be non-empty");
    if (!isObject(config)) return bad(at, "expected an object");
    if (config.mode !== undefined && config.mode !== "sequential" && config.mode !== "concurrent") {
      return bad(`${at}.mode`, "expected sequential or concurrent");
    }
    if (!Array.isArray(config.handlers) || config.handlers.length === 0) {
      return bad(`${at}.handlers`, "expected a non-empty array");
    }
    const seen = new Set();
    for (const [i, spec] of config.handlers.entries()) {
      const hat = `${at}.handlers[${i}]`;
      if (!isObject(spec)) return bad(hat, "expected an object");
      const e = nonEmpty(spec.name, `${hat}.name`) || nonEmpty(spec.source, `${hat}.source`);
      if (e) return e;
      if (spec.config !== undefined && !isObject(spec.config)) return bad(`${hat}.config`, "expected an object");
      if (seen.has(spec.name)) return bad(`${hat}.name`, `duplicate handler name ${spec.name}`);
      seen.add(spec.name);
    }
  }
  return null;
}

export function checkRun(p, raw) {
  const e =
    nonEmpty(p.action, "$.action") ||
    nonEmpty(p.runId, "$.runId") ||
    (p.parentRunId === null ? null : nonEmpty(p.parentRunId, "$.parentRunId"));
  if (e) return e;
  if (!("parentRunId" in p)) return bad("$.parentRunId", "required");
  if (!("depth" in p)) return bad("$.depth", "required");
  const d = integer(p.depth, raw("depth"), "$.depth", 0);
  if (d) return d;
  for (const key of ["workDoneToken", "partialResultToken"]) {
    if (p[key] !== undefined) {
      const t = stringOrInteger(p[key], raw(key), `$.${key}`);
      if (t) return t;
    }
  }
  return null;
}

/** Cancel params: the id to cancel, or undefined when invalid (the notification is ignored). */
export function cancelId(p, raw) {
  if (!isObject(p)) return undefined;
  if (typeof p.id === "string") return p.id;
  const text = raw("id");
  if (typeof p.id === "number" && text !== undefined && isIntegerText(text.trim())) return p.id;
  return undefined;
}

export { isObject };
