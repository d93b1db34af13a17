/**
 * A call's received bytes as gRPC messages, and what those messages hold
 * until the call takes them: both roles' calls (server_call.ts,
 * client_call.ts) read their stream's DATA through a {@linkcode MessageReader}.
 *
 * @module
 */

import { BytePool } from "../_pool.ts";
import { Queue } from "../_queue.ts";
import { RpcError, Status } from "./status.ts";
import { PartialMessage } from "./partial_message.ts";
import type { BudgetAccount, MessageBudget } from "./message_budget.ts";
import { gunzip, PREFIX_BYTES } from "./wire.ts";

/**
 * Messages received on a streaming call and not yet taken by it, beyond
 * which its peer's window is held back ({@linkcode MessageReader.full}).
 */
const UNREAD_HIGH_WATER = 16;
/** The same bound in bytes: 16 small messages, or one of 1 MiB and more. */
const UNREAD_HIGH_WATER_BYTES = 1 << 20;

/**
 * What a message received and not yet taken costs besides its bytes, counted
 * with them (in the budget and toward {@linkcode MessageReader.full}): its
 * view and its queue slots, about 115 bytes of heap on Deno 2.9.6. So a peer
 * that sends many tiny messages to a call that does not read them is counted
 * by what they hold, not by their few bytes on the wire: 4 MiB of empty
 * messages, what one stream's window lets through, are 839,000 of them.
 */
export const MESSAGE_OVERHEAD_BYTES = 128;

/** Received messages up to this size are copied into the pool's shared buffers. */
const POOLED = 256;

/**
 * Copies of small received messages are carved out of shared buffers: a
 * buffer of its own per message costs more than the framing. A message a
 * call keeps keeps at most this pool's 8 KiB buffer alive.
 */
const pool = new BytePool(8 << 10, POOLED);

/** Where a {@linkcode MessageReader} gives its peer's window back: the stream (`H2Stream`). */
export interface ReaderWindow {
  /** Grants the peer `n` more bytes on the stream, as it has been consumed. */
  consumed(n: number): void;
}

/**
 * Splits a byte stream into gRPC messages: handles prefixes and messages cut
 * across reads, messages over the limit, and compressed messages (gzip, when
 * {@linkcode encoding} says so; refused otherwise).
 *
 * Messages are delivered in order. Uncompressed ones are delivered during
 * {@linkcode push} while nothing is being decompressed; once a compressed
 * one arrives, it and every message after it wait in a queue that one task
 * drains (decompression is asynchronous), and {@linkcode pending} says when
 * that queue is empty.
 *
 * Every message counts toward the connection's budget (message_budget.ts)
 * from its prefix until the call takes it ({@linkcode taken}) or the reader
 * stops, by its declared size plus {@linkcode MESSAGE_OVERHEAD_BYTES}; a
 * compressed one, while it is decompressed, by that and its output so far,
 * and then by what it came to. So the unary requests a peer
 * leaves without END_STREAM, and the messages queued for a call that does
 * not read, are bounded on a connection as the messages in progress are.
 * With a {@linkcode ReaderWindow}, the reader also gives the peer's window
 * back ({@linkcode received}): at once, or for a streaming call only while
 * it is not {@linkcode full}.
 */
export class MessageReader {
  /**
   * The encoding of the peer's compressed messages (its `grpc-encoding`):
   * `identity` refuses them, `gzip` decompresses them, any other name is
   * refused when a compressed message arrives.
   */
  encoding = "identity";
  /** A prefix split across reads is gathered here (made when one first is). */
  #prefix: Uint8Array | null = null;
  #prefixFill = 0;
  /** A message cut across reads: its memory follows the bytes that came (partial_message.ts). */
  #msg: PartialMessage | null = null;
  /**
   * This stream's account of the budget, made with its first message: its
   * message in progress, the messages waiting to be decompressed or
   * delivered, and the messages delivered and not taken (a message being
   * decompressed has an account of its own meanwhile: {@linkcode #inflate}).
   */
  #account: BudgetAccount | null = null;
  /** Messages received and not taken (those waiting included), and what they count for. */
  #unread = 0;
  #unreadBytes = 0;
  /** Window held back from the peer while {@linkcode full}. */
  #heldWindow = 0;
  /** The account of the message being decompressed, while it is. */
  #inflating: BudgetAccount | null = null;
  /** Whole messages not delivered yet: the first one being decompressed, the others behind it. */
  #waiting: Queue<Uint8Array> | null = null;
  /** Whether each of them came compressed. */
  #waitingCompressed: Queue<boolean> | null = null;
  /** The task draining {@linkcode #waiting}, while it runs. */
  #drain: Promise<void> | null = null;
  #stopped = false;

  /**
   * @param maxMessageBytes Largest message accepted, before and after decompression.
   * @param onMessage Called with each whole message (bytes it may keep) and whether it came compressed.
   * @param onError Called once if a waiting message fails (decompression, or `onMessage` throwing); nothing is delivered after.
   * @param budget The stream's connection's budget for messages received and not taken (message_budget.ts).
   * @param window Where the peer's window is given back ({@linkcode received}); none: the caller does it.
   * @param holdWindow Hold the window back while the call is {@linkcode full} (a streaming
   *   call); otherwise it goes back as bytes are read.
   */
  constructor(
    readonly maxMessageBytes: number,
    readonly onMessage: (msg: Uint8Array, compressed: boolean) => void,
    readonly onError: (err: unknown) => void = (err) => {
      throw err;
    },
    readonly budget?: MessageBudget,
    readonly window?: ReaderWindow,
    readonly holdWindow = false,
  ) {}

  /** Whether the bytes so far end between messages. */
  get atBoundary(): boolean {
    return this.#msg === null && this.#prefixFill === 0;
  }

  /** Whole messages received but not delivered yet (being decompressed, or behind one that is). */
  get backlog(): number {
    return this.#waiting?.length ?? 0;
  }

  /** Settles once every message received so far has been delivered (or failed); null when none waits. */
  get pending(): Promise<void> | null {
    return this.#drain;
  }

  /**
   * Whether the call has enough messages received and not taken (16, or
   * 1 MiB of them) that a streaming call should hold its peer's window back
   * until it takes some. A message still arriving does not count: holding
   * the window would stop it ever completing.
   */
  get full(): boolean {
    return this.#unread >= UNREAD_HIGH_WATER || this.#unreadBytes >= UNREAD_HIGH_WATER_BYTES;
  }

  /**
   * Delivers nothing more: the call is over (what its messages held of the
   * budget, in progress, waiting or not taken, is given back).
   */
  stop(): void {
    this.#stopped = true;
    this.#msg = null;
    this.#unread = 0;
    this.#unreadBytes = 0;
    this.#heldWindow = 0;
    this.#waiting?.clear();
    this.#waitingCompressed?.clear();
    this.#account?.release();
    this.#inflating?.release();
  }

  /**
   * The `n` bytes of DATA just {@linkcode push}ed are read: their window goes
   * back to the peer now, or, for a call that holds it, once the call has
   * taken enough that it is no longer {@linkcode full}.
   */
  received(n: number): void {
    if (this.holdWindow && this.full) this.#heldWindow += n;
    else this.window?.consumed(n);
  }

  /**
   * The call has taken `msg`, a message this reader delivered (decoded it,
   * or handed it to the handler): it stops counting toward the budget and
   * toward {@linkcode full}, and the window held back comes back once the
   * call is no longer full. Once for each message; nothing after
   * {@linkcode stop}.
   */
  taken(msg: Uint8Array): void {
    if (this.#stopped) return;
    this.#unread--;
    this.#unreadBytes -= msg.length + MESSAGE_OVERHEAD_BYTES;
    this.#account?.shrink(msg.length + MESSAGE_OVERHEAD_BYTES);
    if (this.#heldWindow && !this.full) {
      const n = this.#heldWindow;
      this.#heldWindow = 0;
      this.window!.consumed(n);
    }
  }

  /**
   * Feeds bytes (a view valid only during the call).
   * @throws {RpcError} INTERNAL for a compressed message without an encoding this side speaks, RESOURCE_EXHAUSTED for one over the limit or past the connection's budget.
   */
  push(bytes: Uint8Array): void {
    let pos = 0;
    const len = bytes.length;
    // Stopped by a message delivered below (its call ended): nothing more is taken or charged.
    while (pos < len && !this.#stopped) {
      if (this.#msg === null) {
        let flag: number, size: number;
        if (this.#prefixFill === 0 && len - pos >= PREFIX_BYTES) {
          flag = bytes[pos];
          size = ((bytes[pos + 1] << 24) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 8) |
            bytes[pos + 4]) >>> 0;
          pos += PREFIX_BYTES;
        } else {
          const n = Math.min(PREFIX_BYTES - this.#prefixFill, len - pos);
          const p = this.#prefix ??= new Uint8Array(PREFIX_BYTES);
          p.set(bytes.subarray(pos, pos + n), this.#prefixFill);
          this.#prefixFill += n;
          pos += n;
          if (this.#prefixFill < PREFIX_BYTES) return;
          this.#prefixFill = 0;
          flag = p[0];
          size = ((p[1] << 24) | (p[2] << 16) | (p[3] << 8) | p[4]) >>> 0;
        }
        if (flag !== 0) this.#checkCompressed(flag);
        if (size > this.maxMessageBytes) {
          throw new RpcError(
            Status.RESOURCE_EXHAUSTED,
            `received message larger than max (${size} vs. ${this.maxMessageBytes})`,
          );
        }
        // Charged at its prefix, before any copy is made: refused if it would pass the budget.
        const account = this.#account ??= this.budget?.account() ?? null;
        if (len - pos >= size) {
          account?.grow(size + MESSAGE_OVERHEAD_BYTES);
          this.#whole(pool.copy(bytes, pos, size), flag !== 0);
          pos += size;
          continue;
        }
        account?.grow(MESSAGE_OVERHEAD_BYTES);
        this.#msg = new PartialMessage(size, flag !== 0, account);
      }
      const msg = this.#msg;
      pos += msg.add(bytes, pos, len);
      if (msg.done) {
        this.#msg = null;
        this.#whole(msg.bytes, msg.compressed);
      }
    }
  }

  #checkCompressed(flag: number): void {
    if (flag !== 1) {
      throw new RpcError(Status.INTERNAL, `invalid compressed flag ${flag} in a message prefix`);
    }
    if (this.encoding === "gzip") return;
    throw new RpcError(
      Status.INTERNAL,
      this.encoding === "identity"
        ? "a compressed message arrived without a grpc-encoding this side offered"
        : `a message arrived compressed with "${this.encoding}", which this side does not decompress (only gzip)`,
    );
  }

  #whole(msg: Uint8Array, compressed: boolean): void {
    if (this.#stopped) return;
    this.#unread++;
    this.#unreadBytes += msg.length + MESSAGE_OVERHEAD_BYTES;
    // The identity path: delivered now, no promise involved.
    if (!compressed && this.#drain === null) return this.onMessage(msg, false);
    (this.#waiting ??= new Queue()).push(msg);
    (this.#waitingCompressed ??= new Queue()).push(compressed);
    this.#drain ??= this.#drainWaiting();
  }

  /** Decompresses and delivers the waiting messages in order, until none is left. */
  async #drainWaiting(): Promise<void> {
    const waiting = this.#waiting!;
    const compressedFlags = this.#waitingCompressed!;
    try {
      // A task of its own: push() has returned before the first message is looked at.
      await null;
      while (!this.#stopped && waiting.length) {
        // Left in the queue while it is decompressed: the backlog counts it.
        const msg = waiting.first()!;
        const compressed = compressedFlags.first()!;
        const body = compressed ? await this.#inflate(msg) : msg;
        if (!body || this.#stopped) break;
        waiting.shift();
        compressedFlags.shift();
        // Counted by what it came to, from here on.
        this.#unreadBytes += body.length - msg.length;
        this.onMessage(body, compressed);
      }
    } catch (err) {
      if (!this.#stopped) {
        this.stop();
        this.onError(err);
      }
    } finally {
      this.#drain = null;
    }
  }

  /**
   * Decompresses `msg` with an account of its own, which takes over what the
   * message holds (its compressed size and its overhead) and is charged its
   * output as it comes: refused once the budget is full with what other
   * messages hold (this stream's others too), so one message alone may still
   * reach `maxMessageBytes`. A refusal gives its bytes back at once
   * (`gunzip`), so that two streams decompressing at once do not both fail.
   * Once whole, the message goes back to the stream's account, counted by
   * what it came to.
   */
  async #inflate(msg: Uint8Array): Promise<Uint8Array | null> {
    const own = this.#account;
    let account: BudgetAccount | null = null;
    if (own) {
      account = this.#inflating = own.budget.account();
      own.moveTo(account, msg.length + MESSAGE_OVERHEAD_BYTES);
    }
    let body: Uint8Array;
    try {
      body = await gunzip(msg, this.maxMessageBytes, account);
    } finally {
      this.#inflating = null;
    }
    if (this.#stopped) {
      // stop() released it meanwhile, and the output that came after.
      account?.release();
      return null;
    }
    if (account) {
      account.shrink(msg.length);
      account.moveTo(own!, account.held);
    }
    // A small message's own buffer would cost more than the message.
    return body.length <= POOLED ? pool.copy(body, 0, body.length) : body;
  }
}
