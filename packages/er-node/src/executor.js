// Runs: executing actions' handlers sequentially or concurrently, progress, partial results,
// cancellation, local nested runs and scope requests (SPEC §9.4, §10.1, §10.2, §10.4).

import { AsyncLocalStorage } from "node:async_hooks";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Context } from "./sdk.js";
import { TypedError, errorDetail } from "./errors.js";

export const LOCAL_DEPTH_LIMIT = 8;

/** The run whose handler code is executing (for output attribution, SPEC §10.3). */
export const currentRun = new AsyncLocalStorage();

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep merge of concurrent handlers' ok results (SPEC §9.4). */
export function mergeResults(results) {
  if (results.length === 0) return null;
  if (!results.every(isObject)) return results;
  const merge = (a, b) => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      if (!(k in out)) out[k] = v;
      else if (isObject(out[k]) && isObject(v)) out[k] = merge(out[k], v);
      else if (Array.isArray(out[k]) && Array.isArray(v)) out[k] = [...out[k], ...v];
      else out[k] = v;
    }
    return out;
  };
  return results.reduce((acc, r) => merge(acc, r), {});
}

/** Cancellation of a run: the AbortSignal reason handlers see. */
export class RunCancelled extends Error {
  constructor(reason) {
    super(`run cancelled (${reason})`);
    this.name = "AbortError";
    this.reason = reason;
  }
}

/**
 * One run: an `actions/run` (top level, `reply` set) or a local nested run.
 * `host` is the server: send(), log(), scopeRequest(), project, env, wal.
 */
export class Run {
  constructor(host, { action, params, runId, parentRunId, depth, config, top, workDoneToken, partialResultToken }) {
    this.host = host;
    this.action = action;
    this.params = params;
    this.runId = runId;
    this.parentRunId = parentRunId;
    this.depth = depth;
    this.config = config; // {actions: Map, states: Map}
    this.top = top ?? this; // the outermost run on this runner
    this.controller = top ? top.controller : new AbortController();
    this.signal = this.controller.signal;
    this.workDoneToken = workDoneToken;
    this.partialResultToken = partialResultToken;
    this.answered = false;
    this.beginSent = false;
    this.endMessage = undefined;
    this.nestedCount = 0;
    this.walEnded = false;
    this.running = new Map(); // handler name -> start time (for WAL records at cancellation)
    this.cancelReason = undefined;
    this.active = top ? top.active : new Set(); // the top run's live runs, nested included
  }

  /** Cancel the whole run tree: abort handlers and record the cancellation in the WAL now. */
  cancel(reason) {
    if (this.signal.aborted) return;
    this.cancelReason = reason;
    this.controller.abort(new RunCancelled(reason));
    for (const run of [...this.active].reverse()) run.walCancelled();
  }

  walCancelled() {
    const now = performance.now();
    for (const [handler, t0] of this.running) this.walHandler("handler.cancelled", handler, { durationMs: now - t0 });
    this.walEnd("run.cancelled", { reason: this.top.cancelReason, durationMs: now - this.startedAt });
  }

  walHandler(event, handler, payload) {
    if (!this.running.has(handler)) return;
    this.running.delete(handler);
    this.host.wal?.append(event, this.walBase(), { handler, ...payload });
  }

  walEnd(event, payload) {
    if (this.walEnded) return;
    this.walEnded = true;
    this.active.delete(this);
    this.host.wal?.append(event, this.walBase(), payload);
  }

  walBase() {
    return { runId: this.runId, parentRunId: this.parentRunId, action: this.action };
  }

  get project() {
    return this.host.project;
  }
  get env() {
    return this.host.env;
  }

  // --- reporting (top-level runs with tokens only; SPEC §10.1) -----------------------------

  progress(value) {
    if (this !== this.top || this.workDoneToken === undefined || this.answered) return;
    const clean = (v) => Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined && x !== null));
    if (value.kind === "end") {
      if (value.message !== undefined) this.endMessage = String(value.message);
      return;
    }
    if (value.kind === "begin") {
      if (!this.beginSent) {
        this.beginSent = true;
        this.sendProgress(clean(value));
        return;
      }
      // a later begin is a report, whose percentage never moves the bar back (SPEC §10.1)
      const lower = typeof value.percentage === "number" && value.percentage < (this.lastPercentage ?? 0);
      value = { kind: "report", message: value.message, percentage: lower ? undefined : value.percentage };
    } else if (!this.beginSent) {
      this.beginSent = true;
      this.sendProgress({ kind: "begin", title: this.action });
    }
    this.sendProgress(clean({ kind: "report", message: value.message, percentage: value.percentage }));
  }

  sendProgress(value) {
    if (typeof value.percentage === "number") this.lastPercentage = value.percentage;
    this.host.notify("$/progress", { token: this.workDoneToken, value });
  }

  partial(handler, data) {
    if (this !== this.top || this.partialResultToken === undefined || this.answered) return;
    this.host.notify("$/progress", {
      token: this.partialResultToken,
      value: { kind: "partial", handler, data: data === undefined ? null : data },
    });
  }

  /** Send the work-done `end` (if a `begin` was sent) right before the reply. */
  endProgress(cancelled) {
    if (!this.beginSent || this.workDoneToken === undefined) return;
    const message = cancelled ? "cancelled" : this.endMessage;
    this.sendProgress(message === undefined ? { kind: "end" } : { kind: "end", message });
  }

  log(level, message, logger) {
    this.host.log(level, message, logger, this.top.runId);
  }

  // --- nested runs ---------------------------------------------------------------------------

  async runLocal(action, params) {
    this.signal.throwIfAborted();
    const depth = this.depth + 1;
    if (depth > LOCAL_DEPTH_LIMIT) {
      throw new TypedError("DepthLimitExceeded", `local run depth ${depth} exceeds ${LOCAL_DEPTH_LIMIT}`);
    }
    const spec = this.config.actions.get(action);
    if (spec === undefined) throw new TypedError("ActionNotFound", `action not configured: ${action}`);
    this.nestedCount += 1;
    const child = new Run(this.host, {
      action,
      params,
      runId: `${this.runId}/${this.nestedCount}`,
      parentRunId: this.runId,
      depth,
      config: this.config,
      top: this.top,
    });
    return child.execute(spec);
  }

  async scopeRequest(method, action, params, extra) {
    this.signal.throwIfAborted();
    const request = { action, params, parentRunId: this.runId, depth: this.depth + 1 };
    if (extra.project !== undefined) request.project = path.resolve(this.project, String(extra.project));
    if (extra.projects !== undefined) {
      request.projects = extra.projects === null ? null : extra.projects.map((p) => path.resolve(this.project, String(p)));
    }
    return this.host.request(method, request, this.signal);
  }

  // --- execution -----------------------------------------------------------------------------

  /** Execute the action `spec` ({mode, handlers: [{name, fn, config, error}]}): a RunResult. */
  async execute(spec) {
    this.startedAt = performance.now();
    this.active.add(this);
    this.host.wal?.append("run.started", this.walBase(), { handlers: spec.handlers.map((h) => h.name) });
    let outcomes;
    let result;
    try {
      if (spec.mode === "concurrent") {
        outcomes = await Promise.all(spec.handlers.map((h, i) => this.callHandler(h, i, null)));
        result = mergeResults(outcomes.filter((o) => o.status === "ok").map((o) => o.value));
      } else {
        outcomes = [];
        let previous = null;
        let failed = false;
        for (const [i, h] of spec.handlers.entries()) {
          if (failed) {
            outcomes.push({ name: h.name, status: "skipped", durationMs: 0, error: null });
            continue;
          }
          const o = await this.callHandler(h, i, previous);
          outcomes.push(o);
          if (o.status !== "ok") failed = true;
          else previous = o.value;
        }
        result = failed ? null : previous;
      }
    } catch (err) {
      const durationMs = performance.now() - this.startedAt;
      if (this.signal.aborted) this.walEnd("run.cancelled", { reason: this.top.cancelReason, durationMs });
      else this.walEnd("run.failed", { error: { type: errorDetail(err).type, message: String(err?.message ?? err) }, durationMs });
      throw err;
    }
    if (this.signal.aborted) throw new RunCancelled(this.top.cancelReason);
    const status = outcomes.every((o) => o.status === "ok") ? "ok" : "failed";
    this.walEnd("run.finished", { status, durationMs: performance.now() - this.startedAt });
    for (const o of outcomes) delete o.value;
    return { status, result: result === undefined ? null : result, handlers: outcomes };
  }

  async callHandler(h, index, previousResult) {
    if (h.error) return { name: h.name, status: "failed", durationMs: 0, error: h.error };
    this.signal.throwIfAborted();
    const started = performance.now();
    this.running.set(h.name, started);
    this.host.wal?.append("handler.started", this.walBase(), { handler: h.name, index });
    const ctx = new Context(this, { handler: h.name, config: h.config, previousResult, state: h.state });
    let value;
    try {
      value = await currentRun.run(this.top, () => Promise.resolve().then(() => h.fn(ctx)));
      value = value === undefined ? null : JSON.parse(JSON.stringify(value) ?? "null");
    } catch (err) {
      const durationMs = performance.now() - started;
      if (this.signal.aborted) throw new RunCancelled(this.top.cancelReason);
      const error = errorDetail(err);
      this.walHandler("handler.failed", h.name, { error: { type: error.type, message: error.message }, durationMs });
      return { name: h.name, status: "failed", durationMs, error };
    }
    const durationMs = performance.now() - started;
    if (this.signal.aborted) throw new RunCancelled(this.top.cancelReason);
    this.walHandler("handler.finished", h.name, { durationMs });
    const outcome = { name: h.name, status: "ok", durationMs, error: null, value };
    if (ctx.declaredInputs) outcome.inputs = ctx.declaredInputs;
    return outcome;
  }
}
