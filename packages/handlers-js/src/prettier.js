// `format` and `check-format` with Prettier through its API (format, getFileInfo, resolveConfig).

import { readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { FILE_START, HandlerError, LineIndex, importTool, projectRelative, readText, refuseUnsupported, sha256, sortDiagnostics } from "./common.js";

export const PRETTIER_REQUIREMENT = "prettier@^3";
export const TOOL = "prettier";
const SKIP_DIRS = new Set(["node_modules", ".git", ".hg", ".svn", ".corral"]);
const CONFIG_FILES = [".prettierrc", ".prettierrc.json", ".prettierrc.yaml", ".prettierrc.yml", ".prettierrc.json5", ".prettierrc.js", ".prettierrc.mjs", ".prettierrc.cjs", "prettier.config.js", "prettier.config.mjs", "prettier.config.cjs", ".prettierrc.toml", ".editorconfig", "package.json", ".prettierignore"];

async function walk(dir, out, signal) {
  signal.throwIfAborted();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) await walk(full, out, signal);
    } else if (entry.isFile()) out.push(full);
  }
}

/** The files `paths` name (directories walked), absolute. */
async function candidates(ctx, paths) {
  const out = [];
  for (const p of paths?.length ? paths : ["."]) {
    const full = path.resolve(ctx.project, p);
    const info = await stat(full);
    if (info.isDirectory()) await walk(full, out, ctx.signal);
    else out.push(full);
  }
  return [...new Set(out)].sort();
}

async function formatOne(prettier, ctx, file, text) {
  const info = await prettier.getFileInfo(file, { ignorePath: [path.join(ctx.project, ".prettierignore")], resolveConfig: true });
  if (info.ignored || !info.inferredParser) return { skipped: true };
  const options = (await prettier.resolveConfig(file, { editorconfig: true })) ?? {};
  try {
    return { formatted: await prettier.format(text, { ...options, filepath: file }) };
  } catch (err) {
    if (!err?.loc) throw err;
    const index = new LineIndex(text);
    const start = index.fromLineColumn(err.loc.start?.line, err.loc.start?.column + 1);
    return {
      error: {
        file: projectRelative(ctx.project, file),
        range: { start, end: start },
        code: "syntax-error",
        message: String(err.message).split("\n")[0],
        severity: "error",
        source: TOOL,
        fixable: false,
      },
    };
  }
}

/** Format each target: [{file, bytes, text, formatted}] for files that would change, errors. */
async function run(ctx, prettier, params) {
  const items = [];
  if (params.documents) {
    for (const d of params.documents) items.push({ file: path.resolve(ctx.project, d.path), text: d.text, bytes: Buffer.from(d.text, "utf8") });
  } else {
    for (const file of await candidates(ctx, params.paths)) items.push({ file });
  }
  const changed = [];
  const errors = [];
  let files = 0;
  for (const item of items) {
    ctx.signal.throwIfAborted();
    if (item.text === undefined) Object.assign(item, await readText(item.file));
    const out = await formatOne(prettier, ctx, item.file, item.text);
    if (out.skipped) continue;
    files += 1;
    if (out.error) errors.push(out.error);
    else if (out.formatted !== item.text) changed.push({ ...item, formatted: out.formatted });
  }
  return { changed, errors: sortDiagnostics(errors), files };
}

function edits(ctx, changed) {
  return changed.map((c) => ({ file: projectRelative(ctx.project, c.file), original: sha256(c.bytes), formatted: c.formatted }));
}

function summary(version, found, changed) {
  return { [TOOL]: { files: found.files, changed, errors: found.errors.length, version } };
}

function declare(ctx, file, version, params, config) {
  ctx.declareInputs({ tree: true, skip: ["node_modules"], ancestors: CONFIG_FILES, files: [file], key: `prettier ${version} ${JSON.stringify(params)} ${JSON.stringify(config)}` });
}

async function loadPrettier(ctx) {
  const { module, file } = await importTool(ctx, "prettier", PRETTIER_REQUIREMENT);
  const prettier = typeof module.format === "function" ? module : module.default;
  if (typeof prettier?.format !== "function") throw new HandlerError("ToolError", `the prettier package at ${file} has no format function`);
  return { prettier, file };
}

/** `format`: the formatted text of each file that would change as `edits`, or with `write`
 * the files rewritten and listed in `changed`. `documents`: unsaved buffers (never written). */
export async function format(ctx) {
  const params = refuseUnsupported(ctx, ["paths", "write", "diff", "documents"]);
  if (params.write && params.diff) throw new HandlerError("UnsupportedParam", "`diff` and `write` exclude each other (`diff` returns the edits, `write` applies them)");
  if (params.write && params.documents) throw new HandlerError("UnsupportedParam", "`write` and `documents` exclude each other (unsaved documents are never written; SPEC §13.8)");
  const { prettier, file } = await loadPrettier(ctx);
  ctx.progress("running prettier");
  const found = await run(ctx, prettier, params);
  const result = { diagnostics: found.errors, summary: summary(prettier.version, found, found.changed.length) };
  if (!params.write) return { ...result, edits: edits(ctx, found.changed) };
  for (const c of found.changed) {
    ctx.signal.throwIfAborted();
    const now = await readText(c.file);
    if (sha256(now.bytes) !== sha256(c.bytes)) throw new HandlerError("ToolError", `${c.file} changed while it was being formatted; nothing more written`);
    await writeFile(c.file, c.formatted, "utf8");
  }
  return { ...result, changed: found.changed.map((c) => projectRelative(ctx.project, c.file)).sort() };
}

/** `check-format`: a `format` warning per file that would change (fixable), an error per file
 * prettier cannot parse; with `diff` also the `edits`. */
export async function checkFormat(ctx) {
  const params = refuseUnsupported(ctx, ["paths", "diff", "documents"]);
  const { prettier, file } = await loadPrettier(ctx);
  ctx.progress("running prettier --check");
  const found = await run(ctx, prettier, params);
  const diagnostics = found.changed.map((c) => ({
    file: projectRelative(ctx.project, c.file),
    range: FILE_START,
    code: "format",
    message: "file would be reformatted",
    severity: "warning",
    source: TOOL,
    fixable: true,
  }));
  const result = { diagnostics: sortDiagnostics([...diagnostics, ...found.errors]), summary: summary(prettier.version, found, found.changed.length) };
  if (!params.documents) declare(ctx, file, prettier.version, params, ctx.config ?? {});
  return params.diff ? { ...result, edits: edits(ctx, found.changed) } : result;
}
