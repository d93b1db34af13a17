/**
 * Tests of the native engine's HPACK layer: RFC 7541 Appendix C, round trips
 * through our encoder, malformed blocks, and blocks from x/net's encoder
 * (testdata/hpackgen).
 *
 * @module
 */

import {
  ConstantHeaders,
  encodeHeaders,
  HpackDecoder,
  HpackEncoder,
  HpackError,
  HpackListSizeError,
  warmUpHpackDecoder,
} from "../../h2/hpack.ts";
import { huffmanDecode } from "../../h2/huffman.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../h2/_huffman_table.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { hasCommand } from "../tls/_util.ts";

type Headers = [string, string][];

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The dynamic table, newest first, read by probing indexes 62, 63, ... (no side effects). */
function dynamicTable(dec: HpackDecoder): Headers {
  const entries: Headers = [];
  for (let index = 62;; index++) {
    const block = encodeIndex(index);
    try {
      entries.push(...dec.decode(block));
    } catch (err) {
      if (err instanceof HpackError && /out of range/.test(err.message)) return entries;
      throw err;
    }
  }
}

function tableSize(entries: Headers): number {
  return entries.reduce((n, [name, value]) => n + name.length + value.length + 32, 0);
}

/** An indexed header field (RFC 7541 6.1). */
function encodeIndex(index: number): Uint8Array {
  const out = [];
  if (index < 127) out.push(0x80 | index);
  else {
    out.push(0xff);
    for (index -= 127; index >= 128; index >>>= 7) out.push((index & 0x7f) | 0x80);
    out.push(index);
  }
  return new Uint8Array(out);
}

/** Huffman-encodes octets with the generated table (to exercise every code). */
function huffmanEncode(octets: number[]): Uint8Array {
  const out: number[] = [];
  let acc = 0, bits = 0;
  for (const sym of octets) {
    const code = HUFFMAN_CODES[sym], len = HUFFMAN_LENGTHS[sym];
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >>> i) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = bits = 0;
      }
    }
  }
  if (bits > 0) out.push((acc << (8 - bits)) | (0xff >> bits));
  return new Uint8Array(out);
}

function latin1Of(octets: number[]): string {
  return octets.map((c) => String.fromCharCode(c)).join("");
}

// RFC 7541 Appendix C.

Deno.test("RFC 7541 C.2: header field representations", () => {
  const c21 = new HpackDecoder();
  assertEquals(
    c21.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")),
    [["custom-key", "custom-header"]],
  );
  assertEquals(dynamicTable(c21), [["custom-key", "custom-header"]]);
  assertEquals(tableSize(dynamicTable(c21)), 55);

  const c22 = new HpackDecoder();
  assertEquals(c22.decode(hex("040c 2f73 616d 706c 652f 7061 7468")), [[":path", "/sample/path"]]);
  assertEquals(dynamicTable(c22), []);

  const c23 = new HpackDecoder();
  assertEquals(
    c23.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")),
    [["password", "secret"]],
  );
  assertEquals(dynamicTable(c23), []);

  const c24 = new HpackDecoder();
  assertEquals(c24.decode(hex("82")), [[":method", "GET"]]);
  assertEquals(dynamicTable(c24), []);

  // The static table's last entries (Appendix A).
  assertEquals(c24.decode(hex("bb bc bd")), [["vary", ""], ["via", ""], ["www-authenticate", ""]]);
});

const REQUESTS: Headers[] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
  [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ],
  [
    [":method", "GET"],
    [":scheme", "https"],
    [":path", "/index.html"],
    [":authority", "www.example.com"],
    ["custom-key", "custom-value"],
  ],
];
const REQUEST_TABLES: Headers[] = [
  [[":authority", "www.example.com"]],
  [["cache-control", "no-cache"], [":authority", "www.example.com"]],
  [["custom-key", "custom-value"], ["cache-control", "no-cache"], [
    ":authority",
    "www.example.com",
  ]],
];

function checkSequence(
  dec: HpackDecoder,
  blocks: string[],
  lists: Headers[],
  tables: Headers[],
  sizes: number[],
): void {
  blocks.forEach((block, i) => {
    assertEquals(dec.decode(hex(block)), lists[i], `block ${i + 1}`);
    const table = dynamicTable(dec);
    assertEquals(table, tables[i], `table after block ${i + 1}`);
    assertEquals(tableSize(table), sizes[i], `table size after block ${i + 1}`);
  });
}

Deno.test("RFC 7541 C.3: requests without Huffman coding", () => {
  checkSequence(
    new HpackDecoder(),
    [
      "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "8286 84be 5808 6e6f 2d63 6163 6865",
      "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ],
    REQUESTS,
    REQUEST_TABLES,
    [57, 110, 164],
  );
});

Deno.test("RFC 7541 C.4: requests with Huffman coding", () => {
  checkSequence(
    new HpackDecoder(),
    [
      "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
      "8286 84be 5886 a8eb 1064 9cbf",
      "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ],
    REQUESTS,
    REQUEST_TABLES,
    [57, 110, 164],
  );
});

const DATE1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION = "https://www.example.com";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RESPONSES: Headers[] = [
  [[":status", "302"], ["cache-control", "private"], ["date", DATE1], ["location", LOCATION]],
  [[":status", "307"], ["cache-control", "private"], ["date", DATE1], ["location", LOCATION]],
  [
    [":status", "200"],
    ["cache-control", "private"],
    ["date", DATE2],
    ["location", LOCATION],
    ["content-encoding", "gzip"],
    ["set-cookie", COOKIE],
  ],
];
const RESPONSE_TABLES: Headers[] = [
  [["location", LOCATION], ["date", DATE1], ["cache-control", "private"], [":status", "302"]],
  [[":status", "307"], ["location", LOCATION], ["date", DATE1], ["cache-control", "private"]],
  [["set-cookie", COOKIE], ["content-encoding", "gzip"], ["date", DATE2]],
];

Deno.test("RFC 7541 C.5: responses without Huffman coding, eviction at 256 octets", () => {
  checkSequence(
    new HpackDecoder(256),
    [
      "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a" +
      "3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "4803 3330 37c1 c0bf",
      "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04" +
      "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49" +
      "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
    ],
    RESPONSES,
    RESPONSE_TABLES,
    [222, 222, 215],
  );
});

Deno.test("RFC 7541 C.6: responses with Huffman coding, eviction at 256 octets", () => {
  checkSequence(
    new HpackDecoder(256),
    [
      "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e" +
      "919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
      "4883 640e ffc1 c0bf",
      "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7" +
      "821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed" +
      "4ee5 b106 3d50 07",
    ],
    RESPONSES,
    RESPONSE_TABLES,
    [222, 222, 215],
  );
});

// Dynamic table behaviour beyond Appendix C.

Deno.test("HpackDecoder: size updates evict, and an entry bigger than the table empties it", () => {
  const dec = new HpackDecoder();
  dec.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")); // 55 octets
  dec.decode(hex("4003 6162 6301 78")); // abc: x, 36 octets
  assertEquals(dynamicTable(dec), [["abc", "x"], ["custom-key", "custom-header"]]);
  assertEquals(dec.decode(hex("3f19")), []); // size update to 31 + 25 = 56: evicts the oldest
  assertEquals(dynamicTable(dec), [["abc", "x"]]);
  // Two updates at the start of a block (RFC 7541 4.2), then a field.
  assertEquals(dec.decode(hex("20 3fe11f 82")), [[":method", "GET"]]);
  assertEquals(dynamicTable(dec), []);
  dec.decode(hex("4003 6162 6301 78"));
  // :authority with 4064 value octets: a 10 + 4064 + 32 = 4106-octet entry.
  const big = "v".repeat(4064);
  const n = 4064 - 127;
  const bigBlock = new Uint8Array([
    ...[0x41, 0x7f, (n & 0x7f) | 0x80, n >> 7],
    ...new TextEncoder().encode(big),
  ]);
  assertEquals(dec.decode(bigBlock), [[":authority", big]]);
  assertEquals(dynamicTable(dec), []);
  // Many entries (grows the ring past its initial size), all still addressable.
  const fields: Headers = [];
  for (let i = 0; i < 100; i++) fields.push([`k${i}`, `v${i}`]);
  const literal = (name: string, value: string) => [
    0x40,
    name.length,
    ...new TextEncoder().encode(name),
    value.length,
    ...new TextEncoder().encode(value),
  ];
  dec.decode(new Uint8Array(fields.flatMap(([n, v]) => literal(n, v))));
  assertEquals(dynamicTable(dec), fields.toReversed());
});

// Errors.

Deno.test("HpackDecoder rejects bad indexes", () => {
  assertThrows(() => new HpackDecoder().decode(hex("80")), HpackError, /index 0/);
  assertThrows(() => new HpackDecoder().decode(hex("be")), HpackError, /index 62 is out of range/);
  assertThrows(() => new HpackDecoder().decode(hex("7e")), HpackError, /index 62 is out of range/);
  assertThrows(() => new HpackDecoder().decode(hex("0f30 00")), HpackError, /index 63/);
  const dec = new HpackDecoder();
  dec.decode(hex("4003 6162 6301 78"));
  assertEquals(dec.decode(hex("be")), [["abc", "x"]]);
  assertThrows(() => dec.decode(hex("bf")), HpackError, /index 63 is out of range/);
});

Deno.test("HpackDecoder rejects dynamic table size updates above the limit or after a field", () => {
  assertEquals(new HpackDecoder().decode(hex("3fe11f")), []); // 4096
  assertThrows(
    () => new HpackDecoder().decode(hex("3fe21f")),
    HpackError,
    /size update to 4097 exceeds the limit 4096/,
  );
  assertThrows(() => new HpackDecoder(0).decode(hex("21")), HpackError, /exceeds the limit 0/);
  assertThrows(() => new HpackDecoder().decode(hex("82 20")), HpackError, /after the first/);
});

Deno.test("huffmanDecode decodes every symbol and rejects bad padding and EOS", () => {
  const all = Array.from({ length: 256 }, (_, i) => i);
  const shuffled = all.map((_, i) => (i * 97 + 13) & 0xff);
  for (const octets of [all, shuffled, [], [0x61], [0xff], [0x0a, 0x0d, 0x16]]) {
    const enc = huffmanEncode(octets);
    assertEquals(huffmanDecode(enc, 0, enc.length), latin1Of(octets));
  }
  // Spot checks against RFC 7541 Appendix B.
  assertEquals([HUFFMAN_CODES[0x30], HUFFMAN_LENGTHS[0x30]], [0x0, 5]);
  assertEquals([HUFFMAN_CODES[0x61], HUFFMAN_LENGTHS[0x61]], [0x3, 5]);
  assertEquals([HUFFMAN_CODES[0], HUFFMAN_LENGTHS[0]], [0x1ff8, 13]);
  assertEquals([HUFFMAN_CODES[256], HUFFMAN_LENGTHS[256]], [0x3fffffff, 30]);

  const dec = (s: string) => () => new HpackDecoder().decode(hex(s));
  assertEquals(dec("04 81 1f")(), [[":path", "a"]]); // 'a' = 00011, padding 111
  assertThrows(dec("04 81 18"), HpackError, /padding that is not all ones/); // padding 000
  assertThrows(dec("04 82 1fff"), HpackError, /more than 7 bits of padding/);
  assertThrows(dec("04 81 ff"), HpackError, /more than 7 bits of padding/); // 8 bits, no symbol
  assertThrows(dec("04 84 ffffffff"), HpackError, /EOS/);
  assertThrows(dec("04 85 1fffffffff"), HpackError, /EOS/); // 'a', then EOS
});

Deno.test("HpackDecoder rejects integer overflow and truncated blocks", () => {
  const dec = (s: string) => () => new HpackDecoder().decode(hex(s));
  assertThrows(dec("ff ffffffff 7f"), HpackError, /integer exceeds 2147483647/);
  assertThrows(dec("ff 8080808080 00"), HpackError, /more than 5 continuation/);
  assertThrows(dec("ff 80808080"), HpackError, /truncated/);
  assertThrows(dec("ff"), HpackError, /truncated/);
  assertThrows(dec("40"), HpackError, /truncated/);
  assertThrows(dec("04"), HpackError, /truncated/);
  assertThrows(dec("04 05 6162"), HpackError, /truncated/);
  assertThrows(dec("00 03 6162 63"), HpackError, /truncated/);
  assertThrows(dec("00 7f"), HpackError, /truncated/);
});

Deno.test("HpackDecoder enforces the header list size limit", () => {
  const block = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"); // 42 + 43 + 38 + 57
  assertEquals(new HpackDecoder().decode(block, 180).length, 4);
  assertThrows(
    () => new HpackDecoder().decode(block, 179),
    HpackError,
    /header list size exceeds the limit 179 octets at field 4/,
  );
  assertThrows(() => new HpackDecoder().decode(block, 100), HpackError, /at field 3/);
});

Deno.test("HpackDecoder: a list over the limit is still decoded to its end, so the table stays in step", () => {
  const dec = new HpackDecoder();
  // :method GET, a 40-octet entry indexed (x-a: 1...), a 200-octet literal, another indexed entry.
  const block = new Uint8Array([
    0x82,
    0x40,
    3,
    ...new TextEncoder().encode("x-a"),
    5,
    ...new TextEncoder().encode("11111"),
    0x00,
    3,
    ...new TextEncoder().encode("x-b"),
    0x7f,
    200 - 127,
    ...new Uint8Array(200).fill(0x62),
    0x40,
    3,
    ...new TextEncoder().encode("x-c"),
    1,
    0x33,
  ]);
  let err: unknown;
  try {
    dec.decode(block, 100);
  } catch (e) {
    err = e;
  }
  assert(err instanceof HpackListSizeError, `threw ${err}`);
  assertEquals([err.limit, err.field], [100, 3]);
  // Both entries made it into the table (newest first).
  assertEquals(dynamicTable(dec), [["x-c", "3"], ["x-a", "11111"]]);
  assertEquals(dec.decode(hex("be bf")), [["x-c", "3"], ["x-a", "11111"]]);
});

Deno.test("HpackDecoder allows at most two dynamic table size updates per block", () => {
  assertEquals(new HpackDecoder().decode(hex("20 3fe11f 82")), [[":method", "GET"]]);
  assertThrows(() => new HpackDecoder().decode(hex("20 20 20 82")), HpackError, /more than 2/);
});

Deno.test("HpackDecoder: each decoder has its own read position (a decode inside a decode)", () => {
  // The list size limit is compared with `>`, so an object limit runs
  // valueOf() in the middle of the outer decode: a second decoder's decode
  // there must not move the first one's position.
  const inner = new HpackDecoder();
  let innerResult: Headers = [];
  const limit = {
    valueOf() {
      innerResult = inner.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
      return Infinity;
    },
  } as unknown as number;
  const outer = new HpackDecoder().decode(hex("82 84"), limit);
  assertEquals(outer, [[":method", "GET"], [":path", "/"]]);
  assertEquals(innerResult.length, 4);
});

Deno.test("HpackDecoder.malformed: RFC 9113 8.2.1 characters, raw, Huffman-coded and indexed", () => {
  const enc = new TextEncoder();
  const raw = (s: string) => [s.length, ...enc.encode(s)];
  const huff = (s: string) => {
    const h = huffmanEncode([...enc.encode(s)]);
    return [0x80 | h.length, ...h];
  };
  const dec = new HpackDecoder();
  const check = (block: number[], want: RegExp | "") => {
    dec.decode(new Uint8Array(block));
    if (want === "") assertEquals(dec.malformed, "");
    else assert(want.test(dec.malformed), `malformed: ${JSON.stringify(dec.malformed)}`);
  };
  check([0x82, 0x00, ...raw("x-ok"), ...raw("v v\t")], "");
  check([0x00, ...raw(":path"), ...raw("/")], ""); // a leading colon is a pseudo-header's
  check([0x00, ...raw("X-Up"), ...raw("1")], /field name "X-Up"/);
  check([0x00, ...raw("x:y"), ...raw("1")], /field name "x:y"/);
  check([0x00, ...raw(""), ...raw("1")], /field name ""/);
  check([0x00, ...huff("X-Huff"), ...huff("1")], /field name "X-Huff"/);
  check([0x00, ...raw("x-v"), ...raw("a\r\nb")], /NUL, CR or LF/);
  check([0x00, ...raw("x-v"), ...huff("a\nb")], /NUL, CR or LF/);
  check([0x0f, 0x2b, ...raw("a\u0000")], /"user-agent" has NUL/); // indexed name 58
  // A bad entry in the dynamic table stays bad when it is indexed again...
  check([0x40, ...raw("Bad"), ...raw("1")], /field name "Bad"/);
  check([0xbe], /field name "Bad"/);
  // ... also as the name of a new literal; a good one stays good.
  check([0x7e, ...raw("2")], /field name "Bad"/);
  check([0x40, ...raw("good"), ...raw("1"), 0xbe], "");
  // Each decode starts afresh.
  check([0x82], "");
});

// The encoder.

Deno.test("encodeHeaders uses static indexes and literals without indexing", () => {
  assertEquals(toHex(encodeHeaders([[":status", "200"]])), "88");
  assertEquals(toHex(encodeHeaders([["accept-charset", ""]])), "8f"); // full match, empty value
  assertEquals(
    toHex(encodeHeaders([[":status", "418"], ["content-type", "application/grpc"]])),
    "08033431380f1010" + toHex(new TextEncoder().encode("application/grpc")),
  );
  assertEquals(toHex(encodeHeaders([["grpc-status", "0"]])), "000b677270632d7374617475730130");
  assertEquals(toHex(encodeHeaders([])), "");
  assertThrows(() => encodeHeaders([["x", "\u20ac"]]), RangeError, /above U\+00FF at offset 0/);
});

Deno.test("encodeHeaders round-trips through HpackDecoder", () => {
  const allOctets = latin1Of(Array.from({ length: 256 }, (_, i) => i));
  const lists: Headers[] = [
    [[":status", "200"], ["content-type", "application/grpc"], ["grpc-encoding", "identity"]],
    [["grpc-status", "13"], ["grpc-message", "boom%0Ain%20two%20lines"]],
    [["x-bin", allOctets], [allOctets, "name"], ["", ""]],
    [126, 127, 128, 16383, 16384, 100_000].map((n) => ["www-authenticate", "a".repeat(n)]),
    [[":method", "GET"], [":path", "/index.html"], [":status", "304"], ["age", "3"]],
  ];
  const dec = new HpackDecoder();
  for (const list of lists) {
    assertEquals(dec.decode(encodeHeaders(list)), list);
    assertEquals(dynamicTable(dec), []);
  }
});

Deno.test("encodeHeaders results stay intact while later calls share the pool", () => {
  const lists: Headers[] = [];
  for (let i = 0; i < 3000; i++) {
    lists.push([[":status", "200"], ["grpc-message", "m".repeat(i % 300)], [`x-${i}`, `${i}`]]);
  }
  const blocks = lists.map(encodeHeaders);
  const dec = new HpackDecoder();
  blocks.forEach((block, i) => assertEquals(dec.decode(block), lists[i], `list ${i}`));
});

Deno.test("HpackEncoder: constant fields are added to the table once, then sent as indexes", () => {
  const response = new ConstantHeaders([
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-accept-encoding", "identity,gzip"],
  ]);
  const trailers = new ConstantHeaders([["grpc-status", "0"]]);
  // :status 200 is in the static table; content-type's name is too (index 31).
  const first = new HpackEncoder().encode(response);
  assertEquals(toHex(first.subarray(0, 3)), "885f10");
  // From now on: indexes only, and the same bytes every time.
  const dec2 = new HpackDecoder(), enc2 = new HpackEncoder();
  for (let i = 0; i < 3; i++) {
    const a = enc2.encode(response), b = enc2.encode(trailers);
    assertEquals(dec2.decode(a), response.fields);
    assertEquals(dec2.decode(b), trailers.fields);
    if (i > 0) {
      assertEquals(toHex(a), "88c0bf"); // grpc-status is the newest entry (62)
      assertEquals(toHex(b), "be");
    }
  }
  assertEquals(dynamicTable(dec2), [
    ["grpc-status", "0"],
    ["grpc-accept-encoding", "identity,gzip"],
    ["content-type", "application/grpc"],
  ]);
  // An encoded block passes as it is.
  const raw = encodeHeaders([["grpc-status", "5"]]);
  assertEquals(enc2.encode(raw), raw);
  assertThrows(() => new ConstantHeaders([["x", "\u20ac"]]), RangeError, /above U\+00FF/);
});

Deno.test("HpackEncoder: a smaller peer table is signalled at the start of the next block, and evicts", () => {
  const enc = new HpackEncoder(), dec = new HpackDecoder();
  const a = new ConstantHeaders([["x-a", "1".repeat(40)]]); // 3 + 40 + 32 = 75 octets
  const b = new ConstantHeaders([["x-b", "2".repeat(40)]]);
  dec.decode(enc.encode(a));
  dec.decode(enc.encode(b));
  assertEquals(dynamicTable(dec).length, 2);
  enc.setMaxTableSize(100); // room for one entry: the older goes
  const raw = encodeHeaders([["grpc-status", "0"]]);
  const block = enc.encode(raw);
  assertEquals(toHex(block.subarray(0, 2)), "3f45"); // size update to 100 (5-bit prefix: 31 + 69)
  assertEquals(dec.decode(block), [["grpc-status", "0"]]);
  assertEquals(dynamicTable(dec), [["x-b", "2".repeat(40)]]);
  assertEquals(toHex(enc.encode(b)), "be");
  assertEquals(dec.decode(enc.encode(a)), a.fields); // added again, evicting b
  assertEquals(dynamicTable(dec), [["x-a", "1".repeat(40)]]);
  assertEquals(enc.encode(raw), raw, "no update is pending any more");
  enc.setMaxTableSize(4096); // larger than in use: not used, not signalled
  assertEquals(enc.encode(raw), raw);
  enc.setMaxTableSize(0);
  const none = enc.encode(a);
  assertEquals(toHex(none.subarray(0, 1)), "20");
  assertEquals(dec.decode(none), a.fields);
  assertEquals(dynamicTable(dec), []);
  assertEquals(dec.decode(enc.encode(a)), a.fields, "a literal, not indexed");
  assertEquals(dynamicTable(dec), []);
});

Deno.test("HpackEncoder stays in step with HpackDecoder through random lists and table sizes", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const lists = Array.from({ length: 12 }, (_, i) =>
    new ConstantHeaders(
      Array.from({ length: 1 + (i % 4) }, (_, j): [string, string] =>
        j === 0 && i % 3 === 0 ? [":status", "200"] : [`x-${i % 5}-${j}`, "v".repeat(rand(300))]),
    ));
  for (let round = 0; round < 20; round++) {
    const enc = new HpackEncoder(), dec = new HpackDecoder();
    let capacity = 4096, shrunk = false;
    for (let i = 0; i < 400; i++) {
      if (rand(50) === 0) {
        const size = rand(5000);
        enc.setMaxTableSize(size);
        if (size < capacity) [capacity, shrunk] = [size, true];
      }
      const list = lists[rand(lists.length)];
      const block = enc.encode(list);
      // A size update exactly when the table shrank since the last block.
      assertEquals((block[0] & 0xe0) === 0x20, shrunk, `round ${round}, block ${i}: update`);
      shrunk = false;
      assertEquals(dec.decode(block), list.fields, `round ${round}, block ${i}`);
    }
  }
});

// Interoperability with golang.org/x/net/http2/hpack's encoder.

const HPACKGEN_DIR = new URL("./testdata/hpackgen/", import.meta.url).pathname;
const BIN_DIR = new URL("../../.cache/bin/", import.meta.url).pathname;
const HPACKGEN_BIN = `${BIN_DIR}hpackgen`;

Deno.test({
  name: "HpackDecoder decodes x/net's Huffman-coded blocks with a changing dynamic table",
  ignore: !hasCommand("go", ["version"]),
  fn: async () => {
    await Deno.mkdir(BIN_DIR, { recursive: true });
    const build = await new Deno.Command("go", {
      args: ["build", "-o", HPACKGEN_BIN, "."],
      cwd: HPACKGEN_DIR,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert(build.success, `go build hpackgen failed:\n${new TextDecoder().decode(build.stderr)}`);
    let blocks = 0, fields = 0;
    for (const seed of [1, 2, 3, 4]) {
      const run = await new Deno.Command(HPACKGEN_BIN, {
        args: [String(seed), "300"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(run.success, `hpackgen failed:\n${new TextDecoder().decode(run.stderr)}`);
      const dec = new HpackDecoder();
      for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
        const want = JSON.parse(line) as { hex: string; headers: Headers };
        assertEquals(dec.decode(hex(want.hex)), want.headers, `seed ${seed}, block ${blocks}`);
        blocks++;
        fields += want.headers.length;
      }
    }
    assertEquals(blocks, 1200);
    assert(fields > 5000, `only ${fields} fields`);
  },
});

Deno.test("hpack: warmUpHpackDecoder decodes its canned blocks (it warms nothing if they throw)", () => {
  warmUpHpackDecoder();
  warmUpHpackDecoder(); // once per process: the second call does nothing
});
