/**
 * Testing helpers for plugin authors (like go-plugin's `testing.go`): run a
 * plugin's services in this process and call them through a real
 * {@linkcode PluginClient}, over our own HTTP/2 + gRPC stack on an in-memory
 * connection. No subprocess, no socket, no permission flags, no go-plugin
 * host needed.
 *
 * @example
 * ```ts ignore
 * import { fromTsProto, implement } from "@rpcplugin/rpcplugin";
 * import { serveInProcess } from "@rpcplugin/rpcplugin/testing";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 *
 * const store = new Map<string, Uint8Array>();
 * const kv = fromTsProto(KVDefinition);
 * await using plugin = serveInProcess({
 *   services: [implement(kv, {
 *     get: (req) => ({ value: store.get(req.key) ?? new Uint8Array() }),
 *     put: (req) => (store.set(req.key, req.value), {}),
 *   })],
 * });
 * const client = plugin.client(kv);
 * await client.put({ key: "a", value: new Uint8Array([1]) });
 * console.assert((await client.get({ key: "a" })).value[0] === 1);
 * ```
 *
 * @module
 */

import { DEFAULT_MAX_MESSAGE_BYTES } from "../constants.ts";
import { H2Connection } from "../h2/connection.ts";
import { connectPair } from "../h2/pipe.ts";
import { PluginClient } from "../host/plugin_client.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { Channel } from "../rpc/client_call.ts";
import { checkPartialBudget } from "../rpc/message_budget.ts";
import { addRoutes, type Route, startCall } from "../rpc/server_call.ts";
import type { PeerInfo, ServiceImplementation } from "../rpc/service.ts";
import { Broker, BrokerError } from "../services/broker.ts";
import { controllerService } from "../services/controller.ts";
import { healthService } from "../services/health.ts";

/** Options of {@linkcode serveInProcess}. */
export interface InProcessOptions {
  /** The services, as `serve()` takes them. */
  services: readonly ServiceImplementation[];
  /** The app protocol version the client reports. @default {1} */
  protocolVersion?: number;
  /** Largest message either side sends or accepts (bytes). @default {268435456} */
  maxMessageBytes?: number;
  /**
   * Most bytes the messages received and not yet taken by their call
   * (those still arriving included) may hold together on the connection,
   * each side's own, as `serve()` and `launch()` take it (bytes).
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /** Where handler failures are logged, and what `call.logger` writes through. @default {a logger at "warn" on stderr} */
  logger?: Logger;
}

/** The address an in-process plugin reports. */
const IN_PROCESS_ADDRESS = "in-process";

/** What handlers of an in-process plugin see as `call.peer`. */
const IN_PROCESS_PEER: PeerInfo = Object.freeze({ network: "pipe", address: IN_PROCESS_ADDRESS });

/**
 * Serves `services` (with the health and controller services every plugin
 * has) in this process and returns a connected {@linkcode PluginClient}.
 * `kill()` (or `await using`) closes the connection; handlers still running
 * see their call cancelled.
 *
 * @example
 * ```ts ignore
 * import { implement, RpcError, Status } from "@rpcplugin/rpcplugin";
 * import { serveInProcess } from "@rpcplugin/rpcplugin/testing";
 * import { fromTsProto } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 *
 * const kv = fromTsProto(KVDefinition);
 * const plugin = serveInProcess({
 *   services: [implement(kv, {
 *     get: () => { throw new RpcError(Status.NOT_FOUND, "no such key"); },
 *     put: () => ({}),
 *   })],
 * });
 * await plugin.ping();
 * await plugin.client(kv).get({ key: "x" }).catch((e: RpcError) => console.assert(e.code === Status.NOT_FOUND));
 * await plugin.kill();
 * ```
 *
 * @param options The services and limits.
 * @returns A client of the in-process plugin.
 * @throws {RangeError} When `maxPartialMessageBytes` is not a positive integer.
 */
export function serveInProcess(options: InProcessOptions): PluginClient {
  const logger = options.logger ?? createLogger({ level: "warn" });
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxPartialMessageBytes = checkPartialBudget(options.maxPartialMessageBytes);
  const stopping = new AbortController();
  const routes = new Map<string, Route>();
  const names = options.services.map((s) => s.definition.name);
  // No listeners in memory: a broker that says so when asked to serve.
  const broker = new Broker({
    listen: () =>
      Promise.reject(
        new BrokerError(
          "serveInProcess() has no broker: test brokered services with launch() and a real plugin",
        ),
      ),
    maxMessageBytes,
    logger,
    program: "the test",
  });
  let shutdown = () => {};
  for (
    const s of [
      healthService(names, stopping.signal),
      controllerService(() => Promise.resolve(), () => shutdown()),
      ...options.services,
    ]
  ) addRoutes(routes, s);

  let closed!: () => void;
  const exited = new Promise<void>((resolve) => (closed = resolve));
  const [clientEnd, serverEnd] = connectPair();
  const channel = new Channel(clientEnd, {
    authority: "localhost",
    scheme: "http",
    maxMessageBytes,
    maxPartialMessageBytes,
    onClose: () => closed(),
  });
  clientEnd.conn = channel.conn;
  const server = new H2Connection(serverEnd, {
    onStream: (stream, headers) =>
      startCall(stream, headers, {
        routes,
        maxMessageBytes,
        maxPartialMessageBytes,
        logger,
        broker,
        peer: IN_PROCESS_PEER,
      }),
    onClose: () => stopping.abort(),
  });
  serverEnd.conn = server;
  shutdown = () => server.close("shutdown requested");
  return new PluginClient({
    channel,
    network: "unix",
    address: IN_PROCESS_ADDRESS,
    protocolVersion: options.protocolVersion ?? 1,
    logger,
    streams: new AbortController(),
    connectionOnly: true,
    processExited: exited.then(() => ({ code: 0, signal: null })),
    broker,
    cleanup: () => {
      server.close("the test is over");
      stopping.abort();
    },
  });
}
