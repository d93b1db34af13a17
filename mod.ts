/**
 * rpcplugin: write HashiCorp go-plugin plugins in Deno.
 *
 * A plugin author passes gRPC service definitions and handlers to
 * {@linkcode serve}; it does the rest of the go-plugin protocol: magic
 * cookie, version negotiation, unix or TCP listener, handshake line, health,
 * controller and stdio services, logging, signals and shutdown.
 *
 * @example
 * ```ts ignore
 * import { fromTsProto, implement, serve } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./examples/kv/gen/kv_pb.ts";
 *
 * await serve({
 *   handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" },
 *   services: [implement(fromTsProto(KVDefinition), {
 *     get: (req) => ({ value: new TextEncoder().encode(req.key) }),
 *     put: () => ({}),
 *   })],
 * });
 * ```
 *
 * @module
 */

// The plugin server.
export { serve } from "./server/serve.ts";
export type {
  DebugOptions,
  PluginServer,
  ReattachConfig,
  ServeOptions,
  TlsOptions,
} from "./server/serve.ts";

// gRPC engines: the native one is the default; grpc-js is the entry point
// `@rpcplugin/rpcplugin/grpc-js`, so that only plugins choosing it load it.
export { createNativeEngine } from "./server/engines/native.ts";
export type { Engine, EngineFactory, EngineOptions, ServerTls } from "./server/engine.ts";
export { DEFAULT_H2_LIMITS } from "./h2/connection.ts";
export type { H2Limits } from "./h2/connection.ts";

// Describing services.
export { fromTsProto, implement } from "./rpc/service.ts";
export type {
  BidiStreamHandler,
  CallContext,
  CallKind,
  ClientStreamHandler,
  Codec,
  Compression,
  FromTsProto,
  HandlerFor,
  KindOf,
  MetadataInit,
  MethodDefinition,
  PeerInfo,
  ServerStreamHandler,
  ServiceDefinition,
  ServiceHandlers,
  ServiceImplementation,
  TsProtoMessageFns,
  TsProtoMethod,
  TsProtoService,
  UnaryHandler,
} from "./rpc/service.ts";
export { RpcError, Status } from "./rpc/status.ts";
export type { RpcErrorOptions } from "./rpc/status.ts";
export { decodeStatusDetails, encodeStatusDetails } from "./rpc/status_details.ts";
export type { AnyMessage, StatusDetails } from "./rpc/status_details.ts";
export type { RateLimit } from "./server/ratelimit.ts";
export type { StatusCode } from "./rpc/status.ts";

// The handshake.
export { checkCookie } from "./handshake/cookie.ts";
export type { HandshakeConfig } from "./handshake/cookie.ts";
export { negotiateVersion } from "./handshake/version.ts";
export type { NegotiatedVersion } from "./handshake/version.ts";
export { buildHandshakeLine, parseHandshakeLine } from "./handshake/line.ts";
export type { HandshakeInfo } from "./handshake/line.ts";

// Logging.
export { createLogger, formatTimestamp } from "./log/logger.ts";
export type { LogFields, Logger, LoggerOptions, LogLevel } from "./log/logger.ts";

// Errors and protocol constants.
export {
  CookieError,
  HandshakeError,
  PermissionError,
  RpcPluginError,
  StartupError,
} from "./errors.ts";
export { CORE_PROTOCOL_VERSION, ENV } from "./constants.ts";
export type { Network } from "./constants.ts";

// TLS: the key types AutoMTLS can use. The certificate factory is the
// separate entry point `@rpcplugin/rpcplugin/tls`, so that a plugin's
// start-up does not load pkijs.
export type { KeyType } from "./tls/cert.ts";
