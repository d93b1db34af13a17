/**
 * The gRPC wire pieces both roles need (the gRPC "PROTOCOL-HTTP2" spec): the
 * content type, length-prefixed messages (identity or gzip), `grpc-timeout`,
 * percent-encoded `grpc-message`, the status trailers, and metadata with
 * `-bin` values. The server call (`server_call.ts`) and the client call
 * (`client_call.ts`) are built on these; nothing here knows which side it is
 * on.
 *
 * @module
 */

import { BytePool } from "../_pool.ts";
import { ConstantHeaders, encodeHeaders } from "../h2/hpack.ts";
import { RpcError, Status, type StatusCode } from "./status.ts";
import { GRPC_ACCEPT_ENCODING } from "./metadata.ts";
import type { BudgetAccount } from "./message_budget.ts";

export {
  GRPC_ACCEPT_ENCODING,
  GRPC_ENCODING,
  GRPC_STATUS_DETAILS,
  type Metadata,
  metadataFields,
  type MetadataInit,
  metadataOf,
  TRANSPORT_HEADERS,
} from "./metadata.ts";

/** The content type of every gRPC request and response. */
export const GRPC_CONTENT_TYPE = "application/grpc";

/** Length of a message's prefix: a compressed flag and a 32-bit size. */
export const PREFIX_BYTES = 5;

/** The message encodings spoken here: none, and gzip (`CompressionStream`). */
export type Compression = "identity" | "gzip";

/** What both roles send as {@linkcode GRPC_ACCEPT_ENCODING}. */
export const ACCEPTED_ENCODINGS = "identity,gzip";

/** Whether a {@linkcode GRPC_ACCEPT_ENCODING} value (a comma-separated list) names gzip. */
export function acceptsGzip(value: string | undefined): boolean {
  if (!value) return false;
  for (const name of value.split(",")) {
    if (name.trim().toLowerCase() === "gzip") return true;
  }
  return false;
}

/** The fields that open every gRPC response (and a trailers-only one). */
export const RESPONSE_FIELDS: readonly [string, string][] = [
  [":status", "200"],
  ["content-type", GRPC_CONTENT_TYPE],
];

/** The fields of a server's response headers: {@linkcode RESPONSE_FIELDS}, and that we take gzip. */
export const RESPONSE_HEADERS: readonly [string, string][] = [
  ...RESPONSE_FIELDS,
  [GRPC_ACCEPT_ENCODING, ACCEPTED_ENCODINGS],
];

/** {@linkcode RESPONSE_HEADERS} as most responses send them: indexed on each connection. */
export const RESPONSE_HEADERS_BLOCK: ConstantHeaders = new ConstantHeaders(RESPONSE_HEADERS);

/** The trailers of a call that succeeded without trailers of its own: indexed on each connection. */
export const OK_TRAILERS: ConstantHeaders = new ConstantHeaders([["grpc-status", "0"]]);

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/** Prefixes are carved out of shared buffers: a buffer of its own per prefix costs more than the prefix. */
const pool = new BytePool(8 << 10, 256);

/**
 * The 5-byte prefix of a message of `n` bytes (on the wire: compressed ones
 * count their compressed bytes): a view the caller owns, into a larger
 * shared buffer.
 */
export function messagePrefix(n: number, compressed = false): Uint8Array {
  const out = pool.take(PREFIX_BYTES);
  if (compressed) out[0] = 1;
  out[1] = n >>> 24;
  out[2] = (n >>> 16) & 0xff;
  out[3] = (n >>> 8) & 0xff;
  out[4] = n & 0xff;
  return out;
}

/** grpc-message: percent-encoded UTF-8 (spec: "Percent-Encoded"), at most 4096 characters. */
export function percentEncode(text: string): string {
  const bytes = new TextEncoder().encode(text.length > 4096 ? text.slice(0, 4096) : text);
  let out = "";
  for (const b of bytes) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25
      ? String.fromCharCode(b)
      : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * Decodes a percent-encoded grpc-message; a malformed escape is kept as it
 * is, as the spec asks. The text is a header value as HPACK decodes it, one
 * character per octet: unescaped octets above 0x7F (a server that sent raw
 * UTF-8) are UTF-8 too.
 */
export function percentDecode(text: string): string {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(text) && !text.includes("%")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c <= 0xff) {
      bytes.push(c);
    } else {
      // Not from the wire (a string made in JS): its UTF-8, whole code point.
      const cp = text.codePointAt(i)!;
      bytes.push(...new TextEncoder().encode(String.fromCodePoint(cp)));
      if (cp > 0xffff) i++;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Parses a grpc-timeout value into milliseconds, or undefined. */
export function parseTimeout(value: string | undefined): number | undefined {
  // The spec: 1 to 8 ASCII digits, then the unit (read by hand: once per call).
  if (!value || value.length < 2 || value.length > 9) return undefined;
  const last = value.length - 1;
  const unit = TIMEOUT_UNIT_MS[value[last]];
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < last; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * unit;
}

/** Formats a timeout in milliseconds as a grpc-timeout value (at most 8 digits). */
export function formatTimeout(ms: number): string {
  if (!(ms > 0)) return "0m"; // also NaN
  // The smallest unit whose rounded-up count fits in 8 digits.
  for (const [unit, size] of [["m", 1], ["S", 1000], ["M", 60_000]] as const) {
    const n = Math.ceil(ms / size);
    if (n < 1e8) return `${n}${unit}`;
  }
  return `${Math.min(99_999_999, Math.ceil(ms / 3_600_000))}H`;
}

/** The header block that ends a call: `grpc-status`, `grpc-message` and `extra` fields. */
export function statusBlock(
  code: StatusCode,
  message: string,
  trailersOnly: boolean,
  extra: readonly [string, string][] = [],
): Uint8Array {
  const fields: [string, string][] = trailersOnly ? [...RESPONSE_FIELDS] : [];
  fields.push(["grpc-status", String(code)]);
  if (message) fields.push(["grpc-message", percentEncode(message)]);
  return encodeHeaders([...fields, ...extra]);
}

const ignore = () => {};

/**
 * Input handed to the decompressor at a time. Deflate expands at most about
 * 1032 times, and a decompression stream turns each write into one output
 * chunk, so a piece this size can never produce much more than the limit,
 * nor more than about 4 MiB past what the budget has admitted: the byte
 * counter stops a zip bomb before it is in memory. (4 KiB pieces are no
 * slower than larger ones: a 4 MiB text message inflates in 5.8 ms against
 * 14 ms as one 64 KiB write, on Deno 2.9.6.)
 */
function gunzipPiece(maxBytes: number): number {
  return Math.min(4 << 10, Math.max(1 << 10, maxBytes >>> 10));
}

function joined(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Compresses one message body with gzip (`CompressionStream`). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new CompressionStream("gzip");
  const writer = stream.writable.getWriter();
  // Never a SharedArrayBuffer here: message bodies are our own copies.
  writer.write(bytes as Uint8Array<ArrayBuffer>).catch(ignore);
  writer.close().catch(ignore);
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return joined(chunks, total);
    chunks.push(value);
    total += value.length;
  }
}

/**
 * Decompresses one gzip message body (`DecompressionStream`), stopping as
 * soon as the output passes `maxBytes`: the input goes in small pieces, one
 * per read, and the output is counted as it comes. With `account`, each piece
 * of output is charged to it (the connection's budget) as it comes; the
 * caller releases it once done with the message, and a failure releases it
 * at once, before the error reaches the caller (what it held must not count
 * against other streams' decompressions meanwhile).
 *
 * @throws {RpcError} RESOURCE_EXHAUSTED past `maxBytes` or the budget, INTERNAL for bytes that are not gzip.
 */
export async function gunzip(
  bytes: Uint8Array,
  maxBytes: number,
  account: BudgetAccount | null = null,
): Promise<Uint8Array> {
  const stream = new DecompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const piece = gunzipPiece(maxBytes);
  // Queued views, no copies: the stream transforms the next one when the
  // output so far has been read.
  for (let at = 0; at < bytes.length; at += piece) {
    writer.write(bytes.subarray(at, at + piece) as Uint8Array<ArrayBuffer>).catch(ignore);
  }
  writer.close().catch(ignore);
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch (err) {
      account?.release();
      throw new RpcError(
        Status.INTERNAL,
        `a gzip-compressed message could not be decompressed: ${(err as Error)?.message ?? err}`,
      );
    }
    if (next.done) return joined(chunks, total);
    total += next.value.length;
    if (total > maxBytes) {
      reader.cancel().catch(ignore);
      account?.release();
      throw new RpcError(
        Status.RESOURCE_EXHAUSTED,
        `received message decompresses to more than max (${maxBytes} bytes)`,
      );
    }
    try {
      account?.grow(next.value.length);
    } catch (err) {
      reader.cancel().catch(ignore);
      account!.release();
      throw err;
    }
    chunks.push(next.value);
  }
}

/** The gRPC status for an HTTP status that is not 200 (the spec's mapping). */
export function statusOfHttp(httpStatus: string): StatusCode {
  switch (httpStatus) {
    case "400":
      return Status.INTERNAL;
    case "401":
      return Status.UNAUTHENTICATED;
    case "403":
      return Status.PERMISSION_DENIED;
    case "404":
      return Status.UNIMPLEMENTED;
    case "429":
    case "502":
    case "503":
    case "504":
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}
