/**
 * The host side of go-plugin: a Deno program launches plugins (Go, Python,
 * Deno, Terraform providers: anything that speaks go-plugin's gRPC protocol)
 * and calls their services, on this library's own HTTP/2 + gRPC client.
 *
 * @example
 * ```ts ignore
 * import { launch } from "@rpcplugin/rpcplugin/host";
 * import { fromTsProto } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 *
 * await using plugin = await launch({
 *   cmd: ["./kv-go-grpc"],
 *   handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
 * });
 * const kv = plugin.client(fromTsProto(KVDefinition));
 * await kv.put({ key: "a", value: new TextEncoder().encode("1") }, { timeoutMs: 1000 });
 * console.log((await kv.get({ key: "a" })).value);
 * ```
 *
 * @module
 */

export { attach, cleanupPlugins, launch } from "./launch.ts";
export type { AttachOptions, HostTlsOptions, LaunchOptions } from "./launch.ts";
export { PluginClient } from "./plugin_client.ts";
export type { PluginExit } from "./plugin_client.ts";
export type { CallOptions } from "../rpc/client_call.ts";
export type { ClientMethod, ServiceClient } from "../rpc/service_client.ts";
export type { Metadata, MetadataInit } from "../rpc/wire.ts";
export type { StdioSink } from "../services/stdio.ts";
export { Broker, BROKER_TIMEOUT_MS, BrokerError } from "../services/broker.ts";
export type {
  BrokerConnection,
  BrokerConnInfo,
  BrokerListener,
  BrokerOptions,
} from "../services/broker.ts";
export type { ClientTls } from "../rpc/connect.ts";
export { parseReattach, ReattachError, reattachProvidersJson } from "../handshake/reattach.ts";
export type { ReattachConfig } from "../handshake/reattach.ts";
export {
  ChecksumError,
  ConnectError,
  ExecutableNotFoundError,
  HandshakeLineTooLongError,
  LaunchError,
  PluginExitedError,
  StartTimeoutError,
} from "./errors.ts";
export type { ChecksumFailure, LaunchErrorDetails } from "./errors.ts";
export { RpcError, Status } from "../rpc/status.ts";
export type { StatusCode } from "../rpc/status.ts";
