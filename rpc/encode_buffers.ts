/**
 * The buffers of large encoded messages, lent out with the message and
 * taken back once the response that carried it no longer needs them.
 *
 * A large message's bytes are a view of its writer's buffer (no copy out
 * of it, see `tsProtoEncoder` in service.ts); that buffer is fresh memory,
 * and fresh memory is what a bulk response costs most outside the AEAD: a
 * page fault per 4 KiB as the message is written into it (bench/README.md,
 * "Bulk transfers with AutoMTLS", third round). A server call whose
 * response is such a message gives its buffer back once HTTP/2 has framed
 * it (`H2Stream.released`), and the next large message is written into it.
 * Only a lent buffer given back through {@linkcode recycleEncoded} is ever
 * written again: one lent to a call that does not give it back (a
 * compressed or streamed response, a client's request, a connection that
 * closed with the bytes unwritten) is left to the garbage collector.
 *
 * @module
 */

/** Messages above this many bytes are written into lent buffers. */
export const LEND_ABOVE_BYTES: number = 64 << 10;
/** Buffers kept for reuse, at most (one being written while the next response is encoded). */
const KEPT = 2;
/** Larger buffers are not kept: at most `KEPT` of these stay mapped once a transfer is over. */
const MAX_KEPT_BYTES = 4 << 20;

const free: Uint8Array[] = [];
/** The buffers of messages lent out and not back yet. */
const lent = new WeakSet<ArrayBufferLike>();

/**
 * A kept buffer to write the next large message into (the caller owns it
 * now), or undefined when none is kept.
 *
 * @example
 * ```ts ignore
 * const buf = takeBuffer() ?? new Uint8Array(1 << 20);
 * ```
 * @returns The buffer, whole (a view of all its `ArrayBuffer`).
 */
export function takeBuffer(): Uint8Array | undefined {
  return free.pop();
}

/**
 * Keeps a buffer the caller owns and no longer uses (dropped when enough
 * are kept, or when it is too large to keep).
 *
 * @example
 * ```ts ignore
 * keepBuffer(new Uint8Array(1 << 21));
 * ```
 * @param buf A whole buffer (a view of all its `ArrayBuffer`).
 */
export function keepBuffer(buf: Uint8Array): void {
  if (free.length < KEPT && buf.byteLength <= MAX_KEPT_BYTES) free.push(buf);
}

/**
 * Marks `bytes`, a view of a buffer the caller owns, as lent out with a
 * message: {@linkcode recycleEncoded} of them takes the buffer back.
 *
 * @example
 * ```ts ignore
 * const bytes = lend(new Uint8Array(1 << 21).subarray(0, 1 << 20));
 * ```
 * @param bytes The message.
 * @returns `bytes`.
 */
export function lend(bytes: Uint8Array): Uint8Array {
  lent.add(bytes.buffer);
  return bytes;
}

/**
 * Whether `bytes` are a message lent by {@linkcode lend} and not back yet.
 *
 * @example
 * ```ts ignore
 * if (isLent(bytes)) stream.released(() => recycleEncoded(bytes));
 * ```
 * @param bytes A message.
 * @returns True for a lent one.
 */
export function isLent(bytes: Uint8Array): boolean {
  return bytes.length > LEND_ABOVE_BYTES && lent.has(bytes.buffer);
}

/**
 * Takes back the buffer of a lent message that nothing reads any more (a
 * no-op for any other bytes). The caller must be the message's only user,
 * and done with it.
 *
 * @example
 * ```ts ignore
 * stream.released(() => recycleEncoded(bytes));
 * ```
 * @param bytes The message.
 */
export function recycleEncoded(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (!lent.has(buffer)) return;
  lent.delete(buffer);
  keepBuffer(new Uint8Array(buffer));
}
