/**
 * `google.rpc.ErrorInfo` (google/rpc/error_details.proto) for the status
 * details tests: reason (1), domain (2), metadata (3, map<string, string>).
 *
 * @module
 */

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** The type URL grpc-go gives an ErrorInfo in a status's details. */
export const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";

/** A google.rpc.ErrorInfo. */
export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/** Serializes an ErrorInfo. */
export function encodeErrorInfo(info: ErrorInfo): Uint8Array {
  const w = new BinaryWriter();
  if (info.reason) w.tag(1, WireType.LengthDelimited).string(info.reason);
  if (info.domain) w.tag(2, WireType.LengthDelimited).string(info.domain);
  for (const [k, v] of Object.entries(info.metadata)) {
    w.tag(3, WireType.LengthDelimited).fork()
      .tag(1, WireType.LengthDelimited).string(k)
      .tag(2, WireType.LengthDelimited).string(v)
      .join();
  }
  return w.finish();
}

/** Parses an ErrorInfo. */
export function decodeErrorInfo(bytes: Uint8Array): ErrorInfo {
  const r = new BinaryReader(bytes);
  const out: ErrorInfo = { reason: "", domain: "", metadata: {} };
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1) out.reason = r.string();
    else if (field === 2) out.domain = r.string();
    else if (field === 3) {
      const e = new BinaryReader(r.bytes());
      let k = "", v = "";
      while (e.pos < e.len) {
        const [f, t] = e.tag();
        if (f === 1) k = e.string();
        else if (f === 2) v = e.string();
        else e.skip(t);
      }
      out.metadata[k] = v;
    } else r.skip(type);
  }
  return out;
}
