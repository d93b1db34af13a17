/**
 * Builds the HPACK Huffman decoder's state machine (see `huffman.ts`) from
 * the code in `_huffman_table.ts`. The decoder does not run this: it ships the
 * result, `_huffman_decode_table.ts`, which `scripts/huffman_decode_table.ts`
 * writes with this function, and a test checks the two are equal.
 *
 * @module
 */

import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./_huffman_table.ts";

/** The EOS symbol. */
export const EOS = 256;

/**
 * Transition entry layout: bits 0-7 next state, bit 8 "emits a symbol",
 * bits 9-16 the symbol, bit 17 "decoded EOS".
 */
export const EMIT = 1 << 8;
/** Entry bit: the walk decoded EOS, which a string must not contain. */
export const FAIL = 1 << 17;

/** End-of-string verdict: the padding is fine. */
export const END_OK = 0;
/** End-of-string verdict: more than 7 bits of padding. */
export const END_TOO_LONG = 1;
/** End-of-string verdict: the padding has a zero bit. */
export const END_NOT_ONES = 2;

/** The decoder's tables. */
export interface HuffmanDecodeTables {
  /** Entry per state (256) and nibble (16): `transitions[(state << 4) | nibble]`. */
  transitions: Uint32Array;
  /** End-of-string verdict per state. */
  endVerdict: Uint8Array;
}

/**
 * Builds the tables.
 *
 * @returns The transitions and end verdicts.
 */
export function buildHuffmanDecodeTables(): HuffmanDecodeTables {
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
  const endVerdict = new Uint8Array(256).fill(END_NOT_ONES);
  for (let node = 0, depth = 0; node > 0 || depth === 0; depth++) {
    endVerdict[node] = depth <= 7 ? END_OK : END_TOO_LONG;
    node = child[2 * node + 1];
  }

  const transitions = new Uint32Array(256 * 16);
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
      transitions[(state << 4) | nibble] = entry | node;
    }
  }
  return { transitions, endVerdict };
}
