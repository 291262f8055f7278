// corral-runner-node: the handler SDK's public surface (types/index.d.ts).
export { Context } from "./sdk.js";
export { TypedError, RemoteError } from "./errors.js";
export { RUNNER_INFO, PROTOCOL_VERSIONS } from "./server.js";
