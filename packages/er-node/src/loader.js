// Loading handlers from their sources (SPEC §9.3): `conformance/<fixture>` and
// `<module>:<export>` (README.md "Handler sources").

import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FIXTURES } from "./fixtures.js";
import { TypedError, errorDetail } from "./errors.js";

const RUNNER_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const CONDITIONS = new Set(["import", "node", "default", "require"]);

function isPathSpecifier(spec) {
  return /^(\.\.?[\\/]|\/|[A-Za-z]:[\\/]|\\\\|file:)/.test(spec) || spec === "." || spec === "..";
}

function resolveTarget(target) {
  if (typeof target === "string") return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = resolveTarget(t);
      if (r) return r;
    }
    return undefined;
  }
  if (target && typeof target === "object") {
    for (const [key, value] of Object.entries(target)) {
      if (CONDITIONS.has(key)) {
        const r = resolveTarget(value);
        if (r) return r;
      }
    }
  }
  return undefined;
}

function packageEntry(pkgDir, subpath) {
  const manifest = path.join(pkgDir, "package.json");
  const pkg = existsSync(manifest) ? JSON.parse(readFileSync(manifest, "utf8")) : {};
  const key = subpath ? `./${subpath}` : ".";
  if (pkg.exports !== undefined) {
    const exp = pkg.exports;
    const map = typeof exp === "object" && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith(".")) ? exp : { ".": exp };
    const target = resolveTarget(map[key]);
    if (target) return path.join(pkgDir, target);
    throw new TypedError("ModuleNotFound", `package ${pkgDir} does not export ${key}`);
  }
  if (subpath) return path.join(pkgDir, subpath);
  return path.join(pkgDir, pkg.module ?? pkg.main ?? "index.js");
}

/** The file of a bare module specifier, searched from each base directory upwards. */
export function resolveBare(spec, bases) {
  const parts = spec.split("/");
  const nameParts = spec.startsWith("@") ? 2 : 1;
  const name = parts.slice(0, nameParts).join("/");
  const subpath = parts.slice(nameParts).join("/");
  for (const base of bases) {
    for (let dir = path.resolve(base); ; dir = path.dirname(dir)) {
      const pkgDir = path.join(dir, "node_modules", name);
      if (existsSync(pkgDir)) return packageEntry(pkgDir, subpath);
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new TypedError("ModuleNotFound", `Cannot find module '${spec}' (searched node_modules above ${bases.join(", ")})`);
}

/** Loads handler sources; remembers module files' mtime/size for hot reload. */
export class Loader {
  constructor({ project, conformance, modulesDirs = [] }) {
    this.project = project;
    this.conformance = conformance;
    this.bases = [...modulesDirs, RUNNER_DIR, project];
    this.loaded = new Map(); // file -> {stamp, module}
  }

  /** {fn} or {error: ErrorDetail} for one source. */
  async load(source) {
    try {
      return { fn: await this.#load(source) };
    } catch (err) {
      return { error: errorDetail(err) };
    }
  }

  async #load(source) {
    if (source.startsWith("conformance/")) {
      if (!this.conformance) throw new TypedError("ConformanceDisabled", `conformance fixtures are disabled: ${source}`);
      const fn = Object.hasOwn(FIXTURES, source.slice(12)) ? FIXTURES[source.slice(12)] : undefined;
      if (!fn) throw new TypedError("UnknownFixture", `unknown conformance fixture: ${source}`);
      return fn;
    }
    if (source.startsWith("entrypoint:")) {
      throw new TypedError("UnsupportedSource", `entrypoint: sources are not supported by this runner: ${source}`);
    }
    const colon = source.lastIndexOf(":");
    const spec = colon > 0 ? source.slice(0, colon) : "";
    const attr = colon > 0 ? source.slice(colon + 1) : "";
    if (!spec || !/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(attr) || /^[A-Za-z]$/.test(spec)) {
      throw new TypedError("UnsupportedSource", `not a handler source (module:export): ${source}`);
    }
    let file;
    if (spec.startsWith("file:")) file = fileURLToPath(spec);
    else if (isPathSpecifier(spec)) file = path.resolve(this.project, spec);
    else file = resolveBare(spec, this.bases);
    const module = await this.#import(file);
    let value = module;
    for (const part of attr.split(".")) {
      if (value === null || value === undefined || !(part in Object(value))) {
        throw new TypedError("AttributeError", `module ${spec} has no export ${attr}`);
      }
      value = value[part];
    }
    if (typeof value !== "function") throw new TypedError("TypeError", `${source} is not a function`);
    return value;
  }

  async #import(file) {
    const stat = statSync(file);
    const stamp = `${stat.mtimeMs}-${stat.size}`;
    const known = this.loaded.get(file);
    if (known && known.stamp === stamp) return known.module;
    const url = pathToFileURL(file).href + (known ? `?corral-reload=${encodeURIComponent(stamp)}` : "");
    const module = await import(url);
    this.loaded.set(file, { stamp, module });
    return module;
  }
}
