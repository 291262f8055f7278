// Error types handlers and the runner raise, and their ErrorDetail form (SPEC §9.3, §9.4).

/** An error whose `name` is a fixed ErrorDetail type. */
export class TypedError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

/** The names of the protocol's error codes (SPEC §6.7), for scope-call failures (§10.4). */
export const CODE_NAMES = new Map([
  [-32700, "ParseError"],
  [-32600, "InvalidRequest"],
  [-32601, "MethodNotFound"],
  [-32602, "InvalidParams"],
  [-32603, "InternalError"],
  [-32001, "MessageTooLarge"],
  [-32002, "ServerNotInitialized"],
  [-32003, "AlreadyInitialized"],
  [-32004, "ShuttingDown"],
  [-32005, "UnsupportedProtocolVersion"],
  [-32010, "ActionNotFound"],
  [-32011, "HandlerFailed"],
  [-32012, "DepthLimitExceeded"],
  [-32013, "FanOutLimitExceeded"],
  [-32014, "ProjectNotFound"],
  [-32015, "RunnerUnavailable"],
  [-32800, "RequestCancelled"],
]);

/** A JSON-RPC error reply to a runner -> WM request, raised to the handler. */
export class RemoteError extends Error {
  constructor(error) {
    super(typeof error?.message === "string" ? error.message : "remote error");
    this.name = CODE_NAMES.get(error?.code) ?? "RemoteError";
    this.code = error?.code;
    this.data = error?.data;
  }
}

/** The ErrorDetail of anything thrown: {type, message, traceback}. */
export function errorDetail(err) {
  if (err instanceof Error) {
    let type = err.name && err.name !== "Error" ? err.name : err.constructor?.name || "Error";
    if (type === "Error" && typeof err.code === "string" && err.code) type = err.code;
    return { type, message: String(err.message ?? ""), traceback: typeof err.stack === "string" ? err.stack : null };
  }
  return { type: "Error", message: describe(err), traceback: null };
}

function describe(value) {
  try {
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
