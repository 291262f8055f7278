// Capture of handler output written to process.stdout/process.stderr (SPEC §10.3):
// per-stream bounded buffers (1 MiB, oldest dropped and counted in `dropped`), chunks of at
// most 16384 bytes split on character boundaries, each tagged with the run it belongs to.

import { StringDecoder } from "node:string_decoder";
import { splitUtf8 } from "./json.js";
import { currentRun } from "./executor.js";

export const OUTPUT_BOUND = 1048576;
export const TEXT_LIMIT = 16384;

const wellFormed = (text) =>
  typeof text.toWellFormed === "function" ? text.toWellFormed() : text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

class StreamBuffer {
  constructor(name) {
    this.name = name;
    this.chunks = []; // {runId, text, bytes}
    this.bytes = 0;
    this.dropped = 0;
    this.decoder = new StringDecoder("utf8"); // joins characters split across writes
  }

  add(text, runId) {
    if (!text) return;
    text = wellFormed(text);
    const bytes = Buffer.byteLength(text);
    const last = this.chunks[this.chunks.length - 1];
    if (last && last.runId === runId && last.bytes + bytes <= TEXT_LIMIT) {
      last.text += text;
      last.bytes += bytes;
    } else {
      this.chunks.push({ runId, text, bytes });
    }
    this.bytes += bytes;
    while (this.bytes > OUTPUT_BOUND) this.dropOldest(this.bytes - OUTPUT_BOUND);
  }

  dropOldest(excess) {
    const first = this.chunks[0];
    if (first.bytes <= excess) {
      this.chunks.shift();
      this.bytes -= first.bytes;
      this.dropped += first.bytes;
      return;
    }
    // drop `excess` bytes (rounded up to a character boundary) from the front of `first`
    let [head, rest] = splitUtf8(first.text, excess);
    if (Buffer.byteLength(head) < excess) {
      const cp = String.fromCodePoint(rest.codePointAt(0));
      head += cp;
      rest = rest.slice(cp.length);
    }
    const n = Buffer.byteLength(head);
    first.text = rest;
    first.bytes -= n;
    this.bytes -= n;
    this.dropped += n;
  }

  /** Take everything waiting as runner/output params, each text <= TEXT_LIMIT bytes. */
  take() {
    const out = [];
    for (const chunk of this.chunks) {
      let text = chunk.text;
      while (text) {
        const [head, rest] = splitUtf8(text, TEXT_LIMIT);
        const params = { stream: this.name, text: head, runId: chunk.runId };
        if (this.dropped) {
          params.dropped = this.dropped;
          this.dropped = 0;
        }
        out.push(params);
        text = rest;
      }
    }
    this.chunks = [];
    this.bytes = 0;
    return out;
  }
}

/**
 * Replaces process.stdout.write / process.stderr.write (call install() after the hello).
 * `onData()` is called whenever something waits to be sent.
 */
export class OutputCapture {
  constructor(onData) {
    this.onData = onData;
    this.streams = { stdout: new StreamBuffer("stdout"), stderr: new StreamBuffer("stderr") };
    this.original = {};
  }

  install() {
    for (const name of ["stdout", "stderr"]) {
      const stream = process[name];
      this.original[name] = stream.write.bind(stream);
      const buffer = this.streams[name];
      stream.write = (chunk, encoding, callback) => {
        if (typeof encoding === "function") {
          callback = encoding;
          encoding = undefined;
        }
        const text =
          typeof chunk === "string"
            ? encoding && encoding !== "utf8" && encoding !== "utf-8"
              ? buffer.decoder.write(Buffer.from(chunk, encoding))
              : buffer.decoder.write(Buffer.from(chunk, "utf8"))
            : buffer.decoder.write(Buffer.from(chunk.buffer ?? chunk, chunk.byteOffset ?? 0, chunk.byteLength ?? chunk.length));
        const run = currentRun.getStore();
        buffer.add(text, run ? run.runId : null);
        this.onData();
        if (callback) process.nextTick(callback);
        return true;
      };
    }
  }

  /** Bytes waiting, over both streams. */
  get waiting() {
    return this.streams.stdout.bytes + this.streams.stderr.bytes + this.streams.stdout.dropped + this.streams.stderr.dropped;
  }

  take() {
    return [...this.streams.stdout.take(), ...this.streams.stderr.take()];
  }

  /** Write straight to the process's real stderr (the runner's own diagnostics). */
  stderr(text) {
    (this.original.stderr ?? process.stderr.write.bind(process.stderr))(text);
  }
}
