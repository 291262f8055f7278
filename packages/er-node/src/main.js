// The runner's entry point: launch record, WAL, listen, hello, serve (SPEC §2-§4, §8.4).

import { StartFailure, parseLaunchRecord, readLaunchLine } from "./launch.js";
import { PROTOCOL_VERSIONS, RUNNER_INFO, RunnerServer } from "./server.js";
import { WalWriter } from "./wal.js";

const PARENT_POLL_MS = 1000;
const USAGE = "usage: corral-runner.js [--modules DIR]... (the launch record is read from stdin)\n";

function parseArgs(argv) {
  const modulesDirs = [];
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === "--modules" && i + 1 < argv.length) modulesDirs.push(argv[++i]);
    else if (a.startsWith("--modules=")) modulesDirs.push(a.slice(10));
    else if (a === "--version") {
      process.stdout.write(`${RUNNER_INFO.name} ${RUNNER_INFO.version}\n`);
      process.exit(0);
    } else if (a === "--help") {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new StartFailure(2, `unknown option ${a}\n${USAGE.trim()}`);
  }
  return { modulesDirs };
}

function fail(err) {
  const message = err instanceof StartFailure ? err.message : `internal error: ${err?.stack ?? err}`;
  process.stderr.write(`corral-runner-node: ${message.slice(0, 4000)}\n`, () => process.exit(err.code ?? 1));
}

export async function main(argv = process.argv.slice(2)) {
  let record;
  let options;
  try {
    options = parseArgs(argv);
    record = parseLaunchRecord(readLaunchLine());
    const majors = new Set(PROTOCOL_VERSIONS.map((v) => v.split(".")[0]));
    if (!record.protocol.some((v) => majors.has(v.split(".")[0]))) {
      throw new StartFailure(3, `no common protocol MAJOR: the WM speaks ${record.protocol.join(", ")}, this runner ${PROTOCOL_VERSIONS.join(", ")}`);
    }
  } catch (err) {
    return fail(err);
  }
  const exitNow = (code) => process.exit(code);
  let server;
  let port;
  try {
    server = new RunnerServer(record, { modulesDirs: options.modulesDirs, exit: exitNow });
    port = await server.listen();
  } catch (err) {
    return fail(new StartFailure(4, `cannot listen on 127.0.0.1: ${err.message}`));
  }
  if (record.walDir !== null) {
    try {
      server.wal = new WalWriter({ walDir: record.walDir, env: record.env, project: record.project, version: RUNNER_INFO.version });
    } catch (err) {
      // SPEC §12.9: a stream that cannot be opened is reported, and the runner runs without it
      server.log("error", `cannot open the WAL stream in ${record.walDir}: ${err.message}`, "corral_runner.wal");
    }
  }
  const hello = { corral: "hello", protocol: PROTOCOL_VERSIONS, port, pid: process.pid, runner: RUNNER_INFO };
  process.stdout.write(`${JSON.stringify(hello)}\n`);
  server.output.install();
  process.on("SIGTERM", () => server.terminate());
  process.on("SIGPIPE", () => {});
  process.on("uncaughtException", (err) => server.log("error", `uncaught exception: ${err?.stack ?? err}`, "corral_runner"));
  process.on("unhandledRejection", (err) => server.log("error", `unhandled rejection: ${err?.stack ?? err}`, "corral_runner"));
  watchParent(record.parentPid, () => server.exit(server.shutdownReplySent ? 0 : 1));
}

/** Exit when the parent ends (SPEC §8.4): the pid is gone, or we were re-parented away from it. */
function watchParent(parentPid, onDeath) {
  const wasChild = process.ppid === parentPid;
  const timer = setInterval(() => {
    let alive = true;
    if (wasChild && process.ppid !== parentPid) alive = false;
    else {
      try {
        process.kill(parentPid, 0);
      } catch (err) {
        if (err.code === "ESRCH") alive = false;
      }
    }
    if (!alive) {
      clearInterval(timer);
      onDeath();
    }
  }, PARENT_POLL_MS);
  timer.unref();
}
