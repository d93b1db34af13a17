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
import {
  type ConnectionLimit,
  type ConnectionSlot,
  ConnectionTable,
  MAX_OPEN_CONNECTIONS,
  RAISE_MAX_CONNECTIONS,
} from "./connection_table.ts";
import { splitHostPort } from "./tcp.ts";

/** First and longest pause after a failed accept (ms); it doubles while accepts keep failing. */
const ACCEPT_BACKOFF_MS = { min: 5, max: 1000 } as const;

/**
 * Waits `ms` while holding the event loop, or until `wake` is called (the
 * listener closed: its timer must not keep the process up to 1 s longer).
 * Not `after()`: its timer does not keep the process alive, and while the
 * accept loop backs off no accept is pending, so a plugin without
 * connections would exit. Only failed accepts pay for the global timer.
 */
function pause(ms: number): { done: Promise<void>; wake: () => void } {
  let wake = () => {};
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, wake };
}

/** Closes `sock`, if it is not closed already. */
function closeQuietly(sock: Deno.Conn): void {
  try {
    sock.close();
  } catch {
    // already closed
  }
}

/** Whether a bind failed because the address is taken (Deno's and Node's spellings). */
export function isAddrInUse(err: unknown): boolean {
  return err instanceof Deno.errors.AddrInUse ||
    (err as { code?: string } | null)?.code === "EADDRINUSE";
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
  limit: ConnectionLimit = {
    max: MAX_OPEN_CONNECTIONS,
    what: "connections",
    fix: RAISE_MAX_CONNECTIONS,
  },
): PlainListener {
  const listener = network === "unix"
    ? Deno.listen({ transport: "unix", path: address })
    : Deno.listen(splitHostPort(address));
  const state = { closed: false, wake: () => {} };
  const open = new ConnectionTable<Deno.Conn>(log, limit);
  void acceptLoop(listener, state, (sock) => {
    const slot = open.admit(sock, closeQuietly);
    if (!slot) return closeQuietly(sock);
    const done = () => open.release(sock);
    let settled;
    try {
      // Throws if the peer is gone already (then so is the connection).
      if (network === "tcp") (sock as Deno.TcpConn).setNoDelay(true);
      settled = onConn(sock, slot);
    } catch (err) {
      // A bug of the connection's: it must not stop the listener (nor crash the plugin).
      done();
      closeQuietly(sock);
      log.error("serving an accepted connection failed; it is closed", {
        error: (err as Error)?.message ?? String(err),
      });
      return;
    }
    settled.then(done, done);
  }, log);
  return {
    port: network === "unix" ? 0 : (listener.addr as Deno.NetAddr).port,
    close: () => {
      state.closed = true;
      state.wake();
      listener.close();
    },
  };
}

/**
 * Accepts until the listener closes. A failed accept (EMFILE when the
 * process is out of file descriptors, ENFILE, ECONNABORTED, ...) is logged
 * at ERROR and retried after a pause that doubles while it keeps failing,
 * so that the plugin accepts again once descriptors are free; closing the
 * listener ends the pause.
 */
async function acceptLoop(
  listener: Deno.Listener,
  state: { readonly closed: boolean; wake: () => void },
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
      if (state.closed || err instanceof Deno.errors.BadResource) return;
      failures++;
      backoff = Math.min(backoff ? backoff * 2 : ACCEPT_BACKOFF_MS.min, ACCEPT_BACKOFF_MS.max);
      const message = (err as Error)?.message ?? String(err);
      log.error("accepting a connection failed; retrying", {
        error: message,
        failures,
        retry_ms: backoff,
        ...(/too many open files/i.test(message)
          ? { fix: "raise the descriptor limit (ulimit -n), or close connections" }
          : {}),
      });
      const wait = pause(backoff);
      state.wake = wait.wake;
      await wait.done;
      if (state.closed) return;
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
