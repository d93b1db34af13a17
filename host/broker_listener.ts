/**
 * The host's broker listeners: each `plugin.broker.acceptAndServe()` serves
 * on a new unix socket in the plugin's socket directory (go-plugin's host
 * uses its temp dir), on our native engine, with the host's TLS when the
 * connection to the plugin has it (the plugin must present its own
 * certificate, the only one trusted).
 *
 * @module
 */

import { removeSocket, socketPathIn } from "../transport/unix.ts";
import type { Logger } from "../log/logger.ts";
import type { ServiceImplementation } from "../rpc/service.ts";
import type { BrokerListener } from "../services/broker.ts";
import type { ServerTls } from "../server/engine.ts";
import { createNativeEngine } from "../server/engines/native.ts";

/** Where and how the host's broker listeners serve. */
export interface HostBrokerListenOptions {
  /** The directory for the sockets (made on first use when it is a function). */
  dir: string | (() => Promise<string>);
  /** The host's TLS, requiring the plugin's certificate. */
  tls?: ServerTls;
  /** Largest gRPC message. */
  maxMessageBytes: number;
  /** Most bytes the messages received and not yet taken on one connection hold together. @default {268435456} */
  maxPartialMessageBytes?: number;
  /** Where the engine logs. */
  logger: Logger;
}

/**
 * Makes the `listen` function of the host's broker.
 *
 * @param options Directory, TLS and limits.
 * @returns Serves services on a new unix socket.
 */
export function hostBrokerListen(
  options: HostBrokerListenOptions,
): (services: readonly ServiceImplementation[]) => Promise<BrokerListener> {
  return async (services) => {
    const dir = typeof options.dir === "string" ? options.dir : await options.dir();
    const engine = createNativeEngine({
      maxMessageBytes: options.maxMessageBytes,
      maxPartialMessageBytes: options.maxPartialMessageBytes,
      logger: options.logger,
    });
    for (const s of services) engine.addService(s);
    const path = socketPathIn(dir);
    await engine.bind("unix", path, options.tls);
    return {
      network: "unix",
      address: path,
      close: async () => {
        await engine.shutdown(0);
        removeSocket(path);
      },
    };
  };
}
