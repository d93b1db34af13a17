/**
 * A per-connection budget of the bytes held by gRPC messages still
 * arriving (partial_message.ts) or received and not yet read by their calls
 * (message_reader.ts). One stream's message in progress holds at
 * most about `maxMessageBytes`; but a peer can open every stream the
 * connection allows (128 by default) and leave a large message unfinished
 * on each, or send a whole one and never end a unary request, or queue
 * messages for a handler that does not read (a streaming call holds its
 * peer's window back then, but the window already granted lets up to 4 MiB
 * more in per stream). So all the streams of one HTTP/2 connection share
 * one budget, `maxPartialMessageBytes`, charged with each message's declared
 * size, plus what a message costs besides its bytes
 * (`MESSAGE_OVERHEAD_BYTES`), at its prefix and held until its call takes
 * it: a message that would take the total past it, while other
 * streams hold some, fails with RESOURCE_EXHAUSTED
 * (the server answers with that status; the client fails its call and
 * resets the stream with CANCEL). A stream alone may always grow its
 * message up to `maxMessageBytes`: one large message is never refused, and
 * a message admitted is never refused part-way.
 * Bytes go back when the call takes its message, or ends (reset, failed,
 * the connection gone; a client's call when its status arrives, its unread
 * responses still readable). Both roles use it: the server call takes the
 * budget of its stream's connection ({@linkcode MessageBudget.of}), a
 * client's `Channel` makes its own.
 *
 * @module
 */

import { DEFAULT_MAX_PARTIAL_MESSAGE_BYTES } from "../constants.ts";
import { RpcError, Status } from "./status.ts";

/** The option that sets the budget, as errors name it. */
const OPTION = "maxPartialMessageBytes";

/**
 * Checks a `maxPartialMessageBytes` value (undefined: the default).
 *
 * @throws {RangeError} Unless it is a positive integer.
 */
export function checkPartialBudget(max: number | undefined): number {
  const value = max ?? DEFAULT_MAX_PARTIAL_MESSAGE_BYTES;
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(
      `${OPTION} must be a positive integer of bytes, not ${max}: leave it out for the default ` +
        `(${DEFAULT_MAX_PARTIAL_MESSAGE_BYTES})`,
    );
  }
  return value;
}

/** The budgets of server connections, made as their first call needs one. */
const ofConnection = new WeakMap<object, MessageBudget>();

/** The bytes held by the messages received and not yet taken on one connection's streams. */
export class MessageBudget {
  /** Bytes held now, all streams together. */
  #held = 0;
  /** The most bytes the streams may hold together (one stream alone may hold more). */
  readonly maxBytes: number;

  /**
   * @param maxBytes `maxPartialMessageBytes`; undefined: the default.
   * @throws {RangeError} Unless it is a positive integer.
   */
  constructor(maxBytes?: number) {
    this.maxBytes = checkPartialBudget(maxBytes);
  }

  /** The budget of `conn` (one per connection, made on first use with `maxBytes`). */
  static of(conn: object, maxBytes?: number): MessageBudget {
    let budget = ofConnection.get(conn);
    if (!budget) ofConnection.set(conn, budget = new MessageBudget(maxBytes));
    return budget;
  }

  /** Bytes held now by all the streams' messages, in progress or not yet taken. */
  get held(): number {
    return this.#held;
  }

  /** A stream's account, charged as its messages grow. */
  account(): BudgetAccount {
    return new BudgetAccount(this);
  }

  /** @internal */
  charge(account: BudgetAccount, n: number): void {
    const total = this.#held + n;
    if (total > this.maxBytes && this.#held > account.held) {
      throw new RpcError(
        Status.RESOURCE_EXHAUSTED,
        `messages still arriving, or received and not yet read, on this connection hold ${
          this.#held - account.held
        } bytes besides this stream's ${account.held + n}: more than ${OPTION} ` +
          `(${this.maxBytes} bytes) together. A call that does not read its stream keeps what ` +
          `it was sent: read it, or raise the receiving side's ${OPTION} option (serve() or ` +
          `serveInProcess() in a plugin, launch() or attach() in a host) to receive more at once`,
      );
    }
    this.#held = total;
  }

  /** @internal */
  refund(n: number): void {
    this.#held -= n;
  }
}

/**
 * What one stream's messages (in progress, or received and not yet taken)
 * hold of its connection's {@linkcode MessageBudget}.
 */
export class BudgetAccount {
  /** Bytes this stream holds. */
  held = 0;

  /** @param budget The connection's budget. */
  constructor(readonly budget: MessageBudget) {}

  /**
   * Takes `n` more bytes, before they are allocated.
   * @throws {RpcError} RESOURCE_EXHAUSTED when that would pass the budget while other streams hold some.
   */
  grow(n: number): void {
    this.budget.charge(this, n);
    this.held += n;
  }

  /** Gives back `n` bytes (memory let go). */
  shrink(n: number): void {
    this.held -= n;
    this.budget.refund(n);
  }

  /**
   * Hands `n` of the bytes it holds to `other`, an account of the same
   * budget: the total is unchanged, so nothing is checked.
   */
  moveTo(other: BudgetAccount, n: number): void {
    this.held -= n;
    other.held += n;
  }

  /** Gives back all it holds: the message is taken, or its call over. */
  release(): void {
    if (this.held === 0) return;
    this.budget.refund(this.held);
    this.held = 0;
  }
}
