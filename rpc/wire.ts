/**
 * The gRPC wire pieces both roles need (the gRPC "PROTOCOL-HTTP2" spec): the
 * content type, length-prefixed messages, `grpc-timeout`, percent-encoded
 * `grpc-message`, the status trailers, and metadata with `-bin` values. The
 * server call (`server_call.ts`) and the client call (`client_call.ts`) are
 * built on these; nothing here knows which side it is on.
 *
 * @module
 */

import { encodeHeaders } from "../h2/hpack.ts";
import { RpcError, Status, type StatusCode } from "./status.ts";

/** The content type of every gRPC request and response. */
export const GRPC_CONTENT_TYPE = "application/grpc";

/** Length of a message's prefix: a compressed flag and a 32-bit size. */
export const PREFIX_BYTES = 5;

/** The fields that open every gRPC response (and a trailers-only one). */
export const RESPONSE_FIELDS: readonly [string, string][] = [
  [":status", "200"],
  ["content-type", GRPC_CONTENT_TYPE],
];

/** Headers that are transport, not metadata: left out of a call's metadata. */
export const TRANSPORT_HEADERS: ReadonlySet<string> = new Set([
  "te",
  "content-type",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
]);

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/** The 5-byte prefix of an uncompressed message of `n` bytes. */
export function messagePrefix(n: number): Uint8Array {
  const out = new Uint8Array(PREFIX_BYTES);
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
  // The spec: 1 to 8 ASCII digits, then the unit.
  if (!value || !/^\d{1,8}[HMSmun]$/.test(value)) return undefined;
  return Number(value.slice(0, -1)) * TIMEOUT_UNIT_MS[value[value.length - 1]];
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
    const bin = name.endsWith("-bin");
    for (const v of Array.isArray(value) ? value : [value as string | Uint8Array]) {
      if (bin) {
        const bytes = typeof v === "string" ? new TextEncoder().encode(v) : v;
        out.push([name, bytes.toBase64({ omitPadding: true })]);
      } else if (typeof v === "string") {
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
    let v: string | Uint8Array = value;
    if (name.endsWith("-bin")) {
      try {
        v = Uint8Array.fromBase64(value.replace(/=+$/, ""), { lastChunkHandling: "loose" });
      } catch {
        continue; // not base64: dropped, as grpc-go does
      }
    }
    (md[name] ??= []).push(v);
  }
  return md;
}

/**
 * Splits a byte stream into gRPC messages: handles prefixes and messages cut
 * across reads, refuses compressed messages (no encoding is offered) and
 * messages over the limit.
 */
export class MessageReader {
  #prefix = new Uint8Array(PREFIX_BYTES);
  #prefixFill = 0;
  #msg: Uint8Array | null = null;
  #msgFill = 0;

  /**
   * @param maxMessageBytes Largest message accepted.
   * @param onMessage Called with each whole message (bytes it may keep).
   */
  constructor(
    readonly maxMessageBytes: number,
    readonly onMessage: (msg: Uint8Array) => void,
  ) {}

  /** Whether the bytes so far end between messages. */
  get atBoundary(): boolean {
    return this.#msg === null && this.#prefixFill === 0;
  }

  /**
   * Feeds bytes (a view valid only during the call).
   * @throws {RpcError} INTERNAL for a compressed message, RESOURCE_EXHAUSTED for one over the limit.
   */
  push(bytes: Uint8Array): void {
    let pos = 0;
    const len = bytes.length;
    while (pos < len) {
      if (this.#msg === null) {
        let flag: number, size: number;
        if (this.#prefixFill === 0 && len - pos >= PREFIX_BYTES) {
          flag = bytes[pos];
          size = ((bytes[pos + 1] << 24) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 8) |
            bytes[pos + 4]) >>> 0;
          pos += PREFIX_BYTES;
        } else {
          const n = Math.min(PREFIX_BYTES - this.#prefixFill, len - pos);
          this.#prefix.set(bytes.subarray(pos, pos + n), this.#prefixFill);
          this.#prefixFill += n;
          pos += n;
          if (this.#prefixFill < PREFIX_BYTES) return;
          this.#prefixFill = 0;
          const p = this.#prefix;
          flag = p[0];
          size = ((p[1] << 24) | (p[2] << 16) | (p[3] << 8) | p[4]) >>> 0;
        }
        if (flag !== 0) {
          throw new RpcError(
            Status.INTERNAL,
            "a compressed message arrived without a grpc-encoding this side offered",
          );
        }
        if (size > this.maxMessageBytes) {
          throw new RpcError(
            Status.RESOURCE_EXHAUSTED,
            `received message larger than max (${size} vs. ${this.maxMessageBytes})`,
          );
        }
        if (len - pos >= size) {
          this.onMessage(bytes.slice(pos, pos + size));
          pos += size;
          continue;
        }
        this.#msg = new Uint8Array(size);
        this.#msgFill = 0;
      }
      const msg = this.#msg;
      const n = Math.min(msg.length - this.#msgFill, len - pos);
      msg.set(bytes.subarray(pos, pos + n), this.#msgFill);
      this.#msgFill += n;
      pos += n;
      if (this.#msgFill === msg.length) {
        this.#msg = null;
        this.onMessage(msg);
      }
    }
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
