// Command hpackgen prints header blocks from golang.org/x/net/http2/hpack's
// Encoder (Huffman on, one encoder for all blocks so its dynamic table is
// used, with table size changes) as JSON lines {"hex": ..., "headers": ...}.
// Names and values are random octets; "headers" maps each octet to the
// character with that code (Latin-1). Usage: hpackgen [seed] [blocks].
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"os"
	"strconv"

	"golang.org/x/net/http2/hpack"
)

var names = []string{
	":method", ":scheme", ":path", ":authority", "content-type", "te", "user-agent",
	"grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "authorization", "cookie",
	"x-request-id", "custom-bin", "accept-encoding",
}

var values = []string{
	"POST", "http", "https", "/plugin.GRPCBroker/StartStream", "unix", "application/grpc",
	"trailers", "grpc-go/1.61.0", "100m", "gzip", "identity,deflate,gzip", "gzip, deflate", "",
}

func randString(r *rand.Rand, maxLen, lo, hi int) string {
	b := make([]byte, r.Intn(maxLen+1))
	for i := range b {
		b[i] = byte(lo + r.Intn(hi-lo))
	}
	return string(b)
}

func latin1(s string) string {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

func main() {
	seed, blocks := int64(1), 200
	if len(os.Args) > 1 {
		seed, _ = strconv.ParseInt(os.Args[1], 10, 64)
	}
	if len(os.Args) > 2 {
		blocks, _ = strconv.Atoi(os.Args[2])
	}
	r := rand.New(rand.NewSource(seed))
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	out := json.NewEncoder(os.Stdout)
	for i := 0; i < blocks; i++ {
		buf.Reset()
		if r.Intn(8) == 0 {
			enc.SetMaxDynamicTableSize([]uint32{0, 64, 256, 1000, 4096}[r.Intn(5)])
		}
		var headers [][2]string
		for n := r.Intn(12); n >= 0; n-- {
			f := hpack.HeaderField{Name: names[r.Intn(len(names))], Sensitive: r.Intn(10) == 0}
			switch r.Intn(7) {
			case 0:
				f.Name = randString(r, 20, 0, 128)
				f.Value = randString(r, 40, 0, 128)
			case 1:
				f.Value = randString(r, 300, 0, 256) // long, any octets
			case 2:
				f.Value = randString(r, 100, ' ', 127) // printable: mostly Huffman-coded
			default:
				f.Value = values[r.Intn(len(values))]
			}
			if err := enc.WriteField(f); err != nil {
				panic(err)
			}
			headers = append(headers, [2]string{latin1(f.Name), latin1(f.Value)})
		}
		line := map[string]any{"hex": hex.EncodeToString(buf.Bytes()), "headers": headers}
		if err := out.Encode(line); err != nil {
			panic(err)
		}
	}
}
