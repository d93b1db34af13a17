/**
 * The shipped HPACK Huffman decode table (h2/_huffman_decode_table.ts) is
 * what scripts/huffman_decode_table.ts generates from the code, byte for
 * byte, and the decoder decodes every symbol with it.
 */

import { buildHuffmanDecodeTables } from "../../h2/_huffman_build.ts";
import {
  HUFFMAN_END_VERDICT_BASE64,
  HUFFMAN_TRANSITIONS_BASE64,
} from "../../h2/_huffman_decode_table.ts";
import { huffmanDecode } from "../../h2/huffman.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../h2/_huffman_table.ts";
import { huffmanDecodeTableSource } from "../../scripts/huffman_decode_table.ts";
import { assertEquals } from "../_util/assert.ts";

Deno.test("huffman table: the shipped tables equal the computed ones", () => {
  const { transitions, endVerdict } = buildHuffmanDecodeTables();
  const bytes = Uint8Array.fromBase64(HUFFMAN_TRANSITIONS_BASE64);
  const view = new DataView(bytes.buffer);
  const shipped = Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(i * 4, true));
  assertEquals(shipped, [...transitions]);
  assertEquals([...Uint8Array.fromBase64(HUFFMAN_END_VERDICT_BASE64)], [...endVerdict]);
});

Deno.test("huffman table: the shipped file is the generator's output (regenerate with scripts/huffman_decode_table.ts)", () => {
  const shipped = Deno.readTextFileSync(
    new URL("../../h2/_huffman_decode_table.ts", import.meta.url),
  );
  assertEquals(shipped, huffmanDecodeTableSource());
});

Deno.test("huffman table: every octet decodes with the shipped table", () => {
  for (let sym = 0; sym < 256; sym++) {
    // The symbol's code, then EOS's leading ones as padding to a whole octet.
    const len = HUFFMAN_LENGTHS[sym];
    const padded = Math.ceil(len / 8) * 8;
    let bits = BigInt(HUFFMAN_CODES[sym]) << BigInt(padded - len);
    bits |= (1n << BigInt(padded - len)) - 1n;
    const bytes = new Uint8Array(padded / 8);
    for (let i = bytes.length - 1; i >= 0; i--, bits >>= 8n) bytes[i] = Number(bits & 0xffn);
    assertEquals(huffmanDecode(bytes, 0, bytes.length), String.fromCharCode(sym));
  }
});
