/**
 * What every engine does the same way around a handler: decoding requests,
 * encoding responses, and turning a thrown error into a gRPC status.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { MethodDefinition } from "./service.ts";
import { RpcError, Status, type StatusCode } from "./status.ts";
import { GRPC_STATUS_DETAILS, metadataFields } from "./metadata.ts";

/** A method with its message types erased. */
export type AnyMethod = MethodDefinition<unknown, unknown>;

/** A gRPC status: code, message, and the trailers a thrown {@linkcode RpcError} adds. */
export interface CallStatus {
  /** The status code. */
  code: StatusCode;
  /** The status message. */
  details: string;
  /** Trailer fields (wire form): the error's metadata, then its `grpc-status-details-bin`. */
  trailers?: [string, string][];
}

/**
 * The status a thrown error answers with: an {@linkcode RpcError}'s own
 * (with its metadata and details as trailers), else UNKNOWN with the error's
 * message, logged at ERROR with the method and the stack, as it is a
 * handler bug.
 */
export function statusOf(err: unknown, path: string, log: Logger): CallStatus {
  if (err instanceof RpcError) {
    const { code, message, metadata, details } = err;
    let trailers: [string, string][] | undefined;
    for (const _ in metadata) {
      trailers = metadataFields(metadata);
      break;
    }
    if (details) {
      (trailers ??= []).push([GRPC_STATUS_DETAILS, details.toBase64({ omitPadding: true })]);
    }
    return trailers ? { code, details: message, trailers } : { code, details: message };
  }
  let details: string;
  let stack: string | undefined;
  try {
    details = err instanceof Error ? String(err.message) : String(err);
    stack = err instanceof Error && typeof err.stack === "string" ? err.stack : undefined;
  } catch {
    details = "the handler failed with a value that has no text";
  }
  log.error("handler failed", { method: path, error: details, stack });
  return { code: Status.UNKNOWN, details };
}

/** Encodes a handler's response; a wrong shape answers INTERNAL. */
export function encodeResponse(m: AnyMethod, value: unknown): Uint8Array {
  try {
    return m.response.encode(value);
  } catch (err) {
    throw new RpcError(
      Status.INTERNAL,
      `The handler of ${m.path} returned a value that is not a valid response message: ${
        (err as Error).message
      }`,
    );
  }
}

/** Decodes a request; bytes that are no valid message answer INVALID_ARGUMENT. */
export function decodeRequest(m: AnyMethod, bytes: Uint8Array): unknown {
  try {
    return m.request.decode(bytes);
  } catch (err) {
    throw new RpcError(
      Status.INVALID_ARGUMENT,
      `The request to ${m.path} is not a valid message: ${(err as Error).message}`,
    );
  }
}

/** A handler set response headers after they went out (same text on every engine). */
export function headersSentError(path: string): TypeError {
  return new TypeError(
    `The response headers of ${path} are already sent (they go out with the first ` +
      `response message, or when the call ends): call setHeaders before that`,
  );
}

/** A handler set trailers after the call ended. */
export function callEndedError(path: string): TypeError {
  return new TypeError(`${path} has already ended: its trailers went out with the status`);
}

/** A handler asked for gzip after the response headers went out without it. */
export function gzipTooLateError(path: string): TypeError {
  return new TypeError(
    `The response headers of ${path} went out without gzip: ` +
      `call setResponseCompression("gzip") before the first response message`,
  );
}

/** A handler named a response compression that does not exist. */
export function unknownCompressionError(encoding: unknown): TypeError {
  return new TypeError(
    `Unknown response compression ${JSON.stringify(encoding)}: use "gzip" or "identity"`,
  );
}

/**
 * A call's deadline on both clocks: the wall clock for `CallContext.deadline`,
 * the monotonic one for `timeRemaining()`.
 */
export class CallDeadline {
  /** When it passes, epoch ms; Infinity without a deadline. */
  readonly #epochMs: number;
  /** When it passes, `performance.now()` time. */
  readonly #at: number;

  /**
   * @param ms Time left from now, in milliseconds; Infinity for none.
   * @param now `performance.now()` as the caller just read it.
   */
  constructor(ms: number, now?: number) {
    this.#epochMs = ms === Infinity ? Infinity : Date.now() + ms;
    this.#at = ms === Infinity ? Infinity : (now ?? performance.now()) + ms;
  }

  /** The deadline, or undefined without one. */
  get date(): Date | undefined {
    return this.#epochMs === Infinity ? undefined : new Date(this.#epochMs);
  }

  /** Milliseconds left (0 once passed), Infinity without a deadline. */
  remaining(): number {
    return this.#at === Infinity ? Infinity : Math.max(0, this.#at - performance.now());
  }
  /**
   * Whether a cancellation now is the deadline's: the deadline is at most
   * {@linkcode DEADLINE_SLACK_MS} away. A client whose deadline passes
   * resets the stream (grpc-go does), and that arrives before our own timer
   * for its grpc-timeout fires: the client measured the timeout before it
   * wrote the headers, we measure it from when we read them, so our
   * deadline is late by that lag (under a loaded machine, grpc-go's host to
   * our plugin: 5 to 20 ms measured).
   */
  passed(): boolean {
    return this.remaining() <= DEADLINE_SLACK_MS;
  }
}

/** How close to the deadline a client's reset counts as the deadline passing (ms). */
export const DEADLINE_SLACK_MS = 50;

/** The deadline of a call without one. */
export const NO_DEADLINE: CallDeadline = new CallDeadline(Infinity);
