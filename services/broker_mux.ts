/**
 * The streams of go-plugin's multiplexed broker mode (`GRPCBrokerMultiplex`,
 * `PLUGIN_MULTIPLEX_GRPC=true`), both roles. The host dials the plugin's
 * address once and runs a yamux client session on it, the plugin a yamux
 * server session on what it accepts; every gRPC connection, the main one
 * included, is then one yamux stream, with TLS inside it under AutoMTLS.
 *
 * Which stream is which is told on the broker stream: before opening a
 * stream for broker id `n`, the dialler knocks (`ConnInfo{n, knock}`), the
 * acceptor answers with an ack once it {@linkcode BrokerMux.expect}s it, and
 * hands the next stream the peer opens to the engine serving `n`. A stream
 * nobody knocked for is the plugin's main gRPC connection (the host resets
 * it: it serves no main connection). The knocks themselves are the
 * {@linkcode Broker}'s; this file keeps the sessions, the routing and the
 * engines serving brokered ids.
 *
 * Bounds (all in broker_limits.ts): streams per session (`MUX_MAX_STREAMS`;
 * more are reset), knocked ids waiting for their stream (`MUX_MAX_EXPECTED`
 * per session, each dropped after 5 s).
 *
 * @module
 */

import { after } from "../_timer.ts";
import type { Logger } from "../log/logger.ts";
import { type YamuxConn, type YamuxRole, YamuxSession, type YamuxStream } from "../mux/yamux.ts";
import type { Channel } from "../rpc/client_call.ts";
import { type ClientTls, connectStream } from "../rpc/connect.ts";
import type { ServiceImplementation } from "../rpc/service.ts";
import type { Engine, ServerTls } from "../server/engine.ts";
import { BrokerError, brokerWait, type BrokerWaiter } from "./broker.ts";
import { BROKER_TIMEOUT_MS, MUX_MAX_EXPECTED, MUX_MAX_STREAMS } from "./broker_limits.ts";

/** What a side gives its multiplexed broker. */
export interface BrokerMuxOptions {
  /** Makes an engine that can serve streams (`serveConnection`), for `services`. */
  engine(services: readonly ServiceImplementation[]): Engine;
  /** The TLS of the streams we serve (inside each stream). */
  serverTls?: ServerTls;
  /** The TLS of the streams we open. */
  dialTls?: ClientTls;
  /**
   * Takes a stream the peer opened without a knock: the plugin serves its
   * main gRPC server on it; without it (the host), such a stream is reset.
   */
  unannounced?: (stream: YamuxStream) => void;
  /** Largest gRPC message on dialled streams. */
  maxMessageBytes: number;
  /** Most bytes the messages still arriving, or received and not yet read, on one connection hold together (each by its size plus ~128 bytes). @default {268435456} */
  maxPartialMessageBytes?: number;
  /** Where routing is logged. */
  logger: Logger;
  /** Who needs a permission flag that is missing, for its error. */
  program: string;
}

/** A session and the ids knocked on it, oldest first. */
interface Routed {
  session: YamuxSession;
  expected: { id: number; cancel: () => void }[];
  /** We dialled it, or its peer has sent a frame. */
  readonly spoke: boolean;
}

/** One side's multiplexed broker: its sessions, where their streams go, what it serves. */
export class BrokerMux {
  #options: BrokerMuxOptions;
  /** Open sessions, oldest first (`#brokerRouted()` is the broker's). */
  #sessions: Routed[] = [];
  #sessionWaiters: BrokerWaiter<Routed>[] = [];
  #listeners = new Map<number, Engine>();
  #closed = false;

  /**
   * Creates a side's multiplexed broker (`serve()` and `launch()` make theirs).
   *
   * @param options Engines, TLS and limits.
   */
  constructor(options: BrokerMuxOptions) {
    this.#options = options;
  }

  /**
   * Runs a yamux session on `conn` (the host: `client`, the plugin:
   * `server`) and routes the streams the peer opens on it until it ends.
   * The oldest open session is the broker's (knocks and dials use it): on
   * the plugin's side, the oldest whose peer has sent a frame, if one has,
   * so a socket that connected first and stays silent is not the broker's.
   *
   * @param conn The connection; the session owns it.
   * @param role Which end we are.
   * @param onPeerFrame Called once the peer has sent its first frame.
   * @returns The session (closing it is its owner's job).
   */
  start(conn: YamuxConn, role: YamuxRole, onPeerFrame?: () => void): YamuxSession {
    let spoke = role === "client";
    const session = new YamuxSession(conn, role, {
      maxStreams: MUX_MAX_STREAMS,
      onClose: (error) => {
        if (error) {
          this.#options.logger.debug("multiplexed connection ended", { error: error.message });
        }
      },
      onPeerFrame: () => {
        spoke = true;
        onPeerFrame?.();
      },
    });
    const routed: Routed = {
      session,
      expected: [],
      get spoke() {
        return spoke;
      },
    };
    this.#sessions.push(routed);
    for (const w of this.#sessionWaiters.splice(0)) w(routed);
    void this.#route(routed);
    return session;
  }

  /**
   * The broker's session: the oldest open one whose peer has sent a frame
   * (a socket that connected first and stays silent is not the host), or
   * else the oldest open one.
   */
  #brokerRouted(): Routed | undefined {
    return this.#sessions.find((r) => r.spoke) ?? this.#sessions[0];
  }

  /** Whether `id` is served (`listen()` was called and not closed). */
  has(id: number): boolean {
    return this.#listeners.has(id);
  }

  /**
   * Serves `services` on the streams knocked for `id`.
   *
   * @returns Stops serving them.
   */
  listen(id: number, services: readonly ServiceImplementation[]): { close(): Promise<void> } {
    const engine = this.#options.engine(services);
    this.#listeners.set(id, engine);
    return {
      close: async () => {
        if (this.#listeners.get(id) === engine) this.#listeners.delete(id);
        await engine.shutdown(0);
      },
    };
  }

  /**
   * Hands the next stream the peer opens on the broker's session to the
   * engine serving `id` (within 5 s).
   *
   * @returns The error for the knock's ack; empty when expected.
   */
  expect(id: number): string {
    const routed = this.#brokerRouted();
    if (!routed) return "no multiplexed connection is open";
    if (!this.#listeners.has(id)) return `no listener for id ${id}`;
    if (routed.expected.length >= MUX_MAX_EXPECTED) {
      return `too many knocks waiting for their streams (${MUX_MAX_EXPECTED})`;
    }
    const entry = {
      id,
      cancel: after(BROKER_TIMEOUT_MS, () => {
        const i = routed.expected.indexOf(entry);
        if (i >= 0) routed.expected.splice(i, 1);
        this.#options.logger.debug("broker knock expired: its stream never came", { id });
      }),
    };
    routed.expected.push(entry);
    return "";
  }

  /**
   * Opens a stream on the broker's session, waiting for one within
   * `timeoutMs` (the plugin may be asked to dial before the host connects).
   *
   * @throws {BrokerError} When no session opens in time, or the stream cannot be opened.
   */
  async open(id: number, timeoutMs: number): Promise<YamuxStream> {
    const { session } = await this.#brokerSession(id, timeoutMs);
    try {
      return await session.open();
    } catch (err) {
      throw new BrokerError(
        `Could not open a multiplexed stream for broker id ${id}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /**
   * Makes a client connection over a stream {@linkcode BrokerMux.open}
   * gave, with this side's TLS inside.
   *
   * @throws {BrokerError} When TLS fails.
   */
  async connect(
    id: number,
    stream: YamuxStream,
    timeoutMs: number,
    onClose: () => void,
  ): Promise<Channel> {
    try {
      return await connectStream(stream, {
        tls: this.#options.dialTls,
        maxMessageBytes: this.#options.maxMessageBytes,
        maxPartialMessageBytes: this.#options.maxPartialMessageBytes,
        timeoutMs,
        program: this.#options.program,
        onClose,
      });
    } catch (err) {
      throw new BrokerError(
        `Could not connect to broker id ${id} over its multiplexed stream: ${
          (err as Error).message
        }`,
        { cause: err },
      );
    }
  }

  /** Stops every engine serving a brokered id and what waits for a session; sessions stay (their owner closes them). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#sessionWaiters.splice(0)) w(null);
    for (const r of this.#sessions) for (const e of r.expected.splice(0)) e.cancel();
    const engines = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(engines.map((e) => e.shutdown(0)));
  }

  #brokerSession(id: number, timeoutMs: number): Promise<Routed> {
    if (this.#closed) {
      return Promise.reject(new BrokerError(`The broker is closed: cannot dial broker id ${id}`));
    }
    const open = this.#brokerRouted();
    if (open) return Promise.resolve(open);
    return brokerWait(
      id,
      timeoutMs,
      () =>
        `timed out waiting for the multiplexed connection to dial broker id ${id}: ` +
        `the host did not connect within ${timeoutMs} ms`,
      (waiter) => this.#sessionWaiters.push(waiter),
      (waiter) => {
        const i = this.#sessionWaiters.indexOf(waiter);
        if (i >= 0) this.#sessionWaiters.splice(i, 1);
      },
    );
  }

  async #route(routed: Routed): Promise<void> {
    const log = this.#options.logger;
    try {
      for await (const stream of routed.session) {
        const knocked = routed.expected.shift();
        if (knocked) {
          knocked.cancel();
          const engine = this.#listeners.get(knocked.id);
          if (engine) {
            log.trace("sending stream to brokered listener", { id: knocked.id });
            engine.serveConnection!(stream, this.#options.serverTls);
            continue;
          }
          log.debug("broker stream refused: its id is no longer served", { id: knocked.id });
          stream.reset();
        } else if (this.#options.unannounced) {
          this.#options.unannounced(stream);
        } else {
          log.debug("multiplexed stream refused: no knock announced it", { stream: stream.id });
          stream.reset();
        }
      }
    } finally {
      for (const e of routed.expected.splice(0)) e.cancel();
      const i = this.#sessions.indexOf(routed);
      if (i >= 0) this.#sessions.splice(i, 1);
    }
  }
}
