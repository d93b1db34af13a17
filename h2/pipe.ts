/**
 * An in-memory connection between two {@linkcode H2Connection}s: what
 * `serveInProcess()` runs a plugin's services on, and what the HTTP/2 tests
 * join a client and a server with. Writes reach the other end's `receive()`
 * on a later microtask, in order, as from a socket.
 *
 * @module
 */

import type { H2Connection, Transport } from "./connection.ts";

/**
 * One end of an in-memory connection between two {@linkcode H2Connection}s
 * (see {@linkcode connectPair}): a write reaches the other end's `receive()`
 * on a later microtask, in order; a close reaches it after the bytes written
 * before it, as a closed socket would.
 */
export class PipeTransport implements Transport {
  /** The connection on this end. */
  conn: H2Connection | null = null;
  /** The other end. */
  peer: PipeTransport | null = null;
  /** Bytes written so far. */
  written = 0;
  #closed = false;

  /** Whether this end was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Hands a copy of `data` to the other end's connection on a later microtask. */
  write(data: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("transport closed"));
    const copy = data.slice();
    this.written += copy.length;
    const peer = this.peer!;
    queueMicrotask(() => {
      if (!peer.#closed) peer.conn?.receive(copy);
    });
    return Promise.resolve();
  }

  /** Closes this end; the other end's connection closes after what was written before. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const peer = this.peer!;
    queueMicrotask(() => peer.conn?.close("peer closed the connection"));
  }
}

/**
 * Two connected transports; attach each end's connection with
 * `end.conn = ...` before the first write is delivered.
 */
export function connectPair(): [PipeTransport, PipeTransport] {
  const a = new PipeTransport(), b = new PipeTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
