/**
 * The go-plugin protocol's pieces, for people building on the wire (a host or
 * a plugin of their own, a test harness, a proxy): the handshake line, the
 * magic cookie, version negotiation, the environment variables a host sets,
 * hclog timestamps, and the native gRPC engine with its HTTP/2 limits.
 * `serve()` (`@rpcplugin/rpcplugin`) and `launch()`
 * (`@rpcplugin/rpcplugin/host`) use exactly these; a plugin author needs none
 * of them.
 *
 * @example Build and parse a handshake line
 * ```ts
 * import {
 *   buildHandshakeLine,
 *   CORE_PROTOCOL_VERSION,
 *   parseHandshakeLine,
 * } from "@rpcplugin/rpcplugin/protocol";
 *
 * const line = buildHandshakeLine({
 *   coreVersion: CORE_PROTOCOL_VERSION,
 *   appVersion: 5,
 *   network: "unix",
 *   address: "/tmp/plugin1",
 *   protocol: "grpc",
 * });
 * console.assert(parseHandshakeLine(line).appVersion === 5);
 * ```
 *
 * @module
 */

// The handshake: cookie, version negotiation, the line.
export { checkCookie } from "../handshake/cookie.ts";
export type { HandshakeConfig } from "../handshake/cookie.ts";
export { negotiateVersion } from "../handshake/version.ts";
export type { NegotiatedVersion } from "../handshake/version.ts";
export { buildHandshakeLine, parseHandshakeLine } from "../handshake/line.ts";
export type { HandshakeInfo } from "../handshake/line.ts";
export { CookieError, HandshakeError, RpcPluginError } from "../errors.ts";

// Protocol constants.
export { CORE_PROTOCOL_VERSION, ENV, REATTACH_ENV } from "../constants.ts";
export type { Network } from "../constants.ts";

// hclog's timestamp format (Go rejects JavaScript's three fractional digits).
export { formatTimestamp } from "../log/logger.ts";

// The native gRPC engine (serve()'s default) and the engine seam, to tune
// its HTTP/2 limits or to write an engine of your own.
export { createNativeEngine } from "../server/engines/native.ts";
export type {
  AutoMtlsKeys,
  Engine,
  EngineFactory,
  EngineOptions,
  ServerTls,
} from "../server/engine.ts";
export { DEFAULT_H2_LIMITS } from "../h2/connection.ts";
export type { H2Limits } from "../h2/connection.ts";
