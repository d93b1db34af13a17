/**
 * The bound on a listener's open connections, for both of the plugin's
 * listeners: the plaintext one (`transport/accept.ts`, under HTTP/2, our
 * TLS 1.3 server and yamux) and the engine's `node:tls` one. At the limit a
 * new connection closes the oldest one not yet established (a peer that
 * connects and stays silent cannot lock the host out); when all are
 * established, the new one is refused. One WARN per burst either way.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { BurstWarning } from "../services/broker_limits.ts";

/**
 * Connections a listener keeps open at once unless told otherwise. A
 * go-plugin host opens one connection to each listener of a plugin; the
 * bound stops a local peer from making the plugin hold sockets, HTTP/2
 * state and buffers without end.
 */
export const MAX_OPEN_CONNECTIONS = 64;

/** How many connections a listener serves at once, and what its refusal WARN says. */
export interface ConnectionLimit {
  /** Open connections at most. */
  max: number;
  /** What is refused, for the WARN (the count and the bound are added). */
  what: string;
  /** The WARN's `fix`: what an operator can do (which option raises `max`, if one does). */
  fix: string;
}

/**
 * The `fix` of the native engine's listeners: the option that raises
 * {@linkcode MAX_OPEN_CONNECTIONS}.
 */
export const RAISE_MAX_CONNECTIONS: string =
  "a go-plugin host opens one connection per listener: find what else connects to the " +
  "plugin, or raise the bound with serve({ engine: (o) => createNativeEngine({ ...o, " +
  "maxConnections: N }) })";

/**
 * A connection's place under the limit: until the peer has proven itself
 * (a TLS handshake with the host's certificate, an HTTP/2 preface) it may
 * be closed to make room; `established()` ends that.
 */
export interface ConnectionSlot {
  /** The peer proved itself: this connection is no longer closed to make room. */
  established(): void;
}

/** The open connections of one listener, oldest first. */
export class ConnectionTable<T> {
  readonly #limit: ConnectionLimit;
  readonly #refused: BurstWarning;
  readonly #fields: { limit: number; fix: string };
  /** Each open connection, with how to close it and whether it is established. */
  readonly #open = new Map<T, { close: (item: T) => void; proven: boolean }>();

  /**
   * @param log Where refusals are logged.
   * @param limit The bound.
   */
  constructor(log: Logger, limit: ConnectionLimit) {
    this.#limit = limit;
    this.#refused = new BurstWarning(
      log,
      `${limit.what} refused: ${limit.max} are open already, the most this listener serves ` +
        "at once (the oldest not yet established is closed to make room, if there is one)",
    );
    this.#fields = { limit: limit.max, fix: limit.fix };
  }

  /**
   * Takes `item` in, closing the oldest unestablished connection if the
   * table is full. Returns its slot, or `null` when every open connection is
   * established (then the caller closes `item`).
   *
   * @param item The new connection.
   * @param close Closes it, should it be evicted later.
   * @returns Its slot, or `null` if refused.
   */
  admit(item: T, close: (item: T) => void): ConnectionSlot | null {
    if (this.#open.size >= this.#limit.max) {
      this.#refused.refused({ open: this.#open.size, ...this.#fields });
      const oldest = [...this.#open].find(([, e]) => !e.proven);
      if (!oldest) return null;
      this.#open.delete(oldest[0]);
      oldest[1].close(oldest[0]);
    }
    const entry = { close, proven: false };
    this.#open.set(item, entry);
    return { established: () => void (entry.proven = true) };
  }

  /** `item` is closed: it no longer counts. */
  release(item: T): void {
    this.#open.delete(item);
    if (this.#open.size < this.#limit.max) this.#refused.over();
  }
}
