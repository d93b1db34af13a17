/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) as WebAssembly text: the
 * functions wat.ts puts into the same module as the ChaCha20-Poly1305, so
 * one instantiation serves the record layer and the key schedule
 * (tls13/sha256_wasm.ts calls them).
 *
 * Design:
 *
 * - The round constants K and the initial hash value H(0) are computed here
 *   as FIPS 180-4 4.2.2 and 5.3.3 define them (the first 32 bits of the
 *   fractional parts of the cube and square roots of the first primes),
 *   with exact integer roots, and K goes into a data segment.
 * - `$compress(p)` runs the 64 rounds over the block at p in a loop, the
 *   message schedule in a 16-word ring (W[t] overwrites W[t - 16]); words are
 *   read and the digest written big-endian through byte shuffles.
 * - `$tail(p, len, prefix)` hashes the `len` bytes at p (after `prefix`
 *   bytes already compressed) and pads (FIPS 180-4 5.1.1) through PAD.
 * - `hmac(k, kLen, m, mLen, out)` keys with at most 64 bytes (the caller
 *   hashes a longer key first, RFC 2104 2): the padded key XOR ipad, then the
 *   message; the padded key XOR opad, then the inner digest.
 * - Both exports end by zeroing the state, the pad block, the schedule and
 *   the inner digest: between calls the module's scratch holds no key
 *   material (the caller wipes its own input and the digest it reads).
 *
 * No branch and no address depends on the data: only on lengths.
 *
 * @module
 */

/** The hash state (eight 32-bit words, native byte order). */
const ST = 384;
/** Two 64-byte blocks: the padded key, or the message's last block and padding. */
const PAD = 416;
/** The message schedule's 16-word ring. */
const W = 544;
/** HMAC's inner digest. */
const INNER = 608;
/** Where the exports write the digest (the caller reads and zeroes it). */
export const SHA256_OUT = 640;
/** Where the 64 round constants are (256 bytes: the only non-zero scratch between calls). */
export const SHA256_K_AT = 672;
const K_AT = SHA256_K_AT;
/** The scratch the exports zero: ST up to SHA256_OUT. */
const WIPE_FROM = ST;
const WIPE_BYTES = SHA256_OUT - ST;

/** The byte shuffle that reverses each 32-bit lane (big-endian words). */
const BSWAP32 = "3 2 1 0 7 6 5 4 11 10 9 8 15 14 13 12";

/** The first `n` primes. */
function primes(n: number): bigint[] {
  const out: bigint[] = [];
  for (let c = 2; out.length < n; c++) {
    if (out.every((p) => c % Number(p) !== 0)) out.push(BigInt(c));
  }
  return out;
}

/** floor(x^(1/k)) for a non-negative bigint, exactly (Newton's method from above). */
function iroot(x: bigint, k: bigint): bigint {
  if (x < 2n) return x;
  let r = 1n << (BigInt(x.toString(2).length) / k + 1n);
  for (;;) {
    const next = ((k - 1n) * r + x / r ** (k - 1n)) / k;
    if (next >= r) return r;
    r = next;
  }
}

/** The first 32 bits of the fractional part of p^(1/k): floor(p^(1/k) * 2^32) mod 2^32. */
function fraction32(p: bigint, k: bigint): number {
  return Number(iroot(p << (32n * k), k) & 0xffffffffn);
}

/** K (FIPS 180-4 4.2.2): the cube roots of the first 64 primes. */
export const SHA256_K: readonly number[] = primes(64).map((p) => fraction32(p, 3n));
/** H(0) (FIPS 180-4 5.3.3): the square roots of the first 8 primes. */
export const SHA256_H0: readonly number[] = primes(8).map((p) => fraction32(p, 2n));

/** K as a data segment string (little-endian words). */
function kData(): string {
  let s = "";
  for (const k of SHA256_K) {
    for (let b = 0; b < 4; b++) s += "\\" + ((k >>> (8 * b)) & 0xff).toString(16).padStart(2, "0");
  }
  return s;
}

const get = (x: string) => `(local.get ${x})`;
const rotr = (x: string, n: number) => `(i32.rotr ${x} (i32.const ${n}))`;
const xor3 = (a: string, b: string, c: string) => `(i32.xor (i32.xor ${a} ${b}) ${c})`;
/** The address of W[(t + d) mod 16]. */
const ring = (d: number) =>
  `(i32.add (i32.const ${W}) (i32.shl (i32.and (i32.add (local.get $t) (i32.const ${d})) (i32.const 15)) (i32.const 2)))`;

const VARS = ["$a", "$b", "$c", "$d", "$e", "$f", "$g", "$h"];

function compress(): string {
  const loadW = [0, 16, 32, 48].map((o) =>
    `(v128.store offset=${W + o} (i32.const 0) (i8x16.shuffle ${BSWAP32} ` +
    `(v128.load offset=${o} align=1 (local.get $p)) (v128.load offset=${o} align=1 (local.get $p))))`
  ).join("\n");
  const loadState = VARS.map((v, i) =>
    `(local.set ${v} (i32.load offset=${ST + 4 * i} (i32.const 0)))`
  )
    .join("\n");
  const addState = VARS.map((v, i) =>
    `(i32.store offset=${ST + 4 * i} (i32.const 0) (i32.add (i32.load offset=${
      ST + 4 * i
    } (i32.const 0)) ${get(v)}))`
  ).join("\n");
  const s0 = (x: string) => xor3(rotr(x, 7), rotr(x, 18), `(i32.shr_u ${x} (i32.const 3))`);
  const s1 = (x: string) => xor3(rotr(x, 17), rotr(x, 19), `(i32.shr_u ${x} (i32.const 10))`);
  const S0 = xor3(rotr(get("$a"), 2), rotr(get("$a"), 13), rotr(get("$a"), 22));
  const S1 = xor3(rotr(get("$e"), 6), rotr(get("$e"), 11), rotr(get("$e"), 25));
  const ch = `(i32.xor (i32.and ${get("$e")} ${get("$f")}) (i32.and (i32.xor ${
    get("$e")
  } (i32.const -1)) ${get("$g")}))`;
  const maj = xor3(
    `(i32.and ${get("$a")} ${get("$b")})`,
    `(i32.and ${get("$a")} ${get("$c")})`,
    `(i32.and ${get("$b")} ${get("$c")})`,
  );
  return `(func $compress (param $p i32)
(local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $f i32) (local $g i32) (local $h i32)
(local $t i32) (local $w i32) (local $t1 i32) (local $t2 i32)
${loadW}
${loadState}
(loop $round
  (if (i32.ge_u (local.get $t) (i32.const 16))
    (then (i32.store ${ring(0)} (i32.add (i32.add
      ${s1(`(i32.load ${ring(14)})`)}
      (i32.load ${ring(9)}))
      (i32.add ${s0(`(i32.load ${ring(1)})`)} (i32.load ${ring(0)}))))))
  (local.set $w (i32.load ${ring(0)}))
  (local.set $t1 (i32.add (i32.add (i32.add ${get("$h")} ${S1}) (i32.add ${ch}
    (i32.load offset=${K_AT} (i32.shl (local.get $t) (i32.const 2))))) (local.get $w)))
  (local.set $t2 (i32.add ${S0} ${maj}))
  (local.set $h (local.get $g))
  (local.set $g (local.get $f))
  (local.set $f (local.get $e))
  (local.set $e (i32.add (local.get $d) (local.get $t1)))
  (local.set $d (local.get $c))
  (local.set $c (local.get $b))
  (local.set $b (local.get $a))
  (local.set $a (i32.add (local.get $t1) (local.get $t2)))
  (br_if $round (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (i32.const 64))))
${addState})`;
}

const INIT = `(func $init
${
  SHA256_H0.map((h, i) => `(i32.store offset=${ST + 4 * i} (i32.const 0) (i32.const ${h | 0}))`)
    .join("\n")
})`;

/** `$tail(p, len, prefix)`: the whole blocks at p, then the last bytes and the padding. */
const TAIL =
  `(func $tail (param $p i32) (param $len i32) (param $prefix i32) (local $end i32) (local $rem i32)
(local.set $end (i32.add (local.get $p) (i32.and (local.get $len) (i32.const -64))))
(block $done (loop $blocks
  (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
  (call $compress (local.get $p))
  (local.set $p (i32.add (local.get $p) (i32.const 64)))
  (br $blocks)))
(local.set $rem (i32.and (local.get $len) (i32.const 63)))
(memory.fill (i32.const ${PAD}) (i32.const 0) (i32.const 128))
(memory.copy (i32.const ${PAD}) (local.get $p) (local.get $rem))
(i32.store8 offset=${PAD} (local.get $rem) (i32.const 0x80))
;; the message's length in bits, big-endian, ending the first or the second block
(i64.store (select (i32.const ${PAD + 56}) (i32.const ${
    PAD + 120
  }) (i32.lt_u (local.get $rem) (i32.const 56)))
  (i64x2.extract_lane 0 (i8x16.shuffle 7 6 5 4 3 2 1 0 8 9 10 11 12 13 14 15
    (i64x2.splat (i64.shl (i64.extend_i32_u (i32.add (local.get $prefix) (local.get $len))) (i64.const 3)))
    (i64x2.splat (i64.const 0)))))
(call $compress (i32.const ${PAD}))
(if (i32.ge_u (local.get $rem) (i32.const 56)) (then (call $compress (i32.const ${PAD + 64})))))`;

/** `$digest(o)`: the state, big-endian, into the 32 bytes at o. */
const DIGEST = `(func $digest (param $o i32)
(v128.store align=1 (local.get $o) (i8x16.shuffle ${BSWAP32} (v128.load offset=${ST} (i32.const 0)) (v128.load offset=${ST} (i32.const 0))))
(v128.store offset=16 align=1 (local.get $o) (i8x16.shuffle ${BSWAP32} (v128.load offset=${
  ST + 16
} (i32.const 0)) (v128.load offset=${ST + 16} (i32.const 0)))))`;

/** `$keyBlock(k, kLen, pad)`: the key, zero-padded to 64 bytes, XOR the pad byte, at PAD; then its compression. */
const KEY_BLOCK = `(func $keyBlock (param $k i32) (param $kLen i32) (param $pad i32)
(memory.fill (i32.const ${PAD}) (i32.const 0) (i32.const 64))
(memory.copy (i32.const ${PAD}) (local.get $k) (local.get $kLen))
${
  [0, 16, 32, 48].map((o) =>
    `(v128.store offset=${PAD + o} (i32.const 0) (v128.xor (v128.load offset=${
      PAD + o
    } (i32.const 0)) (i8x16.splat (local.get $pad))))`
  ).join("\n")
}
(call $init)
(call $compress (i32.const ${PAD})))`;

const WIPE_SHA =
  `(func $wipeSha (memory.fill (i32.const ${WIPE_FROM}) (i32.const 0) (i32.const ${WIPE_BYTES})))`;

/**
 * The SHA-256 and HMAC-SHA-256 functions, data segment and exports, to go
 * inside wat.ts's `(module ...)`; the module's memory is `memory`.
 *
 * Exports: `sha256(p, len)` writes SHA-256 of the `len` bytes at p at
 * {@linkcode SHA256_OUT}; `hmac(k, kLen, m, mLen)` writes HMAC-SHA-256 of
 * the `mLen` bytes at m under the `kLen` (at most 64) bytes at k there.
 *
 * @example
 * ```ts
 * import { sha256Wat } from "./sha256_wat.ts";
 *
 * console.log(sha256Wat().includes('(export "sha256")')); // true
 * ```
 */
export function sha256Wat(): string {
  return `(data (i32.const ${K_AT}) "${kData()}")
${compress()}
${INIT}
${TAIL}
${DIGEST}
${KEY_BLOCK}
${WIPE_SHA}
(func (export "sha256") (param $p i32) (param $len i32)
  (call $init)
  (call $tail (local.get $p) (local.get $len) (i32.const 0))
  (call $digest (i32.const ${SHA256_OUT}))
  (call $wipeSha))
(func (export "hmac") (param $k i32) (param $kLen i32) (param $m i32) (param $mLen i32)
  (call $keyBlock (local.get $k) (local.get $kLen) (i32.const 0x36))
  (call $tail (local.get $m) (local.get $mLen) (i32.const 64))
  (call $digest (i32.const ${INNER}))
  (call $keyBlock (local.get $k) (local.get $kLen) (i32.const 0x5c))
  (call $tail (i32.const ${INNER}) (i32.const 32) (i32.const 64))
  (call $digest (i32.const ${SHA256_OUT}))
  (call $wipeSha))
`;
}
