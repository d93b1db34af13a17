/**
 * The source of the WebAssembly ChaCha20-Poly1305 (RFC 8439) that
 * tls13/chacha20_poly1305_wasm.ts runs: this module prints the module's text
 * (WAT), with the 20 ChaCha20 rounds and the Poly1305 block step written out
 * by the small functions below rather than by hand. `build.ts` assembles it
 * with npm's wabt; `scripts/gen_aead_wasm.ts` writes the bytes into
 * tls13/_chacha20_poly1305_wasm.ts.
 *
 * Design (all of it constant time by construction: no table lookups, no
 * memory address and no branch depends on key, keystream, accumulator or
 * tag bits; branches and addresses depend on lengths only):
 *
 * - ChaCha20 runs four blocks at once in 128-bit SIMD lanes: vector i holds
 *   word i of blocks n..n+3 (the counter vector is n + [0,1,2,3]). Rotations
 *   by 16 and 8 are byte shuffles, by 12 and 7 two shifts and an OR. After
 *   the 20 rounds the 16 vectors are transposed back into four 64-byte
 *   blocks by shuffles and XORed into the data.
 * - The first four blocks of a record (counter 0-3) are computed together:
 *   block 0 gives the one-time Poly1305 key (RFC 8439 2.6), blocks 1-3 the
 *   keystream of the first 192 bytes, so a record of up to 192 bytes costs
 *   one four-block step.
 * - Poly1305 holds the accumulator in five 26-bit limbs in 64-bit integers:
 *   a product of two limbs is below 2^(26+29) (r's limbs times 5 stay below
 *   2^29) and a sum of five below 2^59, so nothing overflows. The final
 *   reduction selects h or h - p with masks; the tag comparison ORs the XORs.
 * - From 512 bytes on, Poly1305 takes four blocks at once (`poly4`): the
 *   limbs of four accumulators in the 32-bit lanes of five v128s, block
 *   4i + l into lane l, each step H = (H + m) * r^4 with the products made
 *   by `i64x2.extmul` (32 x 32 -> 64 bits, two lanes at a time) and the
 *   carries in 64-bit lanes; the last step multiplies by [r^4, r^3, r^2, r],
 *   so that the lanes' sum is the Horner value of the blocks
 *   (sum of m_i r^(n-i+1)). r^2, r^3, r^4 are made once per call; blocks
 *   past the last whole 64 bytes, and the AAD, go through the scalar step.
 * - `open` computes the tag over the ciphertext and compares it before it
 *   decrypts a byte: on failure the data is left as it was (ciphertext).
 * - Every call ends by zeroing the key, the nonce, the one-time key and the
 *   keystream scratch: between calls the memory holds no key material.
 *
 * Memory (one page at first; the caller grows it for large inputs):
 * bytes 0-63 the ChaCha20 input block (the caller writes the key at 16 and
 * the nonce at 52), 64-319 four keystream blocks, 320-335 a padded Poly1305
 * block, 336-351 the computed tag, 352-383 the one-time key, and from `DATA` (1024) on the caller's
 * AAD and data.
 *
 * Exports: `memory`; `seal(aad, aadLen, data, len)` encrypts `len` bytes at
 * `data` in place and writes the tag after them; `open(aad, aadLen, data,
 * len)` checks the tag after the `len` bytes and returns 1 (and decrypts in
 * place) or 0 (and leaves them); `poly1305(m, len)` (for the RFC's vectors
 * only) writes the Poly1305 tag of the `len` bytes at m under the one-time key
 * the caller wrote at `OTK_AT`, at `TAG_AT`.
 *
 * @module
 */

/** Where the caller's AAD and data go in the module's memory. */
export const DATA = 1024;
/** Where the caller writes the 32-byte key. */
export const KEY_AT = 16;
/** Where the caller writes the 12-byte nonce. */
export const NONCE_AT = 52;
/** Where `poly1305` takes its one-time key (r || s). */
export const OTK_AT = 352;
/** Where `poly1305` leaves its tag. */
export const TAG_AT = 336;

const KS = 64;
const PADBLK = 320;
const TAG = TAG_AT;
/** The one-time Poly1305 key, copied out of block 0 (KS is reused for a last partial step). */
const OTK = OTK_AT;
const WIPE = 384;

/** The byte shuffle that rotates every 32-bit lane left by 16 bits. */
const ROT16 = lanes([2, 3, 0, 1]);
/** ... left by 8 bits. */
const ROT8 = lanes([3, 0, 1, 2]);

function lanes(order: number[]): string {
  const out: number[] = [];
  for (let l = 0; l < 4; l++) for (const b of order) out.push(l * 4 + b);
  return out.join(" ");
}

/** `x <<< n` of a v128 local, left on the stack. */
function rotl(x: string, n: number): string {
  if (n === 16) return `(i8x16.shuffle ${ROT16} (local.get ${x}) (local.get ${x}))`;
  if (n === 8) return `(i8x16.shuffle ${ROT8} (local.get ${x}) (local.get ${x}))`;
  return `(v128.or (i32x4.shl (local.get ${x}) (i32.const ${n})) ` +
    `(i32x4.shr_u (local.get ${x}) (i32.const ${32 - n})))`;
}

/** One quarter round (RFC 8439 2.1) on four v128 locals, four blocks at once. */
function quarterRound(a: string, b: string, c: string, d: string): string {
  const step = (x: string, y: string, z: string, n: number) =>
    `(local.set ${x} (i32x4.add (local.get ${x}) (local.get ${y})))\n` +
    `(local.set ${z} (v128.xor (local.get ${z}) (local.get ${x})))\n` +
    `(local.set ${z} ${rotl(z, n)})\n`;
  return step(a, b, d, 16) + step(c, d, b, 12) + step(a, b, d, 8) + step(c, d, b, 7);
}

const X = Array.from({ length: 16 }, (_, i) => `$x${i}`);

/** The vector of word `i` of the input block, for the four blocks from counter `$ctr`. */
function inputWord(i: number): string {
  if (i === 12) {
    return `(i32x4.add (i32x4.splat (local.get $ctr)) (v128.const i32x4 0 1 2 3))`;
  }
  return `(v128.load32_splat offset=${i * 4} (i32.const 0))`;
}

/**
 * `$xor4(ctr, p)`: XORs the keystream of blocks ctr..ctr+3 into the 256 bytes
 * at p (into zeros, that is the keystream itself).
 */
function xor4(): string {
  let body = "";
  for (let i = 0; i < 16; i++) body += `(local.set ${X[i]} ${inputWord(i)})\n`;
  let rounds = "";
  rounds += quarterRound(X[0], X[4], X[8], X[12]);
  rounds += quarterRound(X[1], X[5], X[9], X[13]);
  rounds += quarterRound(X[2], X[6], X[10], X[14]);
  rounds += quarterRound(X[3], X[7], X[11], X[15]);
  rounds += quarterRound(X[0], X[5], X[10], X[15]);
  rounds += quarterRound(X[1], X[6], X[11], X[12]);
  rounds += quarterRound(X[2], X[7], X[8], X[13]);
  rounds += quarterRound(X[3], X[4], X[9], X[14]);
  body += `(local.set $i (i32.const 10))
(loop $round
${rounds}
(br_if $round (local.tee $i (i32.sub (local.get $i) (i32.const 1)))))\n`;
  for (let i = 0; i < 16; i++) {
    body += `(local.set ${X[i]} (i32x4.add (local.get ${X[i]}) ${inputWord(i)}))\n`;
  }
  // Transpose each group of four words (vectors 4g..4g+3) into the blocks.
  const lo32 = "0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23";
  const hi32 = "8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31";
  const lo64 = "0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23";
  const hi64 = "8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31";
  for (let g = 0; g < 4; g++) {
    const [a, b, c, d] = [X[4 * g], X[4 * g + 1], X[4 * g + 2], X[4 * g + 3]];
    body += `(local.set $t0 (i8x16.shuffle ${lo32} (local.get ${a}) (local.get ${b})))
(local.set $t1 (i8x16.shuffle ${hi32} (local.get ${a}) (local.get ${b})))
(local.set $t2 (i8x16.shuffle ${lo32} (local.get ${c}) (local.get ${d})))
(local.set $t3 (i8x16.shuffle ${hi32} (local.get ${c}) (local.get ${d})))\n`;
    const blocks = [
      ["$t0", "$t2", lo64],
      ["$t0", "$t2", hi64],
      ["$t1", "$t3", lo64],
      ["$t1", "$t3", hi64],
    ];
    blocks.forEach(([p, q, sel], blk) => {
      const off = blk * 64 + g * 16;
      body += `(v128.store offset=${off} align=1 (local.get $p) (v128.xor ` +
        `(v128.load offset=${off} align=1 (local.get $p)) ` +
        `(i8x16.shuffle ${sel} (local.get ${p}) (local.get ${q}))))\n`;
    });
  }
  return `(func $xor4 (param $ctr i32) (param $p i32) (local $i i32)
${X.map((x) => `(local ${x} v128)`).join(" ")}
(local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
${body})`;
}

/**
 * The Poly1305 block step: h = (h + m) * r mod 2^130 - 5, with m given by
 * the i64 expressions `lo` and `hi` (its low and high 64 bits) and `top`
 * (bit 128 as it sits in limb 4: 1 << 24, or 0).
 */
function polyBlock(lo: string, hi: string, top: string): string {
  const M = "(i64.const 0x3ffffff)";
  const h = ["$h0", "$h1", "$h2", "$h3", "$h4"];
  const r = ["$r0", "$r1", "$r2", "$r3", "$r4"];
  const s = ["", "$s1", "$s2", "$s3", "$s4"];
  const code = `(local.set $lo ${lo}) (local.set $hi ${hi})
(local.set $h0 (i64.add $h0g (i64.and (local.get $lo) ${M})))
(local.set $h1 (i64.add $h1g (i64.and (i64.shr_u (local.get $lo) (i64.const 26)) ${M})))
(local.set $h2 (i64.add $h2g (i64.and (i64.or (i64.shr_u (local.get $lo) (i64.const 52)) (i64.shl (local.get $hi) (i64.const 12))) ${M})))
(local.set $h3 (i64.add $h3g (i64.and (i64.shr_u (local.get $hi) (i64.const 14)) ${M})))
(local.set $h4 (i64.add $h4g (i64.or (i64.shr_u (local.get $hi) (i64.const 40)) ${top})))
`.replace(/\$h(\d)g/g, (_, d) => `(local.get $h${d})`);
  return code + mulReduce(h, r, s, h);
}

/**
 * `out = a * b mod 2^130 - 5` in 26-bit limbs (i64 locals; `sb` holds 5 b_i),
 * partly carried: every limb below 2^26 but limb 1, below 2^26 + 2^10. `out`
 * may be `a`: the products are summed into `$d0`-`$d4` first.
 */
function mulReduce(a: string[], b: string[], sb: string[], out: string[]): string {
  const M = "(i64.const 0x3ffffff)";
  const mul = (x: string, y: string) => `(i64.mul (local.get ${x}) (local.get ${y}))`;
  const sum = (terms: string[]) => terms.reduce((acc, t) => `(i64.add ${acc} ${t})`);
  let code = "";
  // d_k = sum over i + j = k of a_i b_j, plus 5 a_i b_j for i + j = k + 5.
  for (let k = 0; k < 5; k++) {
    const terms: string[] = [];
    for (let i = 0; i < 5; i++) {
      const j = k - i;
      terms.push(j >= 0 ? mul(a[i], b[j]) : mul(a[i], sb[j + 5]));
    }
    code += `(local.set $d${k} ${sum(terms)})\n`;
  }
  const [o0, o1, o2, o3, o4] = out;
  // Carry: d0 -> d1 -> ... -> d4 -> 5 * into out0 -> out1.
  code += `(local.set ${o0} (i64.and (local.get $d0) ${M}))
(local.set $d1 (i64.add (local.get $d1) (i64.shr_u (local.get $d0) (i64.const 26))))
(local.set ${o1} (i64.and (local.get $d1) ${M}))
(local.set $d2 (i64.add (local.get $d2) (i64.shr_u (local.get $d1) (i64.const 26))))
(local.set ${o2} (i64.and (local.get $d2) ${M}))
(local.set $d3 (i64.add (local.get $d3) (i64.shr_u (local.get $d2) (i64.const 26))))
(local.set ${o3} (i64.and (local.get $d3) ${M}))
(local.set $d4 (i64.add (local.get $d4) (i64.shr_u (local.get $d3) (i64.const 26))))
(local.set ${o4} (i64.and (local.get $d4) ${M}))
(local.set ${o0} (i64.add (local.get ${o0}) (i64.mul (i64.shr_u (local.get $d4) (i64.const 26)) (i64.const 5))))
(local.set ${o1} (i64.add (local.get ${o1}) (i64.shr_u (local.get ${o0}) (i64.const 26))))
(local.set ${o0} (i64.and (local.get ${o0}) ${M}))
`;
  return code;
}

const limbs = (name: string) => [0, 1, 2, 3, 4].map((i) => `$${name}${i}`);
/** The powers r^2, r^3, r^4 (i64 locals) and 5 times each (limbs 1-4). */
const POW = [2, 3, 4].map((k) => ({ r: limbs(`p${k}_`), s: ["", ...limbs(`q${k}_`).slice(1)] }));
const V_H = limbs("vh"), V_X = limbs("vx"), V_LO = limbs("vlo"), V_HI = limbs("vhi");
/** The step's multiplier: r^4 in every lane (5 r^4), the last step [r^4, r^3, r^2, r]. */
const V_R = limbs("vr"), V_S = ["", ...limbs("vs").slice(1)];
const V_B = ["$vb0", "$vb1", "$vb2", "$vb3"], V_T = ["$vt0", "$vt1", "$vt2", "$vt3"];
const V_W = ["$vw0", "$vw1", "$vw2", "$vw3"];
const LO32 = "0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23";
const HI32 = "8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31";
const LO64 = "0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23";
const HI64 = "8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31";

/** The v128 locals of the four-block Poly1305. */
const VEC_LOCALS = [
  ...V_H,
  ...V_X,
  ...V_LO,
  ...V_HI,
  ...V_R,
  ...V_S,
  ...V_B,
  ...V_T,
  ...V_W,
].filter((n) => n !== "").map((n) => `(local ${n} v128)`).join(" ");
/** Its i64 locals. */
const POW_LOCALS = POW.flatMap((p) => [...p.r, ...p.s]).filter((n) => n !== "")
  .map((n) => `(local ${n} i64)`).join(" ");

/**
 * Four Poly1305 blocks at once (the 64 bytes at `$q`): lane l of the i32x4
 * accumulator limbs `V_H` holds the sum of blocks 4i + l, each step
 * H = (H + m) * `V_R` (r^4 in every lane; the last step [r^4, r^3, r^2, r],
 * so that the lanes' sum is the scalar Horner value of all those blocks). A
 * limb of H + m stays below 2^27 + 2^10, 5 r^k's below 2^29: their products
 * (i64x2.extmul of the i32 lanes) below 2^57, a sum of five below 2^60. The
 * carries run in the 64-bit lanes (every limb then below 2^26 but limb 1,
 * below 2^26 + 2^10), and the limbs are packed back into 32-bit lanes.
 */
function poly4(): string {
  const g = (n: string) => `(local.get ${n})`;
  const R = V_R, S = V_S;
  const M32 = "(v128.const i32x4 0x3ffffff 0x3ffffff 0x3ffffff 0x3ffffff)";
  const M64 = "(v128.const i64x2 0x3ffffff 0x3ffffff)";
  const [b0, b1, b2, b3] = V_B, [t0, t1, t2, t3] = V_T, [w0, w1, w2, w3] = V_W;
  let code = V_B.map((b, i) =>
    `(local.set ${b} (v128.load offset=${16 * i} align=1 (local.get $q)))\n`
  ).join("");
  // Transpose: w_i = word i of the four blocks.
  code += `(local.set ${t0} (i8x16.shuffle ${LO32} ${g(b0)} ${g(b1)}))
(local.set ${t1} (i8x16.shuffle ${HI32} ${g(b0)} ${g(b1)}))
(local.set ${t2} (i8x16.shuffle ${LO32} ${g(b2)} ${g(b3)}))
(local.set ${t3} (i8x16.shuffle ${HI32} ${g(b2)} ${g(b3)}))
(local.set ${w0} (i8x16.shuffle ${LO64} ${g(t0)} ${g(t2)}))
(local.set ${w1} (i8x16.shuffle ${HI64} ${g(t0)} ${g(t2)}))
(local.set ${w2} (i8x16.shuffle ${LO64} ${g(t1)} ${g(t3)}))
(local.set ${w3} (i8x16.shuffle ${HI64} ${g(t1)} ${g(t3)}))\n`;
  const shr = (x: string, n: number) => `(i32x4.shr_u ${g(x)} (i32.const ${n}))`;
  const shl = (x: string, n: number) => `(i32x4.shl ${g(x)} (i32.const ${n}))`;
  const m = [
    `(v128.and ${g(w0)} ${M32})`,
    `(v128.and (v128.or ${shr(w0, 26)} ${shl(w1, 6)}) ${M32})`,
    `(v128.and (v128.or ${shr(w1, 20)} ${shl(w2, 12)}) ${M32})`,
    `(v128.and (v128.or ${shr(w2, 14)} ${shl(w3, 18)}) ${M32})`,
    `(v128.or ${shr(w3, 8)} (v128.const i32x4 0x1000000 0x1000000 0x1000000 0x1000000))`,
  ];
  for (let k = 0; k < 5; k++) code += `(local.set ${V_X[k]} (i32x4.add ${g(V_H[k])} ${m[k]}))\n`;
  for (const [half, D] of [["low", V_LO], ["high", V_HI]] as const) {
    for (let k = 0; k < 5; k++) {
      const terms: string[] = [];
      for (let i = 0; i < 5; i++) {
        const j = k - i;
        terms.push(`(i64x2.extmul_${half}_i32x4_u ${g(V_X[i])} ${g(j >= 0 ? R[j] : S[j + 5])})`);
      }
      code += `(local.set ${D[k]} ${terms.reduce((acc, t) => `(i64x2.add ${acc} ${t})`)})\n`;
    }
    const carry = (from: number, to: number) =>
      `(local.set ${D[to]} (i64x2.add ${g(D[to])} (i64x2.shr_u ${g(D[from])} (i32.const 26))))\n` +
      `(local.set ${D[from]} (v128.and ${g(D[from])} ${M64}))\n`;
    code += carry(0, 1) + carry(1, 2) + carry(2, 3) + carry(3, 4);
    code += `(local.set $vc (i64x2.shr_u ${g(D[4])} (i32.const 26)))
(local.set ${D[4]} (v128.and ${g(D[4])} ${M64}))
(local.set ${D[0]} (i64x2.add ${
      g(D[0])
    } (i64x2.add (i64x2.shl (local.get $vc) (i32.const 2)) (local.get $vc))))\n`;
    code += carry(0, 1);
  }
  for (let k = 0; k < 5; k++) {
    code += `(local.set ${V_H[k]} (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 ${
      g(V_LO[k])
    } ${g(V_HI[k])}))\n`;
  }
  return code + `(local.set $q (i32.add (local.get $q) (i32.const 64)))\n`;
}

/** From this many bytes on, Poly1305 takes four blocks at once: below, making r^2-r^4 costs more than it saves. */
const WIDE_FROM = 512;

/**
 * `$wide(q, wend, h0..h4, r0..r4) -> h0..h4`: absorbs the 64-byte groups
 * from q to wend (at least one) four blocks at a time (`poly4`) into the
 * accumulator h, r^2-r^4 made first. A function of its own, so that a
 * process's small records never compile it (V8 compiles lazily).
 */
function wide(): string {
  const r = limbs("r"), s = ["", "$s1", "$s2", "$s3", "$s4"];
  const wrap = (n: string) => `(i32.wrap_i64 (local.get ${n}))`;
  let pow = [1, 2, 3, 4].map((i) =>
    `(local.set $s${i} (i64.mul (local.get $r${i}) (i64.const 5)))\n`
  )
    .join("");
  let prev = r;
  for (const p of POW) {
    pow += mulReduce(prev, r, s, p.r);
    for (let i = 1; i < 5; i++) {
      pow += `(local.set ${p.s[i]} (i64.mul (local.get ${p.r[i]}) (i64.const 5)))\n`;
    }
    prev = p.r;
  }
  const [p2, p3, p4] = POW;
  const lanes = (names: string[]) =>
    names.slice(1).reduce(
      (acc, n, l) => `(i32x4.replace_lane ${l + 1} ${acc} ${wrap(n)})`,
      `(i32x4.splat ${wrap(names[0])})`,
    );
  let lastStep = "";
  for (let i = 0; i < 5; i++) {
    pow += `(local.set ${V_R[i]} (i32x4.splat ${wrap(p4.r[i])}))\n`;
    lastStep += `(local.set ${V_R[i]} ${lanes([p4.r[i], p3.r[i], p2.r[i], r[i]])})\n`;
    if (i === 0) continue;
    pow += `(local.set ${V_S[i]} (i32x4.splat ${wrap(p4.s[i])}))\n`;
    lastStep += `(local.set ${V_S[i]} ${lanes([p4.s[i], p3.s[i], p2.s[i], s[i]])})\n`;
  }
  const start = V_H.map((v, k) =>
    `(local.set ${v} (i32x4.replace_lane 0 (v128.const i64x2 0 0) ${wrap(`$h${k}`)}))\n`
  ).join("");
  const lane = (v: string, l: number) =>
    `(i64.extend_i32_u (i32x4.extract_lane ${l} (local.get ${v})))`;
  const sum = V_H.map((v, k) =>
    `(local.set $h${k} (i64.add (i64.add ${lane(v, 0)} ${lane(v, 1)}) (i64.add ${lane(v, 2)} ${
      lane(v, 3)
    })))\n`
  ).join("");
  // The lanes' sum has limbs below 2^28: carried back to polyBlock's bounds.
  const M = "(i64.const 0x3ffffff)";
  const c = (from: number, to: number) =>
    `(local.set $h${to} (i64.add (local.get $h${to}) (i64.shr_u (local.get $h${from}) (i64.const 26))))\n` +
    `(local.set $h${from} (i64.and (local.get $h${from}) ${M}))\n`;
  const carried = c(0, 1) + c(1, 2) + c(2, 3) + c(3, 4) +
    `(local.set $h0 (i64.add (local.get $h0) (i64.mul (i64.shr_u (local.get $h4) (i64.const 26)) (i64.const 5))))
(local.set $h4 (i64.and (local.get $h4) ${M}))\n` + c(0, 1);
  const params = [...limbs("h"), ...r].map((n) => `(param ${n} i64)`).join(" ");
  return `(func $wide (param $q i32) (param $wend i32) ${params} (result i64 i64 i64 i64 i64)
(local $s1 i64) (local $s2 i64) (local $s3 i64) (local $s4 i64)
(local $d0 i64) (local $d1 i64) (local $d2 i64) (local $d3 i64) (local $d4 i64)
${POW_LOCALS} ${VEC_LOCALS} (local $vc v128)
${pow}${start}(loop $wide
  (if (i32.ge_u (i32.add (local.get $q) (i32.const 64)) (local.get $wend)) (then
${lastStep}))
  ${poly4()}
  (br_if $wide (i32.lt_u (local.get $q) (local.get $wend))))
${sum}${carried}(local.get $h0) (local.get $h1) (local.get $h2) (local.get $h3) (local.get $h4))`;
}

/**
 * Absorbs the whole 64-byte groups of the `len` bytes at `ptr` with `$wide`
 * when `len` is at least `WIDE_FROM`, then the rest as `absorbPadded` does.
 * Lengths decide every branch, not data.
 */
function absorbWide(ptr: string, len: string, raw = false): string {
  const args = [...limbs("h"), ...limbs("r")].map((n) => `(local.get ${n})`).join(" ");
  return `(local.set $q (local.get ${ptr}))
(local.set $wend (select (i32.add (local.get ${ptr}) (i32.and (local.get ${len}) (i32.const -64)))
  (local.get ${ptr}) (i32.ge_u (local.get ${len}) (i32.const ${WIDE_FROM}))))
(local.set $rest (i32.sub (i32.add (local.get ${ptr}) (local.get ${len})) (local.get $wend)))
(if (i32.lt_u (local.get $q) (local.get $wend)) (then
  (call $wide (local.get $q) (local.get $wend) ${args})
  (local.set $h4) (local.set $h3) (local.set $h2) (local.set $h1) (local.set $h0)))
${absorbPadded("$wend", "$rest", raw)}`;
}

/**
 * Absorbs `len` bytes at `ptr` (i32 locals) padded with zeros to 16 bytes
 * (RFC 8439 2.8): whole blocks in place, a short last block through PADBLK.
 * `raw`: Poly1305 alone (RFC 8439 2.5) instead, whose short last block is
 * its bytes, a 1 byte, then zeros, without bit 128.
 */
function absorbPadded(ptr: string, len: string, raw = false): string {
  const full = polyBlock(
    `(i64.load (local.get $q))`,
    `(i64.load offset=8 (local.get $q))`,
    `(i64.const 0x1000000)`,
  );
  const last = polyBlock(
    `(i64.load (i32.const ${PADBLK}))`,
    `(i64.load (i32.const ${PADBLK + 8}))`,
    raw ? `(i64.const 0)` : `(i64.const 0x1000000)`,
  );
  const one = raw
    ? `(i32.store8 (i32.add (i32.const ${PADBLK}) (i32.and (local.get ${len}) (i32.const 15))) (i32.const 1))`
    : "";
  return `(local.set $q (local.get ${ptr}))
(local.set $end (i32.add (local.get ${ptr}) (i32.and (local.get ${len}) (i32.const -16))))
(block $done (loop $blocks
  (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
  ${full}
  (local.set $q (i32.add (local.get $q) (i32.const 16)))
  (br $blocks)))
(if (i32.and (local.get ${len}) (i32.const 15)) (then
  (memory.fill (i32.const ${PADBLK}) (i32.const 0) (i32.const 16))
  (memory.copy (i32.const ${PADBLK}) (local.get $end) (i32.and (local.get ${len}) (i32.const 15)))
  ${one}
  ${last}))
`;
}

/**
 * `$mac(aad, aadLen, ct, len)`: the AEAD tag (RFC 8439 2.8) into TAG, with
 * the one-time key at OTK. `raw`: instead the exported `poly1305(m, len)`,
 * the tag of Poly1305 alone (RFC 8439 2.5) of the `len` bytes at m, for the
 * RFC's Poly1305 test vectors (the record layer never calls it).
 */
function mac(raw = false): string {
  const M = "(i64.const 0x3ffffff)";
  const key = (o: number) => `(i64.load32_u offset=${OTK + o} (i32.const 0))`;
  const lengths = polyBlock(
    `(i64.extend_i32_u (local.get $aadLen))`,
    `(i64.extend_i32_u (local.get $len))`,
    `(i64.const 0x1000000)`,
  );
  const locals = [
    "$h0 $h1 $h2 $h3 $h4 $r0 $r1 $r2 $r3 $r4 $s1 $s2 $s3 $s4",
    "$d0 $d1 $d2 $d3 $d4 $lo $hi $g0 $g1 $g2 $g3 $g4 $mask $f",
  ].join(" ").split(" ").map((n) => `(local ${n} i64)`).join(" ");
  const head = raw
    ? `(func (export "poly1305") (param $m i32) (param $len i32)`
    : `(func $mac (param $aad i32) (param $aadLen i32) (param $ct i32) (param $len i32)`;
  // h_to += h_from >> 26; h_from keeps its 26 bits.
  const carry = (from: number, to: number) =>
    `(local.set $h${to} (i64.add (local.get $h${to}) (i64.shr_u (local.get $h${from}) (i64.const 26))))\n` +
    `(local.set $h${from} (i64.and (local.get $h${from}) ${M}))\n`;
  const carryUp = carry(1, 2) + carry(2, 3) + carry(3, 4);
  const absorbed = raw
    ? absorbWide("$m", "$len", true)
    : `${absorbPadded("$aad", "$aadLen")}\n${absorbWide("$ct", "$len")}\n${lengths}`;
  return `${head}
(local $q i32) (local $end i32) (local $wend i32) (local $rest i32) ${locals}
;; r, clamped (RFC 8439 2.5), in 26-bit limbs; s_i = 5 r_i.
(local.set $lo (i64.and (i64.load offset=${OTK} (i32.const 0)) (i64.const 0x0ffffffc0fffffff)))
(local.set $hi (i64.and (i64.load offset=${OTK + 8} (i32.const 0)) (i64.const 0x0ffffffc0ffffffc)))
(local.set $r0 (i64.and (local.get $lo) ${M}))
(local.set $r1 (i64.and (i64.shr_u (local.get $lo) (i64.const 26)) ${M}))
(local.set $r2 (i64.and (i64.or (i64.shr_u (local.get $lo) (i64.const 52)) (i64.shl (local.get $hi) (i64.const 12))) ${M}))
(local.set $r3 (i64.and (i64.shr_u (local.get $hi) (i64.const 14)) ${M}))
(local.set $r4 (i64.shr_u (local.get $hi) (i64.const 40)))
(local.set $s1 (i64.mul (local.get $r1) (i64.const 5)))
(local.set $s2 (i64.mul (local.get $r2) (i64.const 5)))
(local.set $s3 (i64.mul (local.get $r3) (i64.const 5)))
(local.set $s4 (i64.mul (local.get $r4) (i64.const 5)))
${absorbed}
;; Full carry: every limb 26 bits, h < 2^130 + small.
${carryUp}(local.set $h0 (i64.add (local.get $h0) (i64.mul (i64.shr_u (local.get $h4) (i64.const 26)) (i64.const 5))))
(local.set $h4 (i64.and (local.get $h4) ${M}))
${carry(0, 1)};; That carry can make h1 2^26: carry on to h4 (a limb reaching 2^26 there means
;; h >= 2^130 > p, which the selection below reduces), so the packing's ORs are exact.
${carryUp};; g = h + 5 - 2^130: taken when it does not borrow (h >= p), by mask.
(local.set $g0 (i64.add (local.get $h0) (i64.const 5)))
(local.set $g1 (i64.add (local.get $h1) (i64.shr_u (local.get $g0) (i64.const 26))))
(local.set $g0 (i64.and (local.get $g0) ${M}))
(local.set $g2 (i64.add (local.get $h2) (i64.shr_u (local.get $g1) (i64.const 26))))
(local.set $g1 (i64.and (local.get $g1) ${M}))
(local.set $g3 (i64.add (local.get $h3) (i64.shr_u (local.get $g2) (i64.const 26))))
(local.set $g2 (i64.and (local.get $g2) ${M}))
(local.set $g4 (i64.sub (i64.add (local.get $h4) (i64.shr_u (local.get $g3) (i64.const 26))) (i64.const 0x4000000)))
(local.set $g3 (i64.and (local.get $g3) ${M}))
;; mask = all ones when g4 did not go negative.
(local.set $mask (i64.sub (i64.shr_u (local.get $g4) (i64.const 63)) (i64.const 1)))
(local.set $h0 (i64.or (i64.and (local.get $h0) (i64.xor (local.get $mask) (i64.const -1))) (i64.and (local.get $g0) (local.get $mask))))
(local.set $h1 (i64.or (i64.and (local.get $h1) (i64.xor (local.get $mask) (i64.const -1))) (i64.and (local.get $g1) (local.get $mask))))
(local.set $h2 (i64.or (i64.and (local.get $h2) (i64.xor (local.get $mask) (i64.const -1))) (i64.and (local.get $g2) (local.get $mask))))
(local.set $h3 (i64.or (i64.and (local.get $h3) (i64.xor (local.get $mask) (i64.const -1))) (i64.and (local.get $g3) (local.get $mask))))
(local.set $h4 (i64.or (i64.and (local.get $h4) (i64.xor (local.get $mask) (i64.const -1))) (i64.and (i64.and (local.get $g4) ${M}) (local.get $mask))))
;; tag = (h + s) mod 2^128, as four 32-bit words with carries.
(local.set $f (i64.add (i64.and (i64.or (local.get $h0) (i64.shl (local.get $h1) (i64.const 26))) (i64.const 0xffffffff)) ${
    key(16)
  }))
(i32.store offset=${TAG} (i32.const 0) (i32.wrap_i64 (local.get $f)))
(local.set $f (i64.add (i64.add (i64.and (i64.or (i64.shr_u (local.get $h1) (i64.const 6)) (i64.shl (local.get $h2) (i64.const 20))) (i64.const 0xffffffff)) ${
    key(20)
  }) (i64.shr_u (local.get $f) (i64.const 32))))
(i32.store offset=${TAG + 4} (i32.const 0) (i32.wrap_i64 (local.get $f)))
(local.set $f (i64.add (i64.add (i64.and (i64.or (i64.shr_u (local.get $h2) (i64.const 12)) (i64.shl (local.get $h3) (i64.const 14))) (i64.const 0xffffffff)) ${
    key(24)
  }) (i64.shr_u (local.get $f) (i64.const 32))))
(i32.store offset=${TAG + 8} (i32.const 0) (i32.wrap_i64 (local.get $f)))
(local.set $f (i64.add (i64.add (i64.and (i64.or (i64.shr_u (local.get $h3) (i64.const 18)) (i64.shl (local.get $h4) (i64.const 8))) (i64.const 0xffffffff)) ${
    key(28)
  }) (i64.shr_u (local.get $f) (i64.const 32))))
(i32.store offset=${TAG + 12} (i32.const 0) (i32.wrap_i64 (local.get $f))))`;
}

/** XORs `n` bytes at `src` into `dst` (16 at a time, then bytes). */
const XOR_BYTES = `(func $xorBytes (param $dst i32) (param $src i32) (param $n i32)
(block $done (loop $v
  (br_if $done (i32.lt_u (local.get $n) (i32.const 16)))
  (v128.store align=1 (local.get $dst) (v128.xor (v128.load align=1 (local.get $dst)) (v128.load align=1 (local.get $src))))
  (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
  (local.set $src (i32.add (local.get $src) (i32.const 16)))
  (local.set $n (i32.sub (local.get $n) (i32.const 16)))
  (br $v)))
(block $end (loop $b
  (br_if $end (i32.eqz (local.get $n)))
  (i32.store8 (local.get $dst) (i32.xor (i32.load8_u (local.get $dst)) (i32.load8_u (local.get $src))))
  (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
  (local.set $src (i32.add (local.get $src) (i32.const 1)))
  (local.set $n (i32.sub (local.get $n) (i32.const 1)))
  (br $b))))`;

/**
 * `$first`: blocks 0-3 into KS (the one-time key and the first 192 bytes of
 * keystream), after setting the constant words.
 */
const FIRST = `(func $first
(i32.store (i32.const 0) (i32.const 0x61707865))
(i32.store (i32.const 4) (i32.const 0x3320646e))
(i32.store (i32.const 8) (i32.const 0x79622d32))
(i32.store (i32.const 12) (i32.const 0x6b206574))
(memory.fill (i32.const ${KS}) (i32.const 0) (i32.const 256))
(call $xor4 (i32.const 0) (i32.const ${KS}))
(memory.copy (i32.const ${OTK}) (i32.const ${KS}) (i32.const 32)))`;

/** `$crypt(p, len)`: XORs the keystream from block 1 on into the `len` bytes at p. */
const CRYPT = `(func $crypt (param $p i32) (param $len i32) (local $ctr i32) (local $end i32)
(call $xorBytes (local.get $p) (i32.const ${KS + 64})
  (select (local.get $len) (i32.const 192) (i32.lt_u (local.get $len) (i32.const 192))))
(if (i32.le_u (local.get $len) (i32.const 192)) (then (return)))
(local.set $end (i32.add (local.get $p) (local.get $len)))
(local.set $p (i32.add (local.get $p) (i32.const 192)))
(local.set $ctr (i32.const 4))
(block $done (loop $step
  (br_if $done (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 256)))
  (call $xor4 (local.get $ctr) (local.get $p))
  (local.set $p (i32.add (local.get $p) (i32.const 256)))
  (local.set $ctr (i32.add (local.get $ctr) (i32.const 4)))
  (br $step)))
(if (i32.lt_u (local.get $p) (local.get $end)) (then
  (memory.fill (i32.const ${KS}) (i32.const 0) (i32.const 256))
  (call $xor4 (local.get $ctr) (i32.const ${KS}))
  (call $xorBytes (local.get $p) (i32.const ${KS}) (i32.sub (local.get $end) (local.get $p))))))`;

/**
 * The module's text.
 *
 * @example
 * ```ts
 * import { chacha20Poly1305Wat } from "./wat.ts";
 *
 * console.log(chacha20Poly1305Wat().startsWith("(module")); // true
 * ```
 */
export function chacha20Poly1305Wat(): string {
  return `(module
(memory (export "memory") 1)
${xor4()}
${wide()}
${mac()}
${mac(true)}
${XOR_BYTES}
${FIRST}
${CRYPT}
(func $wipe (memory.fill (i32.const 0) (i32.const 0) (i32.const ${WIPE})))
(func (export "seal") (param $aad i32) (param $aadLen i32) (param $p i32) (param $len i32)
  (call $first)
  (call $crypt (local.get $p) (local.get $len))
  (call $mac (local.get $aad) (local.get $aadLen) (local.get $p) (local.get $len))
  (v128.store align=1 (i32.add (local.get $p) (local.get $len)) (v128.load (i32.const ${TAG})))
  (call $wipe))
(func (export "open") (param $aad i32) (param $aadLen i32) (param $p i32) (param $len i32) (result i32)
  (local $ok i32) (local $diff v128)
  (call $first)
  (call $mac (local.get $aad) (local.get $aadLen) (local.get $p) (local.get $len))
  (local.set $diff (v128.xor (v128.load (i32.const ${TAG}))
    (v128.load align=1 (i32.add (local.get $p) (local.get $len)))))
  (local.set $ok (i64.eqz (i64.or (i64x2.extract_lane 0 (local.get $diff)) (i64x2.extract_lane 1 (local.get $diff)))))
  (if (local.get $ok) (then (call $crypt (local.get $p) (local.get $len))))
  (call $wipe)
  (local.get $ok))
)
`;
}
