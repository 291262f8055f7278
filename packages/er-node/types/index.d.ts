// Type declarations of the corral-runner-node handler SDK (README.md "Writing a handler").
// A handler is `async (ctx: Context<P>) => result`, named by a source `module:export`.

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An error of a failed handler, a failed load or a scope call (SPEC §9.3 ErrorDetail). */
export interface ErrorDetail {
  type: string;
  message: string;
  traceback: string | null;
}

/** What an `ok` result depends on (SPEC §9.4.1 HandlerInputs). */
export interface HandlerInputs {
  tree?: boolean;
  skip?: string[];
  ancestors?: string[];
  files?: string[];
  key?: string;
}

export interface HandlerOutcome {
  name: string;
  status: "ok" | "failed" | "skipped";
  durationMs: number;
  error: ErrorDetail | null;
  inputs?: HandlerInputs;
}

/** The result of a run (SPEC §9.4 RunResult): what `runLocal` resolves to. */
export interface RunResult<R = Json> {
  status: "ok" | "failed";
  result: R | null;
  handlers: HandlerOutcome[];
}

/** The WM's answer to `runInProject` (SPEC §9.12). */
export interface ProjectRunResult<R = Json> extends RunResult<R> {
  runId: string;
}

export interface ErrorObject {
  code: number;
  message: string;
  data?: Json;
}

export interface ProjectOutcome<R = Json> {
  project: string;
  status: "ok" | "failed" | "error";
  result: R | null;
  error: ErrorObject | null;
}

/** The WM's answer to `runInWorkspace` (SPEC §9.13). */
export interface WorkspaceRunResult<R = Json> {
  runId: string;
  status: "ok" | "failed";
  projects: ProjectOutcome<R>[];
}

/** Records forwarded to the WM as `runner/log` (filtered by the launch record's logLevel). */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  /** Same as `warning`. */
  warn(message: string): void;
  error(message: string): void;
}

export interface BeginProgressOptions {
  message?: string;
  /** 0..100 */
  percentage?: number;
  cancellable?: boolean;
}

/** What one handler invocation knows and may do. */
export declare class Context<P = Json, C extends object = Record<string, Json>> {
  private constructor();
  /** The run's params (plain JSON as sent by the WM). */
  readonly params: P;
  /** This handler's `config` object from the action configuration. */
  readonly config: C;
  /** Sequential actions: the previous handler's result (null for the first). */
  readonly previousResult: Json;
  /** Kept across runs while the runner lives; emptied by every `runner/configure`. */
  readonly state: Record<string, unknown>;
  /** Aborted when the run is cancelled (its reason is an Error named `AbortError`). */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The declaration made by `declareInputs`, if any. */
  readonly declaredInputs: Required<HandlerInputs> | null;
  /** This handler's name in the action configuration. */
  readonly handler: string;
  readonly action: string;
  /** The project directory (absolute). */
  readonly project: string;
  readonly env: string;
  readonly runId: string;
  readonly parentRunId: string | null;
  readonly depth: number;
  /** True once the run was cancelled (`signal.aborted`). */
  readonly cancelled: boolean;

  /** Start work-done progress; a no-op when the WM gave no workDoneToken. */
  beginProgress(title: string, options?: BeginProgressOptions): void;
  /** Report work-done progress (begins it, titled with the action, if needed). */
  progress(message?: string, options?: { percentage?: number }): void;
  /** The final progress message; the `end` itself is sent just before the reply. */
  endProgress(message?: string): void;
  /** Stream a partial result; a no-op without a partialResultToken. */
  partial(data: Json): void;
  /** Declare what this `ok` result depends on (SPEC §9.4.1); a later call replaces it. */
  declareInputs(inputs: HandlerInputs): void;
  /** The file a bare package specifier resolves to, searched like handler sources (the
   * `--modules` directories, the runner's installation, the project); throws an Error named
   * `ModuleNotFound` when the package is not installed. */
  resolveModule(specifier: string): string;
  /** Import a package of the environment (resolved as `resolveModule` does). */
  importModule<M = any>(specifier: string): Promise<M>;
  /** Run another action of this runner, one level deeper (never over the wire). */
  runLocal<R = Json>(action: string, params?: Json): Promise<RunResult<R>>;
  /** Ask the WM to run `action` across a project's environments (default: this project). */
  runInProject<R = Json>(action: string, params?: Json, options?: { project?: string }): Promise<ProjectRunResult<R>>;
  /** Ask the WM to run `action` across projects (null/absent: every project having it). */
  runInWorkspace<R = Json>(action: string, params?: Json, options?: { projects?: string[] | null }): Promise<WorkspaceRunResult<R>>;
}

/** A handler: what a source `module:export` names. */
export type Handler<P = Json, R = Json, C extends object = Record<string, Json>> = (ctx: Context<P, C>) => R | Promise<R>;

/** An Error whose `name` is a given ErrorDetail `type`. */
export declare class TypedError extends Error {
  constructor(type: string, message: string);
}

/** A JSON-RPC error reply to a scope call; `name` is the code's name (SPEC §6.7). */
export declare class RemoteError extends Error {
  readonly code: number | undefined;
  readonly data: Json | undefined;
}

export declare const RUNNER_INFO: Readonly<{ name: string; version: string; language: string }>;
export declare const PROTOCOL_VERSIONS: string[];
