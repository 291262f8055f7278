// The runner's WAL stream (SPEC §12, §12.9): one segment file per stream, frames
// `crc32hex SP json LF` appended with one write each, fsynced in the background.

import { closeSync, constants, fsync, fsyncSync, mkdirSync, openSync, rmSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC) of a Buffer. */
export function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i += 1) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The env slug of a writer id (SPEC §12.5). */
export function envSlug(env) {
  const strip = (t) => t.replace(/^[-._]+|[-._]+$/g, "");
  return strip(strip(env.toLowerCase().replace(/[^a-z0-9._-]+/g, "-")).slice(0, 24));
}

const BATCH_DELAY_MS = 200;
export const HEARTBEAT_MS = 10000;

function timestamp(last) {
  const now = new Date();
  const micros = String(Math.floor((performance.timeOrigin + performance.now()) * 1000) % 1000).padStart(3, "0");
  const ts = `${now.toISOString().slice(0, 23)}${micros}Z`;
  return last !== undefined && ts < last ? last : ts;
}

export class WalWriter {
  /** Opens `<walDir>/<writer id>/00000000000000000000.wal`; throws when it cannot. */
  constructor({ walDir, env, project, version }) {
    const slug = envSlug(env);
    this.writer = `runner-${slug ? `${slug}-` : ""}${process.pid}-${Date.now().toString(36)}`;
    this.dir = path.join(walDir, this.writer);
    this.project = project;
    this.env = env;
    // Records hold run params and handler output: the owner's only (SPEC §12).
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.fd = openSync(path.join(this.dir, "00000000000000000000.wal"), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    for (const dir of [this.dir, walDir]) {
      try {
        const dfd = openSync(dir, "r");
        fsyncSync(dfd);
        closeSync(dfd);
      } catch {
        /* directories cannot be fsynced on every platform */
      }
    }
    // Liveness without flock (SPEC §12.5): a heartbeat file whose mtime the writer refreshes.
    this.heartbeat = path.join(this.dir, "live");
    writeFileSync(this.heartbeat, `${process.pid}\n`);
    this.heartbeatTimer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    this.seq = 0;
    this.lastTs = undefined;
    this.syncTimer = null;
    this.failed = false;
    this.append("wal.opened", {}, { pid: process.pid, recovered: null, program: "corral-runner-node", version });
  }

  beat() {
    try {
      const now = new Date();
      utimesSync(this.heartbeat, now, now);
    } catch {
      /* the stream directory was removed: nothing to keep alive */
    }
  }

  append(event, { runId = null, parentRunId = null, action = null } = {}, payload = {}) {
    if (this.fd === null || this.failed) return;
    this.lastTs = timestamp(this.lastTs);
    const record = {
      v: 1,
      writer: this.writer,
      seq: this.seq,
      ts: this.lastTs,
      event,
      runId,
      parentRunId,
      project: this.project,
      env: this.env,
      action,
      payload,
    };
    const json = Buffer.from(JSON.stringify(record), "utf8");
    const frame = Buffer.concat([Buffer.from(`${crc32(json).toString(16).padStart(8, "0")} `), json, Buffer.from("\n")]);
    try {
      let off = 0;
      while (off < frame.length) off += writeSync(this.fd, frame, off);
    } catch {
      this.failed = true;
      return;
    }
    this.seq += 1;
    if (this.syncTimer === null) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null;
        if (this.fd !== null) fsync(this.fd, (err) => (err ? (this.failed = true) : undefined));
      }, BATCH_DELAY_MS);
      this.syncTimer.unref();
    }
  }

  /** Clean close: `wal.closed`, fsync, close (synchronous: called on the way out). */
  close() {
    if (this.fd === null) return;
    this.append("wal.closed");
    clearInterval(this.heartbeatTimer);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    try {
      fsyncSync(this.fd);
    } catch {
      /* nothing left to do on the way out */
    }
    closeSync(this.fd);
    this.fd = null;
    rmSync(this.heartbeat, { force: true }); // a clean close ends the heartbeat (SPEC §12.5)
  }
}
