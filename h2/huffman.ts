/**
 * HPACK Huffman decoding (RFC 7541 section 5.2 and Appendix B) and the
 * octets-to-string conversion the HPACK layer uses for header names and
 * values.
 *
 * The decoder is a finite state machine that consumes four bits at a time.
 * Its states are the 256 internal nodes of the code tree (state 0 is the
 * root); for every state and nibble a table entry says where the walk ends
 * and which symbol, if any, it completed on the way (every code is at least
 * five bits long, so a nibble completes at most one). The table ships
 * precomputed (`_huffman_decode_table.ts`, generated from
 * `_huffman_build.ts`, as base64 decoded on first use): building it cost
 * the first request 3-11 ms.
 *
 * @module
 */

import { EMIT, END_OK, END_TOO_LONG, FAIL } from "./_huffman_build.ts";
import { HUFFMAN_END_VERDICT_BASE64, HUFFMAN_TRANSITIONS_BASE64 } from "./_huffman_decode_table.ts";

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

let transitions: Uint32Array | undefined;
let endVerdict: Uint8Array;

/** Decodes the shipped tables, once. */
function load(): Uint32Array {
  endVerdict = Uint8Array.fromBase64(HUFFMAN_END_VERDICT_BASE64);
  const bytes = Uint8Array.fromBase64(HUFFMAN_TRANSITIONS_BASE64);
  // Little-endian machines (all Deno runs on) read the bytes as they are.
  if (new Uint8Array(Uint32Array.of(1).buffer)[0] === 1) return new Uint32Array(bytes.buffer);
  const view = new DataView(bytes.buffer);
  return Uint32Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(i * 4, true));
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
  const t = transitions ??= load();
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
