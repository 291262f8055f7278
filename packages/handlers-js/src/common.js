// Shared by the handlers: standard params (SPEC §13.7), positions (§13.1), tools of the env.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";

/** An Error whose name is the ErrorDetail type front ends see. */
export class HandlerError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

const STANDARD = ["paths", "write", "fix", "unsafeFixes", "diff", "documents", "only"];

/** Refuse standard params this handler does not support (SPEC §13.7): UnsupportedParam. */
export function refuseUnsupported(ctx, supported) {
  const params = ctx.params ?? {};
  if (typeof params !== "object" || Array.isArray(params)) {
    throw new HandlerError("UnsupportedParam", `handler '${ctx.handler}' of action '${ctx.action}': params must be an object`);
  }
  const given = STANDARD.filter((k) => !supported.includes(k) && params[k] !== undefined);
  if (given.length) {
    throw new HandlerError(
      "UnsupportedParam",
      `handler '${ctx.handler}' of action '${ctx.action}' does not support ${given.map((g) => `\`${g}\``).join(", ")} (it takes: ${supported.join(", ")})`,
    );
  }
  const paths = params.paths;
  if (paths !== undefined && paths !== null && (!Array.isArray(paths) || paths.some((p) => typeof p !== "string" || !p))) {
    throw new HandlerError("UnsupportedParam", "`paths` must be an array of non-empty strings");
  }
  const docs = params.documents;
  if (docs !== undefined && docs !== null) {
    const bad = !Array.isArray(docs) || docs.some((d) => !d || typeof d.path !== "string" || !d.path || typeof d.text !== "string");
    if (bad) throw new HandlerError("UnsupportedParam", "`documents` must be an array of {path, text} objects (SPEC §13.8)");
  }
  return params;
}

/** Import a tool package from the handler's environment, or throw ToolMissing naming the
 * environment and the dependency to add. Returns {module, file}. */
export async function importTool(ctx, name, requirement) {
  let file;
  try {
    file = ctx.resolveModule(name);
  } catch (err) {
    if (err?.name !== "ModuleNotFound") throw err;
    const key = /^[A-Za-z0-9_-]+$/.test(ctx.env) ? ctx.env : JSON.stringify(ctx.env);
    throw new HandlerError(
      "ToolMissing",
      `${name} is not installed in environment "${ctx.env}" of project ${ctx.project}: add "${requirement}" to [tool.corral.envs.${key}].dependencies (or to the handler's dependencies) and run: corral prepare-envs`,
    );
  }
  return { module: await ctx.importModule(name), file };
}

/** A file's path as diagnostics carry it: project-relative with `/`, absolute if outside. */
export function projectRelative(project, file) {
  const rel = path.relative(project, path.resolve(project, file));
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return path.resolve(project, file);
  return rel.split(path.sep).join("/");
}

export const sha256 = (data) => createHash("sha256").update(data).digest("hex");

/** Line starts (UTF-16 offsets) of a text; a line ends at \n, \r\n or \r (SPEC §13.1). */
export class LineIndex {
  constructor(text) {
    this.text = text;
    this.starts = [0];
    for (const m of text.matchAll(/\r\n|\r|\n/g)) this.starts.push(m.index + m[0].length);
  }

  /** 0-based position (code points) of a 1-based line and 1-based UTF-16 column. */
  fromLineColumn(line, column) {
    const l = Math.min(Math.max((line ?? 1) - 1, 0), this.starts.length - 1);
    return { line: l, character: this.#codePoints(this.starts[l], this.starts[l] + Math.max((column ?? 1) - 1, 0)) };
  }

  /** 0-based position (code points) of a UTF-16 offset. */
  fromOffset(offset) {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo, character: this.#codePoints(this.starts[lo], offset) };
  }

  #codePoints(from, to) {
    return [...this.text.slice(from, Math.min(to, this.text.length))].length;
  }
}

export async function readText(file) {
  const bytes = await readFile(file);
  return { bytes, text: bytes.toString("utf8") };
}

export const FILE_START = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

/** Diagnostics sorted by file, then position, then code. */
export function sortDiagnostics(diagnostics) {
  const key = (d) => [d.file, d.range.start.line, d.range.start.character, d.code ?? ""];
  return diagnostics.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
  });
}
