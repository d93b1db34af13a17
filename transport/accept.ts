/**
 * A plaintext listener (unix socket or TCP) and its accept loop, for both
 * what serves HTTP/2 on each accepted socket (the native engine) and what
 * runs a yamux session on it (the plugin's main listener in multiplexed
 * broker mode).
 *
 * @module
 */

import type { Network } from "../constants.ts";
import type { Logger } from "../log/logger.ts";
import { BurstWarning } from "../services/broker_limits.ts";
import { splitHostPort } from "./tcp.ts";

/**
 * Connections a plaintext listener keeps open at once unless told
 * otherwise; one accepted beyond it is closed at once (one WARN per burst).
 * A go-plugin host opens one connection to each listener of a plugin; the
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
}

/** First and longest pause after a failed accept (ms); it doubles while accepts keep failing. */
const ACCEPT_BACKOFF_MS = { min: 5, max: 1000 } as const;

/**
 * Waits `ms` while holding the event loop. Not `after()`: its timer does not
 * keep the process alive, and while the accept loop backs off no accept is
 * pending, so a plugin without connections would exit. Only failed accepts
 * pay for the global timer.
 */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a bind failed because the address is taken (Deno's and Node's spellings). */
export function isAddrInUse(err: unknown): boolean {
  return err instanceof Deno.errors.AddrInUse ||
    (err as { code?: string } | null)?.code === "EADDRINUSE";
}

/**
 * The WARN, once per burst, for connections refused over `limit` (by this
 * module's listener, and by the engine's `node:tls` one).
 *
 * @param log Where it logs.
 * @param limit The bound.
 * @returns The burst warning.
 */
export function refusalWarning(log: Logger, limit: ConnectionLimit): BurstWarning {
  return new BurstWarning(
    log,
    `${limit.what} refused: ${limit.max} are open already, the most this listener serves at once ` +
      "(the oldest not yet established is closed to make room, if there is one)",
  );
}

/**
 * What a listener's `onConn` is told about its socket's place under the
 * limit: once the peer has proven itself (a TLS handshake with the host's
 * certificate, an HTTP/2 preface), `established()`; until then the socket
 * may be closed to make room (`onEvict` first, if set).
 */
export interface ConnectionSlot {
  /** The peer proved itself: this socket is no longer closed to make room. */
  established(): void;
  /** Called when the socket is closed to make room, before it is closed. */
  onEvict?: () => void;
}

/** A plaintext listener handing each accepted socket on. */
export interface PlainListener {
  /** The bound TCP port (0 for unix). */
  port: number;
  /** Stops accepting. */
  close(): void;
}

/**
 * Listens on `address` and hands every accepted socket to `onConn` until
 * closed, keeping at most `limit.max` of them open at once. At the limit a
 * new socket closes the oldest one not yet established (a peer that
 * connects and stays silent cannot lock the host out); when all are
 * established, the new socket is closed at once. Either way one WARN per
 * burst. TCP sockets get TCP_NODELAY (small frames must not wait for
 * Nagle's 40 ms).
 *
 * @param network `unix` or `tcp`.
 * @param address Socket path or `host:port`.
 * @param onConn Takes each accepted socket; its promise settles when the
 * socket is done with (it then stops counting against the limit).
 * @param log Where accept failures and refusals are logged.
 * @param limit The bound on open connections.
 * @returns The listener.
 * @throws The bind's error (`Deno.errors.AddrInUse` when taken).
 */
export function listenPlain(
  network: Network,
  address: string,
  onConn: (sock: Deno.Conn, slot: ConnectionSlot) => Promise<unknown>,
  log: Logger,
  limit: ConnectionLimit = { max: MAX_OPEN_CONNECTIONS, what: "connections" },
): PlainListener {
  const listener = network === "unix"
    ? Deno.listen({ transport: "unix", path: address })
    : Deno.listen(splitHostPort(address));
  let closed = false;
  /** Open sockets, oldest first, each with its slot and whether it is established. */
  const open = new Map<Deno.Conn, { slot: ConnectionSlot; proven: boolean }>();
  const refused = refusalWarning(log, limit);
  const closeQuietly = (sock: Deno.Conn) => {
    try {
      sock.close();
    } catch {
      // already closed
    }
  };
  void acceptLoop(listener, () => closed, (sock) => {
    if (open.size >= limit.max) {
      refused.refused({ open: open.size });
      let oldest: [Deno.Conn, { slot: ConnectionSlot }] | undefined;
      for (const entry of open) {
        if (!entry[1].proven) {
          oldest = entry;
          break;
        }
      }
      if (!oldest) return closeQuietly(sock);
      open.delete(oldest[0]);
      oldest[1].slot.onEvict?.();
      closeQuietly(oldest[0]);
    }
    const entry = { slot: null as unknown as ConnectionSlot, proven: false };
    entry.slot = { established: () => void (entry.proven = true) };
    open.set(sock, entry);
    const done = () => {
      if (open.get(sock) === entry) open.delete(sock);
      if (open.size < limit.max) refused.over();
    };
    if (network === "tcp") (sock as Deno.TcpConn).setNoDelay(true);
    let settled;
    try {
      settled = onConn(sock, entry.slot);
    } catch (err) {
      done();
      throw err;
    }
    settled.then(done, done);
  }, log);
  return {
    port: network === "unix" ? 0 : (listener.addr as Deno.NetAddr).port,
    close: () => {
      closed = true;
      listener.close();
    },
  };
}

/**
 * Accepts until the listener closes. A failed accept (EMFILE when the
 * process is out of file descriptors, ENFILE, ECONNABORTED, ...) is logged
 * at ERROR and retried after a pause that doubles while it keeps failing,
 * so that the plugin accepts again once descriptors are free.
 */
async function acceptLoop(
  listener: Deno.Listener,
  closed: () => boolean,
  onConn: (sock: Deno.Conn) => void,
  log: Logger,
): Promise<void> {
  let failures = 0;
  let backoff = 0;
  while (true) {
    let sock: Deno.Conn;
    try {
      sock = await listener.accept();
    } catch (err) {
      if (closed() || err instanceof Deno.errors.BadResource) return;
      failures++;
      backoff = Math.min(backoff ? backoff * 2 : ACCEPT_BACKOFF_MS.min, ACCEPT_BACKOFF_MS.max);
      log.error("accepting a connection failed; retrying", {
        error: (err as Error)?.message ?? String(err),
        failures,
        retry_ms: backoff,
      });
      await pause(backoff);
      if (closed()) return;
      continue;
    }
    if (failures) {
      log.info("accepting connections again", { failures });
      failures = 0;
      backoff = 0;
    }
    onConn(sock);
  }
}
