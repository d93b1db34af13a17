/**
 * gRPC status codes and the error a handler throws to choose one.
 *
 * @module
 */

import { type Metadata, metadataFields, type MetadataInit, metadataOf } from "./metadata.ts";

/**
 * gRPC status codes, by name: throw `new RpcError(Status.NOT_FOUND, ...)` in a
 * handler to answer with one; a failed call on the host side carries one in
 * `RpcError.code`.
 *
 * @example
 * ```ts
 * import { Status } from "@rpcplugin/rpcplugin";
 * console.assert(Status.NOT_FOUND === 5);
 * ```
 */
export const Status: {
  /** Not an error: the call succeeded. */
  readonly OK: 0;
  /** The call was cancelled, usually by the caller. */
  readonly CANCELLED: 1;
  /** An unknown error: what a handler's thrown non-`RpcError` becomes. */
  readonly UNKNOWN: 2;
  /** The caller gave an invalid argument, whatever the server's state. */
  readonly INVALID_ARGUMENT: 3;
  /** The deadline passed before the call finished. */
  readonly DEADLINE_EXCEEDED: 4;
  /** A requested entity was not found. */
  readonly NOT_FOUND: 5;
  /** The entity the caller tried to create already exists. */
  readonly ALREADY_EXISTS: 6;
  /** The caller may not do this (it is identified: see UNAUTHENTICATED). */
  readonly PERMISSION_DENIED: 7;
  /** A resource ran out: a quota, a rate limit, a message size. */
  readonly RESOURCE_EXHAUSTED: 8;
  /** The system is not in the state the call needs; retrying will not help until it is. */
  readonly FAILED_PRECONDITION: 9;
  /** The call was aborted, typically by a concurrency conflict; retry at a higher level. */
  readonly ABORTED: 10;
  /** The call went past the valid range (reading past the end, say). */
  readonly OUT_OF_RANGE: 11;
  /** The method is not implemented or not supported by this server. */
  readonly UNIMPLEMENTED: 12;
  /** An invariant broke: a serious error in the server (or a response that did not encode). */
  readonly INTERNAL: 13;
  /** The service is unavailable for now (a transient condition); retrying may help. */
  readonly UNAVAILABLE: 14;
  /** Unrecoverable data loss or corruption. */
  readonly DATA_LOSS: 15;
  /** The caller has no valid credentials. */
  readonly UNAUTHENTICATED: 16;
} = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/** A gRPC status code number. */
export type StatusCode = (typeof Status)[keyof typeof Status];

/** Options of an {@linkcode RpcError}. */
export interface RpcErrorOptions {
  /**
   * Metadata sent in the trailers with the status (the same rules as
   * `CallContext.setTrailers`: lower-cased names, `-bin` names take bytes,
   * `grpc-*` transport names are refused).
   */
  metadata?: MetadataInit;
  /**
   * The status's details: the bytes of a serialized `google.rpc.Status`
   * (see `encodeStatusDetails`), sent as the
   * `grpc-status-details-bin` trailer, where grpc-go's
   * `status.FromError(err).Details()` reads them.
   */
  details?: Uint8Array;
  /** The error that caused this one (`Error.cause`); not sent. */
  cause?: unknown;
}

/**
 * Thrown by a handler to answer with a specific gRPC status, with trailers
 * and details if given; any other thrown error answers `UNKNOWN` with the
 * error's message (and is logged at ERROR with its stack). A client call
 * that fails throws one too, with the trailers the server sent in
 * {@linkcode RpcError.metadata} and its `grpc-status-details-bin` in
 * {@linkcode RpcError.details}.
 *
 * @example Answer NOT_FOUND with a trailer and a google.rpc.ErrorInfo detail
 * ```ts
 * import { encodeStatusDetails, RpcError, Status } from "@rpcplugin/rpcplugin";
 * function get(key: string): never {
 *   const message = `no value for key "${key}"`;
 *   throw new RpcError(Status.NOT_FOUND, message, {
 *     metadata: { "x-key": key },
 *     details: encodeStatusDetails({
 *       code: Status.NOT_FOUND,
 *       message,
 *       // The value: a serialized google.rpc.ErrorInfo (made by your generated code).
 *       details: [{ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: new Uint8Array() }],
 *     }),
 *   });
 * }
 * ```
 */
export class RpcError extends Error {
  /** The status code sent to the caller. */
  readonly code: StatusCode;
  /**
   * The trailers' metadata: lower-case names, `-bin` values as bytes. On a
   * thrown error, what goes out with the status; on one a client call
   * throws, the trailers the server sent (empty when the call failed here,
   * a deadline or a lost connection).
   */
  readonly metadata: Metadata;
  /** The `grpc-status-details-bin` bytes (a serialized `google.rpc.Status`), if any. */
  readonly details: Uint8Array | undefined;
  /**
   * Creates the error.
   *
   * @param code The gRPC status code.
   * @param message The status message sent to the caller.
   * @param options Trailers, details and cause.
   * @throws {TypeError} for metadata `setTrailers` would refuse.
   */
  constructor(code: StatusCode, message: string, options: RpcErrorOptions = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.name = "RpcError";
    this.code = code;
    this.metadata = options.metadata ? metadataOf(metadataFields(options.metadata)) : {};
    this.details = options.details;
  }
}

/**
 * The error of a call a peer failed: its trailers' metadata as it came
 * (already parsed; not checked as metadata we send is).
 *
 * @internal
 */
export function receivedRpcError(
  code: StatusCode,
  message: string,
  metadata: Metadata,
  details: Uint8Array | undefined,
): RpcError {
  const err = new RpcError(code, message, { details });
  (err as { metadata: Metadata }).metadata = metadata;
  return err;
}
