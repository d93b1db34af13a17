/**
 * rpcplugin: write HashiCorp go-plugin plugins in Deno.
 *
 * A plugin author passes gRPC service definitions and handlers to
 * {@linkcode serve}; it does the rest of the go-plugin protocol: magic
 * cookie, version negotiation, unix or TCP listener, handshake line, health,
 * controller and stdio services, logging, signals and shutdown.
 *
 * This entry point is for plugin authors. The others, by audience:
 * `@rpcplugin/rpcplugin/host` (launching and calling plugins),
 * `@rpcplugin/rpcplugin/testing` (a plugin's services in-process, for tests),
 * `@rpcplugin/rpcplugin/tls` (certificates), `@rpcplugin/rpcplugin/grpc-js`
 * (the grpc-js engine) and `@rpcplugin/rpcplugin/protocol` (the protocol's
 * pieces, for people building on the wire).
 *
 * @example
 * ```ts ignore
 * import { fromTsProto, implement, serve } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
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
  ConsoleMode,
  DebugOptions,
  PluginServer,
  ReattachConfig,
  ServeOptions,
  TlsOptions,
} from "./server/serve.ts";

// gRPC engines: the native one is the default (`createNativeEngine`, its
// HTTP/2 limits and the engine interface are in `@rpcplugin/rpcplugin/protocol`);
// grpc-js is the entry point `@rpcplugin/rpcplugin/grpc-js`, so that only
// plugins choosing it load it.
export type { EngineFactory } from "./server/engine.ts";

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
  TsProtoWriter,
  UnaryHandler,
} from "./rpc/service.ts";
export { RpcError, Status } from "./rpc/status.ts";
export type { RpcErrorOptions } from "./rpc/status.ts";
export { decodeStatusDetails, encodeStatusDetails } from "./rpc/status_details.ts";
export type { AnyMessage, StatusDetails } from "./rpc/status_details.ts";
export type { RateLimit } from "./server/ratelimit.ts";
export type { StatusCode } from "./rpc/status.ts";

// The handshake's configuration (the handshake itself: `@rpcplugin/rpcplugin/protocol`).
export type { HandshakeConfig } from "./handshake/cookie.ts";
export type { Network } from "./constants.ts";

// Logging.
export { createLogger } from "./log/logger.ts";
export type { LogFields, Logger, LoggerOptions, LogLevel } from "./log/logger.ts";

// Errors.
export { CookieError, PermissionError, RpcPluginError, StartupError } from "./errors.ts";

// TLS: the key types AutoMTLS can use. The certificate factory is the
// separate entry point `@rpcplugin/rpcplugin/tls`, so that a plugin's
// start-up does not load pkijs.
export type { KeyType } from "./tls/cert.ts";
