// The conformance fixtures (SPEC §11), served as `conformance/<name>`.

import { TypedError } from "./errors.js";

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

function params(ctx, check) {
  const p = ctx.params;
  const problem = !isObject(p) ? "params must be an object" : check(p);
  if (problem) throw new TypedError("ConformanceParamsError", `${ctx.handler}: ${problem}`);
  return p;
}

const optString = (p, key) => (p[key] !== undefined && typeof p[key] !== "string" ? `${key} must be a string` : null);
const count = (v) => Number.isSafeInteger(v) && v >= 0;

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

const yieldNow = () => new Promise((resolve) => setImmediate(resolve));

export const FIXTURES = {
  async echo(ctx) {
    return ctx.params;
  },
  async sleep(ctx) {
    const p = params(ctx, (q) => (typeof q.seconds !== "number" || q.seconds < 0 ? "seconds must be a number >= 0" : null));
    await sleep(p.seconds * 1000, ctx.signal);
    return { slept: p.seconds };
  },
  async fail(ctx) {
    const p = params(ctx, (q) => optString(q, "message"));
    throw new TypedError("ConformanceFailure", p.message ?? "conformance failure");
  },
  async crash(ctx) {
    const p = params(ctx, (q) =>
      q.exitCode !== undefined && !(Number.isInteger(q.exitCode) && q.exitCode >= 0 && q.exitCode <= 255)
        ? "exitCode must be an integer 0..255"
        : null,
    );
    process.reallyExit(p.exitCode ?? 70);
  },
  async print(ctx) {
    const p = params(
      ctx,
      (q) => optString(q, "stdout") ?? optString(q, "stderr") ?? (q.bytes !== undefined && !count(q.bytes) ? "bytes must be an integer >= 0" : null),
    );
    const out = p.stdout ?? "";
    const err = p.stderr ?? "";
    const n = p.bytes ?? 0;
    process.stdout.write(out);
    const chunk = "x".repeat(65536);
    for (let left = n; left > 0; left -= chunk.length) process.stdout.write(left >= chunk.length ? chunk : chunk.slice(0, left));
    process.stderr.write(err);
    return { printed: Buffer.byteLength(out) + n + Buffer.byteLength(err) };
  },
  async progress(ctx) {
    const p = params(ctx, (q) => (!count(q.steps) ? "steps must be an integer >= 0" : null));
    ctx.beginProgress("conformance progress", { percentage: 0, cancellable: true });
    for (let i = 1; i <= p.steps; i += 1) {
      ctx.progress(`step ${i}/${p.steps}`, { percentage: Math.floor((100 * i) / p.steps) });
      await yieldNow();
    }
    ctx.endProgress();
    return { steps: p.steps };
  },
  async partial(ctx) {
    const p = params(ctx, (q) => (!Array.isArray(q.items) ? "items must be an array" : null));
    for (const item of p.items) {
      ctx.partial(item);
      await yieldNow();
    }
    return { count: p.items.length };
  },
  async nested(ctx) {
    const p = params(ctx, (q) => (typeof q.action !== "string" ? "action must be a string" : null));
    return { nested: await ctx.runLocal(p.action, p.params ?? {}) };
  },
  async "project-run"(ctx) {
    const p = params(ctx, (q) => (typeof q.action !== "string" ? "action must be a string" : null));
    return { project: await ctx.runInProject(p.action, p.params ?? {}) };
  },
};
