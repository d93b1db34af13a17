/**
 * Seeded, bounded fuzzing of what a peer's bytes reach first: the HTTP/2
 * frame reader (`H2Connection.receive`, in both roles), the HPACK decoder and
 * the gRPC message parser (`MessageReader`, gzip included).
 *
 * Inputs mix random bytes, mutations of valid inputs (bit flips,
 * truncations, splices, corrupted length fields, frames dropped, repeated,
 * moved or flagged differently, floods and rule-breaking frames inserted)
 * and valid inputs (header blocks from a model encoder that uses the
 * dynamic table and Huffman coding; client and server scripts; gRPC
 * messages, plain and gzip), each fed whole and cut at random points.
 *
 * Properties: nothing but the target's own typed errors comes out (out of
 * `receive()`, nothing at all: errors become GOAWAY or RST_STREAM); each
 * input is done within 10 s (a watchdog reports a hang; generous, since CI
 * machines are shared); cutting the
 * input changes nothing (output bytes and every callback); a connection
 * holds no more streams and no more unwritten replies than its limits,
 * closes after a connection error and writes only valid frames; every
 * stream handed out hears of its end or a reset; valid inputs decode to
 * exactly what was encoded, and valid scripts meet no refusal.
 *
 * `RPCPLUGIN_FUZZ_SEED`, `RPCPLUGIN_FUZZ_ITERATIONS` (cases per target) and
 * `RPCPLUGIN_FUZZ_CASE` (one case, to replay a failure) override the
 * defaults; `deno task fuzz` is the long run.
 *
 * @module
 */

import {
  CLIENT_PREFACE,
  Flag,
  frame,
  FrameType,
  goawayFrame,
  H2Error,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../h2/frame.ts";
import {
  DEFAULT_H2_LIMITS,
  H2Connection,
  type H2Limits,
  type H2Stream,
} from "../../h2/connection.ts";
import { encodeHeaders, HpackDecoder, HpackError, HpackListSizeError } from "../../h2/hpack.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../h2/_huffman_table.ts";
import { MessageReader } from "../../rpc/message_reader.ts";
import { gzip } from "../../rpc/wire.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { fuzz, toHex } from "../_util/fuzz.ts";
import { mixSeed, Prng } from "../_util/prng.ts";
import { concat, type Frame, HeldTransport, MemoryTransport, parseFrames } from "./_h2client.ts";

type Fields = [string, string][];

// ---------------------------------------------------------------------------
// Mutations and cuts

/** A length (or other numeric) field of a valid input: big-endian, or an HPACK integer prefix. */
interface NumField {
  /** Offset of its first byte. */
  at: number;
  /** Bytes (big-endian); 1 with `mask` for an HPACK prefix. */
  size: number;
  /** The prefix bits of an HPACK integer. */
  mask?: number;
}

/** A valid input with the offsets of its numeric fields. */
interface Marked {
  bytes: Uint8Array;
  fields: NumField[];
}

const INTERESTING = [0x00, 0x01, 0x0f, 0x10, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff];

function corruptField(r: Prng, b: Uint8Array, f: NumField): void {
  if (f.at + f.size > b.length) return;
  if (f.mask !== undefined) {
    b[f.at] = r.chance(0.5) ? b[f.at] | f.mask : (b[f.at] & ~f.mask) | (r.u32() & f.mask);
    return;
  }
  let v = 0;
  for (let i = 0; i < f.size; i++) v = v * 256 + b[f.at + i];
  const modulus = 2 ** (8 * f.size);
  const choices = [
    0,
    1,
    v - 1,
    v + 1,
    v + r.range(2, 64),
    v * 2,
    modulus - 1,
    modulus / 2,
    r.u32(),
  ];
  v = ((r.pick(choices) % modulus) + modulus) % modulus;
  for (let i = f.size - 1; i >= 0; i--) {
    b[f.at + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

/** Mutates a valid input: corrupted numeric fields, then byte-level edits. */
function mutate(r: Prng, input: Marked, donors: readonly Uint8Array[] = []): Uint8Array {
  let b: Uint8Array = input.bytes.slice();
  let edits = r.range(1, 4);
  if (input.fields.length && r.chance(0.5)) {
    const n = r.range(1, 2);
    for (let i = 0; i < n; i++) corruptField(r, b, r.pick(input.fields));
    edits = r.int(3);
  }
  for (let k = 0; k < edits; k++) {
    const at = r.int(b.length + 1);
    switch (r.int(9)) {
      case 0: // bit flip
        if (at < b.length) b[at] ^= 1 << r.int(8);
        break;
      case 1: // an interesting byte
        if (at < b.length) b[at] = r.pick(INTERESTING);
        break;
      case 2: // a random byte
        if (at < b.length) b[at] = r.int(256);
        break;
      case 3: // truncation
        b = b.slice(0, at);
        break;
      case 4: { // a range deleted
        const end = Math.min(b.length, at + 1 + r.size(64));
        b = concat(b.subarray(0, at), b.subarray(end));
        break;
      }
      case 5: // random bytes inserted
        b = concat(b.subarray(0, at), r.bytes(1 + r.size(32)), b.subarray(at));
        break;
      case 6: { // a range of itself repeated elsewhere
        const from = r.int(b.length + 1), len = r.size(Math.min(256, b.length - from));
        b = concat(b.subarray(0, at), b.slice(from, from + len), b.subarray(at));
        break;
      }
      default: { // a splice from another valid input
        const donor = donors.length ? r.pick(donors) : input.bytes;
        const from = r.int(donor.length + 1), len = r.size(Math.min(512, donor.length - from));
        const piece = donor.subarray(from, from + len);
        b = r.chance(0.5)
          ? concat(b.subarray(0, at), piece, b.subarray(at))
          : concat(b.subarray(0, at), piece, b.subarray(Math.min(b.length, at + piece.length)));
      }
    }
  }
  return b;
}

/** Where to cut an input of `n` bytes: a few random points, sometimes every byte. */
function cutPoints(r: Prng, n: number): number[] {
  if (n > 1 && n <= 2048 && r.chance(0.05)) return Array.from({ length: n - 1 }, (_, i) => i + 1);
  const k = r.range(1, 8), cuts: number[] = [];
  for (let i = 0; i < k; i++) cuts.push(r.int(n + 1)); // empty pieces too
  return cuts.sort((a, b) => a - b);
}

/** The pieces between the cuts, each a fresh copy (so that it can be scribbled over after use). */
function piecesOf(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.slice(from, cut));
    from = cut;
  }
  return out;
}

/** Overwrites a piece once the callee is done with it: a callee that kept the view would see this. */
function scribble(piece: Uint8Array): void {
  piece.fill(0xa5);
}

/** A short digest of bytes, for event logs. */
function digest(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return `${b.length}:${(h >>> 0).toString(16)}`;
}

// ---------------------------------------------------------------------------
// HPACK: a model encoder (dynamic table, Huffman), header lists

/** The static table, read back from the decoder (RFC 7541 Appendix A; checked by hpack_test.ts). */
const STATIC: readonly (readonly [string, string])[] = Array.from(
  { length: 61 },
  (_, i) => new HpackDecoder().decode(new Uint8Array([0x81 + i]))[0],
);

function putInt(out: number[], value: number, bits: number, flags: number): void {
  const mask = (1 << bits) - 1;
  if (value < mask) {
    out.push(flags | value);
    return;
  }
  out.push(flags | mask);
  value -= mask;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/** Huffman-codes a Latin-1 string (RFC 7541 5.2, Appendix B). */
function huffman(s: string): number[] {
  const out: number[] = [];
  let acc = 0, bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const code = HUFFMAN_CODES[c];
    let len = HUFFMAN_LENGTHS[c];
    while (len > 0) {
      const take = Math.min(len, 8 - bits);
      acc = (acc << take) | ((code >>> (len - take)) & ((1 << take) - 1));
      bits += take;
      len -= take;
      if (bits === 8) {
        out.push(acc);
        acc = bits = 0;
      }
    }
  }
  if (bits) out.push(((acc << (8 - bits)) | (0xff >> bits)) & 0xff);
  return out;
}

function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

function listSize(fields: readonly (readonly [string, string])[]): number {
  return fields.reduce((n, [name, value]) => n + entrySize(name, value), 0);
}

/**
 * An HPACK encoder of our own that uses everything a decoder must handle:
 * indexed fields (static and dynamic), the three literal kinds with indexed
 * or literal names, Huffman and raw strings, and table size updates. It
 * keeps a model of the decoder's dynamic table.
 */
class ModelEncoder {
  #table: [string, string][] = []; // newest first: index 62 + i
  #size = 0;
  #capacity: number;

  /** @param limit The decoder's maximum table size. */
  constructor(readonly limit: number) {
    this.#capacity = limit;
  }

  #evict(room: number): void {
    while (this.#table.length && this.#size + room > this.#capacity) {
      const [name, value] = this.#table.pop()!;
      this.#size -= entrySize(name, value);
    }
  }

  #insert(name: string, value: string): void {
    const size = entrySize(name, value);
    this.#evict(size);
    if (size > this.#capacity) return;
    this.#table.unshift([name, value]);
    this.#size += size;
  }

  #string(r: Prng, out: number[], fields: NumField[], s: string): void {
    fields.push({ at: out.length, size: 1, mask: 0x7f });
    if (r.chance(0.5)) {
      const h = huffman(s);
      putInt(out, h.length, 7, 0x80);
      out.push(...h);
    } else {
      putInt(out, s.length, 7, 0);
      for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
    }
  }

  /** Encodes one header block. */
  encode(r: Prng, headers: readonly (readonly [string, string])[]): Marked {
    const out: number[] = [], fields: NumField[] = [];
    if (r.chance(0.1)) {
      for (let k = r.range(1, 2); k > 0; k--) {
        const size = r.chance(0.5) ? this.limit : r.int(this.limit + 1);
        fields.push({ at: out.length, size: 1, mask: 0x1f });
        putInt(out, size, 5, 0x20);
        this.#capacity = size;
        this.#evict(0);
      }
    }
    for (const [name, value] of headers) {
      const exact = this.#find(r, name, value);
      if (exact && r.chance(0.8)) {
        fields.push({ at: out.length, size: 1, mask: 0x7f });
        putInt(out, exact, 7, 0x80);
        continue;
      }
      const nameIndex = r.chance(0.7) ? this.#find(r, name, null) : 0;
      const kind = r.int(3);
      const [bits, flags] = kind === 0 ? [6, 0x40] : kind === 1 ? [4, 0x00] : [4, 0x10];
      fields.push({ at: out.length, size: 1, mask: (1 << bits) - 1 });
      putInt(out, nameIndex, bits, flags);
      if (nameIndex === 0) this.#string(r, out, fields, name);
      this.#string(r, out, fields, value);
      if (kind === 0) this.#insert(name, value);
    }
    return { bytes: new Uint8Array(out), fields };
  }

  /** The index of a field (`value` null: of its name) in either table, or 0. */
  #find(r: Prng, name: string, value: string | null): number {
    const inStatic = STATIC.findIndex(([n, v]) => n === name && (value === null || v === value));
    const inTable = this.#table.findIndex(([n, v]) =>
      n === name && (value === null || v === value)
    );
    if (inStatic >= 0 && (inTable < 0 || r.chance(0.5))) return inStatic + 1;
    return inTable >= 0 ? STATIC.length + 1 + inTable : 0;
  }
}

const NAMES = [
  ":method",
  ":scheme",
  ":path",
  ":authority",
  ":status",
  "content-type",
  "te",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
  "user-agent",
  "x-trace-bin",
  "cookie",
  "content-length",
  "accept-encoding",
  "cache-control",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  ":protocol",
  "x-request-id",
];
const VALUES = [
  "POST",
  "GET",
  "/",
  "/plugin.GRPCBroker/StartStream",
  "http",
  "https",
  "200",
  "404",
  "application/grpc",
  "trailers",
  "gzip",
  "gzip, deflate",
  "identity,gzip",
  "",
  "1S",
  "100m",
  "0",
  "grpc-go/1.85.0",
  "CONNECT",
  "101",
  "1xx",
  "12",
];
const TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789-_.";

function token(r: Prng, min: number, max: number): string {
  let s = "";
  for (let n = r.range(min, max); n > 0; n--) s += TOKEN[r.int(TOKEN.length)];
  return s;
}

/** `n` characters from U+0000 to U+00FF (`printable`: U+0020 to U+007E). */
function latin1String(r: Prng, n: number, printable: boolean): string {
  let s = "";
  for (let i = 0; i < n; i++) {
    s += String.fromCharCode(printable ? 0x20 + r.int(0x5f) : r.int(256));
  }
  return s;
}

function randomName(r: Prng): string {
  const p = r.next();
  if (p < 0.45) return r.pick(NAMES);
  if (p < 0.55) return r.pick(STATIC)[0];
  if (p < 0.8) return token(r, 1, 24);
  if (p < 0.85) return ":" + token(r, 0, 8);
  if (p < 0.9) return token(r, 1, 8).toUpperCase();
  if (p < 0.97) return latin1String(r, r.size(24), false);
  return "";
}

function randomValue(r: Prng): string {
  const p = r.next();
  if (p < 0.35) return r.pick(VALUES);
  if (p < 0.45) return r.pick(STATIC)[1];
  if (p < 0.8) return latin1String(r, r.size(80), true);
  if (p < 0.92) return latin1String(r, r.size(80), false);
  return latin1String(r, r.range(127, 5000), r.chance(0.8)); // multi-octet lengths
}

function randomHeaders(r: Prng, maxFields = 14): Fields {
  const out: Fields = [];
  for (let n = r.size(maxFields); n > 0; n--) out.push([randomName(r), randomValue(r)]);
  if (r.chance(0.1) && out.length) out.push(out[r.int(out.length)]); // a repeat: indexed
  return out;
}

/** RFC 9113 8.2.1: a name with a character other than lower-case tokens (a leading colon aside). */
function badName(s: string): boolean {
  if (s.length === 0) return true;
  for (let i = s.charCodeAt(0) === 0x3a ? 1 : 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x3a || (c >= 0x41 && c <= 0x5a) || c >= 0x7f) return true;
  }
  return false;
}

/** RFC 9113 8.2.1: a value with NUL, CR or LF. */
function badValue(s: string): boolean {
  return /[\0\r\n]/.test(s);
}

function expectMalformed(dec: HpackDecoder, fields: Fields): void {
  const bad = fields.some(([n, v]) => badName(n) || badValue(v));
  assert(
    (dec.malformed !== "") === bad,
    `malformed is ${JSON.stringify(dec.malformed)}, but the list ${bad ? "has" : "has no"} ` +
      `forbidden characters: ${JSON.stringify(fields).slice(0, 300)}`,
  );
}

function hex(s: string): Uint8Array {
  return Uint8Array.fromHex(s.replace(/\s+/g, ""));
}

/** RFC 7541 Appendix C blocks (C.4 and C.6 Huffman-coded), as donors for mutations. */
const RFC_BLOCKS: Uint8Array[] = [
  "828684410f7777772e6578616d706c652e636f6d",
  "828684be58086e6f2d6361636865",
  "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
  "828684418cf1e3c2e5f23a6ba0ab90f4ff",
  "828684be5886a8eb10649cbf",
  "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
  "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
  "4883640effc1c0bf",
].map(hex);

/** Any error but these is a bug. */
function expectOnly(
  err: unknown,
  what: string,
  ...types: (abstract new (...args: never[]) => Error)[]
) {
  if (types.some((t) => err instanceof t)) return;
  throw new Error(
    `${what} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}, ` +
      `not ${types.map((t) => t.name).join(" or ")}`,
    { cause: err },
  );
}

Deno.test("fuzz: HpackDecoder throws only HpackError, and decodes valid blocks to what was encoded", async () => {
  await fuzz("hpack", (c) => {
    const r = c.rand;
    const limit = r.pick([0, 64, 256, 4096, 4096, 65536]);
    const dec = new HpackDecoder(limit), enc = new ModelEncoder(limit);
    /** Whether the model's table and the decoder's agree (no random or mutated block yet). */
    let inStep = true;
    for (let b = r.range(1, 6); b > 0; b--) {
      const maxList = r.chance(0.2) ? r.range(0, 800) : Infinity;
      const mode = r.next();
      let block: Uint8Array, expected: Fields | null = null;
      if (mode < 0.15) {
        block = r.bytes(r.size(300));
        inStep = false;
      } else if (mode < 0.25) {
        block = mutate(r, { bytes: r.pick(RFC_BLOCKS), fields: [] }, RFC_BLOCKS);
        inStep = false;
      } else {
        const headers = randomHeaders(r);
        const valid = enc.encode(r, headers);
        if (mode < 0.65 && inStep) {
          block = valid.bytes;
          expected = headers;
        } else {
          block = mutate(r, valid, RFC_BLOCKS);
          inStep = false;
        }
      }
      c.input(block, `header block (table size ${limit}, list limit ${maxList})`);
      let got: Fields;
      try {
        got = dec.decode(block, maxList);
      } catch (err) {
        expectOnly(err, "HpackDecoder.decode", HpackError);
        if (err instanceof HpackListSizeError) {
          assert(err.size > maxList, `HpackListSizeError with size ${err.size} <= ${maxList}`);
          if (expected) {
            assert(listSize(expected) > maxList, `a list of ${listSize(expected)} refused`);
          }
          continue; // decoded to its end: the decoder goes on
        }
        if (expected) throw new Error(`a valid block was refused: ${err}`);
        break; // the connection would end here
      }
      for (const [name, value] of got) {
        assert(typeof name === "string" && typeof value === "string", "fields are strings");
        assert(!/[^\0-\xff]/.test(name + value), "fields are Latin-1");
      }
      assert(
        listSize(got) <= maxList,
        `a list of ${listSize(got)} octets passed a limit of ${maxList}`,
      );
      if (expected) {
        assertEquals(got, expected, "decoded list");
        expectMalformed(dec, got);
      }
    }
  });
});

Deno.test("fuzz: encodeHeaders round-trips through HpackDecoder", async () => {
  await fuzz("hpack-roundtrip", (c) => {
    const r = c.rand;
    // A decoder whose table was filled by other blocks: a stateless block decodes the same.
    const warm = new HpackDecoder(), model = new ModelEncoder(4096);
    const fill = () => {
      const headers = randomHeaders(r, 6);
      assertEquals(warm.decode(model.encode(r, headers).bytes), headers, "a model block");
    };
    for (let n = r.int(3); n > 0; n--) fill();
    const lists = Array.from({ length: r.range(1, 3) }, () => randomHeaders(r, 24));
    if (r.chance(0.05)) {
      const big = "v".repeat(r.range(4096, 20_000)); // past the encoder's shared pool
      lists[0].push(["x-big", big]);
    }
    if (r.chance(0.03)) {
      const list = lists[0];
      list.push([r.chance(0.5) ? "x-wide" : "x\u0100", r.chance(0.5) ? "\u20ac" : "v"]);
      try {
        encodeHeaders(list);
      } catch (err) {
        expectOnly(err, "encodeHeaders", RangeError);
        lists[0] = list.slice(0, -1);
      }
      if (lists[0] === list && /[^\0-\xff]/.test(list.at(-1)!.join(""))) {
        throw new Error("encodeHeaders took a character above U+00FF");
      }
    }
    // Every block is still intact after the later ones were encoded (the pool is shared).
    const blocks = lists.map((list) => encodeHeaders(list));
    blocks.forEach((block, i) => {
      c.input(block, `encodeHeaders(${JSON.stringify(lists[i]).slice(0, 200)})`);
      const dec = r.chance(0.5) ? warm : new HpackDecoder(r.pick([0, 4096]));
      const got = dec.decode(block);
      assertEquals(got, lists[i], "decode(encodeHeaders(x))");
      expectMalformed(dec, got);
      if (r.chance(0.5)) fill();
    });
  });
});

// ---------------------------------------------------------------------------
// gRPC messages

interface ReaderRun {
  log: string[];
  syncError: string;
  asyncError: string;
  atBoundary: boolean;
}

async function readMessages(
  wire: Uint8Array,
  cuts: readonly number[],
  max: number,
  encoding: string,
  within: <T>(p: Promise<T>, ms: number, what: string) => Promise<T>,
): Promise<ReaderRun> {
  const kept: [Uint8Array, string][] = [];
  const log: string[] = [];
  let asyncError = "";
  const reader = new MessageReader(
    max,
    (msg, compressed) => {
      assert(msg.length <= max, `a message of ${msg.length} bytes passed a limit of ${max}`);
      kept.push([msg, digest(msg)]);
      log.push(`${compressed ? "gzip" : "plain"} ${digest(msg)}`);
    },
    (err) => {
      expectOnly(err, "MessageReader (onError)", RpcError);
      assert(!asyncError, "onError called twice");
      asyncError = `${(err as RpcError).code} ${(err as RpcError).message}`;
    },
  );
  reader.encoding = encoding;
  let syncError = "";
  for (const piece of piecesOf(wire, cuts)) {
    try {
      reader.push(piece);
    } catch (err) {
      expectOnly(err, "MessageReader.push", RpcError);
      syncError = `${(err as RpcError).code} ${(err as RpcError).message}`;
      break;
    }
    scribble(piece);
  }
  for (let pending = reader.pending; pending; pending = reader.pending) {
    await within(pending, 10_000, "MessageReader.pending");
  }
  for (const [msg, was] of kept) assertEquals(digest(msg), was, "a delivered message changed");
  for (const e of [syncError, asyncError]) {
    if (e) {
      const code = Number(e.split(" ")[0]);
      assert(
        code === Status.INTERNAL || code === Status.RESOURCE_EXHAUSTED,
        `MessageReader error with status ${code}`,
      );
    }
  }
  return { log, syncError, asyncError, atBoundary: reader.atBoundary };
}

Deno.test("fuzz: MessageReader throws only RpcError, and yields exactly the messages written in any cuts", async () => {
  await fuzz("grpc-messages", async (c) => {
    const r = c.rand;
    const max = r.pick([0, 16, 1024, 1024, 70_000]);
    const encoding = r.pick(["identity", "gzip", "gzip", "deflate"]);
    const parts: Uint8Array[] = [], fields: NumField[] = [], expected: string[] = [];
    let offset = 0, valid = true;
    for (let n = r.size(8); n > 0; n--) {
      const size = r.chance(0.05) ? r.range(0, 2 * max + 10) : r.size(Math.min(max, 3000));
      const body = r.chance(0.3) ? new Uint8Array(size).fill(r.int(256)) : r.bytes(size);
      const compressed = (encoding === "gzip" || r.chance(0.05)) && r.chance(0.5);
      const payload = compressed ? await gzip(body) : body;
      const prefix = new Uint8Array(5);
      prefix[0] = compressed ? 1 : 0;
      new DataView(prefix.buffer).setUint32(1, payload.length);
      fields.push({ at: offset, size: 1 }, { at: offset + 1, size: 4 });
      parts.push(prefix, payload);
      offset += 5 + payload.length;
      if (payload.length > max || body.length > max || (compressed && encoding !== "gzip")) {
        valid = false;
      }
      expected.push(`${compressed ? "gzip" : "plain"} ${digest(body)}`);
    }
    const written = concat(...parts);
    const mode = r.next();
    const wire = mode < 0.5
      ? written
      : mode < 0.85
      ? mutate(r, { bytes: written, fields })
      : r.bytes(r.size(400));
    c.input(wire, `gRPC messages (max ${max}, encoding ${encoding})`);
    const whole = await readMessages(wire, [], max, encoding, c.within);
    const cut = await readMessages(wire, cutPoints(r, wire.length), max, encoding, c.within);
    assertEquals(cut, whole, "the same bytes in pieces");
    if (wire === written && valid) {
      assertEquals(whole, { log: expected, syncError: "", asyncError: "", atBoundary: true });
    }
  });
});

// ---------------------------------------------------------------------------
// HTTP/2 connections

/** One frame of a script, with the offsets of its header's fields. */
function unit(bytes: Uint8Array): Marked {
  return {
    bytes,
    fields: [{ at: 0, size: 3 }, { at: 3, size: 1 }, { at: 4, size: 1 }, { at: 5, size: 4 }],
  };
}

/**
 * A SETTINGS frame with valid values for the receiver's role. Initial
 * windows stay large enough for our answers, so that a valid script never
 * leaves a stream open for want of window.
 */
function validSettings(r: Prng, receiver: "server" | "client"): Uint8Array {
  const entries: [number, number][] = [];
  for (let n = r.size(6); n > 0; n--) {
    const id = r.range(1, 8);
    switch (id) {
      case Setting.ENABLE_PUSH:
        entries.push([id, receiver === "server" ? r.int(2) : 0]);
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        entries.push([id, r.chance(0.5) ? r.range(1024, 1 << 20) : 65_535]);
        break;
      case Setting.MAX_FRAME_SIZE:
        entries.push([id, r.range(16_384, 0xff_ffff)]);
        break;
      case Setting.MAX_CONCURRENT_STREAMS:
        entries.push([id, r.range(receiver === "client" ? 100 : 0, 1000)]);
        break;
      default: // HEADER_TABLE_SIZE, MAX_HEADER_LIST_SIZE, unknown ones: any value
        entries.push([r.chance(0.8) ? id : r.range(9, 0xffff), r.u32()]);
    }
  }
  return settingsFrame(entries);
}

/** HEADERS (+ CONTINUATION) frames carrying `block`, sometimes padded, with priority, or cut. */
function headerFrames(r: Prng, id: number, block: Uint8Array, endStream: boolean): Uint8Array[] {
  const parts = Math.max(r.chance(0.2) ? r.range(2, 4) : 1, Math.ceil(block.length / 16_000));
  const cuts = Array.from({ length: parts - 1 }, () => r.int(block.length + 1)).sort((a, b) =>
    a - b
  );
  const frags = piecesOf(block, cuts);
  const padded = r.chance(0.15), prio = r.chance(0.15);
  const pad = padded ? r.int(32) : 0;
  let first = frags[0];
  if (prio) {
    let dep = r.int(64);
    if (dep === id) dep++;
    const p = new Uint8Array(5);
    new DataView(p.buffer).setUint32(0, (dep | (r.chance(0.5) ? 0x8000_0000 : 0)) >>> 0);
    p[4] = r.int(256);
    first = concat(p, first);
  }
  if (padded) first = concat(new Uint8Array([pad]), first, new Uint8Array(pad));
  const flags = (endStream ? Flag.END_STREAM : 0) | (parts === 1 ? Flag.END_HEADERS : 0) |
    (padded ? Flag.PADDED : 0) | (prio ? Flag.PRIORITY : 0);
  const out = [frame(FrameType.HEADERS, flags, id, first)];
  for (let i = 1; i < parts; i++) {
    out.push(frame(FrameType.CONTINUATION, i === parts - 1 ? Flag.END_HEADERS : 0, id, frags[i]));
  }
  return out;
}

/** DATA frames carrying `body` in random sizes, sometimes padded; END_STREAM on the last if `end`. */
function dataFrames(r: Prng, id: number, body: Uint8Array, end: boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  do {
    const n = Math.min(body.length - at, r.chance(0.5) ? r.size(400) : 16_000);
    const chunk = body.subarray(at, at + n);
    at += n;
    const padded = r.chance(0.1), pad = r.int(20);
    const flags = (end && at === body.length ? Flag.END_STREAM : 0) | (padded ? Flag.PADDED : 0);
    const payload = padded ? concat(new Uint8Array([pad]), chunk, new Uint8Array(pad)) : chunk;
    out.push(frame(FrameType.DATA, flags, id, payload));
  } while (at < body.length);
  return out;
}

/** A few gRPC messages, as a request or response body. */
function grpcBody(r: Prng): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let n = r.size(4); n > 0; n--) {
    const body = r.bytes(r.size(600));
    const prefix = new Uint8Array(5);
    new DataView(prefix.buffer).setUint32(1, body.length);
    parts.push(prefix, body);
  }
  return concat(...parts);
}

/** A random frame: any type and flags, a small stream id, a random payload. */
function randomFrame(r: Prng): Uint8Array {
  const type = r.chance(0.9) ? r.int(10) : r.int(256);
  const id = r.chance(0.3) ? 0 : r.int(16);
  return frame(type, r.int(256), id, r.bytes(r.size(r.chance(0.95) ? 64 : 16_384)));
}

/** A frame the peer may send at any time, valid in any state (`ids`: streams opened). */
function controlFrame(r: Prng, receiver: "server" | "client", ids: readonly number[]): Uint8Array {
  switch (r.int(6)) {
    case 0:
      return frame(FrameType.PING, r.chance(0.2) ? Flag.ACK : 0, 0, r.bytes(8));
    case 1:
      return validSettings(r, receiver);
    case 2:
      return frame(FrameType.SETTINGS, Flag.ACK, 0);
    case 3:
      return windowUpdateFrame(ids.length && r.chance(0.5) ? r.pick(ids) : 0, r.range(1, 100_000));
    case 4: {
      const id = r.range(1, 40), p = new Uint8Array(5);
      p[3] = id === 1 ? 3 : 1; // never itself
      p[4] = r.int(256);
      return frame(FrameType.PRIORITY, 0, id, p);
    }
    default: // unknown types are ignored (RFC 9113 5.5)
      return frame(r.range(0x0a, 0xff), r.int(256), r.int(8), r.bytes(r.size(40)));
  }
}

/** Whether the receiver of this frame queues a reply to it (SETTINGS or PING, not an ACK). */
function wantsReply(bytes: Uint8Array): boolean {
  return (bytes[3] === FrameType.SETTINGS || bytes[3] === FrameType.PING) && !(bytes[4] & Flag.ACK);
}

/** How our server answers a stream, from the case's policy seed and the stream id. */
type Policy =
  | "respond"
  | "respond-later"
  | "respond-big"
  | "ignore"
  | "reset"
  | "respond-first";
const POLICIES: readonly Policy[] = [
  "respond",
  "respond",
  "respond-later",
  "ignore",
  "reset",
  "respond-first",
  "respond-big",
];

function policyOf(seed: number, id: number): Policy {
  return POLICIES[mixSeed(seed, id) % POLICIES.length];
}

/** Policies under which a stream is gone as soon as it opens: what the client sends after is ignored. */
const CLOSED_AT_OPEN = new Set<Policy>(["reset", "respond-first"]);

const RESPONSE_BLOCK = encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]);
const TRAILERS_BLOCK = encodeHeaders([["grpc-status", "0"]]);
const REPLY = new Uint8Array([0, 0, 0, 0, 2, 8, 1]);
const BIG_RESPONSE_BLOCK = encodeHeaders([
  [":status", "200"],
  ["content-type", "application/grpc"],
  ["x-big", "b".repeat(20_000)],
]);
const BIG_REPLY = new Uint8Array(70_000);
const REQUEST_BLOCK = encodeHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/fuzz.S/M"],
  [":authority", "localhost"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]);

/** One connection under test, what it reported, and the streams it handed out. */
class Side {
  readonly events: string[] = [];
  readonly transport: MemoryTransport;
  readonly conn: H2Connection;
  readonly streams: H2Stream[] = [];
  /** Body bytes each stream's handler got. */
  readonly bodies = new Map<number, Uint8Array[]>();
  /** Streams whose handler heard the end of the peer's side. */
  readonly ended = new Set<number>();
  /** Streams whose handler heard a reset. */
  readonly reset = new Set<number>();
  /** Most streams open at once (checked after each piece). */
  maxStreams = 0;
  /** The largest SETTINGS_MAX_FRAME_SIZE the connection ever took from the peer. */
  maxFrameSeen = 16_384;
  readonly #onEnd = new Map<number, () => void>();
  readonly #policy: number;
  readonly #rough: boolean;

  /**
   * @param policy Seed of how our side answers each stream (`policyOf`).
   * @param rough Whether handlers may also reset their stream, or close the
   * whole connection, from inside a callback (as a call that fails does).
   */
  constructor(
    role: "server" | "client",
    held: boolean,
    limits: Partial<H2Limits>,
    policy: number,
    rough: boolean,
  ) {
    this.#policy = policy;
    this.#rough = rough;
    this.transport = held ? new HeldTransport() : new MemoryTransport();
    this.conn = new H2Connection(this.transport, {
      role,
      limits,
      onRefusal: (_c, { kind, code, detail }) =>
        this.events.push(`refusal ${kind} ${code} ${detail}`),
      onClose: (_c, reason) => this.events.push(`close ${reason}`),
      onStream: (stream, headers) => {
        this.events.push(`open ${stream.id} ${JSON.stringify(headers)}`);
        this.#attach(stream);
        const p = policyOf(policy, stream.id);
        this.events.push(`policy ${stream.id} ${p}`);
        if (p === "reset") stream.reset(H2Error.CANCEL);
        else if (p === "respond-first") respond(stream);
        else if (p === "respond") this.#onEnd.set(stream.id, () => respond(stream));
        else if (p === "respond-later") {
          this.#onEnd.set(stream.id, () => queueMicrotask(() => respond(stream)));
        } else if (p === "respond-big") this.#onEnd.set(stream.id, () => respondBig(stream));
      },
    });
    // Watches every SETTINGS_MAX_FRAME_SIZE the connection takes (it may go down again).
    let peerMaxFrame = this.conn.peerMaxFrame;
    Object.defineProperty(this.conn, "peerMaxFrame", {
      get: () => peerMaxFrame,
      set: (v: number) => {
        peerMaxFrame = v;
        this.maxFrameSeen = Math.max(this.maxFrameSeen, v);
      },
    });
  }

  /**
   * A rough handler's act on its first callback: reset the stream (and
   * maybe release its window after), or close the connection.
   */
  #roughly(stream: H2Stream): void {
    if (!this.#rough) return;
    const act = mixSeed(this.#policy, stream.id, 7) % 6;
    if (act === 0) stream.reset(H2Error.INTERNAL_ERROR);
    else if (act === 1) this.conn.close(`handler of stream ${stream.id} closed the connection`);
    else if (act === 2) {
      // A call that gives up, then hands back the window of what it had held.
      stream.reset(H2Error.CANCEL);
      stream.consumed(1 << 20);
    }
  }

  #attach(stream: H2Stream): void {
    this.streams.push(stream);
    this.bodies.set(stream.id, []);
    const id = stream.id;
    let first = true;
    const once = () => {
      if (first) this.#roughly(stream);
      first = false;
    };
    stream.handler = {
      data: (bytes, end) => {
        this.events.push(`data ${id} ${digest(bytes)}${end ? " end" : ""}`);
        this.bodies.get(id)!.push(bytes.slice());
        once();
        stream.consumed(bytes.length);
        if (end) {
          this.ended.add(id);
          this.#onEnd.get(id)?.();
        }
      },
      reset: (code) => {
        this.events.push(`reset ${id} ${code}`);
        this.reset.add(id);
      },
      headers: (fields, end) => {
        this.events.push(`headers ${id} ${JSON.stringify(fields)}${end ? " end" : ""}`);
        if (end) this.ended.add(id);
        once();
      },
    };
  }

  /**
   * Client role: opens a stream, its request ended at once, later, or never.
   * Once the connection takes no more streams, `openStream` must say so.
   */
  open(r: Prng): void {
    const endStream = r.chance(0.3);
    const handler = { data() {}, reset() {} };
    const canOpen = this.conn.canOpen;
    const stream = this.conn.openStream(REQUEST_BLOCK, endStream, handler);
    assert((stream !== null) === canOpen, `openStream gave ${stream} with canOpen ${canOpen}`);
    if (!stream) return;
    this.#attach(stream);
    if (!endStream && r.chance(0.5)) stream.sendLast(REPLY);
  }

  /** Feeds the pieces; nothing may come out of receive(). */
  feed(pieces: readonly Uint8Array[]): void {
    for (const piece of pieces) {
      try {
        this.conn.receive(piece);
      } catch (err) {
        throw new Error(
          `H2Connection.receive (${this.conn.role} role) threw ${
            err instanceof Error ? `${err.name}: ${err.message}` : String(err)
          }`,
          { cause: err },
        );
      }
      scribble(piece);
      this.maxStreams = Math.max(this.maxStreams, this.conn.streamCount);
    }
  }

  /** What a run did, to compare runs. */
  summary(): string {
    return JSON.stringify({
      events: this.events,
      out: digest(this.transport.bytes),
      closed: this.conn.closed,
      reason: this.conn.closeReason,
      streams: this.conn.streamCount,
    });
  }

  /** The body stream `id`'s handler got, joined. */
  body(id: number): Uint8Array {
    return concat(...(this.bodies.get(id) ?? []));
  }
}

/**
 * A big answer: headers in CONTINUATION frames, and more body than the
 * connection's initial window (it waits for the peer's WINDOW_UPDATE).
 */
function respondBig(stream: H2Stream): void {
  stream.sendHeaders(BIG_RESPONSE_BLOCK);
  stream.sendData(BIG_REPLY);
  stream.end(TRAILERS_BLOCK);
}

/** Our server's answer: headers, one message, trailers. */
function respond(stream: H2Stream): void {
  stream.sendHeaders(RESPONSE_BLOCK);
  stream.sendData(REPLY);
  stream.end(TRAILERS_BLOCK);
}

/**
 * Lets every microtask (flushes, writes, later answers) run: a message
 * through a channel arrives in a later turn of the event loop, as a timer
 * would, without a timer's millisecond.
 */
function settle(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port2.onmessage = () => {
      port1.close();
      port2.close();
      resolve();
    };
    port1.postMessage(null);
  });
}

/** The frames a connection wrote (a client's preface checked and skipped); they must be whole. */
function framesOut(side: Side): Frame[] {
  let out = side.transport.bytes;
  if (side.conn.role === "client" && out.length) { // nothing, if closed before the first write
    const preface = out.subarray(0, CLIENT_PREFACE.length);
    assert(toHex(preface) === toHex(CLIENT_PREFACE), "the client did not start with the preface");
    out = out.subarray(CLIENT_PREFACE.length);
  }
  const { frames, rest } = parseFrames(out);
  assert(rest.length === 0, `the connection wrote ${rest.length} bytes that are not a whole frame`);
  return frames;
}

/**
 * What every run must show: no more streams than allowed, no more replies
 * queued unwritten than `maxQueuedControlFrames`, whole frames no larger
 * than the peer takes, nothing after a GOAWAY with an error, and a close
 * once that GOAWAY is out.
 */
function checkSide(side: Side, limits: H2Limits, held: boolean, maxStreams: number): void {
  const conn = side.conn;
  assert(side.maxStreams <= maxStreams, `${side.maxStreams} streams open, over ${maxStreams}`);
  if (conn.closed) assert(conn.streamCount === 0, "streams left on a closed connection");
  const frames = framesOut(side);
  if (held) {
    // No write ever completed: every reply is still counted (the first,
    // connection-level WINDOW_UPDATE is not one, nor RST_STREAM NO_ERROR
    // after a whole response).
    const isReply = (f: Frame) =>
      f.type === FrameType.SETTINGS || f.type === FrameType.PING
        ? (f.flags & Flag.ACK) !== 0
        : f.type === FrameType.WINDOW_UPDATE ||
          (f.type === FrameType.RST_STREAM && u32(f.payload) !== H2Error.NO_ERROR);
    const replies = frames.filter(isReply).length - 1;
    assert(
      replies <= limits.maxQueuedControlFrames,
      `${replies} replies queued unwritten, over maxQueuedControlFrames ${limits.maxQueuedControlFrames}`,
    );
  }
  checkOutput(frames, side);
  frames.forEach((f, i) => {
    if (f.type === FrameType.GOAWAY && u32(f.payload, 4) !== H2Error.NO_ERROR) {
      assert(i === frames.length - 1, "frames after a GOAWAY with an error");
      if (!held) assert(conn.closed, "not closed after a GOAWAY with an error");
    }
  });
}

function u32(b: Uint8Array, at = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.length).getUint32(at);
}

/**
 * What we send must be valid HTTP/2 whatever the peer sent: frames within
 * the peer's SETTINGS_MAX_FRAME_SIZE; HEADERS and DATA only on streams of
 * the right parity that exist, DATA only after HEADERS, nothing after our
 * END_STREAM or RST_STREAM but RST_STREAM and WINDOW_UPDATE (after
 * END_STREAM); header blocks whole; GOAWAY's last stream id never rising
 * (RFC 9113 5.1, 6.2, 6.8).
 */
function checkOutput(frames: readonly Frame[], side: Side): void {
  const client = side.conn.role === "client";
  const opened = new Set(side.streams.map((s) => s.id));
  const headers = new Set<number>(), ended = new Set<number>(), reset = new Set<number>();
  let lastGoaway = Infinity;
  /** The stream of a header block still waiting for its CONTINUATION frames. */
  let block = 0;
  for (const f of frames) {
    const id = f.streamId, where = `our ${FRAME_NAMES[f.type] ?? f.type} on stream ${id}`;
    assert(f.payload.length <= side.maxFrameSeen, `${where}: ${f.payload.length} bytes`);
    if (block) {
      assert(f.type === FrameType.CONTINUATION && id === block, `${where} inside a header block`);
      if (f.flags & Flag.END_HEADERS) block = 0;
      continue;
    }
    assert(f.type !== FrameType.CONTINUATION && f.type !== FrameType.PUSH_PROMISE, where);
    if (f.type === FrameType.GOAWAY) {
      const last = u32(f.payload) & 0x7fff_ffff;
      assert(last <= lastGoaway, `GOAWAY's last stream id went up from ${lastGoaway} to ${last}`);
      lastGoaway = last;
      if (client) assert(last === 0, `a client's GOAWAY names stream ${last}`);
      continue;
    }
    if (id === 0) continue;
    if (f.type === FrameType.RST_STREAM) {
      reset.add(id);
      continue;
    }
    if (f.type === FrameType.WINDOW_UPDATE) {
      assert(!reset.has(id), `${where} after our RST_STREAM`);
      continue;
    }
    if (f.type !== FrameType.HEADERS && f.type !== FrameType.DATA) continue;
    assert((id & 1) === 1 && (!client || opened.has(id)), `${where}: not a stream it may use`);
    assert(!reset.has(id), `${where} after our RST_STREAM`);
    assert(!ended.has(id), `${where} after our END_STREAM`);
    if (f.type === FrameType.DATA) assert(headers.has(id), `${where} before our HEADERS`);
    headers.add(id);
    if (f.flags & Flag.END_STREAM) ended.add(id);
    if (f.type === FrameType.HEADERS && !(f.flags & Flag.END_HEADERS)) block = id;
  }
}

const FRAME_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(FrameType).map(([name, type]) => [type, name]),
);

/**
 * Closes the connection: every stream handed out must have heard of the end
 * of the peer's side or a reset, unless our side finished first.
 */
function closeSide(side: Side): void {
  const finishedFirst = new Set(side.streams.filter((s) => s.closed).map((s) => s.id));
  side.conn.close("case over");
  assert(side.conn.streamCount === 0, "streams left after close()");
  for (const s of side.streams) {
    if (side.ended.has(s.id) || side.reset.has(s.id) || finishedFirst.has(s.id)) continue;
    throw new Error(
      `stream ${s.id}: its handler heard neither the end of the peer's side nor a reset: ${
        side.events.filter((e) => e.split(" ")[1] === String(s.id)).join(", ")
      }`,
    );
  }
}

/** A valid script of the peer's frames, and what it must do to the connection. */
interface Script {
  /** The frames (a client's preface first). */
  units: Marked[];
  /** The streams it opens (or, for a client connection, answers). */
  ids: number[];
  /** Checks a run of the script as it is (`held`: on a transport that never completed a write). */
  check(side: Side, held: boolean): void;
}

/** Events that must not come from a valid script. */
function checkClean(side: Side, who: string): void {
  const bad = side.events.filter((e) =>
    e.startsWith("refusal") || (e.startsWith("close") && e !== "close finished")
  );
  assert(bad.length === 0, `a valid ${who} script met: ${bad.join(", ")}`);
}

/** A step of a script: emits its frames when the interleaving reaches it. */
type Step = () => void;

/**
 * Interleaves each stream's steps at random, keeping each stream's order;
 * `start(i)` says whether stream i may start now (streams start in order).
 * Returns how many streams started.
 */
function interleave(
  r: Prng,
  queues: Step[][],
  start: (i: number) => boolean,
  control: () => void,
): number {
  let next = 0;
  const live: Step[][] = [];
  for (;;) {
    for (let i = live.length - 1; i >= 0; i--) if (!live[i].length) live.splice(i, 1);
    if (r.chance(0.2)) control();
    const canStart = next < queues.length && start(next);
    if (!live.length && !canStart) return next;
    if (canStart && (!live.length || r.chance(0.3))) {
      live.push(queues[next]);
      queues[next++].shift()?.();
    } else {
      r.pick(live).shift()!();
    }
  }
}

/** What one stream of a client script sent. */
interface Request {
  id: number;
  policy: Policy;
  headers: Fields;
  body: Uint8Array;
  ended: boolean;
  reset: boolean;
}

/** Valid frames from a client, for a server-role connection. */
function clientScript(r: Prng, limits: H2Limits, policySeed: number): Script {
  const enc = new ModelEncoder(4096);
  const units: Marked[] = [{ bytes: CLIENT_PREFACE, fields: [] }, unit(validSettings(r, "server"))];
  // Replies queued in this one turn (the SETTINGS ACK first): kept within the limit.
  let replies = 1, resets = 0, open = 0, id = -1, bigSent = false;
  const requests: Request[] = [], queues: Step[][] = [], opened: number[] = [];
  for (let k = r.chance(0.1) ? r.range(8, 40) : r.int(7); k > 0; k--) {
    id += 2 * r.range(1, 2); // an id skipped is a closed stream (RFC 9113 5.1.1)
    const headers: Fields = [
      [":method", "POST"],
      [":scheme", r.pick(["http", "https"])],
      [":path", `/${token(r, 1, 12)}/${token(r, 1, 12)}`],
      [":authority", r.pick(["localhost", "unix", "127.0.0.1:1234"])],
    ];
    for (let i = 3; i > 0; i--) {
      const j = r.int(i + 1);
      [headers[i], headers[j]] = [headers[j], headers[i]];
    }
    headers.push(["content-type", "application/grpc"]);
    if (r.chance(0.7)) headers.push(["te", "trailers"]);
    for (let n = r.size(5); n > 0; n--) {
      headers.push([`x-${token(r, 1, 10)}`, latin1String(r, r.size(60), true)]);
    }
    while (listSize(headers) > limits.maxHeaderListSize - 60) headers.pop();
    const body = r.chance(0.8) ? grpcBody(r) : new Uint8Array(0);
    if (r.chance(0.2)) headers.push(["content-length", String(body.length)]);
    const req: Request = {
      id,
      policy: policyOf(policySeed, id),
      headers,
      body,
      ended: false,
      reset: false,
    };
    requests.push(req);
    const ending = r.pick(["data", "data", "empty", "trailers", "open", "reset"]);
    const endInHeaders = body.length === 0 && ending === "data" && r.chance(0.7);
    let gone = false;
    /** The stream left the server's table. */
    const leave = () => {
      if (!gone) open--;
      gone = true;
    };
    /** The request ended: our answer goes out now, unless a big one holds the window. */
    const ends = () => {
      req.ended = true;
      if (req.policy === "respond" && !bigSent) leave();
      if (req.policy === "respond-big") bigSent = true;
    };
    const steps: Step[] = [() => {
      for (const f of headerFrames(r, req.id, enc.encode(r, headers).bytes, endInHeaders)) {
        units.push(unit(f));
      }
      open++;
      opened.push(req.id);
      if (req.policy === "reset") replies++;
      // Answered (or reset) at once: gone, unless a big answer holds the window.
      if (req.policy === "reset" || (req.policy === "respond-first" && !bigSent)) leave();
      if (endInHeaders) ends();
    }];
    if (!endInHeaders && (body.length || ending === "data")) {
      const frames = dataFrames(r, req.id, body, ending === "data");
      frames.forEach((f, i) =>
        steps.push(() => {
          units.push(unit(f));
          if (ending === "data" && i === frames.length - 1) ends();
        })
      );
    }
    if (ending === "empty") {
      steps.push(() => {
        units.push(unit(frame(FrameType.DATA, Flag.END_STREAM, req.id)));
        ends();
      });
    } else if (ending === "trailers") {
      steps.push(() => {
        const trailers: Fields = [["x-trailer", token(r, 0, 8)]];
        for (const f of headerFrames(r, req.id, enc.encode(r, trailers).bytes, true)) {
          units.push(unit(f));
        }
        ends();
      });
    } else if (ending === "reset" && !endInHeaders && resets < Math.min(2, limits.maxResets - 1)) {
      resets++;
      steps.push(() => {
        units.push(unit(rstStreamFrame(req.id, H2Error.CANCEL)));
        req.reset = true;
        leave();
      });
    }
    queues.push(steps);
  }
  const started = interleave(
    r,
    queues,
    (i) =>
      open < limits.maxConcurrentStreams &&
      (requests[i].policy !== "reset" || replies < limits.maxQueuedControlFrames),
    () => {
      const f = controlFrame(r, "server", opened);
      if (wantsReply(f) && replies >= limits.maxQueuedControlFrames) return;
      if (wantsReply(f)) replies++;
      units.push(unit(f));
    },
  );
  requests.length = started; // those beyond the stream limit never went out
  const goaway = r.chance(0.1);
  if (goaway) units.push(unit(goawayFrame(0, H2Error.NO_ERROR)));
  return {
    units,
    ids: opened,
    check(side, held) {
      checkClean(side, "client");
      assertEquals(
        side.events.filter((e) => e.startsWith("open ")),
        requests.map((q) => `open ${q.id} ${JSON.stringify(q.headers)}`),
        "streams opened",
      );
      for (const q of requests) {
        if (CLOSED_AT_OPEN.has(q.policy)) continue; // the rest is ignored, as it must be
        if (q.reset) {
          assert(side.reset.has(q.id), `stream ${q.id}: the client's RST_STREAM was not heard`);
          continue;
        }
        assertEquals(digest(side.body(q.id)), digest(q.body), `stream ${q.id}: request body`);
        assertEquals(side.ended.has(q.id), q.ended, `stream ${q.id}: request ended`);
      }
      if (goaway && !held && side.conn.streamCount === 0) {
        assert(side.conn.closed, `open after GOAWAY: ${side.events.join("\n")}`);
      }
    },
  };
}

/** What the server side of one stream sent, as the client's handler must hear it. */
interface Response {
  id: number;
  events: string[];
  body: Uint8Array;
}

/** Valid frames from a server, for a client-role connection whose streams `ids` are open. */
function serverScript(r: Prng, limits: H2Limits, ids: readonly number[]): Script {
  const enc = new ModelEncoder(4096);
  const units: Marked[] = [unit(validSettings(r, "client"))];
  let replies = 1, resets = 0;
  const responses: Response[] = [], queues: Step[][] = [];
  const block = (id: number, fields: Fields, end: boolean) => () => {
    for (const f of headerFrames(r, id, enc.encode(r, fields).bytes, end)) units.push(unit(f));
  };
  for (const id of ids) {
    const res: Response = { id, events: [], body: new Uint8Array(0) };
    responses.push(res);
    const steps: Step[] = [];
    const kind = r.pick(["full", "full", "data-end", "trailers-only", "reset", "none"]);
    if (kind !== "none" && r.chance(0.15)) {
      steps.push(block(id, [[":status", r.pick(["100", "103"])]], false)); // not for the handler
    }
    const headers: Fields = [[":status", "200"], ["content-type", "application/grpc"]];
    for (let n = r.size(4); n > 0; n--) {
      headers.push([`x-${token(r, 1, 10)}`, latin1String(r, r.size(40), true)]);
    }
    while (listSize(headers) > limits.maxHeaderListSize - 100) headers.pop();
    const trailers: Fields = [
      ["grpc-status", String(r.int(17))],
      ["grpc-message", latin1String(r, r.size(30), true)],
    ];
    if (kind === "trailers-only") {
      const fields = [...headers, ...trailers];
      steps.push(block(id, fields, true));
      res.events.push(`headers ${id} ${JSON.stringify(fields)} end`);
    } else if (kind !== "none") {
      if (kind !== "reset" || r.chance(0.5)) {
        steps.push(block(id, headers, false));
        res.events.push(`headers ${id} ${JSON.stringify(headers)}`);
        if (kind !== "reset") {
          res.body = grpcBody(r);
          for (const f of dataFrames(r, id, res.body, kind === "data-end")) {
            steps.push(() => units.push(unit(f)));
          }
        }
      }
      if (kind === "full") {
        steps.push(block(id, trailers, true));
        res.events.push(`headers ${id} ${JSON.stringify(trailers)} end`);
      } else if (kind === "reset" && resets < Math.min(2, limits.maxResets - 1)) {
        resets++;
        const code = r.pick([H2Error.CANCEL, H2Error.INTERNAL_ERROR, H2Error.REFUSED_STREAM]);
        steps.push(() => units.push(unit(rstStreamFrame(id, code))));
        res.events.push(`reset ${id} ${code}`);
      }
    }
    queues.push(steps);
  }
  interleave(r, queues, () => true, () => {
    const f = controlFrame(r, "client", ids);
    if (wantsReply(f) && replies >= limits.maxQueuedControlFrames) return;
    if (wantsReply(f)) replies++;
    units.push(unit(f));
  });
  if (r.chance(0.1)) units.push(unit(goawayFrame(Math.max(...ids), H2Error.NO_ERROR)));
  return {
    units,
    ids: [...ids],
    check(side) {
      checkClean(side, "server");
      for (const res of responses) {
        const prefix = [`headers ${res.id} `, `reset ${res.id} `];
        assertEquals(
          side.events.filter((e) => prefix.some((p) => e.startsWith(p))),
          res.events,
          `stream ${res.id}: what the handler heard`,
        );
        assertEquals(digest(side.body(res.id)), digest(res.body), `stream ${res.id}: body`);
      }
    },
  };
}

const RESPONSE_FIELDS: Fields = [[":status", "200"], ["content-type", "application/grpc"]];
const REQUEST_FIELDS: Fields = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/fuzz.S/M"],
  [":authority", "localhost"],
];

/**
 * Frames that break a rule or run into a bound: floods (rapid reset, PING,
 * SETTINGS, CONTINUATION, streams), header lists over the limit, windows
 * overflowed or of 0, self-dependent or short PRIORITY, `content-length`
 * that does not match the body, END_STREAM where it does not belong.
 * `ids`: streams already open (the client role's), new ones start at 1001.
 */
function attack(r: Prng, role: "server" | "client", ids: readonly number[]): Uint8Array[] {
  const fresh = (k: number) => 1001 + 2 * k;
  const some = () =>
    ids.length && (role === "client" || r.chance(0.3)) ? r.pick(ids) : fresh(r.int(4));
  const block = (fields: Fields = role === "server" ? REQUEST_FIELDS : RESPONSE_FIELDS) =>
    encodeHeaders(fields);
  const out: Uint8Array[] = [];
  switch (r.int(13)) {
    case 10: { // HEADERS that depend on their own stream
      const id = some(), p = new Uint8Array(5);
      new DataView(p.buffer).setUint32(0, id);
      out.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, id, concat(p, block())));
      break;
    }
    case 11: { // more DATA than the stream's window (4 MiB), rarely: it is big
      const id = some();
      if (role === "client") out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block()));
      else if (!ids.includes(id)) out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block()));
      const n = r.chance(0.1) ? 260 : r.range(1, 8);
      const f = frame(FrameType.DATA, 0, id, new Uint8Array(16_384));
      for (let k = 0; k < n; k++) out.push(f);
      break;
    }
    case 12: { // responses that break the rules (client role), odd trailers (server role)
      const id = some();
      const fields: Fields = role === "client"
        ? [[":status", r.pick(["100", "101", "204", "304", "200", "2000", "abc"])]]
        : [["x-t", "v"]];
      if (r.chance(0.3)) fields.push(["content-length", String(r.int(3))]);
      out.push(...headerFrames(r, id, block(fields), r.chance(0.5)));
      if (r.chance(0.5)) {
        out.push(...headerFrames(r, id, block([["grpc-status", "0"]]), r.chance(0.5)));
      }
      break;
    }
    case 0: // rapid reset
      for (let k = 0, n = r.range(2, 600); k < n; k++) {
        const id = role === "server" ? fresh(k) : some();
        if (role === "server") out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block()));
        out.push(rstStreamFrame(id, H2Error.CANCEL));
      }
      break;
    case 1: { // control frames the peer never reads the answers to
      const f = r.pick([frame(FrameType.PING, 0, 0, r.bytes(8)), settingsFrame([])]);
      for (let k = r.range(2, 1200); k > 0; k--) out.push(f);
      break;
    }
    case 2: { // CONTINUATION flood, mostly empty fragments
      const id = some(), b = block();
      out.push(frame(FrameType.HEADERS, 0, id, b.subarray(0, 1)));
      for (let k = r.range(1, 300); k > 0; k--) {
        out.push(frame(FrameType.CONTINUATION, 0, id, r.chance(0.8) ? new Uint8Array(0) : b));
      }
      out.push(frame(FrameType.CONTINUATION, Flag.END_HEADERS, id, b.subarray(1)));
      break;
    }
    case 3: { // a header list over the limit (answered per stream or, if huge, by GOAWAY)
      const size = r.pick([600, 1100, 70_000, 150_000]);
      const fields: Fields = [
        ...(role === "server" ? REQUEST_FIELDS : RESPONSE_FIELDS),
        ["x-big", "v".repeat(size)],
      ];
      out.push(...headerFrames(r, some(), block(fields), r.chance(0.5)));
      break;
    }
    case 4: // more streams than allowed (server), or headers again on our streams (client)
      for (let k = 0, n = r.range(2, 200); k < n; k++) {
        out.push(
          frame(
            FrameType.HEADERS,
            Flag.END_HEADERS,
            role === "server" ? fresh(k) : some(),
            block(),
          ),
        );
      }
      break;
    case 5: { // windows
      const id = some();
      out.push(
        ...r.pick([
          [windowUpdateFrame(0, 0)],
          [windowUpdateFrame(0, 0x7fff_ffff)],
          [windowUpdateFrame(id, 0)],
          [windowUpdateFrame(id, 0x7fff_ffff), windowUpdateFrame(id, 0x7fff_ffff)],
          [settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0x7fff_ffff]]), windowUpdateFrame(id, 2)],
          [
            windowUpdateFrame(id, 1000),
            settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0x7fff_ffff]]),
          ],
          [settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0]]), windowUpdateFrame(id, 5)],
          [settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0x8000_0000]])],
        ]),
      );
      break;
    }
    case 6: { // PRIORITY: on itself, too short, on stream 0
      const id = some(), p = new Uint8Array(r.pick([5, 5, 4, 6]));
      new DataView(p.buffer).setUint32(0, r.chance(0.7) ? id : 0);
      out.push(frame(FrameType.PRIORITY, 0, r.chance(0.9) ? id : 0, p));
      break;
    }
    case 7: { // content-length that does not match the body
      const n = r.int(40), m = r.chance(0.5) ? n + r.range(1, 9) : Math.max(0, n - r.range(1, 9));
      const fields: Fields = [
        ...(role === "server" ? REQUEST_FIELDS : RESPONSE_FIELDS),
        ["content-length", String(n)],
      ];
      const id = some();
      out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block(fields)));
      out.push(frame(FrameType.DATA, r.chance(0.7) ? Flag.END_STREAM : 0, id, new Uint8Array(m)));
      if (r.chance(0.3)) {
        out.push(
          frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, block([["x", "y"]])),
        );
      }
      break;
    }
    case 8: { // a message that breaks RFC 9113 8.2-8.3 (pseudo-headers, names, connection-specific)
      const base = role === "server" ? REQUEST_FIELDS : RESPONSE_FIELDS;
      const fields: Fields = [...base.slice(0, r.int(base.length + 1)), ...randomHeaders(r, 6)];
      if (r.chance(0.5)) fields.push(...base.slice(r.int(base.length)));
      const id = some(), end = r.chance(0.5);
      out.push(...headerFrames(r, id, block(fields), end));
      if (!end) out.push(...headerFrames(r, id, block(randomHeaders(r, 4)), r.chance(0.8)));
      break;
    }
    default: { // frames after END_STREAM, or before the headers
      const id = some();
      out.push(frame(FrameType.DATA, Flag.END_STREAM, id, new Uint8Array(r.int(10))));
      out.push(frame(r.pick([FrameType.DATA, FrameType.HEADERS]), r.int(256), id, block()));
    }
  }
  return out;
}

/** Applies structural mutations to a script's frames, then byte-level ones to the whole. */
function mutateScript(
  r: Prng,
  units: Marked[],
  donors: readonly Marked[],
  role: "server" | "client",
  ids: readonly number[],
): Uint8Array {
  const list: Marked[] = units.map((u) => ({ bytes: u.bytes.slice(), fields: u.fields }));
  // A server's preface is left alone most of the time: past it is where the parser lives.
  const first = list[0].fields.length === 0 && r.chance(0.95) ? 1 : 0;
  const pos = () => first + r.int(list.length - first + 1);
  let attacked = false;
  for (let k = r.range(1, 3); k > 0 && list.length; k--) {
    const at = Math.min(pos(), list.length - 1);
    const op = r.chance(0.3) ? 7 : r.int(9);
    switch (op) {
      case 0: // a header field (length, type, flags, stream id) corrupted
      case 1:
        if (at >= first && list[at].fields.length) {
          corruptField(r, list[at].bytes, r.pick(list[at].fields));
        }
        break;
      case 2: // a frame dropped
        if (at >= first) list.splice(at, 1);
        break;
      case 3: // a frame repeated
        list.splice(pos(), 0, list[at]);
        break;
      case 4: { // a frame moved
        if (at < first) break;
        const [u] = list.splice(at, 1);
        list.splice(pos(), 0, u);
        break;
      }
      case 5: // a random frame inserted
        list.splice(pos(), 0, unit(randomFrame(r)));
        break;
      case 6: { // a flag of a frame flipped (END_STREAM, END_HEADERS, PADDED, PRIORITY)
        const u = list[at];
        if (at >= first && u.bytes.length >= 9) {
          u.bytes[4] ^= r.pick([Flag.END_STREAM, Flag.END_HEADERS, Flag.PADDED, Flag.PRIORITY]);
        }
        break;
      }
      case 7: { // a rule broken or a bound run into: after the SETTINGS, often at the end
        const after = Math.min(list.length, role === "server" ? 2 : 1);
        const where = r.chance(0.5) ? list.length : after + r.int(list.length - after + 1);
        list.splice(where, 0, ...attack(r, role, ids).map(unit));
        attacked = true;
        break;
      }
      default: // a frame from another script
        if (donors.length) list.splice(pos(), 0, r.pick(donors));
    }
  }
  let bytes = concat(...list.map((u) => u.bytes));
  if (r.chance(attacked ? 0.1 : 0.4)) {
    bytes = mutate(r, { bytes, fields: [] }, donors.map((d) => d.bytes));
  }
  return bytes;
}

/** One case of an H2Connection target. */
async function connectionCase(
  c: { rand: Prng; input(b: Uint8Array, what?: string): void },
  role: "server" | "client",
): Promise<void> {
  const r = c.rand;
  const limits: Partial<H2Limits> = r.chance(0.3)
    ? {
      maxConcurrentStreams: r.range(1, 4),
      maxHeaderListSize: r.pick([512, 1024]),
      maxResets: r.range(3, 10),
      maxQueuedControlFrames: r.range(4, 20),
      maxOutputBytes: r.pick([4096, 100_000]),
    }
    : {};
  const full: H2Limits = { ...DEFAULT_H2_LIMITS, ...limits };
  const held = r.chance(0.15);
  const policySeed = r.u32(), openSeed = r.u32();
  const opened = role === "client" ? r.range(1, 5) : 0;
  const ids = Array.from({ length: opened }, (_, i) => 2 * i + 1);
  const script = role === "server" ? clientScript(r, full, policySeed) : serverScript(r, full, ids);
  const valid = concat(...script.units.map((u) => u.bytes));
  const prefix = role === "server" ? concat(CLIENT_PREFACE, settingsFrame([])) : settingsFrame([]);
  const mode = r.next();
  let bytes: Uint8Array, what: string;
  if (mode < 0.3) {
    [bytes, what] = [valid, "valid"];
  } else if (mode < 0.75) {
    const donor = role === "server"
      ? clientScript(r, full, policySeed)
      : serverScript(r, full, ids);
    [bytes, what] = [
      mutateScript(r, script.units, donor.units.slice(1), role, script.ids),
      "mutated",
    ];
  } else if (mode < 0.87) {
    const frames = Array.from({ length: r.range(1, 12) }, () => randomFrame(r));
    [bytes, what] = [concat(prefix, ...frames), "random frames"];
  } else if (mode < 0.97) {
    [bytes, what] = [concat(prefix, r.bytes(r.size(2000))), "random bytes after the preface"];
  } else {
    [bytes, what] = [r.bytes(r.size(200)), "random bytes"];
  }
  c.input(bytes, `${what} frames for a ${role}${held ? " that never gets to write" : ""}`);
  const make = () => {
    const side = new Side(role, held, limits, policySeed, bytes !== valid);
    const pr = new Prng(openSeed);
    for (let i = 0; i < opened; i++) side.open(pr);
    return side;
  };
  const whole = make(), cut = make();
  // Sometimes our side starts a graceful close (GOAWAY) before or after the peer's frames.
  const drain = r.chance(0.1) ? r.pick(["before", "after"]) : "";
  const stop = new AbortController();
  if (drain === "before") { for (const side of [whole, cut]) side.conn.drain(stop.signal); }
  whole.feed([bytes.slice()]);
  cut.feed(piecesOf(bytes, cutPoints(r, bytes.length)));
  await settle();
  if (drain === "after") {
    for (const side of [whole, cut]) side.conn.drain(stop.signal);
    await settle();
  }
  // A client opens streams after the peer's frames too (ids above any it reset, or none).
  const late = role === "client" && r.chance(0.2) ? r.range(1, 3) : 0;
  if (late) {
    for (const side of [whole, cut]) {
      const pr = new Prng(openSeed ^ 1);
      for (let i = 0; i < late; i++) side.open(pr);
    }
    await settle();
  }
  const maxStreams = role === "server" ? full.maxConcurrentStreams : opened + late;
  checkSide(whole, full, held, maxStreams);
  checkSide(cut, full, held, maxStreams);
  assertEquals(cut.summary(), whole.summary(), "the same bytes in pieces");
  if (bytes === valid && !drain) script.check(whole, held);
  closeSide(whole);
  closeSide(cut);
  stop.abort();
}

Deno.test("fuzz: H2Connection.receive (server role) lets nothing escape and stays within its limits", async () => {
  await fuzz("h2-server", (c) => connectionCase(c, "server"));
});

Deno.test("fuzz: H2Connection.receive (client role) lets nothing escape and stays within its limits", async () => {
  await fuzz("h2-client", (c) => connectionCase(c, "client"));
});
