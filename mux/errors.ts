/**
 * Errors of the yamux session. A stream's `read` and `write` throw the
 * `Deno.errors` a `Deno.Conn` throws (`ConnectionReset`, `BrokenPipe`,
 * `BadResource`), so that code written for sockets handles them unchanged;
 * their `cause` is one of these when the session is why.
 *
 * @module
 */

import { RpcPluginError } from "../errors.ts";

/**
 * Base class of the yamux session's errors.
 *
 * @example Tell a yamux failure from others
 * ```ts
 * import { YamuxError } from "./errors.ts";
 * const err: unknown = new YamuxError("yamux: session closed");
 * if (err instanceof YamuxError) console.error(err.message);
 * ```
 */
export class YamuxError extends RpcPluginError {}

/**
 * The peer broke the yamux protocol (bad version or type, data beyond the
 * window, a duplicate stream, ...), or told us we did (a go-away with code
 * "protocol error" or "internal error"). The session has ended.
 *
 * @example
 * ```ts
 * import { YamuxProtocolError } from "./errors.ts";
 * const err = new YamuxProtocolError("yamux: the peer sent 300000 bytes on stream 3, beyond its window of 262144");
 * console.assert(err.name === "YamuxProtocolError");
 * ```
 */
export class YamuxProtocolError extends YamuxError {}

/**
 * The session is closed (by us, by the peer closing the connection, or
 * after an error), so nothing more can be opened, accepted or pinged.
 *
 * @example
 * ```ts
 * import { YamuxSessionClosedError } from "./errors.ts";
 * console.assert(new YamuxSessionClosedError("yamux: session closed") instanceof Error);
 * ```
 */
export class YamuxSessionClosedError extends YamuxError {}

/**
 * The peer sent a normal go-away: it accepts no new streams. Streams already
 * open go on.
 *
 * @example
 * ```ts
 * import { YamuxGoAwayError } from "./errors.ts";
 * const err = new YamuxGoAwayError("yamux: the peer accepts no new streams (go away)");
 * console.assert(err.name === "YamuxGoAwayError");
 * ```
 */
export class YamuxGoAwayError extends YamuxError {}

/**
 * Something took longer than its limit: a connection write, a ping's
 * answer, the peer's acknowledgement of a stream we opened, or an
 * `accept()` with a timeout.
 *
 * @example
 * ```ts
 * import { YamuxTimeoutError } from "./errors.ts";
 * console.assert(new YamuxTimeoutError("yamux: no ping answer within 10000 ms").message.includes("ping"));
 * ```
 */
export class YamuxTimeoutError extends YamuxError {}

/**
 * Every stream id of our parity is used: open a new session.
 *
 * @example
 * ```ts
 * import { YamuxStreamsExhaustedError } from "./errors.ts";
 * console.assert(new YamuxStreamsExhaustedError("yamux: stream ids exhausted") instanceof Error);
 * ```
 */
export class YamuxStreamsExhaustedError extends YamuxError {}
