// `lint` with ESLint (flat config) through its Node API: `new ESLint(...)`, never its text.

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { HandlerError, LineIndex, importTool, projectRelative, readText, refuseUnsupported, sha256, sortDiagnostics } from "./common.js";

export const ESLINT_REQUIREMENT = "eslint@^9";
const SOURCE = "eslint";
const CONFIG_FILES = ["eslint.config.js", "eslint.config.mjs", "eslint.config.cjs", "eslint.config.ts", "eslint.config.mts", "eslint.config.cts"];
const UNNECESSARY = new Set(["no-unused-vars", "no-unused-labels", "no-unreachable", "no-unused-private-class-members", "@typescript-eslint/no-unused-vars"]);

function diagnostic(project, file, index, message, meta) {
  const start = index.fromLineColumn(message.line, message.column);
  const end = message.endLine === undefined ? start : index.fromLineColumn(message.endLine, message.endColumn);
  const fatal = Boolean(message.fatal) || message.ruleId === null;
  const d = {
    file: projectRelative(project, file),
    range: { start, end },
    code: message.ruleId ?? null,
    message: message.message,
    severity: fatal || message.severity === 2 ? "error" : "warning",
    source: SOURCE,
    fixable: Boolean(message.fix),
  };
  const url = message.ruleId ? meta[message.ruleId]?.docs?.url : undefined;
  if (typeof url === "string" && url) d.url = url;
  if (message.ruleId && UNNECESSARY.has(message.ruleId)) d.tags = ["unnecessary"];
  if (message.fix) {
    d.fix = {
      applicability: "safe",
      edits: [{ range: { start: index.fromOffset(message.fix.range[0]), end: index.fromOffset(message.fix.range[1]) }, newText: message.fix.text }],
    };
  }
  return d;
}

/** ESLint's "File ignored ..." warnings for files the configuration does not take (§13.8 rule 2). */
const isIgnoredWarning = (m) => m.ruleId === null && m.severity === 1 && /^File ignored\b/.test(m.message);

const selected = (only) => (m) => !only || m.ruleId === null || only.some((p) => m.ruleId.startsWith(p));

async function toResult(ctx, eslint, results, texts, version, only) {
  const meta = eslint.getRulesMetaForResults(results);
  const diagnostics = [];
  let files = 0;
  for (const r of results) {
    const messages = r.messages.filter((m) => !isIgnoredWarning(m)).filter(selected(only));
    if (messages.length < r.messages.length && messages.length === 0) continue;
    files += 1;
    if (!messages.length) continue;
    const text = texts.get(r.filePath) ?? r.source ?? (await readText(r.filePath)).text;
    const index = new LineIndex(text);
    for (const m of messages) diagnostics.push(diagnostic(ctx.project, r.filePath, index, m, meta));
  }
  sortDiagnostics(diagnostics);
  const summary = {
    findings: diagnostics.length,
    fixable: diagnostics.filter((d) => d.fixable).length,
    errors: diagnostics.filter((d) => d.severity === "error").length,
    files,
    version,
  };
  return { diagnostics, summary: { [SOURCE]: summary } };
}

/** `lint`: ESLint's findings as diagnostics (SPEC §13.3), its fixes as edits. Params:
 * `paths` (default: the project), `documents` (unsaved buffers, §13.8), `only` (rule ids
 * starting with one of these; parse errors always), `fix` (apply ESLint's fixes: files are
 * rewritten and listed in `changed`; documents get `edits`; `summary.eslint.fixed`). */
export async function lint(ctx) {
  const params = refuseUnsupported(ctx, ["paths", "documents", "only", "fix"]);
  const only = params.only ?? null;
  if (only !== null && (!Array.isArray(only) || only.some((o) => typeof o !== "string"))) {
    throw new HandlerError("UnsupportedParam", "`only` must be an array of strings");
  }
  if (params.fix !== undefined && typeof params.fix !== "boolean") throw new HandlerError("UnsupportedParam", "`fix` must be a boolean");
  const config = ctx.config ?? {};
  const { module, file } = await importTool(ctx, "eslint", ESLINT_REQUIREMENT);
  const ESLint = module.ESLint ?? module.default?.ESLint;
  if (typeof ESLint !== "function") throw new HandlerError("ToolError", `the eslint package at ${file} has no ESLint class (ESLint >= 9 is required)`);
  const options = {
    cwd: ctx.project,
    errorOnUnmatchedPattern: false,
    ignorePatterns: [".corral/", ...(Array.isArray(config.ignore) ? config.ignore : [])],
  };
  if (typeof config.overrideConfigFile === "string") options.overrideConfigFile = path.resolve(ctx.project, config.overrideConfigFile);
  const eslint = new ESLint(options);
  const fixer = params.fix ? new ESLint({ ...options, fix: only ? (m) => selected(only)(m) : true }) : null;
  const version = ESLint.version ?? module.default?.ESLint?.version;
  const texts = new Map();
  let results;
  if (params.documents) {
    results = [];
    for (const doc of params.documents) {
      ctx.signal.throwIfAborted();
      const filePath = path.resolve(ctx.project, doc.path);
      if (await eslint.isPathIgnored(filePath)) continue;
      texts.set(filePath, doc.text);
      results.push(...(await eslint.lintText(doc.text, { filePath, warnIgnored: false })));
    }
  } else {
    const targets = params.paths?.length ? params.paths : ["."];
    ctx.progress("running eslint");
    results = await eslint.lintFiles(targets);
    ctx.declareInputs({
      tree: true,
      skip: ["node_modules"],
      ancestors: CONFIG_FILES,
      files: [file],
      key: `eslint ${version} ${JSON.stringify(targets)} ${JSON.stringify(config)}`,
    });
  }
  ctx.signal.throwIfAborted();
  const found = await toResult(ctx, eslint, results, texts, version, only);
  if (!fixer) return found;
  ctx.declaredInputs = null; // fixing rewrites files: never answered from a cache
  return applyFixes(ctx, fixer, found, params, texts, version, only);
}

/** Lint again with ESLint's fixes applied; write them (files) or return them as edits
 * (documents). The findings are those that remain. */
async function applyFixes(ctx, fixer, found, params, texts, version, only) {
  ctx.progress("running eslint --fix");
  const results = [];
  if (params.documents) {
    for (const [filePath, text] of texts) results.push(...(await fixer.lintText(text, { filePath, warnIgnored: false })));
  } else {
    results.push(...(await fixer.lintFiles(params.paths?.length ? params.paths : ["."])));
  }
  const fixedTexts = new Map(texts);
  const changed = [];
  const edits = [];
  for (const r of results) {
    if (typeof r.output !== "string") continue;
    ctx.signal.throwIfAborted();
    const rel = projectRelative(ctx.project, r.filePath);
    fixedTexts.set(r.filePath, r.output);
    if (params.documents) {
      edits.push({ file: rel, original: sha256(Buffer.from(texts.get(r.filePath), "utf8")), formatted: r.output });
    } else {
      await writeFile(r.filePath, r.output, "utf8");
      changed.push(rel);
    }
  }
  const after = await toResult(ctx, fixer, results, fixedTexts, version, only);
  const summary = after.summary[SOURCE];
  summary.fixed = Math.max(found.summary[SOURCE].findings - summary.findings, 0);
  const result = { ...after, changed: changed.sort() };
  if (params.documents) result.edits = edits.sort((a, b) => (a.file < b.file ? -1 : 1));
  return result;
}
