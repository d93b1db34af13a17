/**
 * HPACK (RFC 7541), the header compression of HTTP/2, for the native gRPC
 * server engine: a full decoder for the client's request headers
 * ({@linkcode HpackDecoder}, one per connection) and a stateless encoder for
 * our responses ({@linkcode encodeHeaders}) that never uses the dynamic
 * table, so the peer's SETTINGS_HEADER_TABLE_SIZE never matters.
 *
 * Header names and values are octets; both directions map them one-to-one
 * to the characters U+0000 to U+00FF (Latin-1), never through UTF-8.
 *
 * @module
 */

import { HpackError, huffmanDecode, latin1 } from "./huffman.ts";

export { HpackError };

/** RFC 7541 Appendix A; index i + 1 is STATIC_TABLE[i]. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_COUNT = STATIC_TABLE.length; // 61
const STATIC_NAMES = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES = STATIC_TABLE.map(([, value]) => value);

/** Largest integer we accept in a header block (RFC 7541 5.1 leaves it to us). */
const MAX_INT = 0x7fffffff;
/** Per-entry overhead in table and header list sizes (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;

// Read position of the block being decoded (decoding is synchronous and
// never re-entered, so the helpers below share it instead of returning pairs).
let pos = 0;

function truncated(): never {
  throw new HpackError("header block is truncated");
}

/** Reads an integer with a `bits`-bit prefix starting at block[pos] (RFC 7541 5.1). */
function readInt(block: Uint8Array, bits: number): number {
  const mask = (1 << bits) - 1;
  let value = block[pos++] & mask;
  if (value < mask) return value;
  // 2^31 - 1 needs at most 5 continuation octets; more is an attack or a bug.
  for (let k = 0, weight = 1; k < 5; k++, weight *= 128) {
    if (pos >= block.length) truncated();
    const b = block[pos++];
    value += (b & 0x7f) * weight;
    if (value > MAX_INT) throw new HpackError(`integer exceeds ${MAX_INT}`);
    if (b < 0x80) return value;
  }
  throw new HpackError("integer has more than 5 continuation octets");
}

/** Reads a string literal starting at block[pos] (RFC 7541 5.2). */
function readString(block: Uint8Array): string {
  if (pos >= block.length) truncated();
  const huffman = block[pos] & 0x80;
  const len = readInt(block, 7);
  const start = pos, end = start + len;
  if (end > block.length) truncated();
  pos = end;
  return huffman ? huffmanDecode(block, start, end) : latin1(block, start, end);
}

/**
 * Decodes the header blocks of one HTTP/2 connection (RFC 7541 section 3).
 * The dynamic table persists from one {@linkcode HpackDecoder.decode} call
 * to the next, so blocks must be decoded in the order they arrive, and after
 * any {@linkcode HpackError} the connection must be closed (the table may be
 * out of step with the peer's).
 *
 * @example
 * ```ts
 * const dec = new HpackDecoder();
 * const headers = dec.decode(new Uint8Array([0x83, 0x86, 0x84]));
 * // [[":method", "POST"], [":scheme", "http"], [":path", "/"]]
 * ```
 */
export class HpackDecoder {
  /** SETTINGS_HEADER_TABLE_SIZE we announced: the most a size update may ask for. */
  readonly #limit: number;
  /** Current maximum table size (changed by dynamic table size updates). */
  #capacity: number;
  /** Sum of the entries' sizes. */
  #size = 0;
  // The dynamic table is a ring: entry i (0 = newest) sits at
  // (#head + i) & (#names.length - 1); the length is a power of two.
  #names: string[] = new Array(16);
  #values: string[] = new Array(16);
  #head = 0;
  #count = 0;

  /**
   * Creates a decoder with an empty dynamic table.
   *
   * @param maxTableSize The SETTINGS_HEADER_TABLE_SIZE announced to the
   * peer, in octets (default 4096, the protocol's initial value).
   */
  constructor(maxTableSize = 4096) {
    if (!(Number.isInteger(maxTableSize) && maxTableSize >= 0 && maxTableSize <= MAX_INT)) {
      throw new RangeError(
        `maxTableSize must be an integer in [0, ${MAX_INT}], got ${maxTableSize}`,
      );
    }
    this.#limit = this.#capacity = maxTableSize;
  }

  /**
   * Decodes one complete header block (the fragments of a HEADERS frame and
   * its CONTINUATION frames, joined).
   *
   * @param block The header block.
   * @param maxHeaderListSize Limit on the decoded list's size: the sum over
   * fields of name length + value length + 32 (RFC 9113
   * SETTINGS_MAX_HEADER_LIST_SIZE). No limit by default.
   * @returns The fields in order, as [name, value] pairs of Latin-1 strings.
   * @throws {HpackError} If the block is malformed or the list is too big.
   */
  decode(block: Uint8Array, maxHeaderListSize = Infinity): [string, string][] {
    const headers: [string, string][] = [];
    const n = block.length;
    let listSize = 0;
    pos = 0;
    while (pos < n) {
      const b = block[pos];
      let name: string, value: string;
      if (b >= 0x80) {
        // Indexed header field (6.1).
        const index = readInt(block, 7);
        if (index === 0) throw new HpackError("indexed header field with index 0");
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1];
          value = STATIC_VALUES[index - 1];
        } else {
          const slot = this.#slot(index);
          name = this.#names[slot];
          value = this.#values[slot];
        }
      } else if (b >= 0x40) {
        // Literal header field with incremental indexing (6.2.1).
        const index = readInt(block, 6);
        name = index === 0 ? readString(block) : this.#name(index);
        value = readString(block);
        this.#insert(name, value);
      } else if (b >= 0x20) {
        // Dynamic table size update (6.3).
        if (headers.length > 0) {
          throw new HpackError("dynamic table size update after the first header field");
        }
        const size = readInt(block, 5);
        if (size > this.#limit) {
          throw new HpackError(
            `dynamic table size update to ${size} exceeds the limit ${this.#limit}`,
          );
        }
        this.#capacity = size;
        this.#evict(0);
        continue;
      } else {
        // Literal header field without indexing (6.2.2, 0000xxxx) or never
        // indexed (6.2.3, 0001xxxx): not added to the dynamic table. (The
        // never-indexed flag only binds intermediaries that re-encode.)
        const index = readInt(block, 4);
        name = index === 0 ? readString(block) : this.#name(index);
        value = readString(block);
      }
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > maxHeaderListSize) {
        throw new HpackError(
          `header list size exceeds the limit ${maxHeaderListSize} octets at field ${
            headers.length + 1
          }`,
        );
      }
      headers.push([name, value]);
    }
    return headers;
  }

  /** Ring slot of the dynamic entry with the given (static + dynamic) index. */
  #slot(index: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.#count) {
      throw new HpackError(
        `header field index ${index} is out of range (static table 1-${STATIC_COUNT}, ` +
          `dynamic table ${this.#count} entries)`,
      );
    }
    return (this.#head + i) & (this.#names.length - 1);
  }

  #name(index: number): string {
    return index <= STATIC_COUNT ? STATIC_NAMES[index - 1] : this.#names[this.#slot(index)];
  }

  /** Evicts the oldest entries until `room` more octets fit (RFC 7541 4.4). */
  #evict(room: number): void {
    const mask = this.#names.length - 1;
    while (this.#count > 0 && this.#size + room > this.#capacity) {
      const slot = (this.#head + --this.#count) & mask;
      this.#size -= this.#names[slot].length + this.#values[slot].length + ENTRY_OVERHEAD;
      this.#names[slot] = this.#values[slot] = "";
    }
  }

  #insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.#evict(size);
    // An entry bigger than the whole table just empties it (RFC 7541 4.4).
    if (size > this.#capacity) return;
    let names = this.#names, values = this.#values;
    if (this.#count === names.length) {
      // Grow the ring, copying the entries in order (newest first) to slot 0.
      const grown = 2 * names.length, mask = names.length - 1;
      const n2: string[] = new Array(grown), v2: string[] = new Array(grown);
      for (let i = 0; i < this.#count; i++) {
        n2[i] = names[(this.#head + i) & mask];
        v2[i] = values[(this.#head + i) & mask];
      }
      this.#names = names = n2;
      this.#values = values = v2;
      this.#head = 0;
    }
    this.#head = (this.#head - 1) & (names.length - 1);
    names[this.#head] = name;
    values[this.#head] = value;
    this.#count++;
    this.#size += size;
  }
}

/** For each static-table name: its first index and the indexes by value. */
const STATIC_BY_NAME = new Map<string, { index: number; byValue: Map<string, number> }>();
for (let i = STATIC_COUNT - 1; i >= 0; i--) {
  // Backwards, so the first index of a name wins.
  const [name, value] = STATIC_TABLE[i];
  let e = STATIC_BY_NAME.get(name);
  if (!e) STATIC_BY_NAME.set(name, e = { index: i + 1, byValue: new Map() });
  e.index = i + 1;
  e.byValue.set(value, i + 1);
}

// Blocks are carved out of a shared pool (allocating an ArrayBuffer per call
// costs far more than encoding a few headers); big ones get their own.
const POOL_SIZE = 16 * 1024;
let pool = new Uint8Array(POOL_SIZE);
let poolUsed = 0;

/** Writes `value` with an N-bit prefix (mask = 2^N - 1) after the `flags` bits. */
function writeInt(buf: Uint8Array, p: number, value: number, mask: number, flags: number): number {
  if (value < mask) {
    buf[p++] = flags | value;
    return p;
  }
  buf[p++] = flags | mask;
  value -= mask;
  while (value >= 0x80) {
    buf[p++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[p++] = value;
  return p;
}

/** Writes a plain (non-Huffman) string literal. */
function writeString(buf: Uint8Array, p: number, s: string): number {
  const n = s.length;
  p = writeInt(buf, p, n, 0x7f, 0);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      throw new RangeError(
        `header string has a character above U+00FF at offset ${i}: ${
          JSON.stringify(s.slice(0, 64))
        }`,
      );
    }
    buf[p++] = c;
  }
  return p;
}

/**
 * Encodes a header list statelessly: a field that matches a static-table
 * entry exactly becomes an indexed field; every other field a literal
 * without indexing (with the static table's index for its name when there
 * is one). Strings are never Huffman-coded and the dynamic table is never
 * used, so the output decodes the same whatever the peer's table size.
 *
 * @param headers [name, value] pairs; names must already be lowercase, and
 * every character must be in U+0000 to U+00FF (one octet each).
 * @returns The header block: a view that the caller owns, but usually into a
 * larger shared buffer (mind `byteOffset` if you use `.buffer`).
 * @throws {RangeError} If a name or value has a character above U+00FF.
 *
 * @example
 * ```ts
 * encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]);
 * ```
 */
export function encodeHeaders(headers: readonly (readonly [string, string])[]): Uint8Array {
  // Upper bound: integers take at most 1 + 5 octets (prefix + continuations).
  let bound = 0;
  for (let i = 0; i < headers.length; i++) {
    bound += headers[i][0].length + headers[i][1].length + 12;
  }
  let buf: Uint8Array, start: number;
  if (bound > POOL_SIZE / 4) {
    buf = new Uint8Array(bound);
    start = 0;
  } else {
    if (poolUsed + bound > POOL_SIZE) {
      pool = new Uint8Array(POOL_SIZE);
      poolUsed = 0;
    }
    buf = pool;
    start = poolUsed;
  }
  let p = start;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    const known = STATIC_BY_NAME.get(name);
    if (known === undefined) {
      buf[p++] = 0x00; // literal without indexing, new name
      p = writeString(buf, p, name);
    } else {
      const full = known.byValue.get(value);
      if (full !== undefined) {
        p = writeInt(buf, p, full, 0x7f, 0x80); // indexed
        continue;
      }
      p = writeInt(buf, p, known.index, 0x0f, 0x00); // literal without indexing, indexed name
    }
    p = writeString(buf, p, value);
  }
  if (buf === pool) poolUsed = p;
  return buf.subarray(start, p);
}
