/**
 * Metadata on the wire (the gRPC "PROTOCOL-HTTP2" spec): which header names
 * are transport and never metadata, lower-cased names, and `-bin` values as
 * base64. Both roles, and the trailers of an `RpcError`, go through here.
 *
 * @module
 */

/** Header naming the encoding of a call's compressed messages, one per direction. */
export const GRPC_ENCODING = "grpc-encoding";

/** Header listing the message encodings its sender can decompress. */
export const GRPC_ACCEPT_ENCODING = "grpc-accept-encoding";

/**
 * Trailer carrying a status's details: a serialized `google.rpc.Status`,
 * base64 (unpadded when we send it).
 */
export const GRPC_STATUS_DETAILS = "grpc-status-details-bin";

/** Headers that are transport, not metadata: left out of a call's metadata. */
export const TRANSPORT_HEADERS: ReadonlySet<string> = new Set([
  "te",
  "content-type",
  "grpc-timeout",
  GRPC_ENCODING,
  GRPC_ACCEPT_ENCODING,
  "grpc-status",
  "grpc-message",
  GRPC_STATUS_DETAILS,
]);

/**
 * Metadata of a call: lower-case names, each with its values. Values of
 * `-bin` names are bytes, others are text.
 */
export type Metadata = Record<string, (string | Uint8Array)[]>;

/** Metadata as a caller may give it: one value or several per name. */
export type MetadataInit = Record<
  string,
  string | Uint8Array | readonly (string | Uint8Array)[]
>;

/** A metadata name (the gRPC spec's Header-Name, lower case). */
const METADATA_NAME = /^[0-9a-z_.-]+$/;
/** A text metadata value: printable ASCII (the spec's ASCII-Value). */
const METADATA_TEXT = /^[\x20-\x7e]*$/;

/** Header fields for outgoing metadata: `-bin` values base64-encoded. */
export function metadataFields(md: MetadataInit | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (!md) return out;
  for (const [rawName, value] of Object.entries(md)) {
    const name = rawName.toLowerCase();
    if (name[0] === ":" || TRANSPORT_HEADERS.has(name)) {
      throw new TypeError(
        `Metadata key "${rawName}" is reserved by gRPC: choose another name`,
      );
    }
    if (!METADATA_NAME.test(name)) {
      throw new TypeError(
        `Metadata key "${rawName}" is not a valid gRPC metadata name: use only a-z, 0-9, "-", "_" and "."`,
      );
    }
    const bin = name.endsWith("-bin");
    for (const v of Array.isArray(value) ? value : [value as string | Uint8Array]) {
      if (bin) {
        const bytes = typeof v === "string" ? new TextEncoder().encode(v) : v;
        out.push([name, bytes.toBase64({ omitPadding: true })]);
      } else if (typeof v === "string") {
        if (!METADATA_TEXT.test(v)) {
          throw new TypeError(
            `Metadata key "${rawName}" has a value with characters gRPC does not allow in text ` +
              `(only printable ASCII): send it under a "-bin" key as bytes`,
          );
        }
        out.push([name, v]);
      } else {
        throw new TypeError(
          `Metadata key "${rawName}" has a binary value: binary keys must end in "-bin"`,
        );
      }
    }
  }
  return out;
}

/** Metadata from received header fields: pseudo and transport headers left out, `-bin` decoded. */
export function metadataOf(fields: readonly [string, string][]): Metadata {
  const md: Metadata = {};
  for (const [name, value] of fields) {
    if (name[0] === ":" || TRANSPORT_HEADERS.has(name)) continue;
    const v = name.endsWith("-bin") ? decodeBinValue(value) : value;
    if (v === undefined) continue; // not base64: dropped, as grpc-go does
    (md[name] ??= []).push(v);
  }
  return md;
}

/** A `-bin` header value's bytes (base64, padded or not), or undefined if it is not base64. */
export function decodeBinValue(value: string): Uint8Array | undefined {
  try {
    return Uint8Array.fromBase64(value.replace(/=+$/, ""), { lastChunkHandling: "loose" });
  } catch {
    return undefined;
  }
}
