import { buildHandshakeLine, parseHandshakeLine } from "../../handshake/line.ts";
import { HandshakeError } from "../../errors.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

const base = {
  coreVersion: 1,
  appVersion: 1,
  network: "unix",
  address: "/tmp/plugin1",
  protocol: "grpc",
} as const;

Deno.test("buildHandshakeLine() prints six fields with an empty cert field", () => {
  assertEquals(buildHandshakeLine(base), "1|1|unix|/tmp/plugin1|grpc|\n");
});

Deno.test("buildHandshakeLine() encodes the cert as unpadded standard base64, any length mod 3", () => {
  for (const len of [300, 301, 302]) {
    const der = new Uint8Array(len).map((_, i) => (i * 97 + 251) & 0xff);
    const line = buildHandshakeLine({ ...base, serverCertDer: der });
    const field = line.trim().split("|")[5];
    assert(!field.includes("=") && !field.includes("-") && !field.includes("_"), field);
    assertEquals([...parseHandshakeLine(line).serverCertDer!], [...der]);
  }
});

Deno.test("buildHandshakeLine() prints field 7 only when asked", () => {
  assertEquals(
    buildHandshakeLine({ ...base, muxSupported: true }),
    "1|1|unix|/tmp/plugin1|grpc||true\n",
  );
});

Deno.test("buildHandshakeLine() refuses an address containing |", () => {
  assertThrows(
    () => buildHandshakeLine({ ...base, address: "/tmp/a|b" }),
    HandshakeError,
    /contains "\|"/,
  );
});

Deno.test("parseHandshakeLine() accepts go-plugin's and the Python example's lines", () => {
  const go = parseHandshakeLine("1|1|unix|/tmp/plugin2743510421|grpc|\r\n");
  assertEquals([go.network, go.address, go.protocol, go.serverCertDer], [
    "unix",
    "/tmp/plugin2743510421",
    "grpc",
    undefined,
  ]);
  const py = parseHandshakeLine("1|1|tcp|127.0.0.1:1234|grpc");
  assertEquals([py.network, py.address], ["tcp", "127.0.0.1:1234"]);
  assertEquals(parseHandshakeLine("1|2|tcp|127.0.0.1:1").protocol, "netrpc");
});

Deno.test("parseHandshakeLine() ignores a short cert field and accepts a padded one", () => {
  assertEquals(parseHandshakeLine("1|1|unix|/p|grpc|e30").serverCertDer, undefined);
  const padded = btoa("x".repeat(61)); // ends with "="
  assert(padded.endsWith("="), padded);
  assertEquals(parseHandshakeLine(`1|1|unix|/p|grpc|${padded}`).serverCertDer!.length, 61);
});

Deno.test("parseHandshakeLine() rejects what go-plugin's host rejects, with typed errors", () => {
  const cases: [string, RegExp][] = [
    ["", /Unrecognized remote plugin message/],
    ["hello world", /Unrecognized remote plugin message/],
    ["2|1|unix|/p|grpc|", /Incompatible core API version/],
    ["x|1|unix|/p|grpc|", /core protocol version "x"/],
    ["1|one|unix|/p|grpc|", /app protocol version "one"/],
    ["1|1|udp|/p|grpc|", /Unknown address type "udp"/],
    ["1|1|unix||grpc|", /empty address/],
    [`1|1|unix|/p|grpc|${"-".repeat(60)}`, /not standard base64/],
    ["1|1|unix|/p|grpc||maybe", /must be "true" or "false"/],
  ];
  for (const [line, pattern] of cases) {
    const err = assertThrows(() => parseHandshakeLine(line), HandshakeError, pattern);
    assertEquals(err.line, line);
  }
});
