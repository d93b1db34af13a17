/**
 * HPACK Huffman decoding (RFC 7541 section 5.2 and Appendix B) and the
 * octets-to-string conversion the HPACK layer uses for header names and
 * values.
 *
 * The decoder is a finite state machine that consumes four bits at a time.
 * Its states are the 256 internal nodes of the code tree (state 0 is the
 * root); for every state and nibble a table entry says where the walk ends
 * and which symbol, if any, it completed on the way (every code is at least
 * five bits long, so a nibble completes at most one). The table is built on
 * first use, so importing this module stays cheap.
 *
 * @module
 */

import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./_huffman_table.ts";

/**
 * A malformed HPACK header block (RFC 7541). HTTP/2 treats any of these as a
 * connection error of type COMPRESSION_ERROR.
 */
export class HpackError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was wrong with the header block.
   */
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}

const EOS = 256;

// Transition entry layout: bits 0-7 next state, bit 8 "emits a symbol",
// bits 9-16 the symbol, bit 17 "decoded EOS".
const EMIT = 1 << 8;
const FAIL = 1 << 17;

// End-of-string verdict per state.
const END_OK = 0;
const END_TOO_LONG = 1;
const END_NOT_ONES = 2;

let transitions: Uint32Array | undefined;
let endVerdict: Uint8Array;

function build(): Uint32Array {
  // The code tree: child[2 * node + bit] is an internal node id (> 0), or
  // ~symbol (< 0) for a leaf; 0 means "not yet created" (the root is never
  // anyone's child).
  const child = new Int32Array(2 * 256);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym], len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (child[slot] === 0) child[slot] = nodes++;
      node = child[slot];
    }
    child[2 * node + (code & 1)] = ~sym;
  }
  if (nodes !== 256) throw new Error(`Huffman table: expected 256 internal nodes, got ${nodes}`);

  // Padding (RFC 7541 5.2) is a prefix of EOS, i.e. all ones, of at most 7
  // bits: acceptable end states are the root and the first 7 nodes down the
  // all-ones path. Further down that path the padding is too long; anywhere
  // else the trailing bits contain a zero.
  endVerdict = new Uint8Array(256).fill(END_NOT_ONES);
  for (let node = 0, depth = 0; node > 0 || depth === 0; depth++) {
    endVerdict[node] = depth <= 7 ? END_OK : END_TOO_LONG;
    node = child[2 * node + 1];
  }

  const table = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state, entry = 0;
      for (let i = 3; i >= 0; i--) {
        const next = child[2 * node + ((nibble >> i) & 1)];
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = ~next;
        if (sym === EOS) entry |= FAIL;
        else entry |= EMIT | (sym << 9);
        node = 0;
      }
      table[(state << 4) | nibble] = entry | node;
    }
  }
  return table;
}

let out = new Uint8Array(256);

/**
 * Decodes the Huffman-coded octets `src[start:end]` into a string with one
 * character (U+0000 to U+00FF) per decoded octet.
 *
 * @param src Buffer holding the encoded string.
 * @param start Offset of the first encoded octet.
 * @param end Offset just past the last encoded octet.
 * @returns The decoded string.
 * @throws {HpackError} If the string contains the EOS symbol, or its padding
 * is longer than 7 bits or not all ones.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  const t = transitions ??= build();
  // At most 8/5 symbols per octet (the shortest code has 5 bits).
  const max = (((end - start) * 8) / 5) | 0;
  if (out.length < max) out = new Uint8Array(Math.max(max, 2 * out.length));
  const dst = out;
  let state = 0, n = 0;
  for (let i = start; i < end; i++) {
    const b = src[i];
    let e = t[(state << 4) | (b >> 4)];
    if (e & (EMIT | FAIL)) {
      if (e & FAIL) throw new HpackError("Huffman-encoded string contains the EOS symbol");
      dst[n++] = e >> 9;
    }
    e = t[((e & 0xff) << 4) | (b & 15)];
    if (e & (EMIT | FAIL)) {
      if (e & FAIL) throw new HpackError("Huffman-encoded string contains the EOS symbol");
      dst[n++] = e >> 9;
    }
    state = e & 0xff;
  }
  const verdict = endVerdict[state];
  if (verdict !== END_OK) {
    throw new HpackError(
      verdict === END_TOO_LONG
        ? "Huffman-encoded string has more than 7 bits of padding"
        : "Huffman-encoded string ends in padding that is not all ones",
    );
  }
  return latin1(dst, 0, n);
}

const ascii = new TextDecoder("utf-8", { ignoreBOM: true });
/** codeArrays[n]: a reusable plain array of n numbers, for String.fromCharCode.apply. */
const codeArrays: number[][] = [];

/**
 * Converts the octets `src[start:end]` to a string with one character
 * (U+0000 to U+00FF) per octet: HTTP field names and values are octets, not
 * UTF-8. (`TextDecoder("latin1")` would not do: per the WHATWG Encoding
 * standard it is windows-1252, which remaps 0x80-0x9F.)
 *
 * @param src Buffer holding the octets.
 * @param start Offset of the first octet.
 * @param end Offset just past the last octet.
 * @returns The string.
 */
export function latin1(src: Uint8Array, start: number, end: number): string {
  // The fastest way depends on the length (measured with Deno 2.9 / V8).
  const n = end - start;
  if (n <= 3) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(src[i]);
    return s;
  }
  if (n <= 48) {
    // apply() on a plain array of small integers is far faster than on a typed array.
    const codes = codeArrays[n] ??= Array.from({ length: n }, () => 0);
    for (let i = 0; i < n; i++) codes[i] = src[start + i];
    return String.fromCharCode.apply(null, codes);
  }
  // Long ASCII strings: the UTF-8 decoder is faster, and exact on ASCII.
  let or = 0;
  for (let i = start; i < end; i++) or |= src[i];
  if (or < 0x80) return ascii.decode(src.subarray(start, end));
  let s = "";
  for (let i = start; i < end; i += 8192) {
    const chunk = src.subarray(i, Math.min(end, i + 8192));
    s += String.fromCharCode.apply(null, chunk as unknown as number[]);
  }
  return s;
}
