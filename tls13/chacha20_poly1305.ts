/**
 * ChaCha20-Poly1305 (RFC 8439), synchronous and in pure TypeScript: the record
 * protection of the TLS 1.3 server (TLS_CHACHA20_POLY1305_SHA256).
 *
 * Constant-time by construction: no table lookups, and branches only on
 * lengths and alignment, never on key, keystream, accumulator or tag bits.
 * ChaCha20 is 32-bit integer arithmetic; Poly1305 keeps its accumulator in six
 * 22-bit limbs held in float64 numbers, whose products and sums stay below
 * 2^53 and so are exact (integers only: no subnormals, no rounding); carries
 * are `Math.floor` of a product by 2^-22, the final reduction selects with
 * masks, and the tag is compared by OR-ing the XOR of every byte. A failed
 * `open` writes no plaintext: the tag is checked before anything is decrypted.
 * (Every integer operation sees full-range values from the first block on, so
 * V8's type feedback is general before anything is optimised: no later
 * deoptimisation depends on secret values.)
 *
 * All working state lives in typed arrays allocated once per instance. A call
 * allocates its result when no `out` is given, a `subarray` view when `out` is
 * longer than the result, and, for 64 bytes or more starting 4-aligned, one or
 * two Int32Array views (input, out) so that ChaCha20 XORs whole words.
 *
 * @module
 */

/**
 * Length of a ChaCha20-Poly1305 key, in bytes.
 *
 * @example
 * ```ts
 * import { ChaCha20Poly1305, KEY_BYTES } from "./chacha20_poly1305.ts";
 *
 * const aead = new ChaCha20Poly1305(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
 * ```
 */
export const KEY_BYTES = 32;
/**
 * Length of a ChaCha20-Poly1305 nonce, in bytes.
 *
 * @example
 * ```ts
 * import { NONCE_BYTES } from "./chacha20_poly1305.ts";
 *
 * // TLS 1.3 (RFC 8446 5.3): the 64-bit record number, XORed into the IV's last 8 bytes.
 * const iv = new Uint8Array(NONCE_BYTES), nonce = iv.slice();
 * new DataView(nonce.buffer).setBigUint64(NONCE_BYTES - 8, 1n ^ new DataView(iv.buffer).getBigUint64(4));
 * ```
 */
export const NONCE_BYTES = 12;
/**
 * Length of a Poly1305 tag, in bytes: `seal` returns `plaintext.length + TAG_BYTES` bytes.
 *
 * @example
 * ```ts
 * import { ChaCha20Poly1305, TAG_BYTES } from "./chacha20_poly1305.ts";
 *
 * const aead = new ChaCha20Poly1305(new Uint8Array(32));
 * const sealed = aead.seal(new Uint8Array(12), new Uint8Array(5), new Uint8Array(0));
 * console.log(sealed.length === 5 + TAG_BYTES); // true
 * ```
 */
export const TAG_BYTES = 16;

/** Bit 128 of a Poly1305 block ("the 0x01 byte"), as it sits in the top limb. */
const HIBIT = 1 << 18;
/** 2^22 and 2^-22: the limb radix of the Poly1305 accumulator. */
const RADIX = 4194304;
const INV_RADIX = 1 / RADIX;
const MASK22 = 0x3fffff;
/** 2^-32: a multiplication (constant time, exact here), never a division, takes the carry. */
const INV_2_32 = 1 / 4294967296;
/** Slots of the Poly1305 state array: accumulator, r, 20·r, r², 20·r², s, r² computed. */
const H = 0, R = 6, S20 = 12, R2 = 18, S2 = 24, PAD = 30, HAVE_R2 = 34, POLY_SLOTS = 35;
/** From this many blocks in one call on, Poly1305 takes them two at a time (it needs r²). */
const PAIR_MIN = 8;
/** The zero block, whose product with r gives r². */
const ZERO_BLOCK = new Uint8Array(16);
/**
 * Whether an Int32Array over bytes reads them as little-endian words, as
 * ChaCha20 and Poly1305 want: then 4-aligned input is read and written as
 * words, four bytes at a time.
 */
const LITTLE_ENDIAN = new Uint8Array(new Int32Array([1]).buffer)[0] === 1;
/** Record size `warmUpChaCha20Poly1305` runs on. */
const WARM_UP_BYTES = 1024;
/** From this many bytes on, 4-aligned data is worth a word view. */
const WORD_VIEW_MIN = 64;

/** Throws a TypeError unless `value` is a Uint8Array of `length` bytes. @internal */
export function checkBytes(what: string, value: Uint8Array, length: number): void {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`ChaCha20-Poly1305: the ${what} must be a Uint8Array of ${length} bytes`);
  }
  if (value.length !== length) {
    throw new TypeError(
      `ChaCha20-Poly1305: the ${what} must be ${length} bytes, got ${value.length}`,
    );
  }
}

/** Throws a TypeError unless `value` is a Uint8Array. @internal */
export function checkInput(what: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`ChaCha20-Poly1305: the ${what} must be a Uint8Array`);
  }
}

/**
 * Checks that `out` holds at least `need` bytes and is either `input`'s own
 * bytes from the same offset (in place) or does not overlap the part of it after
 * its own start (the loops run forward, reading each byte before writing it).
 * @internal
 */
export function checkOut(out: Uint8Array, input: Uint8Array, need: number): void {
  if (!(out instanceof Uint8Array)) {
    throw new TypeError("ChaCha20-Poly1305: `out` must be a Uint8Array");
  }
  if (out.length < need) {
    throw new RangeError(
      `ChaCha20-Poly1305: \`out\` must hold at least ${need} bytes, got ${out.length}`,
    );
  }
  if (out.buffer !== input.buffer) return;
  const a = input.byteOffset, b = out.byteOffset;
  if (b > a && b < a + input.length) {
    throw new RangeError(
      "ChaCha20-Poly1305: `out` overlaps the input from a later offset; " +
        "pass the input's own bytes (same byteOffset, in place) or a separate buffer",
    );
  }
}

/**
 * Checks `open`'s sealed input and `out`; the plaintext's length (negative
 * when the input is shorter than a tag). @internal
 */
export function openLength(sealed: Uint8Array, out: Uint8Array | undefined): number {
  checkInput("sealed input", sealed);
  const len = sealed.length - TAG_BYTES;
  if (out !== undefined) checkOut(out, sealed, len < 0 ? 0 : len);
  return len;
}

/** The little-endian 32-bit word at `b[o]`, as an int32. */
function readWord(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
}

/**
 * The first `len >>> 2` bytes of `b` as little-endian words, when `b` starts
 * 4-aligned, the platform is little-endian and `len` makes it worth it; else null.
 */
function wordView(b: Uint8Array, len: number): Int32Array | null {
  if (!LITTLE_ENDIAN || (b.byteOffset & 3) !== 0 || len < WORD_VIEW_MIN) return null;
  return new Int32Array(b.buffer, b.byteOffset, len >>> 2);
}

/**
 * Checks that blocks `counter` on cover `len` bytes without passing the 32-bit
 * block counter (RFC 8439 2.4: at most 2^32 blocks; the AEAD starts at 1, so
 * 2^38 - 64 bytes at most).
 */
function checkCounter(counter: number, len: number): void {
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) {
    throw new TypeError(
      `ChaCha20: the block counter must be an integer from 0 to 2^32 - 1, got ${counter}`,
    );
  }
  if (counter + Math.ceil(len / 64) > 4294967296) {
    throw new RangeError(
      `ChaCha20: ${len} bytes from block ${counter} run past the 32-bit block counter`,
    );
  }
}

/** Words 0-11 of a ChaCha20 state: the constant "expand 32-byte k" and the key. */
function setKey(state: Int32Array, key: Uint8Array): void {
  state[0] = 0x61707865;
  state[1] = 0x3320646e;
  state[2] = 0x79622d32;
  state[3] = 0x6b206574;
  for (let i = 0; i < 8; i++) state[4 + i] = readWord(key, i * 4);
}

/** Words 12-15 of a ChaCha20 state: the block counter and the nonce. */
function setNonce(state: Int32Array, counter: number, nonce: Uint8Array): void {
  state[12] = counter;
  for (let i = 0; i < 3; i++) state[13 + i] = readWord(nonce, i * 4);
}

/** The ChaCha20 block function (RFC 8439 2.3): 20 rounds of `state`, plus `state`, into `ks`. */
function chachaBlock(state: Int32Array, ks: Int32Array): void {
  const j0 = state[0], j1 = state[1], j2 = state[2], j3 = state[3];
  const j4 = state[4], j5 = state[5], j6 = state[6], j7 = state[7];
  const j8 = state[8], j9 = state[9], j10 = state[10], j11 = state[11];
  const j12 = state[12], j13 = state[13], j14 = state[14], j15 = state[15];
  let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
  let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
  for (let i = 0; i < 10; i++) {
    // Column round: QR(0,4,8,12) QR(1,5,9,13) QR(2,6,10,14) QR(3,7,11,15).
    x0 = (x0 + x4) | 0, x12 ^= x0, x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0, x4 ^= x8, x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0, x12 ^= x0, x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0, x4 ^= x8, x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0, x13 ^= x1, x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0, x5 ^= x9, x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0, x13 ^= x1, x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0, x5 ^= x9, x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0, x14 ^= x2, x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0, x6 ^= x10, x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0, x14 ^= x2, x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0, x6 ^= x10, x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0, x15 ^= x3, x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0, x7 ^= x11, x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0, x15 ^= x3, x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0, x7 ^= x11, x7 = (x7 << 7) | (x7 >>> 25);
    // Diagonal round: QR(0,5,10,15) QR(1,6,11,12) QR(2,7,8,13) QR(3,4,9,14).
    x0 = (x0 + x5) | 0, x15 ^= x0, x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0, x5 ^= x10, x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0, x15 ^= x0, x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0, x5 ^= x10, x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0, x12 ^= x1, x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0, x6 ^= x11, x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0, x12 ^= x1, x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0, x6 ^= x11, x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0, x13 ^= x2, x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0, x7 ^= x8, x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0, x13 ^= x2, x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0, x7 ^= x8, x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0, x14 ^= x3, x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0, x4 ^= x9, x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0, x14 ^= x3, x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0, x4 ^= x9, x4 = (x4 << 7) | (x4 >>> 25);
  }
  ks[0] = (x0 + j0) | 0, ks[1] = (x1 + j1) | 0, ks[2] = (x2 + j2) | 0, ks[3] = (x3 + j3) | 0;
  ks[4] = (x4 + j4) | 0, ks[5] = (x5 + j5) | 0, ks[6] = (x6 + j6) | 0, ks[7] = (x7 + j7) | 0;
  ks[8] = (x8 + j8) | 0, ks[9] = (x9 + j9) | 0, ks[10] = (x10 + j10) | 0;
  ks[11] = (x11 + j11) | 0, ks[12] = (x12 + j12) | 0, ks[13] = (x13 + j13) | 0;
  ks[14] = (x14 + j14) | 0, ks[15] = (x15 + j15) | 0;
}

/**
 * XORs `len` bytes of `input` with the keystream of `state` (from its counter
 * on, which it advances) into `out`, both from offset 0. `inWords` and
 * `outWords` are their word views (see `wordView`), or null.
 */
function chachaXor(
  state: Int32Array,
  ks: Int32Array,
  input: Uint8Array,
  inWords: Int32Array | null,
  out: Uint8Array,
  outWords: Int32Array | null,
  len: number,
): void {
  let o = 0;
  if (inWords !== null && outWords !== null) {
    for (; o + 64 <= len; o += 64) {
      chachaBlock(state, ks);
      state[12] = (state[12] + 1) | 0;
      const w = o >>> 2;
      for (let i = 0; i < 16; i++) outWords[w + i] = inWords[w + i] ^ ks[i];
    }
  }
  for (; o + 64 <= len; o += 64) {
    chachaBlock(state, ks);
    state[12] = (state[12] + 1) | 0;
    for (let w = 0; w < 16; w++) {
      const k = ks[w], p = o + w * 4;
      out[p] = input[p] ^ k;
      out[p + 1] = input[p + 1] ^ (k >>> 8);
      out[p + 2] = input[p + 2] ^ (k >>> 16);
      out[p + 3] = input[p + 3] ^ (k >>> 24);
    }
  }
  if (o < len) {
    chachaBlock(state, ks);
    state[12] = (state[12] + 1) | 0;
    for (let i = 0; o < len; o++, i++) {
      out[o] = input[o] ^ (ks[i >>> 2] >>> ((i & 3) << 3));
    }
  }
}

/** Sets up Poly1305 from a one-time key given as eight little-endian words (r, then s). */
function polyInit(poly: Float64Array, k: Int32Array): void {
  // Clamp r (RFC 8439 2.5), then cut it into 22-bit limbs.
  const t0 = k[0] & 0x0fffffff, t1 = k[1] & 0x0ffffffc;
  const t2 = k[2] & 0x0ffffffc, t3 = k[3] & 0x0ffffffc;
  poly[R] = t0 & MASK22;
  poly[R + 1] = ((t0 >>> 22) | (t1 << 10)) & MASK22;
  poly[R + 2] = ((t1 >>> 12) | (t2 << 20)) & MASK22;
  poly[R + 3] = (t2 >>> 2) & MASK22;
  poly[R + 4] = ((t2 >>> 24) | (t3 << 8)) & MASK22;
  poly[R + 5] = t3 >>> 14;
  scaleLimbs(poly, R, S20);
  for (let i = 0; i < 6; i++) poly[H + i] = 0;
  for (let i = 0; i < 4; i++) poly[PAD + i] = k[4 + i] >>> 0;
  poly[HAVE_R2] = 0;
}

/**
 * 20 times the limbs at `from`, into `to`: a product of limbs i and j with
 * i + j >= 6 weighs 2^132·2^(22(i+j-6)), and 2^132 = 4·2^130 ≡ 4·5 (mod 2^130 - 5).
 */
function scaleLimbs(poly: Float64Array, from: number, to: number): void {
  for (let i = 0; i < 6; i++) poly[to + i] = poly[from + i] * 20;
}

/** Computes r² (as the accumulator would hold it: r times a zero block added to r). */
function squareR(poly: Float64Array): void {
  for (let i = 0; i < 6; i++) poly[R2 + i] = poly[H + i], poly[H + i] = poly[R + i];
  polyBlocks(poly, ZERO_BLOCK, 0, 1, 0);
  for (let i = 0; i < 6; i++) {
    const h = poly[R2 + i];
    poly[R2 + i] = poly[H + i], poly[H + i] = h;
  }
  scaleLimbs(poly, R2, S2);
  poly[HAVE_R2] = 1;
}

/**
 * Absorbs `blocks` 16-byte blocks of `m` from offset `off`, each with bit 128
 * set when `hibit` is `HIBIT` (every block but a short final one). Two blocks
 * at a time, h = (h + m1)·r² + m2·r, so that one carry step serves both; a
 * last odd block is h = (h + m1)·r.
 *
 * Bounds, all exact in float64 (below 2^53): between steps the limbs are below
 * 2^22 + 2^13 and r² (reduced like the accumulator) too; r's limbs are below
 * 2^22 and block limbs below 2^22. So (h + m1) < 2^23 + 2^13, and a sum of six
 * products (h + m1)·20r² plus six m2·20r is below 6·(2^23 + 2^13)·20·(2^22 + 2^13)
 * + 6·2^22·20·2^22 < 6.4·10^15 < 2^53 = 9.0·10^15. The two carry passes then
 * leave limbs below 2^22 + 2^13 again. Short runs (under `PAIR_MIN` blocks)
 * go one block at a time, and r² is computed the first time it is needed.
 */
function polyBlocks(
  poly: Float64Array,
  m: Uint8Array,
  off: number,
  blocks: number,
  hibit: number,
): void {
  const pairs = blocks >= PAIR_MIN;
  if (pairs && poly[HAVE_R2] === 0) squareR(poly);
  let h0 = poly[H], h1 = poly[H + 1], h2 = poly[H + 2];
  let h3 = poly[H + 3], h4 = poly[H + 4], h5 = poly[H + 5];
  const r0 = poly[R], r1 = poly[R + 1], r2 = poly[R + 2];
  const r3 = poly[R + 3], r4 = poly[R + 4], r5 = poly[R + 5];
  const s1 = poly[S20 + 1], s2 = poly[S20 + 2], s3 = poly[S20 + 3];
  const s4 = poly[S20 + 4], s5 = poly[S20 + 5];
  const q0 = poly[R2], q1 = poly[R2 + 1], q2 = poly[R2 + 2];
  const q3 = poly[R2 + 3], q4 = poly[R2 + 4], q5 = poly[R2 + 5];
  const z1 = poly[S2 + 1], z2 = poly[S2 + 2], z3 = poly[S2 + 3];
  const z4 = poly[S2 + 4], z5 = poly[S2 + 5];
  const end = off + blocks * 16;
  for (let o = off; o < end;) {
    const pair = pairs && o + 32 <= end;
    // The first block's multiplier: r² when a second block follows, else r.
    const a0 = pair ? q0 : r0, a1 = pair ? q1 : r1, a2 = pair ? q2 : r2;
    const a3 = pair ? q3 : r3, a4 = pair ? q4 : r4, a5 = pair ? q5 : r5;
    const b1 = pair ? z1 : s1, b2 = pair ? z2 : s2, b3 = pair ? z3 : s3;
    const b4 = pair ? z4 : s4, b5 = pair ? z5 : s5;
    let t0 = readWord(m, o), t1 = readWord(m, o + 4);
    let t2 = readWord(m, o + 8), t3 = readWord(m, o + 12);
    h0 += t0 & MASK22;
    h1 += ((t0 >>> 22) | (t1 << 10)) & MASK22;
    h2 += ((t1 >>> 12) | (t2 << 20)) & MASK22;
    h3 += (t2 >>> 2) & MASK22;
    h4 += ((t2 >>> 24) | (t3 << 8)) & MASK22;
    h5 += (t3 >>> 14) | hibit;
    let d0 = h0 * a0 + h1 * b5 + h2 * b4 + h3 * b3 + h4 * b2 + h5 * b1;
    let d1 = h0 * a1 + h1 * a0 + h2 * b5 + h3 * b4 + h4 * b3 + h5 * b2;
    let d2 = h0 * a2 + h1 * a1 + h2 * a0 + h3 * b5 + h4 * b4 + h5 * b3;
    let d3 = h0 * a3 + h1 * a2 + h2 * a1 + h3 * a0 + h4 * b5 + h5 * b4;
    let d4 = h0 * a4 + h1 * a3 + h2 * a2 + h3 * a1 + h4 * a0 + h5 * b5;
    let d5 = h0 * a5 + h1 * a4 + h2 * a3 + h3 * a2 + h4 * a1 + h5 * a0;
    o += 16;
    if (pair) {
      t0 = readWord(m, o), t1 = readWord(m, o + 4);
      t2 = readWord(m, o + 8), t3 = readWord(m, o + 12);
      const m0 = t0 & MASK22;
      const m1 = ((t0 >>> 22) | (t1 << 10)) & MASK22;
      const m2 = ((t1 >>> 12) | (t2 << 20)) & MASK22;
      const m3 = (t2 >>> 2) & MASK22;
      const m4 = ((t2 >>> 24) | (t3 << 8)) & MASK22;
      const m5 = (t3 >>> 14) | hibit;
      d0 += m0 * r0 + m1 * s5 + m2 * s4 + m3 * s3 + m4 * s2 + m5 * s1;
      d1 += m0 * r1 + m1 * r0 + m2 * s5 + m3 * s4 + m4 * s3 + m5 * s2;
      d2 += m0 * r2 + m1 * r1 + m2 * r0 + m3 * s5 + m4 * s4 + m5 * s3;
      d3 += m0 * r3 + m1 * r2 + m2 * r1 + m3 * r0 + m4 * s5 + m5 * s4;
      d4 += m0 * r4 + m1 * r3 + m2 * r2 + m3 * r1 + m4 * r0 + m5 * s5;
      d5 += m0 * r5 + m1 * r4 + m2 * r3 + m3 * r2 + m4 * r1 + m5 * r0;
      o += 16;
    }
    // Two carry passes, each over all six limbs at once (a short dependency
    // chain): the first leaves limbs below 2^22 + 2^31 (limb 0: + 20·2^31),
    // the second below 2^22 + 2^13.
    for (let pass = 0; pass < 2; pass++) {
      const c0 = Math.floor(d0 * INV_RADIX), c1 = Math.floor(d1 * INV_RADIX);
      const c2 = Math.floor(d2 * INV_RADIX), c3 = Math.floor(d3 * INV_RADIX);
      const c4 = Math.floor(d4 * INV_RADIX), c5 = Math.floor(d5 * INV_RADIX);
      d0 = d0 - c0 * RADIX + c5 * 20, d1 = d1 - c1 * RADIX + c0;
      d2 = d2 - c2 * RADIX + c1, d3 = d3 - c3 * RADIX + c2;
      d4 = d4 - c4 * RADIX + c3, d5 = d5 - c5 * RADIX + c4;
    }
    h0 = d0, h1 = d1, h2 = d2, h3 = d3, h4 = d4, h5 = d5;
  }
  poly[H] = h0, poly[H + 1] = h1, poly[H + 2] = h2;
  poly[H + 3] = h3, poly[H + 4] = h4, poly[H + 5] = h5;
}

/**
 * Absorbs `len` bytes of `m` as the AEAD construction does (RFC 8439 2.8):
 * a short final block is padded with zeros to 16 bytes.
 */
function polyPadded(poly: Float64Array, m: Uint8Array, len: number, block: Uint8Array): void {
  const full = len >>> 4;
  polyBlocks(poly, m, 0, full, HIBIT);
  const rest = len & 15;
  if (rest !== 0) {
    const o = full << 4;
    for (let i = 0; i < 16; i++) block[i] = i < rest ? m[o + i] : 0;
    polyBlocks(poly, block, 0, 1, HIBIT);
  }
}

/** Absorbs the AEAD's final block: both lengths as 64-bit little-endian numbers. */
function polyLengths(poly: Float64Array, aadLen: number, ctLen: number, block: Uint8Array): void {
  writeWord(block, 0, aadLen);
  writeWord(block, 4, Math.floor(aadLen / 4294967296));
  writeWord(block, 8, ctLen);
  writeWord(block, 12, Math.floor(ctLen / 4294967296));
  polyBlocks(poly, block, 0, 1, HIBIT);
}

/** Reduces the accumulator mod 2^130 - 5, adds s and writes the 16-byte tag at `out[off]`. */
function polyFinish(poly: Float64Array, out: Uint8Array, off: number): void {
  // The limbs are integers below 2^23 + 2^13: int32 from here on.
  let h0 = poly[H] | 0, h1 = poly[H + 1] | 0, h2 = poly[H + 2] | 0;
  let h3 = poly[H + 3] | 0, h4 = poly[H + 4] | 0, h5 = poly[H + 5] | 0;
  // Two carry passes make every limb canonical (22 bits, the top one 20) and h < 2^130.
  for (let pass = 0; pass < 2; pass++) {
    let c = h0 >>> 22;
    h0 &= MASK22, h1 += c, c = h1 >>> 22;
    h1 &= MASK22, h2 += c, c = h2 >>> 22;
    h2 &= MASK22, h3 += c, c = h3 >>> 22;
    h3 &= MASK22, h4 += c, c = h4 >>> 22;
    h4 &= MASK22, h5 += c, c = h5 >>> 20;
    h5 &= 0xfffff, h0 += c * 5;
  }
  // g = h + 5 - 2^130; take g when it does not borrow (h >= p), without branching.
  let g0 = h0 + 5, c = g0 >>> 22;
  g0 &= MASK22;
  let g1 = h1 + c;
  c = g1 >>> 22, g1 &= MASK22;
  let g2 = h2 + c;
  c = g2 >>> 22, g2 &= MASK22;
  let g3 = h3 + c;
  c = g3 >>> 22, g3 &= MASK22;
  let g4 = h4 + c;
  c = g4 >>> 22, g4 &= MASK22;
  let g5 = h5 + c;
  const take = -(g5 >>> 20) | 0, keep = ~take;
  g5 &= 0xfffff;
  h0 = (h0 & keep) | (g0 & take), h1 = (h1 & keep) | (g1 & take);
  h2 = (h2 & keep) | (g2 & take), h3 = (h3 & keep) | (g3 & take);
  h4 = (h4 & keep) | (g4 & take), h5 = (h5 & keep) | (g5 & take);
  // h mod 2^128 as four words, plus s mod 2^128.
  const w0 = (h0 | (h1 << 22)) >>> 0;
  const w1 = ((h1 >>> 10) | (h2 << 12)) >>> 0;
  const w2 = ((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0;
  const w3 = ((h4 >>> 8) | (h5 << 14)) >>> 0;
  let f = w0 + poly[PAD];
  writeWord(out, off, f);
  f = w1 + poly[PAD + 1] + ((f * INV_2_32) | 0);
  writeWord(out, off + 4, f);
  f = w2 + poly[PAD + 2] + ((f * INV_2_32) | 0);
  writeWord(out, off + 8, f);
  f = w3 + poly[PAD + 3] + ((f * INV_2_32) | 0);
  writeWord(out, off + 12, f);
}

/** Writes the low 32 bits of `f` (an integer below 2^34) little-endian. */
function writeWord(out: Uint8Array, o: number, f: number): void {
  const w = f >>> 0;
  out[o] = w, out[o + 1] = w >>> 8, out[o + 2] = w >>> 16, out[o + 3] = w >>> 24;
}

/**
 * The ChaCha20-Poly1305 AEAD of RFC 8439 section 2.8 for one key: `seal`
 * encrypts and authenticates, `open` checks and decrypts. Synchronous; one
 * instance is not safe to share between concurrent callers of a worker, but
 * calls never interleave in one JavaScript thread.
 *
 * @example
 * ```ts
 * import { ChaCha20Poly1305 } from "./chacha20_poly1305.ts";
 *
 * const aead = new ChaCha20Poly1305(crypto.getRandomValues(new Uint8Array(32)));
 * const nonce = new Uint8Array(12);
 * const aad = new Uint8Array([23, 3, 3, 0, 21]);
 * const sealed = aead.seal(nonce, new TextEncoder().encode("hello"), aad);
 * const opened = aead.open(nonce, sealed, aad);
 * console.log(new TextDecoder().decode(opened!)); // "hello"
 * ```
 */
export class ChaCha20Poly1305 {
  /** The ChaCha20 input block: constants, key, counter, nonce. */
  readonly #state = new Int32Array(16);
  /** One keystream block. */
  readonly #ks = new Int32Array(16);
  /** Poly1305: accumulator, r, 20·r, s (see the slot constants). */
  readonly #poly = new Float64Array(POLY_SLOTS);
  /** A padded Poly1305 block. */
  readonly #block = new Uint8Array(16);
  /** The tag computed by `open`. */
  readonly #tag = new Uint8Array(TAG_BYTES);

  /**
   * Takes a copy of `key`; the instance then seals and opens any number of
   * records under it (one nonce per record).
   *
   * @param key The 32-byte key ({@link KEY_BYTES}); it is copied.
   * @throws {TypeError} When `key` is not a Uint8Array of 32 bytes.
   */
  constructor(key: Uint8Array) {
    checkBytes("key", key, KEY_BYTES);
    setKey(this.#state, key);
  }

  /** Computes the one-time Poly1305 key for `nonce` and leaves the counter at 1. */
  #start(nonce: Uint8Array, aad: Uint8Array): void {
    checkBytes("nonce", nonce, NONCE_BYTES);
    checkInput("aad", aad);
    setNonce(this.#state, 0, nonce);
    chachaBlock(this.#state, this.#ks);
    this.#state[12] = 1;
    polyInit(this.#poly, this.#ks);
    polyPadded(this.#poly, aad, aad.length, this.#block);
  }

  /**
   * Encrypts and authenticates `plaintext` with `aad`.
   *
   * @param nonce 12 bytes ({@link NONCE_BYTES}), never reused with this key.
   * @param plaintext The bytes to encrypt.
   * @param aad Additional data, authenticated but not encrypted.
   * @param out Where to write ciphertext || tag (at least `plaintext.length + 16`
   *   bytes). It may be `plaintext`'s own buffer from the same offset (in place),
   *   or start before it; it must not start inside `plaintext` after its start.
   * @returns ciphertext || tag: `out` itself when it has exactly that length,
   *   else a view of its first `plaintext.length + 16` bytes, or a new array.
   * @throws {TypeError} When the nonce is not 12 bytes or an argument is not a Uint8Array.
   * @throws {RangeError} When `out` is too short or overlaps `plaintext` badly.
   *
   * @example
   * ```ts
   * import { ChaCha20Poly1305, TAG_BYTES } from "./chacha20_poly1305.ts";
   *
   * const aead = new ChaCha20Poly1305(new Uint8Array(32));
   * // In place: the plaintext sits at the front of a buffer with room for the tag.
   * const record = new Uint8Array(5 + TAG_BYTES);
   * record.set([104, 101, 108, 108, 111]);
   * const sealed = aead.seal(new Uint8Array(12), record.subarray(0, 5), new Uint8Array(0), record);
   * console.log(sealed === record); // true
   * ```
   */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array {
    checkInput("plaintext", plaintext);
    const len = plaintext.length;
    const need = len + TAG_BYTES;
    if (out !== undefined) checkOut(out, plaintext, need);
    checkCounter(1, len);
    this.#start(nonce, aad);
    const dst = out ?? new Uint8Array(need);
    const inWords = wordView(plaintext, len);
    const outWords = dst === plaintext || inWords === null ? inWords : wordView(dst, len);
    chachaXor(this.#state, this.#ks, plaintext, inWords, dst, outWords, len);
    polyPadded(this.#poly, dst, len, this.#block);
    polyLengths(this.#poly, aad.length, len, this.#block);
    polyFinish(this.#poly, dst, len);
    return dst.length === need ? dst : dst.subarray(0, need);
  }

  /**
   * Checks the tag of `sealed` (ciphertext || tag) with `aad` and decrypts it.
   * The tag is compared in constant time and checked before anything is
   * decrypted; when it does not verify, nothing is decrypted and the first
   * `sealed.length - 16` bytes of `out` (when given) are zeroed.
   *
   * @param nonce 12 bytes ({@link NONCE_BYTES}): the nonce it was sealed with.
   * @param sealed ciphertext || tag, as `seal` returns it.
   * @param aad The additional data it was sealed with.
   * @param out Where to write the plaintext (at least `sealed.length - 16`
   *   bytes). It may be `sealed`'s own buffer from the same offset (in place),
   *   or start before it; it must not start inside `sealed` after its start.
   * @returns The plaintext (`out` itself when it has exactly that length, else
   *   a view of it, or a new array), or `null` when the tag does not verify or
   *   `sealed` is shorter than a tag.
   * @throws {TypeError} When the nonce is not 12 bytes or an argument is not a Uint8Array.
   * @throws {RangeError} When `out` is too short or overlaps `sealed` badly.
   *
   * @example
   * ```ts
   * import { ChaCha20Poly1305 } from "./chacha20_poly1305.ts";
   *
   * const aead = new ChaCha20Poly1305(new Uint8Array(32));
   * const nonce = new Uint8Array(12);
   * const sealed = aead.seal(nonce, new Uint8Array([1, 2, 3]), new Uint8Array(0));
   * // In place: the plaintext replaces the ciphertext at the front of `sealed`.
   * console.log(aead.open(nonce, sealed, new Uint8Array(0), sealed)); // Uint8Array(3) [1, 2, 3]
   * sealed[0] ^= 1;
   * console.log(aead.open(nonce, sealed, new Uint8Array(0))); // null
   * ```
   */
  open(
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
    out?: Uint8Array,
  ): Uint8Array | null {
    const len = openLength(sealed, out);
    this.#start(nonce, aad);
    if (len < 0) return null;
    const tag = this.#tag;
    polyPadded(this.#poly, sealed, len, this.#block);
    polyLengths(this.#poly, aad.length, len, this.#block);
    polyFinish(this.#poly, tag, 0);
    let diff = 0;
    for (let i = 0; i < TAG_BYTES; i++) diff |= tag[i] ^ sealed[len + i];
    if (diff !== 0) {
      if (out !== undefined) out.fill(0, 0, len);
      return null;
    }
    const dst = out ?? new Uint8Array(len);
    const inWords = wordView(sealed, len);
    const outWords = dst === sealed || inWords === null ? inWords : wordView(dst, len);
    chachaXor(this.#state, this.#ks, sealed, inWords, dst, outWords, len);
    return dst.length === len ? dst : dst.subarray(0, len);
  }
}

/**
 * The ChaCha20 stream cipher alone (RFC 8439 2.4): XORs `input` with the
 * keystream of `key` and `nonce` from block `counter` on. Encryption and
 * decryption are the same operation. No authentication: use
 * {@link ChaCha20Poly1305} for records.
 *
 * @param key 32 bytes.
 * @param nonce 12 bytes.
 * @param counter The first block's number (0 to 2^32 - 1).
 * @param input The bytes to XOR.
 * @param out Where to write (at least `input.length` bytes; may be `input`).
 * @returns The `input.length` bytes written.
 * @throws {TypeError} When the key or nonce has the wrong length, or the
 *   counter is not an integer from 0 to 2^32 - 1.
 * @throws {RangeError} When `input` runs past block 2^32 - 1.
 *
 * @example
 * ```ts
 * import { chacha20 } from "./chacha20_poly1305.ts";
 *
 * // The keystream block of counter 1: XOR with 64 zero bytes.
 * const block = chacha20(new Uint8Array(32), new Uint8Array(12), 1, new Uint8Array(64));
 * console.log(block.length); // 64
 * ```
 */
export function chacha20(
  key: Uint8Array,
  nonce: Uint8Array,
  counter: number,
  input: Uint8Array,
  out?: Uint8Array,
): Uint8Array {
  checkBytes("key", key, KEY_BYTES);
  checkBytes("nonce", nonce, NONCE_BYTES);
  checkInput("input", input);
  if (out !== undefined) checkOut(out, input, input.length);
  checkCounter(counter, input.length);
  const state = new Int32Array(16);
  setKey(state, key);
  setNonce(state, counter | 0, nonce);
  const dst = out ?? new Uint8Array(input.length);
  const inWords = wordView(input, input.length);
  const outWords = dst === input || inWords === null ? inWords : wordView(dst, input.length);
  chachaXor(state, new Int32Array(16), input, inWords, dst, outWords, input.length);
  return dst.length === input.length ? dst : dst.subarray(0, input.length);
}

/**
 * The Poly1305 one-time authenticator alone (RFC 8439 2.5): the 16-byte tag
 * of `message` under the 32-byte one-time key `key` (r || s). A key must
 * never authenticate two messages.
 *
 * @param key 32 bytes: r (clamped here), then s.
 * @param message The bytes to authenticate.
 * @returns The 16-byte tag.
 * @throws {TypeError} When the key is not 32 bytes.
 *
 * @example
 * ```ts
 * import { poly1305 } from "./chacha20_poly1305.ts";
 *
 * const tag = poly1305(crypto.getRandomValues(new Uint8Array(32)), new Uint8Array(100));
 * console.log(tag.length); // 16
 * ```
 */
export function poly1305(key: Uint8Array, message: Uint8Array): Uint8Array {
  checkBytes("Poly1305 key", key, KEY_BYTES);
  checkInput("message", message);
  const words = new Int32Array(8);
  for (let i = 0; i < 8; i++) words[i] = readWord(key, i * 4);
  const poly = new Float64Array(POLY_SLOTS);
  polyInit(poly, words);
  const full = message.length >>> 4;
  polyBlocks(poly, message, 0, full, HIBIT);
  const rest = message.length & 15;
  if (rest !== 0) {
    // A short final block: its bytes, then a 0x01 byte, then zeros; no bit 128.
    const block = new Uint8Array(16);
    block.set(message.subarray(full << 4));
    block[rest] = 1;
    polyBlocks(poly, block, 0, 1, 0);
  }
  const tag = new Uint8Array(TAG_BYTES);
  polyFinish(poly, tag, 0);
  return tag;
}

/**
 * Runs `rounds` seals and opens of 1 KiB records on throw-away data, so that
 * V8 compiles the hot paths before real records arrive. Cold, the first
 * record of a process runs in the interpreter (about 1-3 ms for 1 KiB here)
 * and the code takes roughly 10-15 such rounds to reach its full speed; call
 * this while idle (for example between printing the go-plugin handshake line
 * and the host's connection), in slices of a few rounds if the event loop must
 * stay responsive. It touches no shared state.
 *
 * @param rounds How many seal + open pairs to run (default 16).
 *
 * @example
 * ```ts
 * import { warmUpChaCha20Poly1305 } from "./chacha20_poly1305.ts";
 *
 * // Two slices of 8 rounds, each on its own turn of the event loop.
 * setTimeout(() => warmUpChaCha20Poly1305(8), 0);
 * setTimeout(() => warmUpChaCha20Poly1305(8), 0);
 * ```
 */
export function warmUpChaCha20Poly1305(rounds = 16): void {
  const aead = new ChaCha20Poly1305(new Uint8Array(KEY_BYTES));
  const nonce = new Uint8Array(NONCE_BYTES), aad = new Uint8Array(5);
  // A record at an odd offset and one 4-aligned: both XOR paths.
  const buf = new Uint8Array(8 + WARM_UP_BYTES + TAG_BYTES);
  for (let i = 0; i < rounds; i++) {
    const at = i & 1 ? 5 : 8;
    const record = buf.subarray(at, at + WARM_UP_BYTES + TAG_BYTES);
    aead.seal(nonce, record.subarray(0, WARM_UP_BYTES), aad, record);
    if (aead.open(nonce, record, aad, record) === null) {
      throw new Error("ChaCha20-Poly1305: self-test failed while warming up");
    }
  }
}
