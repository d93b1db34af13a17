/**
 * Sockets under an HTTP/2 connection, for both roles: a Deno socket
 * (`Deno.Conn`, plaintext unix or TCP) or a `node:tls` socket (TLS, which
 * both our server and our client do through the runtime's Node layer). Each
 * gives the connection a {@linkcode Transport} and feeds it what it reads.
 *
 * @module
 */

import type * as NodeTls from "node:tls";
import type { H2Connection, Transport } from "./connection.ts";
import { BULK_READ_BUFFER_BYTES, READ_BUFFER_BYTES } from "../transport/read_buffer.ts";

/**
 * Loads `node:tls` on first use, without an import statement, so that a
 * program that never uses TLS never loads the Node layer.
 */
export function nodeTls(): typeof NodeTls {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(id: "node:tls"): typeof NodeTls };
  }).process;
  return process.getBuiltinModule("node:tls");
}

/** A transport writing to a Deno socket. */
export function denoTransport(sock: Deno.Conn): Transport {
  return {
    async write(data) {
      let at = 0;
      while (at < data.length) at += await sock.write(at ? data.subarray(at) : data);
    },
    close() {
      try {
        sock.close();
      } catch {
        // already closed
      }
    },
  };
}

/**
 * Reads a Deno socket into a connection until either ends; then closes the
 * connection. `onError` hears of read failures other than a reset or our own
 * close (a bug, worth logging).
 */
export async function pumpDenoSocket(
  sock: Deno.Conn,
  conn: H2Connection,
  onError: (err: unknown) => void,
): Promise<void> {
  let buf = new Uint8Array(READ_BUFFER_BYTES);
  try {
    while (!conn.closed) {
      const n = await sock.read(buf);
      if (n === null) break;
      conn.receive(buf.subarray(0, n));
      // The connection keeps no view of what it was given: a new buffer is safe.
      if (n === buf.length && n < BULK_READ_BUFFER_BYTES) {
        buf = new Uint8Array(BULK_READ_BUFFER_BYTES);
      }
    }
  } catch (err) {
    if (
      !(err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset ||
        err instanceof Deno.errors.Interrupted)
    ) {
      onError(err);
    }
  }
  conn.close("peer closed the connection");
}

/** A transport writing to a `node:tls` socket. */
export function nodeTransport(sock: NodeTls.TLSSocket): Transport {
  return {
    write: (data) =>
      new Promise((resolve, reject) => sock.write(data, (err) => (err ? reject(err) : resolve()))),
    close: () => sock.destroy(),
  };
}

/**
 * Feeds a `node:tls` socket's data into a connection, and closes the
 * connection when the socket fails or closes. `onError` hears of exceptions
 * thrown while handling data (a bug).
 */
export function pumpNodeSocket(
  sock: NodeTls.TLSSocket,
  conn: H2Connection,
  onError: (err: unknown) => void,
): void {
  sock.on("data", (chunk: Uint8Array) => {
    try {
      conn.receive(chunk);
    } catch (err) {
      onError(err);
      conn.close("internal error");
    }
  });
  sock.on("error", () => conn.close("TLS connection error"));
  sock.on("close", () => conn.close("peer closed the connection"));
}
