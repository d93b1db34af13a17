/**
 * The plugin's main listener in go-plugin's multiplexed broker mode (the
 * host set `PLUGIN_MULTIPLEX_GRPC=true`): every connection it accepts is
 * plaintext at this level and runs a yamux server session, whose streams
 * the plugin's {@linkcode BrokerMux} routes (TLS, if any, is inside each
 * stream). go-plugin's plugins take only the first connection; we run a
 * session on each, the oldest open one whose peer has spoken being the
 * broker's, up to `MUX_MAX_SESSIONS` at once: at the limit a new connection
 * closes the oldest one whose peer has not sent a yamux frame yet, or else
 * is closed itself (one WARN per burst). A connection whose peer sends no
 * frame within `MUX_SILENT_SESSION_MS` is closed.
 *
 * @module
 */

import type { Network } from "../constants.ts";
import type { Logger } from "../log/logger.ts";
import type { YamuxSession } from "../mux/yamux.ts";
import { type Broker, multiplexBroker } from "../services/broker.ts";
import { BrokerMux } from "../services/broker_mux.ts";
import { MUX_MAX_SESSIONS, MUX_SILENT_SESSION_MS } from "../services/broker_limits.ts";
import { after } from "../_timer.ts";
import type { ClientTls } from "../rpc/connect.ts";
import type { Engine, EngineFactory, ServerTls } from "./engine.ts";
import { isAddrInUse, listenPlain, type PlainListener } from "../transport/accept.ts";

/** The multiplexed main listener. */
export interface MuxListener {
  /**
   * Starts listening, as `Engine.bind` does.
   * @returns The bound TCP port (0 for unix), or `null` if the TCP address is in use.
   */
  bind(network: Network, address: string): Promise<number | null>;
  /** Stops listening and ends every session (their connections close). */
  close(): Promise<void>;
}

/**
 * Makes the plugin's multiplexed main listener.
 *
 * @param mux Where the sessions' streams go.
 * @param logger Where accept failures are logged.
 * @param silentMs How long a connection may stay without a yamux frame from its peer.
 * @returns The listener, not bound yet.
 */
export function muxListener(
  mux: BrokerMux,
  logger: Logger,
  silentMs: number = MUX_SILENT_SESSION_MS,
): MuxListener {
  const sessions = new Set<YamuxSession>();
  let listener: PlainListener | null = null;
  return {
    bind(network, address) {
      try {
        listener = listenPlain(
          network,
          address,
          (conn, slot) => {
            // Established once the peer sent a yamux frame (TLS, if any, is inside each
            // stream): until then it may be closed to make room, so silent sockets cannot
            // keep the host out; and it is closed if it stays silent for silentMs.
            logger.debug("multiplexed connection accepted");
            const cancelSilent = after(silentMs, () => {
              logger.warn("closed a multiplexed connection whose peer sent no yamux frame", {
                within_ms: silentMs,
              });
              void session.close();
            });
            const session = mux.start(conn, "server", () => {
              cancelSilent();
              slot.established();
            });
            sessions.add(session);
            return session.done().then(() => {
              cancelSilent();
              sessions.delete(session);
            });
          },
          logger,
          {
            max: MUX_MAX_SESSIONS,
            what: "multiplexed connections",
            fix: "a go-plugin host opens one multiplexed connection: find what else connects to " +
              "the plugin's socket (this bound, MUX_MAX_SESSIONS, is fixed)",
          },
        );
        return Promise.resolve(listener.port);
      } catch (err) {
        if (network === "tcp" && isAddrInUse(err)) return Promise.resolve(null);
        return Promise.reject(err);
      }
    },
    async close() {
      listener?.close();
      listener = null;
      await Promise.all([...sessions].map((s) => s.close()));
    },
  };
}

/** go-plugin reads `PLUGIN_MULTIPLEX_GRPC` with Go's `strconv.ParseBool`: these mean true. */
const GO_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);

/**
 * Whether the host asked for multiplexing (`PLUGIN_MULTIPLEX_GRPC`, read as
 * go-plugin reads it).
 *
 * @param value The variable's value.
 * @returns Whether it is Go's `true`.
 */
export function multiplexAsked(value: string | undefined): boolean {
  return value !== undefined && GO_TRUE.has(value);
}

/** What the plugin's multiplexed mode is made of. */
export interface PluginMuxOptions {
  /** The main engine: it serves the streams nobody knocked for. */
  engine: Engine;
  /** Makes the engines of brokered ids. */
  engineFactory: EngineFactory;
  /** The plugin's broker, switched to multiplexed mode. */
  broker: Broker;
  /** The plugin's TLS, inside every stream. */
  tls?: ServerTls;
  /** The broker's dial TLS. */
  dialTls?: ClientTls;
  /** Largest gRPC message. */
  maxMessageBytes: number;
  /** Most bytes the messages still arriving, or received and not yet read, on one connection hold together (each by its size plus ~128 bytes). @default {268435456} */
  maxPartialMessageBytes?: number;
  /** Where it logs. */
  logger: Logger;
}

/**
 * Turns the plugin's multiplexed mode on, if its engine can serve streams
 * (the native engine; grpc-js cannot serve a yamux stream: then it stays
 * off, logged at DEBUG).
 *
 * @param options The engine, broker, TLS and limits.
 * @returns The main listener to bind instead of the engine's, or `null` when off.
 */
export function pluginMultiplexing(options: PluginMuxOptions): MuxListener | null {
  const { engine, logger } = options;
  const serveMain = engine.serveConnection?.bind(engine);
  if (!serveMain) {
    logger.debug(
      "host asked for broker multiplexing, which this engine cannot serve (it cannot serve " +
        "gRPC on a yamux stream; the native engine can): serving without it",
    );
    return null;
  }
  const mux = new BrokerMux({
    engine: (services) => {
      const e = options.engineFactory({
        maxMessageBytes: options.maxMessageBytes,
        maxPartialMessageBytes: options.maxPartialMessageBytes,
        logger,
      });
      for (const s of services) e.addService(s);
      return e;
    },
    serverTls: options.tls,
    dialTls: options.dialTls,
    unannounced: (stream) => serveMain(stream, options.tls),
    maxMessageBytes: options.maxMessageBytes,
    maxPartialMessageBytes: options.maxPartialMessageBytes,
    logger,
    program: "the plugin",
  });
  multiplexBroker(options.broker, mux);
  logger.debug("serving with broker multiplexing");
  return muxListener(mux, logger);
}
