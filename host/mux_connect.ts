/**
 * The host's connection in go-plugin's multiplexed broker mode
 * (`brokerMultiplex: true`, go-plugin's `GRPCBrokerMultiplex`), when the
 * plugin answered handshake field 7 `true`: the host dials the plugin's
 * address once, plaintext at this level, runs a yamux client session on
 * it, and opens the main gRPC connection as its first stream (with TLS
 * inside under AutoMTLS). The broker then knocks and opens its streams on
 * the same session; streams the plugin opens without a knock are reset.
 *
 * @module
 */

import type { Network } from "../constants.ts";
import type { Logger } from "../log/logger.ts";
import type { Channel } from "../rpc/client_call.ts";
import { type ClientTls, connectStream, DialError, dialSocket } from "../rpc/connect.ts";
import type { ServerTls } from "../server/engine.ts";
import { createNativeEngine } from "../server/engines/native.ts";
import { type Broker, multiplexBroker } from "../services/broker.ts";
import { BrokerMux } from "../services/broker_mux.ts";

/** Where and how the host connects in multiplexed mode. */
export interface MuxConnectOptions {
  /** The plugin's address, from its handshake line. */
  network: Network;
  /** Socket path or `host:port`. */
  address: string;
  /** The main connection's TLS (and the broker's dials'). */
  tls?: ClientTls;
  /** The TLS of what the host's broker serves. */
  serverTls?: ServerTls;
  /** The host's broker, switched to multiplexed mode here. */
  broker: Broker;
  /** Largest gRPC message. */
  maxMessageBytes: number;
  /** Most bytes the messages received and not yet taken on one connection hold together. @default {268435456} */
  maxPartialMessageBytes?: number;
  /** How long connecting, and the TLS handshake of the main connection, may take (ms). */
  timeoutMs: number;
  /** How long the plugin may take to send its HTTP/2 SETTINGS on the main connection (ms). */
  prefaceTimeoutMs?: number;
  /** Where it logs. */
  logger: Logger;
  /** Hears of failures inside the connection's read loop (bugs). */
  onError?: (err: unknown) => void;
}

/**
 * Connects in multiplexed mode.
 *
 * @returns The main connection (closing it ends the session) and the session's end.
 * @throws {DialError} When the plugin's address refuses, or TLS fails.
 */
export async function connectMultiplexed(
  options: MuxConnectOptions,
): Promise<{ channel: Channel; close(): Promise<void> }> {
  const { logger, maxMessageBytes, maxPartialMessageBytes } = options;
  const conn = await dialSocket({
    network: options.network,
    address: options.address,
    timeoutMs: options.timeoutMs,
  });
  const mux = new BrokerMux({
    engine: (services) => {
      const engine = createNativeEngine({ maxMessageBytes, maxPartialMessageBytes, logger });
      for (const s of services) engine.addService(s);
      return engine;
    },
    serverTls: options.serverTls,
    dialTls: options.tls,
    maxMessageBytes,
    maxPartialMessageBytes,
    logger,
    program: "the host",
  });
  const session = mux.start(conn, "client");
  multiplexBroker(options.broker, mux);
  logger.debug("client muxer connected", { address: options.address });
  try {
    const channel = await connectStream(await session.open(), {
      tls: options.tls,
      maxMessageBytes,
      maxPartialMessageBytes,
      timeoutMs: options.timeoutMs,
      prefaceTimeoutMs: options.prefaceTimeoutMs,
      onClose: () => void session.close(),
      onError: options.onError,
    });
    return { channel, close: () => session.close() };
  } catch (err) {
    await session.close();
    if (err instanceof DialError) throw err;
    throw new DialError(
      `Could not open the main connection over the multiplexed connection to the plugin at ${options.network}:${options.address}: ${
        (err as Error).message
      }`,
      { cause: err },
    );
  }
}
