// Compiled with `tsc --noEmit` by test_types.py: the SDK's declarations in use.
import type { Context, Handler, RunResult } from "corral-runner-node";
import { TypedError } from "corral-runner-node";

interface LintParams {
  paths?: string[];
}

export const lint: Handler<LintParams, { diagnostics: string[] }> = async (ctx) => {
  const paths: string[] = ctx.params.paths ?? [];
  ctx.signal.throwIfAborted();
  ctx.beginProgress("lint", { percentage: 0, cancellable: true });
  ctx.progress("half", { percentage: 50 });
  ctx.endProgress("done");
  ctx.partial({ file: "a.js" });
  ctx.logger.info(`linting ${paths.length} paths in ${ctx.project} (${ctx.env}, ${ctx.runId})`);
  ctx.state.count = ((ctx.state.count as number | undefined) ?? 0) + 1;
  ctx.declareInputs({ tree: true, skip: ["node_modules"], ancestors: ["package.json"], key: "lint 1" });
  const nested: RunResult = await ctx.runLocal("format", { check: true });
  const project = await ctx.runInProject("lint", {}, { project: "../lib" });
  const workspace = await ctx.runInWorkspace("lint", {}, { projects: null });
  if (nested.status === "failed" || project.runId === "" || workspace.projects.length < 0) {
    throw new TypedError("LintFailed", "nested runs failed");
  }
  return { diagnostics: paths };
};

export async function plain(ctx: Context): Promise<number> {
  return ctx.depth + (ctx.parentRunId === null ? 0 : 1);
}

// @ts-expect-error: a handler's params are read-only
export const wrong: Handler = async (ctx) => { ctx.params = 1; return null; };
