// The handler SDK: the `ctx` a handler `async (ctx) => result` receives (types/index.d.ts).

import { pathToFileURL } from "node:url";
import { resolveBare } from "./loader.js";

const LEVELS = ["debug", "info", "warning", "error"];

function stringList(value, name) {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v.length === 0)) {
    throw new TypeError(`declareInputs: ${name} must be an array of non-empty strings`);
  }
  return [...value];
}

export class Context {
  #scope;
  #handler;

  constructor(scope, { handler, config, previousResult, state }) {
    this.#scope = scope;
    this.#handler = handler;
    /** The run's params (plain JSON). */
    this.params = scope.params;
    /** This handler's `config` object. */
    this.config = config;
    /** Sequential actions: the previous handler's result (null for the first). */
    this.previousResult = previousResult;
    /** An object kept across runs while the runner lives; emptied by runner/configure. */
    this.state = state;
    /** Aborted when the run is cancelled. */
    this.signal = scope.signal;
    /** What the result depends on, once declareInputs() was called (SPEC §9.4.1). */
    this.declaredInputs = null;
    const log = (level) => (message) => scope.log(level, String(message), `handler.${handler}`);
    const logger = Object.fromEntries(LEVELS.map((l) => [l, log(l)]));
    logger.warn = logger.warning;
    this.logger = Object.freeze(logger);
  }

  get handler() {
    return this.#handler;
  }
  get action() {
    return this.#scope.action;
  }
  get project() {
    return this.#scope.project;
  }
  get env() {
    return this.#scope.env;
  }
  get runId() {
    return this.#scope.runId;
  }
  get parentRunId() {
    return this.#scope.parentRunId;
  }
  get depth() {
    return this.#scope.depth;
  }
  get cancelled() {
    return this.#scope.signal.aborted;
  }

  beginProgress(title, { message, percentage, cancellable } = {}) {
    this.#scope.progress({ kind: "begin", title: String(title), message, percentage, cancellable });
  }

  progress(message, { percentage } = {}) {
    this.#scope.progress({ kind: "report", message, percentage });
  }

  endProgress(message) {
    this.#scope.progress({ kind: "end", message });
  }

  partial(data) {
    this.#scope.partial(this.#handler, data);
  }

  declareInputs({ tree = false, skip, ancestors, files, key = "" } = {}) {
    if (typeof tree !== "boolean") throw new TypeError("declareInputs: tree must be a boolean");
    if (typeof key !== "string") throw new TypeError("declareInputs: key must be a string");
    this.declaredInputs = {
      tree,
      skip: stringList(skip, "skip"),
      ancestors: stringList(ancestors, "ancestors"),
      files: stringList(files, "files"),
      key,
    };
  }

  /** The file a bare package specifier resolves to, searched like handler sources (the
   * `--modules` directories, the runner's installation, the project). Throws an Error named
   * `ModuleNotFound` when no such package is installed. */
  resolveModule(specifier) {
    return resolveBare(String(specifier), this.#scope.host.loader.bases);
  }

  /** Import a package of the environment (resolved as `resolveModule` does). */
  importModule(specifier) {
    return import(pathToFileURL(this.resolveModule(specifier)).href);
  }

  runLocal(action, params = {}) {
    return this.#scope.runLocal(action, params ?? {});
  }

  runInProject(action, params = {}, { project } = {}) {
    return this.#scope.scopeRequest("project/runAction", action, params ?? {}, project === undefined ? {} : { project });
  }

  runInWorkspace(action, params = {}, { projects } = {}) {
    return this.#scope.scopeRequest("workspace/runAction", action, params ?? {}, projects === undefined ? {} : { projects });
  }
}
