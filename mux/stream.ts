/**
 * The public shape of a yamux stream: a `Deno.Conn` (so that code written
 * for sockets, such as `h2/socket.ts`'s `denoTransport` and
 * `pumpDenoSocket`, runs on it unchanged), plus its id and a reset.
 *
 * @module
 */

/**
 * One stream of a `YamuxSession`: a byte duplex with the shape
 * of `Deno.Conn`.
 *
 * - `read` gives the peer's data, then `null` after the peer's FIN; it
 *   throws `Deno.errors.ConnectionReset` if the peer reset the stream or
 *   the session ended before a FIN (what was received before is still
 *   read first), and `Deno.errors.BadResource` after our own `close()`.
 * - `write` resolves once all of `data` is queued for the connection
 *   (never a short write); it waits while the peer's window is full.
 * - `closeWrite()` sends FIN (half-close): we write no more, we still read.
 * - `close()` sends FIN if not sent, and stops reading; the stream is freed
 *   once the peer has sent its FIN too, or reset after the session's
 *   stream close timeout.
 * - `reset()` sends RST: both directions end at once.
 * - `ref()` and `unref()` do nothing (the session's connection is what
 *   keeps the process alive); `localAddr` and `remoteAddr` are the session
 *   connection's.
 *
 * @example Echo what a stream sends, then half-close
 * ```ts ignore
 * import type { YamuxStream } from "./stream.ts";
 * async function echo(stream: YamuxStream): Promise<void> {
 *   const buf = new Uint8Array(64 * 1024);
 *   for (let n; (n = await stream.read(buf)) !== null;) await stream.write(buf.subarray(0, n));
 *   await stream.closeWrite();
 * }
 * ```
 */
export interface YamuxStream extends Deno.Conn {
  /** The stream id: odd if the client side opened it, even if the server side did. */
  readonly id: number;
  /** Sends FIN once the writes before it are queued: we write no more. */
  closeWrite(): Promise<void>;
  /** Sends RST: the stream ends at once in both directions. */
  reset(): void;
}
