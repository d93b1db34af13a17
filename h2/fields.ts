/**
 * Checks of a decoded header list against HTTP/2's rules for messages
 * (RFC 9113 section 8.2 and 8.3): pseudo-header fields, connection-specific
 * fields and `content-length`. A list that breaks one is a malformed
 * message, which the connection answers with a stream error of type
 * PROTOCOL_ERROR (RFC 9113 8.1.1). The characters of names and values
 * (RFC 9113 8.2.1) are checked as they are decoded: `HpackDecoder.malformed`.
 *
 * Leading or trailing SP or HTAB in a value, which RFC 9113 also forbids,
 * is let through: grpc-go sends `grpc-message` and metadata as they are
 * (spaces are not percent-encoded), and x/net/http2 and grpc-go accept such
 * values, so refusing them would break real calls.
 *
 * @module
 */

/** Which header list of a message is checked. */
export type FieldsKind = "request" | "response" | "trailers";

/** What a check found besides errors; one object reused by the caller. */
export interface FieldsInfo {
  /** The `content-length` value, or -1 if there is none. */
  contentLength: number;
  /** Responses: the `:status` code (0 otherwise). */
  status: number;
}

// Pseudo-header fields of a request, as bits (RFC 9113 8.3.1).
const METHOD = 1, SCHEME = 2, AUTHORITY = 4, PATH = 8;

/**
 * The bit of a request pseudo-header field, or 0. (Comparisons, not a
 * lookup: names decoded from literals are new strings, and hashing them
 * costs more than comparing a few lengths.)
 */
function requestPseudo(name: string): number {
  switch (name.length) {
    case 5:
      return name === ":path" ? PATH : 0;
    case 7:
      return name === ":method" ? METHOD : name === ":scheme" ? SCHEME : 0;
    case 10:
      return name === ":authority" ? AUTHORITY : 0;
    default:
      return 0;
  }
}

// What a regular field needs beyond its name's characters.
const PLAIN = 0, CONNECTION_SPECIFIC = 1, TE = 2, CONTENT_LENGTH = 3;

/** Connection-specific fields (RFC 9113 8.2.2), `te` and `content-length`. */
function special(name: string): number {
  switch (name.length) {
    case 2:
      return name === "te" ? TE : PLAIN;
    case 7:
      return name === "upgrade" ? CONNECTION_SPECIFIC : PLAIN;
    case 10:
      return name === "connection" || name === "keep-alive" ? CONNECTION_SPECIFIC : PLAIN;
    case 14:
      return name === "content-length" ? CONTENT_LENGTH : PLAIN;
    case 16:
      return name === "proxy-connection" ? CONNECTION_SPECIFIC : PLAIN;
    case 17:
      return name === "transfer-encoding" ? CONNECTION_SPECIFIC : PLAIN;
    default:
      return PLAIN;
  }
}

/** A three-digit `:status` as a number, or -1. */
function threeDigits(value: string): number {
  let n = 0;
  for (let i = 0; i < 3; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** A `content-length` value: digits only, below 2^53. */
function parseLength(value: string): number {
  if (!/^\d{1,15}$/.test(value)) return -2;
  return Number(value);
}

/**
 * Checks one header list.
 *
 * @param fields The decoded list.
 * @param kind Request headers, response headers (informational ones
 * included), or trailers (of either).
 * @param info Receives `content-length` and `:status`.
 * @returns Why the message is malformed, or `null` if it is not.
 */
export function checkFields(
  fields: readonly (readonly [string, string])[],
  kind: FieldsKind,
  info: FieldsInfo,
): string | null {
  info.contentLength = -1;
  info.status = 0;
  let pseudo = 0;
  let regular = false;
  let method = "";
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const name = field[0], value = field[1];
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header field ${name} after a regular field`;
      if (kind === "trailers") return `pseudo-header field ${name} in trailers`;
      if (kind === "request") {
        const bit = requestPseudo(name);
        if (bit === 0) {
          return name === ":status"
            ? "response pseudo-header field :status in a request"
            : `unknown pseudo-header field ${JSON.stringify(name)}`;
        }
        if (pseudo & bit) return `duplicated pseudo-header field ${name}`;
        pseudo |= bit;
        if (bit === METHOD) method = value;
        else if (bit === PATH && value === "") return "empty :path";
      } else {
        if (name !== ":status") return `pseudo-header field ${JSON.stringify(name)} in a response`;
        if (pseudo) return "duplicated pseudo-header field :status";
        pseudo = 1;
        const status = value.length === 3 ? threeDigits(value) : -1;
        if (status < 0) return `bad :status ${JSON.stringify(value)}`;
        info.status = status;
      }
      continue;
    }
    regular = true;
    const what = special(name);
    if (what === PLAIN) continue;
    if (what === CONNECTION_SPECIFIC) return `connection-specific field ${name}`;
    if (what === TE) {
      if (kind === "request" && value !== "trailers") {
        return `te: ${JSON.stringify(value)} (only "trailers" is allowed)`;
      }
      continue;
    }
    const n = parseLength(value);
    if (n < 0) return `bad content-length ${JSON.stringify(value)}`;
    if (info.contentLength >= 0 && info.contentLength !== n) return "conflicting content-length";
    info.contentLength = n;
  }
  if (kind === "request") {
    if (!(pseudo & METHOD)) return "no :method";
    if (method === "CONNECT") {
      if (!(pseudo & AUTHORITY)) return "CONNECT without :authority";
      if (pseudo & (SCHEME | PATH)) return "CONNECT with :scheme or :path";
    } else if ((pseudo & (SCHEME | PATH)) !== (SCHEME | PATH)) {
      return pseudo & SCHEME ? "no :path" : "no :scheme";
    }
  } else if (kind === "response") {
    if (!pseudo) return "no :status";
    if (info.status === 101) return ":status 101 (HTTP/2 has no Upgrade)";
  }
  return null;
}
