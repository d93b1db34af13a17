/**
 * Writes h2/_huffman_decode_table.ts, the HPACK Huffman decoder's state
 * machine, computed by h2/_huffman_build.ts: shipped precomputed so that the
 * first request does not build it (about 4 ms of a plugin's first call).
 * tests/h2/huffman_table_test.ts checks the shipped file equals a fresh one.
 *
 * ```sh
 * deno run --allow-write=h2 scripts/huffman_decode_table.ts   # from the repository root
 * ```
 *
 * @module
 */

import { buildHuffmanDecodeTables } from "../h2/_huffman_build.ts";

/** Base64 of the values as little-endian unsigned integers of `width` bytes each. */
function base64Of(values: ArrayLike<number>, width: 1 | 4): string {
  const bytes = new Uint8Array(values.length * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (width === 4) view.setUint32(i * 4, values[i], true);
    else bytes[i] = values[i];
  }
  return bytes.toBase64();
}

/** The base64 text as string literals of at most 88 characters a line. */
function literal(text: string): string {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 88) lines.push(`  "${text.slice(i, i + 88)}"`);
  return lines.join(" +\n");
}

/** The generated module's text. */
export function huffmanDecodeTableSource(): string {
  const { transitions, endVerdict } = buildHuffmanDecodeTables();
  return `/**
 * The HPACK Huffman decoder's state machine (see huffman.ts), as
 * h2/_huffman_build.ts computes it, in base64: a string costs next to nothing
 * to load, and is decoded on the first Huffman-coded header.
 *
 * Generated, do not edit. Regenerate from the repository root with
 *
 *     deno run --allow-write=h2 scripts/huffman_decode_table.ts
 *
 * @module
 */

/** Entry per state and nibble, \`(state << 4) | nibble\`: 32-bit little-endian, base64. */
export const HUFFMAN_TRANSITIONS_BASE64: string =
${literal(base64Of(transitions, 4))};

/** End-of-string verdict per state (0 fine, 1 padding too long, 2 padding not all ones), base64. */
export const HUFFMAN_END_VERDICT_BASE64: string =
${literal(base64Of(endVerdict, 1))};
`;
}

if (import.meta.main) {
  const out = new URL("../h2/_huffman_decode_table.ts", import.meta.url);
  Deno.writeTextFileSync(out, huffmanDecodeTableSource());
  console.log(`wrote ${out.pathname}`);
}
