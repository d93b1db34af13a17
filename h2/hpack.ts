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

import { BytePool } from "../_pool.ts";
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
/** The pair an indexed static field decodes to: one shared array per entry. */
const STATIC_PAIRS = STATIC_TABLE.map(([name, value]): [string, string] => [name, value]);

/** Largest integer we accept in a header block (RFC 7541 5.1 leaves it to us). */
const MAX_INT = 0x7fffffff;
/** Per-entry overhead in table and header list sizes (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;

/**
 * Bytes a field name may not contain (RFC 9113 8.2.1): controls and space,
 * colon (a pseudo-header field's leading one aside), upper case, and
 * 0x7f-0xff. 1: forbidden.
 */
const BAD_NAME_BYTE = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  BAD_NAME_BYTE[c] = c <= 0x20 || c === 0x3a || (c >= 0x41 && c <= 0x5a) || c >= 0x7f ? 1 : 0;
}
// What is wrong with a field (RFC 9113 8.2.1), as bits.
const NAME_BAD = 1;
const VALUE_BAD = 2;

/** Whether a name (its leading colon aside) has a forbidden character. */
function badName(s: string): boolean {
  if (s.length === 0) return true;
  for (let i = s.charCodeAt(0) === 0x3a ? 1 : 0; i < s.length; i++) {
    if (BAD_NAME_BYTE[s.charCodeAt(i)]) return true;
  }
  return false;
}

/** Whether a value has NUL, LF or CR. */
function badValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x0e && (c === 0x00 || c === 0x0a || c === 0x0d)) return true;
  }
  return false;
}

/** What an evicted entry's pair slot holds (never read: its index is out of range). */
const EVICTED: [string, string] = ["", ""];

/** Most dynamic table size updates at the start of one block (RFC 7541 4.2: at most two). */
const MAX_SIZE_UPDATES = 2;

function truncated(): never {
  throw new HpackError("header block is truncated");
}

/**
 * The decoded header list was larger than the limit given to
 * {@linkcode HpackDecoder.decode}. The whole block was still decoded (the
 * dynamic table is in step with the peer's), so the connection can go on:
 * only the message this block belongs to is refused.
 */
export class HpackListSizeError extends HpackError {
  /**
   * @param size The list's size (name + value + 32 per field) up to the field that went over.
   * @param limit The limit.
   * @param field The field (1-based) that went over.
   */
  constructor(readonly size: number, readonly limit: number, readonly field: number) {
    super(`header list size exceeds the limit ${limit} octets at field ${field}`);
    this.name = "HpackListSizeError";
  }
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
  /** The [name, value] pair each entry decodes to, shared by every list that indexes it. */
  #pairs: [string, string][] = new Array(16);
  /** NAME_BAD | VALUE_BAD of each entry, so that an indexed field is never scanned again. */
  #flags: number[] = new Array(16).fill(0);
  #head = 0;
  #count = 0;
  /** Read position in the block being decoded (one decoder, one block at a time). */
  #pos = 0;
  /** Whether the last string read has a byte a name (`#readName`) or value may not have. */
  #strBad = false;
  #malformed = "";

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
   * After {@linkcode HpackDecoder.decode}: why the list it returned breaks
   * RFC 9113 8.2.1's character rules (a field name with a character other
   * than lower-case tokens, a leading colon aside; a value with NUL, CR or
   * LF), or "" if it does not. HPACK itself allows any octets: such a list
   * is a malformed HTTP/2 message, answered per stream, and the table is in
   * step either way. Checked as the octets are decoded, once per dynamic
   * table entry.
   */
  get malformed(): string {
    return this.#malformed;
  }

  /**
   * Decodes one complete header block (the fragments of a HEADERS frame and
   * its CONTINUATION frames, joined).
   *
   * @param block The header block.
   * @param maxHeaderListSize Limit on the decoded list's size: the sum over
   * fields of name length + value length + 32 (RFC 9113
   * SETTINGS_MAX_HEADER_LIST_SIZE). No limit by default.
   * @returns The fields in order, as [name, value] pairs of Latin-1 strings. An
   * indexed field's pair is shared by every list that indexes the same
   * entry: read the pairs, never change them.
   * @throws {HpackListSizeError} If the list is larger than
   * `maxHeaderListSize`: the block was decoded to its end all the same, so
   * the table is still in step and the decoder can go on.
   * @throws {HpackError} If the block is malformed: the table may be out of
   * step with the peer's, and the connection must end (COMPRESSION_ERROR).
   */
  decode(block: Uint8Array, maxHeaderListSize = Infinity): [string, string][] {
    const headers: [string, string][] = [];
    const n = block.length;
    let listSize = 0;
    let sizeUpdates = 0;
    /** Past the limit: the rest is decoded for the table's sake only. */
    let over = false;
    let overAt = 0;
    this.#pos = 0;
    this.#malformed = "";
    let malformedAt = 0, malformedBits = 0;
    while (this.#pos < n) {
      const b = block[this.#pos];
      let name: string, value: string;
      let pair: [string, string] | null = null;
      let bits = 0;
      if (b >= 0x80) {
        // Indexed header field (6.1).
        const index = this.#readInt(block, 7);
        if (index === 0) throw new HpackError("indexed header field with index 0");
        if (index <= STATIC_COUNT) {
          pair = STATIC_PAIRS[index - 1];
        } else {
          const slot = this.#slot(index);
          pair = this.#pairs[slot];
          bits = this.#flags[slot];
        }
        name = pair[0];
        value = pair[1];
      } else if (b >= 0x40) {
        // Literal header field with incremental indexing (6.2.1).
        const index = this.#readInt(block, 6);
        if (index === 0) {
          name = this.#readString(block, BAD_NAME_BYTE);
          if (this.#strBad || name.length === 0) bits = NAME_BAD;
        } else {
          name = this.#name(index);
          if (index > STATIC_COUNT) bits = this.#flags[this.#slot(index)] & NAME_BAD;
        }
        value = this.#readString(block, null);
        if (this.#strBad) bits |= VALUE_BAD;
        pair = [name, value];
        this.#insert(pair, bits);
      } else if (b >= 0x20) {
        // Dynamic table size update (6.3).
        if (headers.length > 0 || listSize > 0) {
          throw new HpackError("dynamic table size update after the first header field");
        }
        if (++sizeUpdates > MAX_SIZE_UPDATES) {
          throw new HpackError(`more than ${MAX_SIZE_UPDATES} dynamic table size updates`);
        }
        const size = this.#readInt(block, 5);
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
        const index = this.#readInt(block, 4);
        if (over) {
          // Not kept and not indexed: only its length matters.
          if (index === 0) this.#skipString(block);
          else this.#name(index);
          this.#skipString(block);
          continue;
        }
        if (index === 0) {
          name = this.#readString(block, BAD_NAME_BYTE);
          if (this.#strBad || name.length === 0) bits = NAME_BAD;
        } else {
          name = this.#name(index);
          if (index > STATIC_COUNT) bits = this.#flags[this.#slot(index)] & NAME_BAD;
        }
        value = this.#readString(block, null);
        if (this.#strBad) bits |= VALUE_BAD;
      }
      if (over) continue;
      if (bits && !malformedAt) {
        malformedAt = headers.length + 1;
        malformedBits = bits;
      }
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > maxHeaderListSize) {
        over = true;
        overAt = headers.length + 1;
        headers.length = 0;
        continue;
      }
      headers.push(pair ?? [name, value]);
    }
    if (over) throw new HpackListSizeError(listSize, maxHeaderListSize, overAt);
    if (malformedAt) {
      const [name, value] = headers[malformedAt - 1];
      this.#malformed = malformedBits & NAME_BAD
        ? `field name ${JSON.stringify(name)} has a forbidden character`
        : `field ${JSON.stringify(name)} has NUL, CR or LF in its value ${
          JSON.stringify(value.slice(0, 64))
        }`;
    }
    return headers;
  }

  /** Reads an integer with a `bits`-bit prefix at the read position (RFC 7541 5.1). */
  #readInt(block: Uint8Array, bits: number): number {
    const mask = (1 << bits) - 1;
    let value = block[this.#pos++] & mask;
    if (value < mask) return value;
    // 2^31 - 1 needs at most 5 continuation octets; more is an attack or a bug.
    for (let k = 0, weight = 1; k < 5; k++, weight *= 128) {
      if (this.#pos >= block.length) truncated();
      const b = block[this.#pos++];
      value += (b & 0x7f) * weight;
      if (value > MAX_INT) throw new HpackError(`integer exceeds ${MAX_INT}`);
      if (b < 0x80) return value;
    }
    throw new HpackError("integer has more than 5 continuation octets");
  }

  /**
   * Reads a string literal at the read position (RFC 7541 5.2), and sets
   * `#strBad` if it has a byte a name may not have (`badBytes`:
   * BAD_NAME_BYTE, a leading colon aside) or a value may not have (`null`:
   * NUL, CR, LF), as RFC 9113 8.2.1 says.
   */
  #readString(block: Uint8Array, badBytes: Uint8Array | null): string {
    if (this.#pos >= block.length) truncated();
    const huffman = block[this.#pos] & 0x80;
    const len = this.#readInt(block, 7);
    const start = this.#pos, end = start + len;
    if (end > block.length) truncated();
    this.#pos = end;
    if (huffman) {
      const s = huffmanDecode(block, start, end);
      this.#strBad = badBytes ? badName(s) : badValue(s);
      return s;
    }
    let bad = false;
    if (badBytes) {
      for (let i = block[start] === 0x3a ? start + 1 : start; i < end; i++) {
        if (badBytes[block[i]]) {
          bad = true;
          break;
        }
      }
    } else {
      for (let i = start; i < end; i++) {
        const c = block[i];
        if (c < 0x0e && (c === 0x00 || c === 0x0a || c === 0x0d)) {
          bad = true;
          break;
        }
      }
    }
    this.#strBad = bad;
    return latin1(block, start, end);
  }

  /** Steps over a string literal that is not kept. */
  #skipString(block: Uint8Array): void {
    if (this.#pos >= block.length) truncated();
    const end = this.#readInt(block, 7) + this.#pos;
    if (end > block.length) truncated();
    this.#pos = end;
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
      this.#pairs[slot] = EVICTED;
    }
  }

  #insert(pair: [string, string], bits: number): void {
    const [name, value] = pair;
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.#evict(size);
    // An entry bigger than the whole table just empties it (RFC 7541 4.4).
    if (size > this.#capacity) return;
    let names = this.#names, values = this.#values;
    if (this.#count === names.length) {
      // Grow the ring, copying the entries in order (newest first) to slot 0.
      const grown = 2 * names.length, mask = names.length - 1;
      const n2: string[] = new Array(grown), v2: string[] = new Array(grown);
      const p2: [string, string][] = new Array(grown);
      const f2: number[] = new Array(grown).fill(0);
      for (let i = 0; i < this.#count; i++) {
        n2[i] = names[(this.#head + i) & mask];
        v2[i] = values[(this.#head + i) & mask];
        p2[i] = this.#pairs[(this.#head + i) & mask];
        f2[i] = this.#flags[(this.#head + i) & mask];
      }
      this.#names = names = n2;
      this.#values = values = v2;
      this.#pairs = p2;
      this.#flags = f2;
      this.#head = 0;
    }
    this.#head = (this.#head - 1) & (names.length - 1);
    names[this.#head] = name;
    values[this.#head] = value;
    this.#pairs[this.#head] = pair;
    this.#flags[this.#head] = bits;
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
const pool = new BytePool(16 << 10, 4 << 10);

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
 * What {@linkcode warmUpHpackDecoder} decodes: RFC 7541 C.4.1 and C.4.2 (indexed
 * fields, Huffman-coded literals added to the dynamic table, an index into
 * it), then a literal with a new name and a raw value (gRPC's `te: trailers`).
 */
const WARM_UP_BLOCKS: readonly Uint8Array[] = [
  Uint8Array.of(
    0x82,
    0x86,
    0x84,
    0x41,
    0x8c,
    0xf1,
    0xe3,
    0xc2,
    0xe5,
    0xf2,
    0x3a,
    0x6b,
    0xa0,
    0xab,
    0x90,
    0xf4,
    0xff,
  ),
  Uint8Array.of(
    0x82,
    0x86,
    0x84,
    0xbe,
    0x58,
    0x86,
    0xa8,
    0xeb,
    0x10,
    0x64,
    0x9c,
    0xbf,
    0x00,
    0x02,
    0x74,
    0x65,
    0x08,
    0x74,
    0x72,
    0x61,
    0x69,
    0x6c,
    0x65,
    0x72,
    0x73,
  ),
];

let warmedUp = false;

/**
 * Decodes canned header blocks once per process, on a decoder of its own,
 * so that the first real block finds the decoder's code compiled and the
 * Huffman table loaded (cold, the first decode took 0.7-1.7 ms). Our TLS
 * 1.3 server runs it while it waits for the host's signature check.
 *
 * @example
 * ```ts
 * import { warmUpHpackDecoder } from "./hpack.ts";
 * warmUpHpackDecoder(); // a second call does nothing
 * ```
 */
export function warmUpHpackDecoder(): void {
  if (warmedUp) return;
  warmedUp = true;
  const decoder = new HpackDecoder();
  for (const block of WARM_UP_BLOCKS) decoder.decode(block);
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
  if (bound > pool.largest) {
    buf = new Uint8Array(bound);
    start = 0;
  } else {
    pool.room(bound);
    buf = pool.buf;
    start = pool.used;
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
  if (buf === pool.buf) pool.used = p;
  return buf.subarray(start, p);
}

/** Table size of a decoder that announced nothing (RFC 7541 4.2, RFC 9113 6.5.2). */
const DEFAULT_TABLE_SIZE = 4096;
/** Constant lists whose encoding one encoder keeps (it starts over past this). */
const MAX_CACHED_BLOCKS = 1024;

/**
 * A header list sent over and over with the same fields (the fixed fields of
 * every gRPC response, its OK trailers, a method's request headers). Over a
 * connection, its {@linkcode HpackEncoder} adds the fields to the peer's
 * dynamic table the first time, and sends one-octet indexes from then on.
 *
 * @example
 * ```ts
 * const block = new ConstantHeaders([[":status", "200"], ["content-type", "application/grpc"]]);
 * const enc = new HpackEncoder();
 * enc.encode(block); // 88 5f 10 "application/grpc": indexed, then added to the table
 * enc.encode(block); // 88 be
 * ```
 */
export class ConstantHeaders {
  /** The fields, in order. */
  readonly fields: readonly (readonly [string, string])[];

  /**
   * @param fields [name, value] pairs, as {@linkcode encodeHeaders} takes them.
   * @throws {RangeError} If a name or value has a character above U+00FF.
   */
  constructor(fields: readonly (readonly [string, string])[]) {
    this.fields = fields;
    encodeHeaders(fields); // checks the characters now, not on the first call
  }
}

/** A header block as a stream sends it: encoded already, or constant fields. */
export type HeaderBlock = Uint8Array | ConstantHeaders;

/**
 * The encoding side of one connection's HPACK state (RFC 7541): a mirror of
 * the peer decoder's dynamic table, which holds only the fields of
 * {@linkcode ConstantHeaders} (added the first time each is sent; every
 * other field is a literal that is not indexed), and the table size updates
 * the peer's SETTINGS_HEADER_TABLE_SIZE asks for. Blocks must go on the
 * wire in the order they are encoded.
 *
 * @example
 * ```ts
 * const enc = new HpackEncoder();
 * const trailers = new ConstantHeaders([["grpc-status", "0"]]);
 * enc.encode(trailers); // a literal, added to the table
 * enc.encode(trailers); // be: index 62
 * enc.setMaxTableSize(0); // the peer announced SETTINGS_HEADER_TABLE_SIZE 0
 * enc.encode(trailers); // 20 (size update to 0), then the literal, not indexed
 * ```
 */
export class HpackEncoder {
  /** The decoder's maximum table size, as we last signalled it (or its default). */
  #capacity = DEFAULT_TABLE_SIZE;
  /** A size update the next block must start with, or -1. */
  #pendingUpdate = -1;
  /** Entries, oldest first from `#oldest`: `name\0value` keys and sizes. */
  #keys: string[] = [];
  #sizes: number[] = [];
  #oldest = 0;
  #size = 0;
  /** Absolute insertion number of each key's entry. */
  #byKey = new Map<string, number>();
  /** Bumped whenever an entry's index may have changed: cached blocks are stale. */
  #generation = 0;
  /** The last encoding of each constant list, and the generation it is good for. */
  #cache = new Map<ConstantHeaders, { generation: number; block: Uint8Array }>();

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE. A smaller table than the one in
   * use is signalled at the start of the next block (and entries evicted as
   * the decoder will); a larger one is not used.
   */
  setMaxTableSize(size: number): void {
    if (size >= this.#capacity) return;
    this.#capacity = size;
    this.#pendingUpdate = size;
    this.#evict(0);
    this.#generation++;
  }

  /**
   * Encodes a block: an encoded one as it is (after a pending size update),
   * constant fields with the dynamic table.
   *
   * @returns The block, valid until the next call (or for good, for an
   * encoded one without a size update).
   */
  encode(block: HeaderBlock): Uint8Array {
    if (block instanceof Uint8Array) {
      if (this.#pendingUpdate < 0) return block;
      const update = this.#takeUpdate();
      const out = new Uint8Array(update.length + block.length);
      out.set(update);
      out.set(block, update.length);
      return out;
    }
    const cached = this.#cache.get(block);
    if (cached && cached.generation === this.#generation && this.#pendingUpdate < 0) {
      return cached.block;
    }
    const update = this.#pendingUpdate < 0 ? EMPTY_BLOCK : this.#takeUpdate();
    const fields = block.fields;
    let bound = update.length;
    for (let i = 0; i < fields.length; i++) bound += fields[i][0].length + fields[i][1].length + 12;
    const buf = new Uint8Array(bound);
    buf.set(update);
    let p = update.length, inserted = false;
    for (let i = 0; i < fields.length; i++) {
      const [name, value] = fields[i];
      const known = STATIC_BY_NAME.get(name);
      const full = known?.byValue.get(value);
      if (full !== undefined) {
        p = writeInt(buf, p, full, 0x7f, 0x80);
        continue;
      }
      const key = name + "\0" + value;
      const at = this.#byKey.get(key);
      if (at !== undefined) {
        // Index 62 is the newest entry (RFC 7541 2.3.3).
        p = writeInt(buf, p, STATIC_COUNT + this.#oldest + this.#keys.length - at, 0x7f, 0x80);
        continue;
      }
      const size = name.length + value.length + ENTRY_OVERHEAD;
      const index = size <= this.#capacity;
      const [mask, flags] = index ? [0x3f, 0x40] : [0x0f, 0x00];
      if (known) p = writeInt(buf, p, known.index, mask, flags);
      else {
        buf[p++] = flags;
        p = writeString(buf, p, name);
      }
      p = writeString(buf, p, value);
      if (index) {
        this.#insert(key, size);
        inserted = true;
      }
    }
    const out = buf.subarray(0, p);
    // A block that added entries reads differently next time; one that did
    // not is final (without the size update it may have started with).
    if (!inserted) {
      if (this.#cache.size >= MAX_CACHED_BLOCKS && !cached) this.#cache.clear();
      const final = out.subarray(update.length);
      this.#cache.set(block, { generation: this.#generation, block: final });
    }
    return out;
  }

  #takeUpdate(): Uint8Array {
    const out = new Uint8Array(6);
    const n = writeInt(out, 0, this.#pendingUpdate, 0x1f, 0x20);
    this.#pendingUpdate = -1;
    return out.subarray(0, n);
  }

  #insert(key: string, size: number): void {
    this.#evict(size);
    this.#byKey.set(key, this.#oldest + this.#keys.length);
    this.#keys.push(key);
    this.#sizes.push(size);
    this.#size += size;
    this.#generation++;
  }

  /** Drops the oldest entries until `room` more octets fit, as the decoder does (RFC 7541 4.4). */
  #evict(room: number): void {
    let dropped = 0;
    while (dropped < this.#keys.length && this.#size + room > this.#capacity) {
      const key = this.#keys[dropped];
      this.#size -= this.#sizes[dropped];
      // A newer entry with the same key keeps its own number.
      if (this.#byKey.get(key) === this.#oldest + dropped) this.#byKey.delete(key);
      dropped++;
    }
    if (dropped === 0) return;
    this.#keys.splice(0, dropped);
    this.#sizes.splice(0, dropped);
    this.#oldest += dropped;
    this.#generation++;
  }
}

const EMPTY_BLOCK = new Uint8Array(0);
