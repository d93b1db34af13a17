/**
 * A gRPC message whose bytes are still arriving (its prefix read, its body
 * cut across DATA frames). The prefix only declares a size, up to the
 * message limit (256 MiB by default): a peer can open many streams, declare
 * the largest message on each and send a few bytes. So the memory held
 * follows the bytes that came, not the size declared: a small message gets
 * its buffer at once; a larger one is gathered in chunks (64 KiB first,
 * doubling up to 1 MiB) until half of it has come, and only then gets its
 * own buffer, into which the chunks are copied once. A larger message holds
 * at most 64 KiB, or three times the bytes the peer sent on it (twice once
 * the chunks are collected); one up to {@linkcode WHOLE_AT_ONCE} holds its
 * buffer from the prefix on, as every message did before.
 *
 * The declared size is charged at the prefix to the stream's account of its
 * connection's budget (message_budget.ts), which may refuse the message
 * there: the many streams of one connection cannot together have more than
 * the budget on the way, and a message once admitted is never refused
 * part-way (memory follows the bytes as above; the budget counts what the
 * admitted messages may come to).
 *
 * @module
 */

import type { BudgetAccount } from "./message_budget.ts";

/**
 * Messages up to this size get their whole buffer at once (a peer can make
 * each of its streams hold this much for 5 bytes). 1 MiB and a little:
 * what a 1 MiB value is, once it has its protobuf field's tag and length.
 */
export const WHOLE_AT_ONCE: number = (1 << 20) + 1024;
/** The first chunk of a larger message. */
const FIRST_CHUNK = 64 << 10;
/** Chunks double up to this. */
const LARGEST_CHUNK = 1 << 20;

/** One message being gathered. */
export class PartialMessage {
  /** Bytes received so far. */
  filled = 0;
  /** The message's own buffer, once it has one. */
  #whole: Uint8Array | null;
  /** Before it: the chunks gathered, the last one being filled. */
  #chunks: Uint8Array[] | null = null;
  #chunkFill = 0;
  /** Where the whole buffer is made: half the message. */
  readonly #half: number;

  /**
   * @param size The size its prefix declares.
   * @param compressed Whether its prefix says it is compressed.
   * @param account Charged with the declared size at once, before any buffer is made (what
   *   the message may come to hold: admitted whole or refused at its prefix, never part-way);
   *   the caller releases it once the message is done with.
   * @throws {RpcError} RESOURCE_EXHAUSTED when the account refuses the message.
   */
  constructor(
    readonly size: number,
    readonly compressed: boolean,
    account: BudgetAccount | null = null,
  ) {
    this.#half = Math.ceil(size / 2);
    account?.grow(size);
    this.#whole = size <= WHOLE_AT_ONCE ? new Uint8Array(size) : null;
  }

  /** Whether every byte has come. */
  get done(): boolean {
    return this.filled === this.size;
  }

  /** The message, once {@linkcode done}: bytes the caller may keep. */
  get bytes(): Uint8Array {
    return this.#whole!;
  }

  /** Takes bytes from `bytes[pos, end)`, as many as the message still lacks; returns how many. */
  add(bytes: Uint8Array, pos: number, end: number): number {
    const n = Math.min(this.size - this.filled, end - pos);
    let at = pos;
    const stop = pos + n;
    while (at < stop) {
      const whole = this.#whole;
      if (whole) {
        whole.set(bytes.subarray(at, stop), this.filled);
        this.filled += stop - at;
        break;
      }
      at = this.#gather(bytes, at, stop);
    }
    return n;
  }

  /** Chunk mode: copies into the last chunk (a new one if it is full); returns where it stopped. */
  #gather(bytes: Uint8Array, at: number, stop: number): number {
    const chunks = this.#chunks ??= [];
    let chunk = chunks[chunks.length - 1];
    if (!chunk || this.#chunkFill === chunk.length) {
      if (this.filled >= this.#half) {
        this.#makeWhole(chunks);
        return at;
      }
      const size = Math.min(
        chunk ? Math.min(2 * chunk.length, LARGEST_CHUNK) : FIRST_CHUNK,
        this.#half - this.filled,
      );
      chunk = new Uint8Array(size);
      chunks.push(chunk);
      this.#chunkFill = 0;
    }
    const n = Math.min(chunk.length - this.#chunkFill, stop - at);
    chunk.set(bytes.subarray(at, at + n), this.#chunkFill);
    this.#chunkFill += n;
    this.filled += n;
    return at + n;
  }

  /** Half has come: the message's own buffer, with the chunks copied in (and let go). */
  #makeWhole(chunks: Uint8Array[]): void {
    const whole = new Uint8Array(this.size);
    let at = 0;
    for (const c of chunks) {
      whole.set(c, at);
      at += c.length;
    }
    this.#whole = whole;
    this.#chunks = null;
  }
}
