/**
 * The `google.rpc.Status` message that `grpc-status-details-bin` carries
 * (google/rpc/status.proto): a code, a message and any number of details,
 * each a `google.protobuf.Any`. Written with our protobuf wire code, so that
 * no generated code or descriptor is needed to send or read details.
 *
 * @module
 */

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** A `google.protobuf.Any`: a message's type URL and its serialized bytes. */
export interface AnyMessage {
  /** E.g. `type.googleapis.com/google.rpc.ErrorInfo`. */
  typeUrl: string;
  /** The serialized message. */
  value: Uint8Array;
}

/** A `google.rpc.Status`: what `status.FromError(err)` gives a grpc-go client. */
export interface StatusDetails {
  /** The status code (should be the call's). */
  code: number;
  /** The developer-facing message (should be the call's). */
  message: string;
  /** The details, e.g. `google.rpc.ErrorInfo`, `google.rpc.BadRequest`. */
  details: AnyMessage[];
}

/**
 * Serializes a `google.rpc.Status`, for `RpcErrorOptions.details`.
 *
 * @example
 * ```ts
 * import { decodeStatusDetails, encodeStatusDetails, Status } from "@rpcplugin/rpcplugin";
 * const bytes = encodeStatusDetails({
 *   code: Status.INVALID_ARGUMENT,
 *   message: "bad key",
 *   details: [{ typeUrl: "type.googleapis.com/google.rpc.BadRequest", value: new Uint8Array() }],
 * });
 * console.assert(decodeStatusDetails(bytes).details[0].typeUrl.endsWith("BadRequest"));
 * ```
 *
 * @param status Code, message and details.
 * @returns The message's bytes.
 */
export function encodeStatusDetails(status: StatusDetails): Uint8Array {
  const w = new BinaryWriter();
  if (status.code) w.tag(1, WireType.Varint).int32(status.code);
  if (status.message) w.tag(2, WireType.LengthDelimited).string(status.message);
  for (const any of status.details) {
    w.tag(3, WireType.LengthDelimited).fork();
    if (any.typeUrl) w.tag(1, WireType.LengthDelimited).string(any.typeUrl);
    if (any.value.length) w.tag(2, WireType.LengthDelimited).bytes(any.value);
    w.join();
  }
  return w.finish();
}

/**
 * Parses a `google.rpc.Status`, e.g. `RpcError.details` of a
 * failed call. Unknown fields are skipped.
 *
 * @example
 * ```ts
 * import { decodeStatusDetails, RpcError } from "@rpcplugin/rpcplugin";
 * function reasons(err: RpcError): string[] {
 *   return err.details ? decodeStatusDetails(err.details).details.map((d) => d.typeUrl) : [];
 * }
 * ```
 *
 * @param bytes The serialized message.
 * @returns Code, message and details.
 * @throws {RangeError} or {Error} for bytes that are not a valid message.
 */
export function decodeStatusDetails(bytes: Uint8Array): StatusDetails {
  const r = new BinaryReader(bytes);
  const out: StatusDetails = { code: 0, message: "", details: [] };
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === WireType.Varint) out.code = r.int32();
    else if (field === 2 && type === WireType.LengthDelimited) out.message = r.string();
    else if (field === 3 && type === WireType.LengthDelimited) {
      out.details.push(decodeAny(r.bytes()));
    } else r.skip(type);
  }
  return out;
}

function decodeAny(bytes: Uint8Array): AnyMessage {
  const r = new BinaryReader(bytes);
  const out: AnyMessage = { typeUrl: "", value: new Uint8Array() };
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === WireType.LengthDelimited) out.typeUrl = r.string();
    else if (field === 2 && type === WireType.LengthDelimited) out.value = r.bytes();
    else r.skip(type);
  }
  return out;
}
