// Command huffman prints h2/_huffman_table.ts: the HPACK
// Huffman code (RFC 7541 Appendix B) as two TypeScript arrays. It reads the
// code out of golang.org/x/net/http2/hpack's public API: eight copies of byte
// b encode to 8*len(code(b)) bits, i.e. exactly len(code(b)) bytes, the first
// len bits of which are code(b).
//
// Run from the repository root:
//
//	go -C scripts/huffman run . > h2/_huffman_table.ts
package main

import (
	"fmt"
	"log"
	"os"
	"strings"

	"golang.org/x/net/http2/hpack"
)

func main() {
	var codes [257]uint32
	var lens [257]int
	kraft := 0.0
	for b := 0; b < 256; b++ {
		s := strings.Repeat(string([]byte{byte(b)}), 8)
		n := hpack.HuffmanEncodeLength(s)
		if n < 5 || n > 30 {
			log.Fatalf("byte %d: unexpected code length %d", b, n)
		}
		lens[b] = int(n) // bytes for 8 copies = bits for one
		enc := hpack.AppendHuffmanString(nil, s)
		for i := 0; i < lens[b]; i++ {
			codes[b] = codes[b]<<1 | uint32(enc[i/8]>>(7-i%8)&1)
		}
		kraft += 1 / float64(uint64(1)<<lens[b])
	}
	codes[256], lens[256] = 0x3fffffff, 30 // EOS
	kraft += 1.0 / (1 << 30)
	if kraft != 1 {
		log.Fatalf("not a complete prefix code (Kraft sum %v)", kraft)
	}

	w := &strings.Builder{}
	fmt.Fprint(w, `/**
 * The HPACK Huffman code, RFC 7541 Appendix B: symbol i (0-255 for octets, 256
 * for EOS) is the HUFFMAN_LENGTHS[i] low bits of HUFFMAN_CODES[i], most
 * significant bit first.
 *
 * Generated, do not edit. Regenerate from the repository root with
 *
 *     go -C scripts/huffman run . > h2/_huffman_table.ts
 *
 * @module
 */
`)
	row := func(i int, f string, v any) {
		if i%8 == 0 {
			fmt.Fprint(w, "\n ")
		}
		fmt.Fprintf(w, " "+f+",", v)
	}
	fmt.Fprint(w, "\n/** Code of each symbol, right-aligned. */\n// deno-fmt-ignore\nexport const HUFFMAN_CODES: readonly number[] = [")
	for i, c := range codes {
		row(i, "0x%x", c)
	}
	fmt.Fprint(w, "\n];\n\n/** Length of each symbol's code in bits (5-30). */\n// deno-fmt-ignore\nexport const HUFFMAN_LENGTHS: readonly number[] = [")
	for i, n := range lens {
		row(i, "%d", n)
	}
	fmt.Fprint(w, "\n];\n")
	os.Stdout.WriteString(w.String())
}
