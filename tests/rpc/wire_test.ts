/**
 * Tests of the gRPC wire pieces both roles share (`rpc/wire.ts`):
 * `grpc-timeout`, percent-encoded `grpc-message`, metadata, gzip and zip
 * bombs. The message reader: message_reader_test.ts.
 *
 * @module
 */

import { RpcError, Status } from "../../rpc/status.ts";
import {
  acceptsGzip,
  formatTimeout,
  gunzip,
  gzip,
  messagePrefix,
  metadataFields,
  metadataOf,
  parseTimeout,
  percentDecode,
  percentEncode,
  statusOfHttp,
} from "../../rpc/wire.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

const enc = new TextEncoder();

Deno.test("formatTimeout: round trips through parseTimeout, never early, in at most 8 digits", () => {
  const values = [
    0.4,
    1,
    50,
    999,
    1000,
    99_999_999,
    1e8,
    1e8 + 1,
    99_999_999_000,
    99_999_999_001,
    99_999_999_500, // rounds up to 1e8 seconds: one digit too many
    5_999_999_999_970, // and to 1e8 minutes
    6e12,
    359_999_996_400_000, // 99_999_999 hours
    3.6e14 + 1,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    Infinity,
  ];
  for (const ms of values) {
    const text = formatTimeout(ms);
    assert(/^\d{1,8}[HMSm]$/.test(text), `formatTimeout(${ms}) = ${text}`);
    const back = parseTimeout(text)!;
    assert(back !== undefined, `parseTimeout(${text})`);
    if (ms <= 359_999_996_400_000) {
      assert(back >= ms, `formatTimeout(${ms}) = ${text} is shorter`);
      // Rounded up by less than one of its unit.
      const unit = { m: 1, S: 1000, M: 60_000, H: 3_600_000 }[text.at(-1)!]!;
      assert(back - ms < unit, `formatTimeout(${ms}) = ${text} is too long`);
    } else {
      assertEquals(text, "99999999H", `formatTimeout(${ms})`);
    }
  }
  assertEquals(formatTimeout(50), "50m");
  assertEquals(formatTimeout(99_999_999_500), "1666667M");
  // Nothing left, or nonsense: already due.
  for (const ms of [0, -5, -Infinity, NaN]) assertEquals(formatTimeout(ms), "0m", `${ms}`);
});

Deno.test("parseTimeout: every unit, and values the spec refuses", () => {
  assertEquals(parseTimeout("2H"), 7_200_000);
  assertEquals(parseTimeout("3M"), 180_000);
  assertEquals(parseTimeout("4S"), 4000);
  assertEquals(parseTimeout("5m"), 5);
  assertEquals(parseTimeout("6000u"), 6);
  assertEquals(parseTimeout("7000000n"), 7);
  assertEquals(parseTimeout("99999999S"), 99_999_999_000);
  for (
    const bad of [
      undefined,
      "",
      "5",
      "S",
      "-1S",
      "1.5S",
      "123456789S",
      "5s",
      " 5S",
      "5 S",
      "+5S",
      "0x1S",
      "\u0661S",
      "5toString",
    ]
  ) {
    assertEquals(parseTimeout(bad), undefined, `parseTimeout(${JSON.stringify(bad)})`);
  }
});

Deno.test("percentEncode/percentDecode: round trips of text with %, non-ASCII and controls", () => {
  for (
    const text of [
      "",
      "plain",
      "100%",
      "%41 is not A",
      "clé «introuvable» 😀",
      "tab\there\nnewline\u0000nul",
      "\u00ff\u0100",
    ]
  ) {
    const encoded = percentEncode(text);
    assert(/^[\x20-\x7e]*$/.test(encoded), `percentEncode(${JSON.stringify(text)}) = ${encoded}`);
    assertEquals(percentDecode(encoded), text);
  }
  assertEquals(percentEncode("a%b é"), "a%25b %C3%A9");
  // Long messages are cut at 4096 characters.
  assertEquals(percentDecode(percentEncode("x".repeat(5000))).length, 4096);
});

Deno.test("percentDecode: malformed escapes are kept as they are", () => {
  assertEquals(percentDecode("%"), "%");
  assertEquals(percentDecode("100%"), "100%");
  assertEquals(percentDecode("%4"), "%4");
  assertEquals(percentDecode("%G1"), "%G1");
  assertEquals(percentDecode("%%41"), "%A");
  assertEquals(percentDecode("%4%41"), "%4A");
  assertEquals(percentDecode("%zz%20ok"), "%zz ok");
  assertEquals(percentDecode("%c3%a9"), "é"); // lower-case hex
  // An escaped byte sequence that is not UTF-8 becomes U+FFFD, not an error.
  assertEquals(percentDecode("a%FFb"), "a\ufffdb");
  assertEquals(percentDecode("%E2%82"), "\ufffd");
});

Deno.test("percentDecode: unescaped octets are UTF-8, as HPACK hands them over (one char per octet)", () => {
  const rawUtf8 = (s: string) => String.fromCharCode(...new TextEncoder().encode(s));
  assertEquals(percentDecode(rawUtf8("café")), "café");
  assertEquals(percentDecode(rawUtf8("100% sûr")), "100% sûr");
  assertEquals(percentDecode(rawUtf8("😀") + "%21"), "😀!");
  // A string made in JS (not from the wire) keeps its characters.
  assertEquals(percentDecode("😀 %41"), "😀 A");
});

Deno.test("metadataFields: lower-cased names, several values, -bin values base64 without padding", () => {
  assertEquals(
    metadataFields({
      "X-Id": "7",
      "x-list": ["a", "b"],
      "x-raw-bin": new Uint8Array([0, 1, 255]),
      "x-text-bin": "é",
      "x-many-bin": [new Uint8Array([1]), new Uint8Array([1, 2])],
    }),
    [
      ["x-id", "7"],
      ["x-list", "a"],
      ["x-list", "b"],
      ["x-raw-bin", "AAH/"],
      ["x-text-bin", "w6k"],
      ["x-many-bin", "AQ"],
      ["x-many-bin", "AQI"],
    ],
  );
  assertEquals(metadataFields(undefined), []);
  assertEquals(metadataFields({}), []);
});

Deno.test("metadataFields: reserved names and binary values on other names are refused", () => {
  for (
    const name of [
      ":path",
      ":authority",
      "te",
      "content-type",
      "Content-Type",
      "grpc-timeout",
      "grpc-status",
      "grpc-message",
      "grpc-encoding",
      "grpc-accept-encoding",
      "grpc-status-details-bin",
    ]
  ) {
    assertThrows(() => metadataFields({ [name]: "x" }), TypeError, /reserved/);
  }
  assertThrows(
    () => metadataFields({ "x-data": new Uint8Array([1]) }),
    TypeError,
    /must end in "-bin"/,
  );
  assertThrows(
    () => metadataFields({ "x-data": ["ok", new Uint8Array([1])] }),
    TypeError,
    /binary value/,
  );
});

Deno.test("metadataOf: transport headers left out, -bin decoded (padded or not), bad base64 dropped", () => {
  const md = metadataOf([
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-status", "0"],
    ["grpc-message", "m"],
    ["te", "trailers"],
    ["x-a", "1"],
    ["x-a", "2"],
    ["x-p-bin", "AQI="],
    ["x-u-bin", "AQI"],
    ["x-bad-bin", "!!!"],
  ]);
  assertEquals(Object.keys(md), ["x-a", "x-p-bin", "x-u-bin"]);
  assertEquals(md["x-a"], ["1", "2"]);
  assertEquals([...(md["x-p-bin"][0] as Uint8Array)], [1, 2]);
  assertEquals([...(md["x-u-bin"][0] as Uint8Array)], [1, 2]);
  // What metadataFields writes, metadataOf reads back.
  const bin = new Uint8Array([250, 0, 7]);
  const back = metadataOf(metadataFields({ "k-bin": bin, k: "v" }));
  assertEquals([[...(back["k-bin"][0] as Uint8Array)], back.k], [[...bin], ["v"]]);
});

Deno.test("statusOfHttp: the spec's mapping", () => {
  const cases: [string, number][] = [
    ["400", Status.INTERNAL],
    ["401", Status.UNAUTHENTICATED],
    ["403", Status.PERMISSION_DENIED],
    ["404", Status.UNIMPLEMENTED],
    ["429", Status.UNAVAILABLE],
    ["502", Status.UNAVAILABLE],
    ["503", Status.UNAVAILABLE],
    ["504", Status.UNAVAILABLE],
    ["500", Status.UNKNOWN],
    ["", Status.UNKNOWN],
  ];
  for (const [http, code] of cases) assertEquals(statusOfHttp(http), code, http);
});

/** Rejects with an RpcError of `code`; returns it. */
async function rejectsWith(p: Promise<unknown>, code: number, pattern?: RegExp): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof RpcError)) throw new Error(`expected an RpcError, got ${err}`);
    assertEquals(err.code, code, `status of "${err.message}"`);
    if (pattern) assert(pattern.test(err.message), `message: ${err.message}`);
    return err;
  }
  throw new Error(`expected status ${code}, but it succeeded`);
}

/** A gzip body of `n` zero bytes, made in 1 MiB pieces. */
async function gzippedZeros(n: number): Promise<Uint8Array> {
  const stream = new CompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const mib = new Uint8Array(1 << 20);
  void (async () => {
    for (let left = n; left > 0; left -= mib.length) {
      await writer.write(left >= mib.length ? mib : mib.subarray(0, left));
    }
    await writer.close();
  })();
  return new Uint8Array(await new Response(stream.readable).arrayBuffer());
}

Deno.test("gzip and gunzip: round trip; at the limit is fine, one byte over is RESOURCE_EXHAUSTED", async () => {
  const body = enc.encode("hello gzip ".repeat(1000));
  const packed = await gzip(body);
  assert(packed.length < body.length / 10, `compressed to ${packed.length}`);
  assertEquals(await gunzip(packed, body.length), body);
  await rejectsWith(gunzip(packed, body.length - 1), Status.RESOURCE_EXHAUSTED, /max/);
  assertEquals((await gunzip(await gzip(new Uint8Array(0)), 0)).length, 0);
});

Deno.test("gunzip: a zip bomb stops at the limit (64 MiB of zeros against 1 MiB), never inflated whole", async () => {
  const bomb = await gzippedZeros(64 << 20);
  assert(bomb.length < 100_000, `the bomb is ${bomb.length} bytes`);
  // Count what the decompressor produces, read or not.
  const Real = globalThis.DecompressionStream;
  let produced = 0;
  globalThis.DecompressionStream = class extends Real {
    override get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
      return super.readable.pipeThrough(
        new TransformStream({
          transform(chunk, out) {
            produced += chunk.length;
            out.enqueue(chunk);
          },
        }),
      );
    }
  };
  try {
    await rejectsWith(gunzip(bomb, 1 << 20), Status.RESOURCE_EXHAUSTED, /more than max \(1048576/);
  } finally {
    globalThis.DecompressionStream = Real;
  }
  assert(produced < 4 << 20, `${produced} bytes inflated for a 1 MiB limit`);
});

Deno.test("gunzip: bytes that are not gzip, or cut short, are INTERNAL", async () => {
  const packed = await gzip(enc.encode("some text to compress"));
  await rejectsWith(gunzip(enc.encode("not gzip at all"), 1000), Status.INTERNAL, /gzip/);
  await rejectsWith(gunzip(packed.subarray(0, packed.length - 4), 1000), Status.INTERNAL);
  await rejectsWith(gunzip(new Uint8Array(0), 1000), Status.INTERNAL);
});

Deno.test("acceptsGzip: a comma-separated list, spaces and case ignored", () => {
  assert(acceptsGzip("identity,gzip"));
  assert(acceptsGzip("identity, deflate , GZIP"));
  assert(acceptsGzip("gzip"));
  assert(!acceptsGzip("identity,deflate"));
  assert(!acceptsGzip("gzipx"));
  assert(!acceptsGzip(""));
  assert(!acceptsGzip(undefined));
});

Deno.test("messagePrefix: the compressed flag and the size", () => {
  assertEquals([...messagePrefix(0x010203)], [0, 0, 1, 2, 3]);
  assertEquals([...messagePrefix(5, true)], [1, 0, 0, 0, 5]);
});
