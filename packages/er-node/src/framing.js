// LSP-style framing, strict (SPEC §5): a sans-I/O decoder fed with Buffers.

export const HEADER_LIMIT = 8192;
export const DEFAULT_MAX_MESSAGE_SIZE = 67108864;
const CONTENT_LENGTH = /^[0-9]{1,19}$/;

/** A fatal framing error: one -32700 reply, then the connection closes (SPEC §5.4). */
export class FramingError extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

function parseCharset(value) {
  // returns the charset parameter (quotes removed) or undefined
  const parts = value.split(";").slice(1);
  let charset;
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, "");
    if (name.toLowerCase() !== "charset") continue;
    let v = part.slice(eq + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    charset = v;
  }
  return charset;
}

function checkHeaderLine(buf, start, end) {
  for (let i = start; i < end; i += 1) {
    const b = buf[i];
    if (!(b === 0x09 || (b >= 0x20 && b <= 0x7e))) {
      throw new FramingError("malformed-header", "framing error: malformed header line");
    }
  }
}

/**
 * Feed bytes with `push(buf)`; it returns a list of events:
 *   {kind: "message", body: Buffer}
 *   {kind: "tooLarge", size}          (body skipped, recoverable)
 *   {kind: "charset", charset}        (body skipped, recoverable)
 * and throws FramingError for fatal errors. `pending` tells whether a message is partly read.
 */
export class Decoder {
  constructor(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE) {
    this.maxMessageSize = maxMessageSize;
    this.buf = Buffer.alloc(0);
    this.state = "headers";
    this.length = 0;
    this.skip = 0;
    this.headerBytes = 0;
    this.headers = null;
  }

  get pending() {
    return this.buf.length > 0 || this.state !== "headers" || this.headers !== null;
  }

  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const events = [];
    for (;;) {
      if (this.state === "skip") {
        const n = Math.min(this.skip, this.buf.length);
        this.skip -= n;
        this.buf = this.buf.subarray(n);
        if (this.skip > 0) return events;
        this.state = "headers";
        continue;
      }
      if (this.state === "body") {
        if (this.buf.length < this.length) return events;
        const body = Buffer.from(this.buf.subarray(0, this.length));
        this.buf = this.buf.subarray(this.length);
        this.state = "headers";
        events.push({ kind: "message", body });
        continue;
      }
      if (this.buf.length === 0) return events;
      const event = this.readHeaders();
      if (event === null) return events;
      if (event) events.push(event);
    }
  }

  readHeaders() {
    // parse as many header lines as available; returns null when more bytes are needed
    if (this.headers === null) {
      this.headers = { length: undefined, charset: undefined };
      this.headerBytes = 0;
    }
    for (;;) {
      let lf = -1;
      const scanTo = Math.min(this.buf.length, HEADER_LIMIT - this.headerBytes + 1);
      for (let i = 0; i < scanTo; i += 1) {
        const b = this.buf[i];
        if (b === 0x0a) {
          lf = i;
          break;
        }
        if (b === 0x0d && i + 1 < this.buf.length && this.buf[i + 1] !== 0x0a) {
          throw new FramingError("malformed-header", "framing error: stray CR in header");
        }
        if (!(b === 0x09 || b === 0x0d || (b >= 0x20 && b <= 0x7e))) {
          throw new FramingError("malformed-header", "framing error: malformed header line");
        }
      }
      if (lf < 0) {
        if (this.headerBytes + this.buf.length > HEADER_LIMIT) {
          throw new FramingError("headers-too-large", "framing error: header block too large");
        }
        return null;
      }
      if (this.headerBytes + lf + 1 > HEADER_LIMIT) {
        throw new FramingError("headers-too-large", "framing error: header block too large");
      }
      if (lf === 0 || this.buf[lf - 1] !== 0x0d) {
        throw new FramingError("malformed-header", "framing error: bare LF in header");
      }
      const lineEnd = lf - 1;
      checkHeaderLine(this.buf, 0, lineEnd);
      const line = this.buf.toString("latin1", 0, lineEnd);
      this.headerBytes += lf + 1;
      this.buf = this.buf.subarray(lf + 1);
      if (line.length === 0) return this.endOfHeaders();
      const colon = line.indexOf(":");
      const name = colon < 0 ? "" : line.slice(0, colon).replace(/^[ \t]+|[ \t]+$/g, "");
      if (colon < 0 || name === "") {
        throw new FramingError("malformed-header", "framing error: header line without name");
      }
      const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
      const lower = name.toLowerCase();
      if (lower === "content-length") {
        if (this.headers.length !== undefined) {
          throw new FramingError("duplicate-content-length", "framing error: duplicate Content-Length");
        }
        if (!CONTENT_LENGTH.test(value)) {
          throw new FramingError("invalid-content-length", "framing error: invalid Content-Length");
        }
        this.headers.length = BigInt(value);
      } else if (lower === "content-type") {
        const charset = parseCharset(value);
        if (charset !== undefined && this.headers.charset === undefined) {
          const c = charset.toLowerCase();
          if (c !== "utf-8" && c !== "utf8") this.headers.charset = charset;
        }
      }
    }
  }

  endOfHeaders() {
    const { length, charset } = this.headers;
    this.headers = null;
    if (length === undefined) {
      throw new FramingError("missing-content-length", "framing error: missing Content-Length");
    }
    if (length > BigInt(this.maxMessageSize)) {
      this.state = "skip";
      this.skip = Number(length);
      return { kind: "tooLarge", size: Number(length) };
    }
    if (charset !== undefined) {
      this.state = "skip";
      this.skip = Number(length);
      return { kind: "charset", charset };
    }
    this.state = "body";
    this.length = Number(length);
    return undefined;
  }
}

/** Frame one body (a string of compact JSON). */
export function frame(body) {
  const bytes = Buffer.from(body, "utf8");
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`, "latin1"), bytes]);
}
