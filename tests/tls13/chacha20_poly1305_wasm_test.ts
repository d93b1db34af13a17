/**
 * Tests of tls13/chacha20_poly1305_wasm.ts (the WebAssembly ChaCha20-Poly1305):
 * the committed module bytes are what scripts/aead_wasm/wat.ts assembles to
 * (wabt from npm: without it the test fails and says what to install), the
 * RFC 8439 AEAD vectors, a cross-check against the TypeScript AEAD over
 * random keys, nonces, AAD and lengths around every block and record
 * boundary, tampering (tag, ciphertext, AAD, nonce: rejected, nothing
 * released), `sealRecord`, and the module's memory holding no key material
 * after a call.
 *
 * Run: deno test -A tests/tls13/chacha20_poly1305_wasm_test.ts
 */

import { ChaCha20Poly1305, poly1305 } from "../../tls13/chacha20_poly1305.ts";
import { WasmChaCha20Poly1305 } from "../../tls13/chacha20_poly1305_wasm.ts";
import { CHACHA20_POLY1305_WASM_BASE64 } from "../../tls13/_chacha20_poly1305_wasm.ts";
import { buildAeadWasm, GENERATED, renderGenerated } from "../../scripts/aead_wasm/build.ts";
import { DATA, KEY_AT, NONCE_AT, OTK_AT, TAG_AT } from "../../scripts/aead_wasm/wat.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { toHex } from "../_util/fuzz.ts";
import { mixSeed, Prng } from "../_util/prng.ts";
import { AEAD_2_8_2, AEAD_A_5, POLY1305_2_5_2, POLY1305_A_3 } from "./_rfc8439_vectors.ts";

const SEED = 20261203;
/** Around the 16-byte Poly1305 block, the 64-byte ChaCha20 block, the module's 192/256-byte steps, and 2^14. */
const LENGTHS = [
  0,
  1,
  15,
  16,
  17,
  63,
  64,
  65,
  191,
  192,
  193,
  255,
  256,
  257,
  447,
  448,
  449,
  1000,
  16383,
  16384,
  16385,
  16400,
  70001,
];
const AAD_LENGTHS = [0, 1, 5, 12, 15, 16, 17, 40];

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function random(rng: Prng, n: number): Uint8Array {
  return rng.bytes(n);
}

Deno.test("wasm AEAD: the committed module is what scripts/aead_wasm/wat.ts assembles to", async () => {
  // Throws WabtMissingError (naming npm:wabt and how to fetch it) when wabt cannot be loaded.
  const fresh = await buildAeadWasm();
  const committed = await Deno.readTextFile(new URL(`../../${GENERATED}`, import.meta.url));
  assert(
    committed === renderGenerated(fresh),
    `${GENERATED} is stale: run deno run -A scripts/gen_aead_wasm.ts and commit it`,
  );
  // And what is loaded is that file's constant.
  assertEquals(renderGenerated(fresh).includes(CHACHA20_POLY1305_WASM_BASE64.slice(0, 96)), true);
});

Deno.test("wasm AEAD: RFC 8439 2.8.2 seal and A.5 open", () => {
  const v = AEAD_2_8_2;
  const aead = new WasmChaCha20Poly1305(fromHex(v.key));
  const sealed = aead.seal(fromHex(v.nonce), fromHex(v.plaintext), fromHex(v.aad));
  assertEquals(toHex(sealed), v.ciphertext + v.tag);
  const a5 = AEAD_A_5;
  const opener = new WasmChaCha20Poly1305(fromHex(a5.key));
  const opened = opener.open(
    fromHex(a5.nonce),
    fromHex(a5.ciphertext + a5.tag),
    fromHex(a5.aad),
  );
  assert(opened !== null, "A.5 opens");
  assertEquals(toHex(opened), a5.plaintext);
});

/** The module's exports, instantiated apart from the wrapper's instance. */
function rawModule() {
  const bytes = Uint8Array.from(atob(CHACHA20_POLY1305_WASM_BASE64), (c) => c.charCodeAt(0));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as {
    memory: WebAssembly.Memory;
    seal(a: number, al: number, p: number, l: number): void;
    open(a: number, al: number, p: number, l: number): number;
    poly1305(m: number, l: number): void;
  };
}

Deno.test("wasm AEAD: its Poly1305 gives the tags of RFC 8439 2.5.2 and A.3 (the final reduction's edge cases)", () => {
  const e = rawModule();
  const mem = new Uint8Array(e.memory.buffer);
  for (const [i, v] of [POLY1305_2_5_2, ...POLY1305_A_3].entries()) {
    mem.set(fromHex(v.key), OTK_AT);
    const message = fromHex(v.message);
    mem.set(message, DATA);
    e.poly1305(DATA, message.length);
    assertEquals(toHex(mem.subarray(TAG_AT, TAG_AT + 16)), v.tag, `vector ${i}`);
  }
});

Deno.test("wasm AEAD: its four-block Poly1305 gives the TypeScript Poly1305's tags, every length to 1,100, the largest limbs too", () => {
  // From 512 bytes on the module absorbs four blocks at once with powers of
  // r: every length up to 1,100 covers the scalar path alone and each count
  // of whole four-block steps from 8 to 17, with every remainder of whole and
  // partial blocks; all-ones r and message give the largest limbs and carries.
  const e = rawModule();
  e.memory.grow(2);
  const mem = new Uint8Array(e.memory.buffer);
  const rng = new Prng(mixSeed(SEED, 6));
  const ones = (n: number) => new Uint8Array(n).fill(0xff);
  const lengths = [...Array.from({ length: 1101 }, (_, i) => i), 16383, 16384, 16385, 70001];
  for (const len of lengths) {
    for (const [key, message] of [[random(rng, 32), random(rng, len)], [ones(32), ones(len)]]) {
      mem.set(key, OTK_AT);
      mem.set(message, DATA);
      e.poly1305(DATA, len);
      assert(
        toHex(mem.subarray(TAG_AT, TAG_AT + 16)) === toHex(poly1305(key, message)),
        `Poly1305 of ${len} bytes, key ${toHex(key).slice(0, 8)}`,
      );
    }
  }
});

Deno.test("wasm AEAD: the same bytes as the TypeScript AEAD near every 64-byte step to 16,448, and on to 70,000", () => {
  const rng = new Prng(mixSeed(SEED, 7));
  // Every step to 16,448 (a record and one step more), then every 13th.
  for (let step = 0; step * 64 <= 70_000; step += step < 257 ? 1 : 13) {
    for (const len of [step * 64 - 1, step * 64, step * 64 + 1].filter((n) => n >= 0)) {
      const key = random(rng, 32), nonce = random(rng, 12);
      const aad = random(rng, rng.int(18)), pt = random(rng, len);
      const ts = new ChaCha20Poly1305(key), wasm = new WasmChaCha20Poly1305(key);
      const expected = ts.seal(nonce, pt, aad);
      assert(
        toHex(wasm.seal(nonce, pt, aad)) === toHex(expected),
        `seal of ${len} bytes, ${aad.length} of AAD`,
      );
      const opened = wasm.open(nonce, expected, aad);
      assert(opened !== null && toHex(opened) === toHex(pt), `open of ${len} bytes`);
    }
  }
});

Deno.test("wasm AEAD: the same bytes as the TypeScript AEAD, every length and AAD length, both ways", () => {
  const rng = new Prng(mixSeed(SEED, 1));
  for (const len of LENGTHS) {
    for (const aadLen of AAD_LENGTHS) {
      const key = random(rng, 32), nonce = random(rng, 12);
      const aad = random(rng, aadLen), pt = random(rng, len);
      const ts = new ChaCha20Poly1305(key), wasm = new WasmChaCha20Poly1305(key);
      const expected = ts.seal(nonce, pt, aad);
      const got = wasm.seal(nonce, pt, aad);
      assert(toHex(got) === toHex(expected), `seal of ${len} bytes, ${aadLen} of AAD`);
      const opened = wasm.open(nonce, expected, aad);
      assert(opened !== null && toHex(opened) === toHex(pt), `open of ${len} bytes, ${aadLen}`);
      // In place, at an odd offset of a larger buffer.
      const buf = new Uint8Array(len + 16 + 7);
      const rec = buf.subarray(3, 3 + len + 16);
      rec.set(expected);
      const inPlace = wasm.open(nonce, rec, aad, rec);
      assert(inPlace !== null && toHex(inPlace) === toHex(pt), `in place, ${len}`);
      assertEquals(inPlace.byteOffset, rec.byteOffset);
    }
  }
});

Deno.test("wasm AEAD: a flipped bit in the tag, ciphertext, AAD or nonce is rejected, and nothing is released", () => {
  const rng = new Prng(mixSeed(SEED, 2));
  for (const len of [0, 1, 100, 192, 193, 16384]) {
    const key = random(rng, 32), nonce = random(rng, 12), aad = random(rng, 5);
    const pt = random(rng, len);
    const aead = new WasmChaCha20Poly1305(key);
    const sealed = aead.seal(nonce, pt, aad);
    const cases: [string, Uint8Array, Uint8Array, Uint8Array][] = [];
    for (const at of [len, len + 15, 0, len >> 1].filter((i) => i < sealed.length)) {
      const bad = sealed.slice();
      bad[at] ^= 1 << (at & 7);
      cases.push([`byte ${at} of ${len + 16}`, bad, aad, nonce]);
    }
    const badAad = aad.slice();
    badAad[4] ^= 0x80;
    cases.push(["the AAD", sealed, badAad, nonce]);
    const badNonce = nonce.slice();
    badNonce[11] ^= 1;
    cases.push(["the nonce", sealed, aad, badNonce]);
    for (const [what, input, a, n] of cases) {
      const out = new Uint8Array(len).fill(0x5a);
      assertEquals(aead.open(n, input, a, out), null, `${what} (${len} bytes)`);
      assert(out.every((b) => b === 0), `${what}: out is zeroed, no plaintext released`);
      const copy = input.slice();
      assertEquals(aead.open(n, copy, a, copy), null, `${what}, in place`);
      assert(
        toHex(copy.subarray(0, len)) === toHex(new Uint8Array(len)),
        `${what}, in place: zeroed`,
      );
    }
  }
  const aead = new WasmChaCha20Poly1305(new Uint8Array(32));
  assertEquals(aead.open(new Uint8Array(12), new Uint8Array(15), new Uint8Array(0)), null);
});

Deno.test("wasm AEAD: sealRecord is seal of content || type", () => {
  const rng = new Prng(mixSeed(SEED, 3));
  for (const len of [0, 1, 191, 16384]) {
    const key = random(rng, 32), nonce = random(rng, 12), content = random(rng, len);
    const header = new Uint8Array([23, 3, 3, (len + 17) >> 8, (len + 17) & 0xff]);
    const inner = new Uint8Array(len + 1);
    inner.set(content);
    inner[len] = 22;
    const expected = new ChaCha20Poly1305(key).seal(nonce, inner, header);
    const out = new Uint8Array(len + 17);
    new WasmChaCha20Poly1305(key).sealRecord(nonce, content, 22, header, out);
    assert(toHex(out) === toHex(expected), `record of ${len}`);
  }
});

Deno.test("wasm AEAD: bad arguments are named", () => {
  assertThrows(() => new WasmChaCha20Poly1305(new Uint8Array(31)), TypeError, /32 bytes/);
  const aead = new WasmChaCha20Poly1305(new Uint8Array(32));
  assertThrows(
    () => aead.seal(new Uint8Array(8), new Uint8Array(1), new Uint8Array(0)),
    TypeError,
    /nonce/,
  );
  assertThrows(
    () => aead.seal(new Uint8Array(12), new Uint8Array(4), new Uint8Array(0), new Uint8Array(19)),
    RangeError,
    /at least 20/,
  );
});

Deno.test("wasm AEAD: the module's memory holds no key, nonce, one-time key or keystream after seal and open", () => {
  const e = rawModule();
  const mem = new Uint8Array(e.memory.buffer);
  const scratch = () => mem.subarray(0, DATA);
  for (const len of [1, 200, 1000]) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    mem.set(key, KEY_AT);
    mem.set(nonce, NONCE_AT);
    mem.set([23, 3, 3, 0, 1], DATA);
    e.seal(DATA, 5, DATA + 16, len);
    assert(scratch().every((b) => b === 0), `after seal of ${len}`);
    mem.set(key, KEY_AT);
    mem.set(nonce, NONCE_AT);
    assertEquals(e.open(DATA, 5, DATA + 16, len), 1, "the same key and nonce: opens");
    assert(scratch().every((b) => b === 0), `after open of ${len}`);
    e.seal(DATA, 5, DATA + 16, len);
    const sealed = mem.slice(DATA + 16, DATA + 16 + len + 16);
    mem.set(crypto.getRandomValues(new Uint8Array(32)), KEY_AT);
    mem.set(nonce, NONCE_AT);
    assertEquals(e.open(DATA, 5, DATA + 16, len), 0, "another key: rejected");
    assert(scratch().every((b) => b === 0), `after a failed open of ${len}`);
    assert(
      mem.subarray(DATA + 16, DATA + 16 + len + 16).every((b, i) => b === sealed[i]),
      "a failed open decrypts nothing: the ciphertext is left as it was",
    );
  }
});
