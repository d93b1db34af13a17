/**
 * The plugin's broker listeners: each `broker.acceptAndServe()` serves on a
 * new listener made by the same rules as the main one (a unix socket in
 * `PLUGIN_UNIX_SOCKET_DIR`/`TMPDIR`, or TCP in the host's port range), on the
 * same engine kind and with the same TLS, as go-plugin's plugins do.
 *
 * @module
 */

import { TCP_HOST } from "../constants.ts";
import { explainPermission, StartupError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { ServiceImplementation } from "../rpc/service.ts";
import { BrokerError, type BrokerListener } from "../services/broker.ts";
import { bindInRange, readPortRange } from "../transport/tcp.ts";
import { chooseSocketPath, removeSocket } from "../transport/unix.ts";
import type { EngineFactory, ServerTls } from "./engine.ts";
import type { Network } from "../constants.ts";

/** What the plugin's broker listeners share with the main one. */
export interface PluginBrokerListenOptions {
  /** The main listener's kind. */
  network: Network;
  /** The engine kind. */
  engine: EngineFactory;
  /** The main listener's TLS. */
  tls?: ServerTls;
  /** Largest gRPC message. */
  maxMessageBytes: number;
  /** Most bytes the messages still arriving, or received and not yet read, on one connection hold together (each by its size plus ~128 bytes). @default {268435456} */
  maxPartialMessageBytes?: number;
  /** Where the engine logs. */
  logger: Logger;
  /** Reads the plugin's environment. */
  readEnv: (name: string) => string | undefined;
}

/**
 * Makes the `listen` function of the plugin's broker.
 *
 * @param options The main listener's rules.
 * @returns Serves services on a new listener.
 */
export function pluginBrokerListen(
  options: PluginBrokerListenOptions,
): (services: readonly ServiceImplementation[]) => Promise<BrokerListener> {
  return async (services) => {
    const engine = options.engine({
      maxMessageBytes: options.maxMessageBytes,
      maxPartialMessageBytes: options.maxPartialMessageBytes,
      logger: options.logger,
    });
    for (const s of services) engine.addService(s);
    try {
      if (options.network === "unix") {
        const path = chooseSocketPath(options.readEnv);
        await engine.bind("unix", path, options.tls);
        return {
          network: "unix",
          address: path,
          close: async () => {
            await engine.shutdown(0);
            removeSocket(path);
          },
        };
      }
      const port = await bindInRange(
        readPortRange(options.readEnv),
        (p) => engine.bind("tcp", `${TCP_HOST}:${p}`, options.tls),
      );
      return {
        network: "tcp",
        address: `${TCP_HOST}:${port}`,
        close: () => engine.shutdown(0),
      };
    } catch (err) {
      await engine.shutdown(0);
      const e = explainPermission(err, "listening for a brokered service");
      if (e !== err) throw e;
      throw new BrokerError(
        `Cannot listen for a brokered service: ${(err as Error).message}`,
        { cause: err instanceof StartupError ? err.cause ?? err : err },
      );
    }
  };
}
