/**
 * A `node:stream` Duplex over a yamux stream (or any `Deno.Conn`-shaped
 * duplex), so that `node:tls` can run TLS inside the stream: go-plugin's
 * multiplexed mode with AutoMTLS puts TLS inside each yamux stream.
 * `node:stream` is loaded on first use, without an import statement, so a
 * program that never runs TLS never loads Node's layer.
 *
 * @module
 */

import type * as NodeStream from "node:stream";
import { DUPLEX_READ_BYTES } from "./constants.ts";

/** What the adapter needs of the stream: `YamuxStream` and `Deno.Conn` have it. */
export interface DuplexSource {
  /** Reads into `buf`; `null` at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes `data` (all of it, or some: the adapter writes the rest). */
  write(data: Uint8Array): Promise<number>;
  /** Half-closes: no more writes. */
  closeWrite(): Promise<void>;
  /** Closes both directions. */
  close(): void;
  /** Aborts both directions (a yamux RST), if the stream can. */
  reset?(): void;
}

function nodeStream(): typeof NodeStream {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(id: "node:stream"): typeof NodeStream };
  }).process;
  return process.getBuiltinModule("node:stream");
}

/**
 * Wraps a stream as a Node Duplex: reads are pulled as Node asks, writes
 * complete when the stream has queued them, `end()` sends FIN, and
 * `destroy()` closes the stream (resets it if destroyed with an error).
 * Like a `net.Socket` by default it is not half-open: when the peer's FIN
 * arrives it ends its own side too. (`node:tls` copies `allowHalfOpen`
 * from the socket it wraps; a half-open one would leave a TLS socket open
 * after its peer has gone.)
 *
 * @example TLS inside a yamux stream, both ends
 * ```ts ignore
 * import { toNodeDuplex } from "./node_duplex.ts";
 * const tls = process.getBuiltinModule("node:tls");
 * // Client end (go-plugin's host dials a broker id):
 * const client = tls.connect({ socket: toNodeDuplex(await session.open()), ca: [caPem], servername: "localhost" });
 * // Server end (the plugin): through a tls.Server, which verifies client certificates
 * // (in Deno 2.9 a bare server-side TLSSocket does not: it accepts any).
 * const server = tls.createServer({ cert, key, ca: [hostCertPem], requestCert: true, rejectUnauthorized: true }, onSocket);
 * server.emit("connection", toNodeDuplex(stream));
 * ```
 *
 * @param stream The stream; the Duplex owns it from now on.
 * @param prefix Bytes already read from the stream, read first (a TLS
 * ClientHello our own TLS server handed on).
 * @returns The Duplex.
 */
export function toNodeDuplex(stream: DuplexSource, prefix?: Uint8Array): NodeStream.Duplex {
  let reading = false;
  let ended = false;
  let head = prefix?.length ? prefix : null;
  const buf = new Uint8Array(DUPLEX_READ_BYTES);
  const duplex: NodeStream.Duplex = new (nodeStream().Duplex)({
    allowHalfOpen: false,
    read() {
      if (reading || ended) return;
      reading = true;
      void (async () => {
        try {
          if (head) {
            const first = head;
            head = null;
            if (!duplex.push(first)) return;
          }
          while (true) {
            const n = await stream.read(buf);
            if (n === null) {
              ended = true;
              duplex.push(null);
              return;
            }
            if (!duplex.push(buf.slice(0, n))) return;
          }
        } catch (err) {
          ended = true;
          if (!duplex.destroyed) duplex.destroy(err as Error);
        } finally {
          reading = false;
        }
      })();
    },
    write(chunk: Uint8Array, _encoding: string, callback: (err?: Error | null) => void) {
      writeAll(stream, chunk).then(() => callback(), callback);
    },
    final(callback: (err?: Error | null) => void) {
      stream.closeWrite().then(() => callback(), callback);
    },
    destroy(err: Error | null, callback: (err: Error | null) => void) {
      ended = true;
      try {
        if (err && stream.reset) stream.reset();
        else stream.close();
      } catch {
        // already closed
      }
      callback(err);
    },
  });
  return duplex;
}

async function writeAll(stream: DuplexSource, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await stream.write(at ? data.subarray(at) : data);
}
