/**
 * Tests of tls13/chacha20_poly1305.ts: every RFC 8439 test vector that applies,
 * tampering, in-place use, boundary lengths, argument errors, and a cross-check
 * against an independent implementation (Deno's `node:crypto`, used here only
 * as the oracle) and a BigInt Poly1305 written from the RFC's definition.
 *
 * Run: deno test tests/tls13/chacha20_poly1305_test.ts
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import {
  chacha20,
  ChaCha20Poly1305,
  KEY_BYTES,
  NONCE_BYTES,
  poly1305,
  TAG_BYTES,
  warmUpChaCha20Poly1305,
} from "../../tls13/chacha20_poly1305.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { toHex } from "../_util/fuzz.ts";
import { mixSeed, Prng } from "../_util/prng.ts";
import {
  AEAD_2_8_2,
  AEAD_A_5,
  BLOCK_2_3_2,
  BLOCK_A_1,
  ENCRYPT_2_4_2,
  ENCRYPT_A_2,
  KEYGEN_2_6_2,
  KEYGEN_A_4,
  POLY1305_2_5_2,
  POLY1305_A_3,
} from "./_rfc8439_vectors.ts";

const SEED = 20261202;
const LENGTHS = [0, 1, 15, 16, 17, 63, 64, 65, 16383, 16384, 16640];

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

/** ciphertext || tag from node:crypto (OpenSSL / BoringSSL under Deno's Node layer). */
function oracleSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array) {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad, { plaintextLength: pt.length });
  return concat(c.update(pt), c.final(), c.getAuthTag());
}

/** The plaintext from node:crypto, or null when it rejects the tag. */
function oracleOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array) {
  const len = sealed.length - TAG_BYTES;
  if (len < 0) return null;
  const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_BYTES });
  d.setAAD(aad, { plaintextLength: len });
  d.setAuthTag(sealed.subarray(len));
  const body = d.update(sealed.subarray(0, len));
  try {
    return concat(body, d.final());
  } catch {
    return null;
  }
}

/** Poly1305 straight from its definition (RFC 8439 2.5.1), in BigInt. */
function poly1305Reference(key: Uint8Array, msg: Uint8Array): string {
  const le = (b: Uint8Array) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le(key.subarray(16, 32));
  const p = (1n << 130n) - 5n;
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    acc = ((acc + le(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  let tag = (acc + s) & ((1n << 128n) - 1n);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number(tag & 0xffn), tag >>= 8n;
  return toHex(out);
}

Deno.test("ChaCha20 block function: RFC 8439 2.3.2 and A.1", () => {
  for (const [i, v] of [BLOCK_2_3_2, ...BLOCK_A_1].entries()) {
    const block = chacha20(fromHex(v.key), fromHex(v.nonce), v.counter, new Uint8Array(64));
    assertEquals(toHex(block), v.keystream, `block vector ${i}`);
  }
});

Deno.test("ChaCha20 encryption: RFC 8439 2.4.2 and A.2, both ways, in place too", () => {
  for (const [i, v] of [ENCRYPT_2_4_2, ...ENCRYPT_A_2].entries()) {
    const key = fromHex(v.key), nonce = fromHex(v.nonce);
    assertEquals(
      toHex(chacha20(key, nonce, v.counter, fromHex(v.plaintext))),
      v.ciphertext,
      `${i}`,
    );
    const buf = fromHex(v.ciphertext);
    assert(chacha20(key, nonce, v.counter, buf, buf) === buf);
    assertEquals(toHex(buf), v.plaintext, `decrypt ${i}`);
  }
});

Deno.test("Poly1305: RFC 8439 2.5.2 and A.3 (carries, final reduction, s overflow)", () => {
  const vectors = [{ name: "2.5.2", ...POLY1305_2_5_2 }, ...POLY1305_A_3];
  for (const v of vectors) {
    const key = fromHex(v.key), msg = fromHex(v.message);
    assertEquals(toHex(poly1305(key, msg)), v.tag, `vector ${v.name}`);
    assertEquals(poly1305Reference(key, msg), v.tag, `reference, vector ${v.name}`);
  }
});

Deno.test("Poly1305 matches its BigInt definition on extreme and random keys and messages", () => {
  const prng = new Prng(mixSeed(SEED, 1));
  const ones = (n: number) => new Uint8Array(n).fill(0xff);
  const keys: Uint8Array[] = [ones(32), concat(ones(16), new Uint8Array(16)), new Uint8Array(32)];
  const messages: Uint8Array[] = [ones(16 * 1024 + 15), ones(16), ones(1), new Uint8Array(33)];
  for (let i = 0; i < 200; i++) {
    keys.push(prng.bytes(32));
    messages.push(prng.bytes(prng.size(2048)));
  }
  for (const [i, key] of keys.entries()) {
    const msg = messages[i % messages.length];
    assertEquals(toHex(poly1305(key, msg)), poly1305Reference(key, msg), `case ${i}`);
  }
  // Every block count from 0 to 40 (one at a time, and two at a time from 8 on),
  // with the largest limbs (all-ones r and message) and random ones, at every
  // alignment of the message.
  for (let blocks = 0; blocks <= 40; blocks++) {
    for (const extra of [0, 1, 15]) {
      const len = blocks * 16 + extra;
      for (const [key, msg] of [[ones(32), ones(len + 3)], [prng.bytes(32), prng.bytes(len + 3)]]) {
        for (let shift = 0; shift < 4; shift++) {
          const m = msg.subarray(shift, shift + len);
          assertEquals(toHex(poly1305(key, m)), poly1305Reference(key, m), `length ${len}`);
        }
      }
    }
  }
});

Deno.test("Poly1305 key generation: RFC 8439 2.6.2 and A.4", () => {
  for (const [i, v] of [KEYGEN_2_6_2, ...KEYGEN_A_4].entries()) {
    const block = chacha20(fromHex(v.key), fromHex(v.nonce), 0, new Uint8Array(32));
    assertEquals(toHex(block), v.polykey, `keygen vector ${i}`);
  }
});

Deno.test("AEAD: RFC 8439 2.8.2 seals and opens", () => {
  const v = AEAD_2_8_2;
  const aead = new ChaCha20Poly1305(fromHex(v.key));
  const sealed = aead.seal(fromHex(v.nonce), fromHex(v.plaintext), fromHex(v.aad));
  assertEquals(toHex(sealed), v.ciphertext + v.tag);
  const opened = aead.open(fromHex(v.nonce), sealed, fromHex(v.aad));
  assert(opened !== null);
  assertEquals(toHex(opened), v.plaintext);
});

Deno.test("AEAD: RFC 8439 A.5 decrypts (and seals back)", () => {
  const v = AEAD_A_5;
  const aead = new ChaCha20Poly1305(fromHex(v.key));
  const opened = aead.open(fromHex(v.nonce), fromHex(v.ciphertext + v.tag), fromHex(v.aad));
  assert(opened !== null);
  assertEquals(toHex(opened), v.plaintext);
  const sealed = aead.seal(fromHex(v.nonce), opened, fromHex(v.aad));
  assertEquals(toHex(sealed), v.ciphertext + v.tag);
});

Deno.test("AEAD: a tampered tag, ciphertext, aad or nonce gives null and a zeroed out", () => {
  const prng = new Prng(mixSeed(SEED, 2));
  const key = prng.bytes(KEY_BYTES), nonce = prng.bytes(NONCE_BYTES), aad = prng.bytes(13);
  const aead = new ChaCha20Poly1305(key);
  for (const len of [0, 1, 64, 1000]) {
    const sealed = aead.seal(nonce, prng.bytes(len), aad);
    const flip = (b: Uint8Array, i: number) => {
      const c = b.slice();
      c[i] ^= 0x01;
      return c;
    };
    const cases: [string, Uint8Array, Uint8Array, Uint8Array][] = [
      ["tag first byte", nonce, flip(sealed, len), aad],
      ["tag last byte", nonce, flip(sealed, len + TAG_BYTES - 1), aad],
      ["aad", nonce, sealed, flip(aad, 12)],
      ["aad longer", nonce, sealed, concat(aad, new Uint8Array(1))],
      ["nonce", flip(nonce, 11), sealed, aad],
      ["truncated", nonce, sealed.subarray(0, sealed.length - 1), aad],
    ];
    if (len > 0) {
      cases.push(["ciphertext first byte", nonce, flip(sealed, 0), aad]);
      cases.push(["ciphertext last byte", nonce, flip(sealed, len - 1), aad]);
    }
    for (const [what, n, s, a] of cases) {
      const out = new Uint8Array(len + 7).fill(0xaa);
      assertEquals(aead.open(n, s, a, out), null, `${what}, length ${len}`);
      const written = Math.max(0, s.length - TAG_BYTES);
      assert(out.subarray(0, written).every((b) => b === 0), `${what}: out not zeroed`);
      assert(out.subarray(written).every((b) => b === 0xaa), `${what}: wrote past the plaintext`);
      assertEquals(aead.open(n, s, a), null, `${what}, no out`);
      assertEquals(oracleOpen(key, n, s, a), null, `${what}: the oracle accepts it`);
      // In place: the buffer keeps no plaintext either.
      const inPlace = s.slice();
      assertEquals(aead.open(n, inPlace, a, inPlace), null);
      assert(inPlace.subarray(0, written).every((b) => b === 0), `${what}: in place not zeroed`);
    }
    // The untouched record still opens: nothing above changed the instance's key.
    assert(aead.open(nonce, sealed, aad) !== null);
  }
});

Deno.test("AEAD: shorter than a tag gives null", () => {
  const aead = new ChaCha20Poly1305(new Uint8Array(KEY_BYTES));
  for (let n = 0; n < TAG_BYTES; n++) {
    assertEquals(
      aead.open(new Uint8Array(NONCE_BYTES), new Uint8Array(n), new Uint8Array(0)),
      null,
    );
  }
});

Deno.test("AEAD: in-place seal and open at every boundary length, against node:crypto", () => {
  const prng = new Prng(mixSeed(SEED, 3));
  const key = prng.bytes(KEY_BYTES);
  const aead = new ChaCha20Poly1305(key);
  for (const len of LENGTHS) {
    for (const aadLen of [0, 5, 16, 17]) {
      const nonce = prng.bytes(NONCE_BYTES), aad = prng.bytes(aadLen), pt = prng.bytes(len);
      const expected = oracleSeal(key, nonce, pt, aad);
      const what = `length ${len}, aad ${aadLen}`;
      assertEquals(toHex(aead.seal(nonce, pt, aad)), toHex(expected), what);
      // A record in a larger buffer, at an odd offset, header before it as the aad.
      const buf = new Uint8Array(3 + len + TAG_BYTES + 9);
      buf.set(pt, 3);
      const record = buf.subarray(3, 3 + len + TAG_BYTES);
      const sealed = aead.seal(nonce, buf.subarray(3, 3 + len), aad, record);
      assert(sealed === record, `${what}: seal returned another array`);
      assertEquals(toHex(record), toHex(expected), `${what}: in place`);
      const opened = aead.open(nonce, record, aad, record);
      assert(opened !== null, `${what}: in-place open failed`);
      assertEquals(opened.byteOffset, record.byteOffset);
      assertEquals(opened.length, len);
      assertEquals(toHex(opened), toHex(pt), `${what}: in-place open`);
      assertEquals(
        toHex(buf.subarray(3 + len, 3 + len + TAG_BYTES)),
        toHex(expected.subarray(len)),
      );
      assert(buf.subarray(0, 3).every((b) => b === 0) && buf.subarray(-9).every((b) => b === 0));
      // Into a separate, larger out: a view of its start comes back.
      const out = new Uint8Array(len + 40);
      const view = aead.open(nonce, expected, aad, out);
      assert(view !== null && view.buffer === out.buffer && view.length === len);
      assertEquals(toHex(view), toHex(pt), `${what}: open into out`);
    }
  }
});

Deno.test("AEAD: every alignment of input and out, separate buffers and in place", () => {
  const prng = new Prng(mixSeed(SEED, 6));
  const key = prng.bytes(KEY_BYTES), aead = new ChaCha20Poly1305(key);
  for (const len of [15, 64, 100, 257, 4096]) {
    const nonce = prng.bytes(NONCE_BYTES), aad = prng.bytes(5), pt = prng.bytes(len);
    const expected = toHex(oracleSeal(key, nonce, pt, aad));
    for (let inOff = 0; inOff < 4; inOff++) {
      const input = new Uint8Array(inOff + len + TAG_BYTES);
      input.set(pt, inOff);
      for (let outOff = 0; outOff < 4; outOff++) {
        const out = new Uint8Array(outOff + len + TAG_BYTES).subarray(outOff);
        const what = `length ${len}, input at ${inOff}, out at ${outOff}`;
        const sealed = aead.seal(nonce, input.subarray(inOff, inOff + len), aad, out);
        assertEquals(toHex(sealed), expected, what);
        const back = new Uint8Array(outOff + len).subarray(outOff);
        const ctIn = new Uint8Array(inOff + len + TAG_BYTES).subarray(inOff);
        ctIn.set(sealed);
        assertEquals(toHex(aead.open(nonce, ctIn, aad, back) ?? new Uint8Array(0)), toHex(pt));
      }
      const record = new Uint8Array(inOff + len + TAG_BYTES).subarray(inOff);
      record.set(pt);
      assertEquals(toHex(aead.seal(nonce, record.subarray(0, len), aad, record)), expected);
      assertEquals(toHex(aead.open(nonce, record, aad, record) ?? new Uint8Array(0)), toHex(pt));
    }
  }
});

Deno.test("AEAD: out may start before the input in the same buffer", () => {
  const prng = new Prng(mixSeed(SEED, 4));
  const key = prng.bytes(KEY_BYTES), nonce = prng.bytes(NONCE_BYTES), aad = prng.bytes(5);
  const aead = new ChaCha20Poly1305(key);
  for (const shift of [1, 3, 4, 5, 64]) {
    const pt = prng.bytes(300);
    const expected = oracleSeal(key, nonce, pt, aad);
    const buf = new Uint8Array(shift + expected.length);
    buf.set(pt, shift);
    aead.seal(nonce, buf.subarray(shift, shift + pt.length), aad, buf);
    assertEquals(toHex(buf.subarray(0, expected.length)), toHex(expected), `seal, shift ${shift}`);
    buf.set(expected, shift);
    const opened = aead.open(nonce, buf.subarray(shift), aad, buf);
    assert(opened !== null);
    assertEquals(toHex(opened), toHex(pt), `open, shift ${shift}`);
  }
});

Deno.test("AEAD: random inputs agree with node:crypto both ways", () => {
  const prng = new Prng(mixSeed(SEED, 5));
  let aead = new ChaCha20Poly1305(prng.bytes(KEY_BYTES));
  let key: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 400; i++) {
    if (i % 50 === 0) {
      key = prng.bytes(KEY_BYTES);
      aead = new ChaCha20Poly1305(key);
    }
    const nonce = prng.bytes(NONCE_BYTES);
    const pt = prng.bytes(prng.size(20000)), aad = prng.bytes(prng.size(100));
    const what = `case ${i}: length ${pt.length}, aad ${aad.length}`;
    const sealed = aead.seal(nonce, pt, aad);
    assertEquals(toHex(sealed), toHex(oracleSeal(key, nonce, pt, aad)), what);
    const back = oracleOpen(key, nonce, sealed, aad);
    assert(back !== null, `${what}: the oracle rejects our record`);
    const opened = aead.open(nonce, sealed, aad);
    assert(opened !== null, `${what}: we reject our own record`);
    assertEquals(toHex(opened), toHex(pt), what);
  }
});

Deno.test("AEAD: wrong key or nonce lengths throw a TypeError naming the length needed", () => {
  for (const n of [0, 16, 31, 33]) {
    assertThrows(() => new ChaCha20Poly1305(new Uint8Array(n)), TypeError, /key must be 32 bytes/);
  }
  assertThrows(
    () => new ChaCha20Poly1305([1, 2] as unknown as Uint8Array),
    TypeError,
    /key must be a Uint8Array of 32 bytes/,
  );
  const aead = new ChaCha20Poly1305(new Uint8Array(KEY_BYTES));
  const empty = new Uint8Array(0);
  for (const n of [0, 8, 11, 13, 24]) {
    const nonce = new Uint8Array(n);
    assertThrows(() => aead.seal(nonce, empty, empty), TypeError, /nonce must be 12 bytes/);
    assertThrows(() => aead.open(nonce, new Uint8Array(16), empty), TypeError, /12 bytes/);
  }
  assertThrows(() => chacha20(new Uint8Array(31), new Uint8Array(12), 0, empty), TypeError, /32/);
  assertThrows(() => chacha20(new Uint8Array(32), new Uint8Array(8), 0, empty), TypeError, /12/);
  assertThrows(() => poly1305(new Uint8Array(16), empty), TypeError, /must be 32 bytes/);
});

Deno.test("ChaCha20: the block counter is 32 bits, and the keystream may not run past it", () => {
  const key = new Uint8Array(KEY_BYTES), nonce = new Uint8Array(NONCE_BYTES);
  for (const counter of [-1, 1.5, 2 ** 32, NaN]) {
    assertThrows(
      () => chacha20(key, nonce, counter, new Uint8Array(1)),
      TypeError,
      /0 to 2\^32 - 1/,
    );
  }
  const last = 2 ** 32 - 1;
  assertEquals(chacha20(key, nonce, last, new Uint8Array(64)).length, 64);
  assertThrows(() => chacha20(key, nonce, last, new Uint8Array(65)), RangeError, /32-bit/);
});

Deno.test("ChaCha20 agrees with node:crypto's chacha20 at random and extreme counters", () => {
  const prng = new Prng(mixSeed(SEED, 8));
  for (let i = 0; i < 100; i++) {
    const key = prng.bytes(KEY_BYTES), nonce = prng.bytes(NONCE_BYTES);
    const len = prng.size(5000);
    const counter = i < 4 ? [0, 1, 2 ** 31, 2 ** 32 - 1][i] : prng.u32();
    const input = prng.bytes(Math.min(len, (2 ** 32 - counter) * 64));
    // OpenSSL's chacha20 takes the 32-bit counter (little-endian) || the nonce as its IV.
    const iv = concat(new Uint8Array(4), nonce);
    new DataView(iv.buffer).setUint32(0, counter, true);
    const c = createCipheriv("chacha20", key, iv);
    const expected = concat(c.update(input), c.final());
    const what = `case ${i}: counter ${counter}, length ${input.length}`;
    assertEquals(toHex(chacha20(key, nonce, counter, input)), toHex(expected), what);
  }
});

Deno.test("AEAD: a short out or one overlapping the input from a later offset is a RangeError", () => {
  const aead = new ChaCha20Poly1305(new Uint8Array(KEY_BYTES));
  const nonce = new Uint8Array(NONCE_BYTES), empty = new Uint8Array(0);
  assertThrows(
    () => aead.seal(nonce, new Uint8Array(10), empty, new Uint8Array(25)),
    RangeError,
    /at least 26 bytes/,
  );
  const sealed = aead.seal(nonce, new Uint8Array(10), empty);
  assertThrows(() => aead.open(nonce, sealed, empty, new Uint8Array(9)), RangeError, /10 bytes/);
  const buf = new Uint8Array(64);
  assertThrows(
    () => aead.seal(nonce, buf.subarray(0, 20), empty, buf.subarray(1)),
    RangeError,
    /overlaps/,
  );
  buf.set(sealed);
  assertThrows(() => aead.open(nonce, buf.subarray(0, 26), empty, buf.subarray(2)), RangeError);
});

Deno.test("AEAD: the key is copied, and exported constants are the RFC's", () => {
  assertEquals([KEY_BYTES, NONCE_BYTES, TAG_BYTES], [32, 12, 16]);
  const key = new Uint8Array(KEY_BYTES).fill(7);
  const aead = new ChaCha20Poly1305(key);
  const nonce = new Uint8Array(NONCE_BYTES), pt = new Uint8Array([1, 2, 3]);
  const before = toHex(aead.seal(nonce, pt, pt));
  key.fill(0);
  assertEquals(toHex(aead.seal(nonce, pt, pt)), before);
});

Deno.test("warmUpChaCha20Poly1305 runs and leaves other instances as they were", () => {
  const prng = new Prng(mixSeed(SEED, 7));
  const key = prng.bytes(KEY_BYTES), nonce = prng.bytes(NONCE_BYTES), pt = prng.bytes(1000);
  const aead = new ChaCha20Poly1305(key);
  const before = toHex(aead.seal(nonce, pt, pt));
  warmUpChaCha20Poly1305(3);
  warmUpChaCha20Poly1305(0);
  assertEquals(toHex(aead.seal(nonce, pt, pt)), before);
  assertEquals(before, toHex(oracleSeal(key, nonce, pt, pt)));
});
