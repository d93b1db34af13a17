/**
 * gRPC status codes and the error a handler throws to choose one.
 *
 * @module
 */

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

/**
 * Thrown by a handler to answer with a specific gRPC status. Any other thrown
 * error answers `UNKNOWN` with the error's message.
 *
 * @example
 * ```ts
 * import { RpcError, Status } from "@rpcplugin/rpcplugin";
 * function get(key: string): never {
 *   throw new RpcError(Status.NOT_FOUND, `no value for key "${key}"`);
 * }
 * ```
 */
export class RpcError extends Error {
  /** The status code sent to the caller. */
  readonly code: StatusCode;
  /**
   * Creates the error.
   *
   * @param code The gRPC status code.
   * @param message The status message sent to the caller.
   */
  constructor(code: StatusCode, message: string) {
    super(message);
    this.name = "RpcError";
    this.code = code;
  }
}
