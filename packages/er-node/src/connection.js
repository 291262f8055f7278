// One TCP connection: framing in, JSON-RPC classification (SPEC §5, §6.1, §6.2 steps 1-3),
// framed writes out. What a message means is the server's business (server.js).

import { Decoder, FramingError, frame } from "./framing.js";
import { isIntegerText, rawMember } from "./json.js";
import { MAX_NESTING_DEPTH, tooDeep } from "./nesting.js";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export const MIN_PEER_LIMIT = 65536;

/** A readable id: a string, or an integer written as one (SPEC §6.2 step 1); else undefined. */
function readId(value, text) {
  if (typeof value === "string") return value;
  if (typeof value !== "number") return undefined;
  const raw = rawMember(text, "id");
  return raw !== undefined && isIntegerText(raw.trim()) ? (Object.is(value, -0) ? 0 : value) : undefined;
}

export function idKey(id) {
  return typeof id === "string" ? `s${id}` : `n${id}`;
}

export class Connection {
  constructor(socket, { maxMessageSize, onMessage, onClose }) {
    this.socket = socket;
    this.decoder = new Decoder(maxMessageSize);
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.closed = false;
    this.peerLimit = MIN_PEER_LIMIT;
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.receive(chunk));
    socket.on("end", () => this.eof());
    socket.on("error", () => this.close());
    socket.on("close", () => this.close());
  }

  receive(chunk) {
    if (this.closed) return;
    let events;
    try {
      events = this.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      // process the complete messages before the fatal error? they were consumed already
      this.sendError(null, -32700, err.message, { reason: err.reason });
      this.close();
      return;
    }
    for (const event of events) {
      if (this.closed) return;
      if (event.kind === "tooLarge") {
        this.sendError(null, -32001, "message too large", { size: event.size, limit: this.decoder.maxMessageSize });
      } else if (event.kind === "charset") {
        this.sendError(null, -32700, `unsupported charset ${event.charset}`, { charset: event.charset });
      } else {
        this.classify(event.body);
      }
    }
  }

  eof() {
    if (this.decoder.pending && this.onTruncated) this.onTruncated();
    this.close();
  }

  classify(body) {
    let text;
    try {
      text = utf8.decode(body);
    } catch {
      return this.sendError(null, -32700, "invalid UTF-8", { reason: "invalid-utf8" });
    }
    const deep = tooDeep(text);
    if (deep) return this.receivedTooDeep(deep.shallow);
    let msg;
    try {
      if (text.charCodeAt(0) === 0xfeff) throw new SyntaxError("byte order mark");
      msg = JSON.parse(text);
    } catch {
      return this.sendError(null, -32700, "invalid JSON", { reason: "invalid-json" });
    }
    if (Array.isArray(msg)) {
      return this.sendError(null, -32600, "batch requests are not supported by protocol 1.x", { reason: "batch" });
    }
    if (typeof msg !== "object" || msg === null) {
      return this.sendError(null, -32600, "not a JSON-RPC message", { reason: "not-an-object" });
    }
    const hasId = Object.hasOwn(msg, "id");
    const id = hasId ? readId(msg.id, text) : undefined;
    if (Object.hasOwn(msg, "method")) {
      if (hasId) {
        if (id === undefined) return this.sendError(null, -32600, "invalid id", { reason: "invalid-id" });
        if (msg.jsonrpc !== "2.0") return this.sendError(id, -32600, "jsonrpc must be \"2.0\"", { reason: "invalid-jsonrpc" });
        if (typeof msg.method !== "string") return this.sendError(id, -32600, "method must be a string", { reason: "invalid-method" });
        return this.onMessage({ kind: "request", id, method: msg.method, params: msg.params, hasParams: Object.hasOwn(msg, "params"), text });
      }
      if (msg.jsonrpc !== "2.0") return this.sendError(null, -32600, "invalid notification", { reason: "invalid-jsonrpc" });
      if (typeof msg.method !== "string") return this.sendError(null, -32600, "invalid notification", { reason: "invalid-method" });
      return this.onMessage({ kind: "notification", method: msg.method, params: msg.params, hasParams: Object.hasOwn(msg, "params"), text });
    }
    if (Object.hasOwn(msg, "result") || Object.hasOwn(msg, "error")) {
      const valid =
        msg.jsonrpc === "2.0" &&
        Object.hasOwn(msg, "result") !== Object.hasOwn(msg, "error") &&
        (id !== undefined || (msg.id === null && Object.hasOwn(msg, "error"))) &&
        (!Object.hasOwn(msg, "error") ||
          (typeof msg.error === "object" && msg.error !== null && Number.isInteger(msg.error.code) && typeof msg.error.message === "string"));
      return this.onMessage({ kind: "response", valid, id: msg.id === null ? null : id, result: msg.result, error: msg.error });
    }
    return this.sendError(id ?? null, -32600, "neither a request, a notification nor a response", { reason: "invalid-message" });
  }

  /**
   * A body over the nesting limit (SPEC §5.7), never parsed: a call is answered -32600
   * `too-deep` (its id echoed when it precedes the deep member); a response completes its
   * request with that error; anything else gets the error with id null.
   */
  receivedTooDeep(shallow) {
    const message = `message nested deeper than ${MAX_NESTING_DEPTH} levels`;
    const data = { reason: "too-deep" };
    let msg = null;
    try {
      msg = shallow === null ? null : JSON.parse(shallow);
    } catch {
      msg = null;
    }
    if (msg !== null && typeof msg === "object" && !Object.hasOwn(msg, "method")) {
      if (Object.hasOwn(msg, "result") || Object.hasOwn(msg, "error")) {
        const id = readId(msg.id, shallow);
        if (id === undefined) return undefined; // an invalid response: dropped
        const error = { code: -32600, message, data };
        return this.onMessage({ kind: "response", valid: true, id, result: undefined, error });
      }
    }
    const isCall = msg !== null && typeof msg === "object" && Object.hasOwn(msg, "method");
    const id = isCall && Object.hasOwn(msg, "id") ? readId(msg.id, shallow) : undefined;
    return this.sendError(id ?? null, -32600, message, data);
  }

  /** Write one message (an object). Returns false if the connection is closed. */
  send(message) {
    if (this.closed) return false;
    let body = JSON.stringify(message);
    if (message.method === undefined && Object.hasOwn(message, "result") && tooDeep(body)) {
      // A result over the nesting limit: the request is still answered, with why (§5.7).
      const error = { code: -32603, message: `result nested deeper than ${MAX_NESTING_DEPTH} levels`, data: { reason: "too-deep" } };
      body = JSON.stringify({ jsonrpc: "2.0", id: message.id, error });
    }
    if (Buffer.byteLength(body) > this.peerLimit) {
      if (message.id === undefined || message.method !== undefined) return false; // never sent (SPEC §5.5)
      body = JSON.stringify({
        jsonrpc: "2.0",
        id: message.id,
        error: { code: -32001, message: "reply too large", data: { size: Buffer.byteLength(body), limit: this.peerLimit } },
      });
    }
    this.socket.write(frame(body));
    return true;
  }

  sendError(id, code, message, data) {
    const error = data === undefined ? { code, message } : { code, message, data };
    return this.send({ jsonrpc: "2.0", id, error });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClose(this);
  }

  /** Close at once without writing anything more. */
  abort() {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(this);
  }
}
