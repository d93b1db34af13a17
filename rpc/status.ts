/**
 * gRPC status codes and the error a handler throws to choose one.
 *
 * @module
 */

import { type Metadata, metadataFields, type MetadataInit, metadataOf } from "./metadata.ts";
/** gRPC status codes. */
export const Status = {
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
} as const;

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
