/**
 * A running plugin, seen from the host: its typed service clients, its
 * health check, and the kill sequence (go-plugin's `Client` after
 * `Client()`).
 *
 * @module
 */

import { HOST_KILL_TIMEOUT_MS, type Network, PROTOCOL_GRPC } from "../constants.ts";
import type { ReattachConfig } from "../handshake/reattach.ts";
import type { Broker } from "../services/broker.ts";
import type { Logger } from "../log/logger.ts";
import type { CallOptions, Channel } from "../rpc/client_call.ts";
import type { ServiceDefinition } from "../rpc/service.ts";
import { type ServiceClient, serviceClient } from "../rpc/service_client.ts";
import { requestShutdown } from "../services/controller.ts";
import { checkHealth } from "../services/health.ts";
import { within } from "../_timer.ts";

/** How a plugin process ended. */
export interface PluginExit {
  /** Exit code (`null` when a signal ended it, or for an attached plugin). */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: Deno.Signal | null;
  /** Whether we had to force-kill it (SIGKILL) after it did not exit in time. */
  forced: boolean;
}

/** What a {@linkcode PluginClient} is made of. @internal */
export interface PluginParts {
  channel: Channel;
  network: Network;
  address: string;
  protocolVersion: number;
  pid?: number;
  logger: Logger;
  /** Aborting closes the stdio and broker streams. */
  streams: AbortController;
  /** Whether `kill()` only closes the connection (reattached test plugins). */
  connectionOnly: boolean;
  /** Sends a signal to the process. */
  signal?: (sig: Deno.Signal) => void;
  /** Resolves when the process has exited (and its pipes are drained). */
  processExited: Promise<{ code: number | null; signal: Deno.Signal | null }>;
  /** Resolves as soon as the process was reaped, even if a child of it holds its pipes. */
  processReaped?: Promise<unknown>;
  /** The host's broker. */
  broker: Broker;
  /** Removes what the launch made (socket directory), forgets the client. */
  cleanup: () => void | Promise<void>;
}

/**
 * A plugin the host launched or attached to. Make typed clients of its
 * services with {@linkcode PluginClient.client}; end it with
 * {@linkcode PluginClient.kill} (or `await using`).
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
 * await kv.put({ key: "a", value: new TextEncoder().encode("1") });
 * ```
 */
export class PluginClient implements AsyncDisposable {
  /** `unix` or `tcp`. */
  readonly network: Network;
  /** Socket path or `host:port`. */
  readonly address: string;
  /** The app protocol version the plugin serves. */
  readonly protocolVersion: number;
  /** The plugin's process id (undefined when attached without one). */
  readonly pid: number | undefined;
  /** Resolves once the plugin has exited (for an attached plugin: once its connection closed). */
  readonly exited: Promise<PluginExit>;
  /**
   * The host's broker (go-plugin's `GRPCBroker`): serve services the plugin
   * dials (`acceptAndServe(broker.nextId(), [...])`, passing the id in a
   * request), or dial what the plugin serves (`dial(id)`).
   */
  readonly broker: Broker;
  #parts: PluginParts;
  #killing: Promise<void> | null = null;
  #forced = false;

  /** @internal */
  constructor(parts: PluginParts) {
    this.#parts = parts;
    this.network = parts.network;
    this.address = parts.address;
    this.protocolVersion = parts.protocolVersion;
    this.pid = parts.pid;
    this.broker = parts.broker;
    this.exited = parts.processExited.then((s) => ({ ...s, forced: this.#forced }));
  }

  /**
   * A typed client of one of the plugin's services: one function per method,
   * named as in the definition.
   *
   * @param definition The service, as the plugin serves it (e.g. `fromTsProto(KVDefinition)`).
   * @returns The client.
   */
  client<S extends ServiceDefinition>(definition: S): ServiceClient<S> {
    return serviceClient(this.#parts.channel, definition);
  }

  /**
   * Checks the plugin is alive: `grpc.health.v1.Health/Check` for `plugin`,
   * as go-plugin's `Ping()`.
   *
   * @param options Call options (deadline, signal).
   * @throws {RpcError} When the plugin does not answer SERVING.
   */
  ping(options: CallOptions = {}): Promise<void> {
    return checkHealth(this.#parts.channel, { timeoutMs: 10_000, ...options });
  }

  /** The configuration that reattaches another host to this plugin. */
  reattachConfig(): ReattachConfig {
    return {
      protocol: PROTOCOL_GRPC,
      protocolVersion: this.protocolVersion,
      addr: { network: this.network, string: this.address },
      ...(this.pid !== undefined ? { pid: this.pid } : {}),
      test: this.#parts.connectionOnly,
    };
  }

  /**
   * Ends the plugin: GRPCController/Shutdown (with a deadline), up to 2 s for
   * it to exit, then SIGKILL with a warning; the process is always reaped,
   * the connection and pipes closed and the socket directory removed. Safe
   * to call more than once and concurrently.
   */
  kill(): Promise<void> {
    return this.#killing ??= this.#kill();
  }

  async #kill(): Promise<void> {
    const p = this.#parts;
    // As go-plugin's host: the broker first (its listeners, dialled connections), then Shutdown.
    await p.broker.close();
    p.streams.abort();
    if (p.connectionOnly) {
      p.channel.close("the host detached");
      await p.cleanup();
      return;
    }
    const graceful = !p.channel.closed && await requestShutdown(p.channel, HOST_KILL_TIMEOUT_MS);
    p.channel.close("the host is stopping the plugin");
    const reaped = p.processReaped ?? p.processExited;
    if (!await within(reaped, HOST_KILL_TIMEOUT_MS)) {
      p.logger.warn("plugin failed to exit gracefully", {
        pid: this.pid ?? 0,
        shutdown_accepted: graceful,
      });
      this.#forced = true;
      p.signal?.("SIGKILL");
      await reaped;
    }
    // Its pipes close with it; launch() lets them go 2 s after it exited if a process it
    // started still holds them.
    await p.processExited;
    await p.cleanup();
  }

  /** Kills the plugin: `await using plugin = await launch(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.kill();
  }
}
