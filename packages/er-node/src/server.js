// The runner: listening, candidates and authentication (SPEC §4), lifecycle (§8), the
// methods (§9), and the wiring of runs, output, logs and the WAL.

import { timingSafeEqual } from "node:crypto";
import net from "node:net";
import { Connection, idKey } from "./connection.js";
import { DEFAULT_MAX_MESSAGE_SIZE } from "./framing.js";
import { rawMember } from "./json.js";
import { Run, RunCancelled } from "./executor.js";
import { RemoteError } from "./errors.js";
import { Loader } from "./loader.js";
import { OutputCapture } from "./output.js";
import { VERSION, cancelId, checkConfigure, checkInitialize, checkRun, isObject } from "./validate.js";
import { splitUtf8 } from "./json.js";

export const RUNNER_INFO = Object.freeze({ name: "corral-runner-node", version: "0.1.0", language: "javascript" });
export const PROTOCOL_VERSIONS = ["1.0"];
const LEVELS = { debug: 0, info: 1, warning: 2, error: 3 };
const AUTH_DEADLINE_MS = 10000;
const LOG_BUFFER = 1000;
const SOCKET_BACKLOG = 1048576;

export class RunnerServer {
  constructor(record, { wal = null, modulesDirs = [], exit }) {
    this.record = record;
    this.project = record.project;
    this.env = record.env;
    this.wal = wal;
    this.exitProcess = exit;
    this.loader = new Loader({ project: record.project, conformance: record.conformance, modulesDirs });
    this.candidates = new Set();
    this.conn = null; // the authenticated connection
    this.state = "listening";
    this.initializedSeen = false;
    this.shutdownReplySent = false;
    this.inFlight = new Map(); // idKey -> {method, run?}
    this.outgoing = new Map(); // runner -> WM requests: id -> {resolve, reject}
    this.nextRequest = 1;
    this.logs = [];
    this.logsDropped = 0;
    this.config = { actions: new Map() };
    this.configReady = Promise.resolve(this.config);
    this.output = new OutputCapture(() => this.scheduleFlush());
    this.flushScheduled = false;
    this.exiting = false;
  }

  /** Bind 127.0.0.1:0 and listen; resolves to the port. */
  listen() {
    this.server = net.createServer((socket) => this.accept(socket));
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => resolve(this.server.address().port));
    });
  }

  // --- connections and authentication (SPEC §4) -----------------------------------------------

  accept(socket) {
    if (this.conn !== null || this.exiting) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, {
      maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
      onMessage: (m) => this.dispatch(conn, m),
      onClose: (c) => this.closed(c),
    });
    conn.onTruncated = () => this.log("warning", "connection closed in the middle of a message", "corral_runner.connection");
    this.candidates.add(conn);
    conn.deadline = setTimeout(() => conn.close(), AUTH_DEADLINE_MS);
    conn.deadline.unref();
  }

  closed(conn) {
    clearTimeout(conn.deadline);
    this.candidates.delete(conn);
    if (conn === this.conn) this.exit(this.shutdownReplySent ? 0 : 1);
  }

  tokenMatches(token) {
    if (typeof token !== "string") return false;
    const a = Buffer.from(token);
    const b = Buffer.from(this.record.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  // --- dispatch (SPEC §6.2 steps 4-7, §8.3) ---------------------------------------------------

  dispatch(conn, m) {
    if (m.kind === "response") return this.response(m);
    if (m.kind === "notification") return conn === this.conn ? this.notification(m) : undefined;
    const reply = (result) => this.reply(conn, m.id, result);
    const fail = (code, message, data) => this.replyError(conn, m.id, code, message, data);
    if (conn !== this.conn) {
      if (m.method !== "initialize") return fail(-32002, "server not initialized");
      return this.initialize(conn, m);
    }
    if (this.state === "shuttingDown") return fail(-32004, "shutting down");
    if (m.method === "initialize") return fail(-32003, "already initialized");
    const key = idKey(m.id);
    if (this.inFlight.has(key)) {
      // answered without touching the request in flight under that id (SPEC §6.2)
      return conn.sendError(m.id, -32600, "duplicate id of a request in flight", { reason: "duplicate-id" });
    }
    const methods = { "$/ping": 1, shutdown: 1, "runner/configure": 1, "actions/run": 1 };
    if (!Object.hasOwn(methods, m.method)) return fail(-32601, `method not found: ${m.method}`);
    if (m.hasParams && !isObject(m.params)) return fail(-32602, "params must be an object", { path: "$", reason: "params must be an object" });
    const params = m.params ?? {};
    const raw = (...path) => rawMember(m.text, "params", ...path);
    switch (m.method) {
      case "$/ping":
        return reply({});
      case "shutdown":
        return this.shutdown(conn, m.id);
      case "runner/configure": {
        const bad = checkConfigure(params);
        if (bad) return fail(-32602, `invalid params: ${bad.path}: ${bad.reason}`, bad);
        return this.configure(conn, m.id, params);
      }
      case "actions/run": {
        const bad = checkRun(params, raw);
        if (bad) return fail(-32602, `invalid params: ${bad.path}: ${bad.reason}`, bad);
        return this.run(conn, m.id, params);
      }
    }
  }

  initialize(conn, m) {
    const p = m.params;
    if (!isObject(p) || !this.tokenMatches(p.token)) return conn.abort();
    const bad = checkInitialize(p, (...path) => rawMember(m.text, "params", ...path));
    if (bad) return this.replyError(conn, m.id, -32602, `invalid params: ${bad.path}: ${bad.reason}`, bad);
    const [major, minor] = p.protocolVersion.split(".").map(Number);
    const mine = PROTOCOL_VERSIONS.map((v) => v.split(".").map(Number)).filter(([M]) => M === major);
    if (mine.length === 0) {
      return this.replyError(conn, m.id, -32005, `unsupported protocol version ${p.protocolVersion}`, { supported: PROTOCOL_VERSIONS });
    }
    const negotiated = `${major}.${Math.min(minor, Math.max(...mine.map(([, n]) => n)))}`;
    this.conn = conn;
    this.state = "initialized";
    clearTimeout(conn.deadline);
    this.candidates.delete(conn);
    for (const other of this.candidates) other.abort();
    conn.peerLimit = p.capabilities.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    conn.socket.on("drain", () => this.scheduleFlush());
    this.reply(conn, m.id, {
      protocolVersion: negotiated,
      runnerInfo: RUNNER_INFO,
      capabilities: {
        maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
        conformanceFixtures: this.record.conformance === true,
        handlerSources: ["module"],
        syncHandlers: false,
      },
    });
  }

  notification(m) {
    const known = m.method === "initialized" || m.method === "exit" || m.method === "$/cancelRequest";
    if (known && m.hasParams && !isObject(m.params)) {
      // a known notification whose params fail its schema is ignored (SPEC §6.3)
      return this.log("debug", `ignored ${m.method} with invalid params`, "corral_runner.rpc");
    }
    if (m.method === "initialized") {
      if (!this.initializedSeen && this.state === "initialized") {
        this.initializedSeen = true;
        this.flush(true);
      }
    } else if (m.method === "exit") {
      this.exit(this.shutdownReplySent ? 0 : 1);
    } else if (m.method === "$/cancelRequest") {
      if (this.state !== "initialized") return;
      const id = cancelId(m.params, (...path) => rawMember(m.text, "params", ...path));
      if (id === undefined) return;
      const entry = this.inFlight.get(idKey(id));
      if (entry?.run) this.cancelRun(id, entry.run, "cancel-request");
    } else if (!m.method.startsWith("$/")) {
      this.log("debug", `ignored notification ${m.method}`, "corral_runner.rpc");
    }
  }

  response(m) {
    if (!m.valid) return this.log("warning", "dropped an invalid response", "corral_runner.rpc");
    if (m.id === null) return this.log("warning", `the WM could not attribute a message: ${m.error?.message}`, "corral_runner.rpc");
    const pending = this.outgoing.get(idKey(m.id));
    if (!pending) return this.log("warning", `dropped a response to no request in flight (${JSON.stringify(m.id)})`, "corral_runner.rpc");
    this.outgoing.delete(idKey(m.id));
    if (m.error !== undefined) pending.reject(new RemoteError(m.error));
    else pending.resolve(m.result);
  }

  // --- replies and notifications ----------------------------------------------------------------

  reply(conn, id, result) {
    this.inFlight.delete(idKey(id));
    conn.send({ jsonrpc: "2.0", id, result });
    this.afterReply();
  }

  replyError(conn, id, code, message, data) {
    if (conn === this.conn) this.inFlight.delete(idKey(id));
    conn.sendError(id, code, message, data);
    this.afterReply();
  }

  afterReply() {
    if (this.pendingShutdown && this.inFlight.size === 1) this.pendingShutdown();
  }

  notify(method, params) {
    this.conn?.send({ jsonrpc: "2.0", method, params });
  }

  /** A runner/log record (SPEC §10.3): level-filtered, truncated, buffered until initialized. */
  log(level, message, logger, runId) {
    if (LEVELS[level] < LEVELS[this.record.logLevel]) return;
    const params = { level, message: splitUtf8(String(message), 16384)[0] };
    if (logger) params.logger = logger;
    if (runId !== undefined) params.runId = runId;
    if (this.initializedSeen && this.conn && !this.conn.closed) {
      this.flush(true);
      this.notify("runner/log", params);
      return;
    }
    this.logs.push(params);
    if (this.logs.length > LOG_BUFFER) {
      this.logs.shift();
      this.logsDropped += 1;
    }
  }

  scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush(false);
    });
  }

  /** Send waiting logs and output; unless `force`, only while the socket is not backlogged. */
  flush(force) {
    const conn = this.conn;
    if (!this.initializedSeen || conn === null || conn.closed) return;
    if (this.logs.length) {
      const logs = this.logs;
      this.logs = [];
      for (const params of logs) this.notify("runner/log", params);
      if (this.logsDropped) {
        const n = this.logsDropped;
        this.logsDropped = 0;
        if (LEVELS.warning >= LEVELS[this.record.logLevel]) {
          this.notify("runner/log", { level: "warning", message: `${n} log records dropped before initialized`, logger: "corral_runner" });
        }
      }
    }
    if (!force && conn.socket.writableLength > SOCKET_BACKLOG) return; // resumes on 'drain'
    for (const params of this.output.take()) this.notify("runner/output", params);
  }

  // --- methods ---------------------------------------------------------------------------------

  configure(conn, id, params) {
    this.inFlight.set(idKey(id), { method: "runner/configure" });
    const previous = this.configReady;
    this.configReady = (async () => {
      await previous;
      const actions = new Map();
      const statuses = [];
      for (const [action, ac] of Object.entries(params.actions)) {
        const handlers = [];
        for (const spec of ac.handlers) {
          const loaded = await this.loader.load(spec.source);
          handlers.push({ name: spec.name, fn: loaded.fn, error: loaded.error ?? null, config: spec.config ?? {}, state: {} });
          statuses.push({ action, name: spec.name, status: loaded.error ? "failed" : "loaded", error: loaded.error ?? null });
          if (loaded.error) this.log("warning", `handler ${action}/${spec.name} failed to load: ${loaded.error.message}`, "corral_runner.loader");
        }
        actions.set(action, { mode: ac.mode ?? "sequential", handlers });
      }
      this.config = { actions };
      this.reply(conn, id, { handlers: statuses });
      return this.config;
    })();
  }

  run(conn, id, params) {
    const ready = this.configReady;
    const entry = { method: "actions/run", run: null };
    this.inFlight.set(idKey(id), entry);
    const run = new Run(this, {
      action: params.action,
      params: params.params === undefined ? {} : params.params,
      runId: params.runId,
      parentRunId: params.parentRunId,
      depth: params.depth,
      config: null,
      workDoneToken: params.workDoneToken,
      partialResultToken: params.partialResultToken,
    });
    run.requestId = id;
    entry.run = run;
    const base = { runId: run.runId, parentRunId: run.parentRunId, action: run.action };
    this.wal?.append("run.accepted", base, { scope: "action", source: "wm", depth: run.depth, requestId: id });
    ready.then(async (config) => {
      if (run.answered) return;
      run.config = config;
      const spec = config.actions.get(run.action);
      if (spec === undefined) {
        this.wal?.append("run.failed", base, { error: { type: "ActionNotFound", message: `action not configured: ${run.action}`, code: -32010 } });
        run.answered = true;
        return this.replyError(conn, id, -32010, `action not configured: ${run.action}`, { action: run.action });
      }
      let result;
      try {
        result = await run.execute(spec);
      } catch (err) {
        if (run.answered) return;
        if (err instanceof RunCancelled || run.signal.aborted) return; // answered by cancelRun
        run.answered = true;
        this.flush(true);
        run.endProgress(false);
        return this.replyError(conn, id, -32603, `internal error: ${err?.message ?? err}`);
      }
      if (run.answered) return;
      run.answered = true;
      this.flush(true);
      run.endProgress(false);
      this.reply(conn, id, result);
    });
  }

  cancelRun(id, run, reason) {
    if (run.answered) return;
    run.answered = true;
    run.cancel(reason);
    if (!run.walEnded && run.config === null) run.walEnd("run.cancelled", { reason });
    this.flush(true);
    run.endProgress(true);
    this.replyError(this.conn, id, -32800, "request cancelled", { reason });
  }

  shutdown(conn, id) {
    this.state = "shuttingDown";
    this.inFlight.set(idKey(id), { method: "shutdown" });
    for (const [, entry] of this.inFlight) if (entry.run) this.cancelRun(entry.run.requestId, entry.run, "shutdown");
    const finish = () => {
      this.pendingShutdown = null;
      this.flush(true);
      this.inFlight.delete(idKey(id));
      this.shutdownReplySent = conn.send({ jsonrpc: "2.0", id, result: null });
    };
    if (this.inFlight.size === 1) finish();
    else this.pendingShutdown = finish;
  }

  /** A runner -> WM request (SPEC §9.12, §9.13), rejected at once when `signal` aborts. */
  request(method, params, signal) {
    const conn = this.conn;
    const id = `r${this.nextRequest++}`;
    return new Promise((resolve, reject) => {
      if (conn === null || conn.closed) return reject(new Error("the connection to the WM is closed"));
      const message = { jsonrpc: "2.0", id, method, params };
      const size = Buffer.byteLength(JSON.stringify(message));
      if (size > conn.peerLimit) {
        const err = new Error(`request too large for the WM (${size} > ${conn.peerLimit} bytes)`);
        err.name = "MessageTooLarge";
        return reject(err);
      }
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.outgoing.set(idKey(id), {
        resolve: (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
        reject: (e) => (signal.removeEventListener("abort", onAbort), reject(e)),
      });
      conn.send(message);
    });
  }

  // --- exit (SPEC §8.4) ----------------------------------------------------------------------------

  /** Cancel runs (reason `shutdown`) and exit: SIGTERM. */
  terminate() {
    if (this.conn && !this.conn.closed && this.state === "initialized") {
      for (const [, entry] of this.inFlight) if (entry.run) this.cancelRun(entry.run.requestId, entry.run, "shutdown");
    }
    this.exit(this.shutdownReplySent ? 0 : 1);
  }

  exit(code) {
    if (this.exiting) return;
    this.exiting = true;
    for (const [, entry] of this.inFlight) entry.run?.cancel("shutdown");
    const conn = this.conn;
    const done = () => {
      this.wal?.close();
      this.exitProcess(code);
    };
    if (conn && !conn.closed && conn.socket.writableLength > 0) {
      conn.socket.end(done);
      setTimeout(done, 1000).unref();
    } else {
      done();
    }
  }
}

export { VERSION };
