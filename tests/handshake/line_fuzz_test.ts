/**
 * Fuzzing the host-side handshake parser: random and mutated lines must
 * either parse or throw HandshakeError, nothing else, and return promptly.
 * Seeded, so a failure names the seed and case that reproduce it.
 */

import { buildHandshakeLine, parseHandshakeLine } from "../../handshake/line.ts";
import { HandshakeError } from "../../errors.ts";
import { assert } from "../_util/assert.ts";

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = "0123456789|||unixtcpgrpcnetrpc/:.-_+=ABCxyz \t\r\n\u0000\uFEFF\u00e9\u{1F600}";

function randomLine(rand: () => number): string {
  const len = Math.floor(rand() ** 3 * 400);
  let s = "";
  for (let i = 0; i < len; i++) s += [...ALPHABET][Math.floor(rand() * [...ALPHABET].length)];
  return s;
}

function validLine(rand: () => number): string {
  const der = new Uint8Array(Math.floor(rand() * 700)).map(() => Math.floor(rand() * 256));
  return buildHandshakeLine({
    coreVersion: 1,
    appVersion: Math.floor(rand() * 10),
    network: rand() < 0.5 ? "unix" : "tcp",
    address: rand() < 0.5 ? "/tmp/plugin123" : "127.0.0.1:1234",
    protocol: "grpc",
    serverCertDer: der.length > 40 ? der : undefined,
    muxSupported: rand() < 0.2 ? rand() < 0.5 : undefined,
  });
}

function mutate(line: string, rand: () => number): string {
  const chars = [...line];
  const edits = 1 + Math.floor(rand() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (chars.length + 1));
    const op = rand();
    const ch = [...ALPHABET][Math.floor(rand() * [...ALPHABET].length)];
    if (op < 0.3) chars.splice(at, 1);
    else if (op < 0.6) chars.splice(at, 0, ch);
    else if (op < 0.8) chars[at] = ch;
    else chars.splice(at, 0, ...chars.slice(0, Math.floor(rand() * 50)));
  }
  return chars.join("");
}

function check(line: string, seed: number, i: number): void {
  try {
    const info = parseHandshakeLine(line);
    assert(info.coreVersion === 1, "a parsed line has core version 1");
    assert(info.network === "unix" || info.network === "tcp", "a parsed line has a known network");
  } catch (err) {
    if (!(err instanceof HandshakeError)) {
      throw new Error(
        `seed ${seed}, case ${i}: ${JSON.stringify(line.slice(0, 300))} threw ${err}`,
      );
    }
  }
}

Deno.test("parseHandshakeLine() on 20,000 random and mutated lines throws only HandshakeError", () => {
  const seed = 20261125;
  const rand = prng(seed);
  for (let i = 0; i < 20_000; i++) {
    const r = rand();
    const line = r < 0.3
      ? randomLine(rand)
      : r < 0.9
      ? mutate(validLine(rand), rand)
      : validLine(rand);
    check(line, seed, i);
  }
});

Deno.test("parseHandshakeLine() on huge lines stays linear and typed", () => {
  check("1|1|unix|/p|grpc|" + "A".repeat(1 << 20), 0, 0);
  check("|".repeat(1 << 20), 0, 1);
  check("1|1|unix|" + "/".repeat(1 << 20) + "|grpc|", 0, 2);
  check("1".repeat(1 << 16) + "|1|unix|/p", 0, 3);
});
