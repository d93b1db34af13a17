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

/** The generated module's text. */
export function huffmanDecodeTableSource(): string {
  const { transitions, endVerdict } = buildHuffmanDecodeTables();
  const rows = (values: ArrayLike<number>, perLine: number) => {
    const lines: string[] = [];
    for (let i = 0; i < values.length; i += perLine) {
      lines.push(
        "  " + Array.from(values).slice(i, i + perLine).map((v) =>
          `0x${v.toString(16)}`
        ).join(", ") +
          ",",
      );
    }
    return lines.join("\n");
  };
  return `/**
 * The HPACK Huffman decoder's state machine (see huffman.ts), as
 * h2/_huffman_build.ts computes it.
 *
 * Generated, do not edit. Regenerate from the repository root with
 *
 *     deno run --allow-write=h2 scripts/huffman_decode_table.ts
 *
 * @module
 */

/** Entry per state and nibble: \`HUFFMAN_TRANSITIONS[(state << 4) | nibble]\`. */
// deno-fmt-ignore
export const HUFFMAN_TRANSITIONS: Uint32Array = new Uint32Array([
${rows(transitions, 16)}
]);

/** End-of-string verdict per state (0 fine, 1 padding too long, 2 padding not all ones). */
// deno-fmt-ignore
export const HUFFMAN_END_VERDICT: Uint8Array = new Uint8Array([
${rows(endVerdict, 32)}
]);
`;
}

if (import.meta.main) {
  const out = new URL("../h2/_huffman_decode_table.ts", import.meta.url);
  Deno.writeTextFileSync(out, huffmanDecodeTableSource());
  console.log(`wrote ${out.pathname}`);
}
