/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) in WebAssembly
 * (scripts/aead_wasm/sha256_wat.ts, in the same module as the record
 * layer's ChaCha20-Poly1305: tls13/crypto_wasm.ts), synchronous. Measured
 * against WebCrypto for a handshake's key schedule in a fresh process it was
 * no faster (bench/README.md, "Sixth round"), so key_schedule.ts stays on
 * WebCrypto; tested against FIPS 180-2, RFC 4231 and WebCrypto.
 *
 * Each call copies its input into the module's memory, and zeroes that
 * input, the digest it read and (in the module) the state, pad blocks and
 * schedule before it returns: between calls the memory holds no key
 * material.
 *
 * @module
 */

import { cryptoWasm, cryptoWasmRoom, DATA } from "./crypto_wasm.ts";

/** Where the module writes a digest (scripts/aead_wasm/sha256_wat.ts). */
const OUT = 640;
const DIGEST_BYTES = 32;
/** HMAC-SHA-256's block: longer keys are hashed first (RFC 2104 2). */
const BLOCK_BYTES = 64;

/** Copies the digest out and zeroes it and the `used` input bytes. */
function take(m: Uint8Array, used: number): Uint8Array {
  const out = m.slice(OUT, OUT + DIGEST_BYTES);
  m.fill(0, OUT, OUT + DIGEST_BYTES);
  m.fill(0, DATA, DATA + used);
  return out;
}

/**
 * SHA-256 of `data`.
 *
 * @throws {Error} When this runtime cannot run the module (no WebAssembly SIMD).
 * @example
 * ```ts
 * import { sha256Wasm } from "./sha256_wasm.ts";
 *
 * console.log(sha256Wasm(new TextEncoder().encode("abc"))[0]); // 0xba
 * ```
 */
export function sha256Wasm(data: Uint8Array): Uint8Array {
  const e = cryptoWasm();
  const m = cryptoWasmRoom(e, data.length);
  m.set(data, DATA);
  e.sha256(DATA, data.length);
  return take(m, data.length);
}

/**
 * HMAC-SHA-256 of `data` under `key` (any length).
 *
 * @throws {Error} When this runtime cannot run the module (no WebAssembly SIMD).
 * @example
 * ```ts
 * import { hmacSha256Wasm } from "./sha256_wasm.ts";
 *
 * console.log(hmacSha256Wasm(new Uint8Array(32), new Uint8Array(0)).length); // 32
 * ```
 */
export function hmacSha256Wasm(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = key.length > BLOCK_BYTES ? sha256Wasm(key) : key;
  const e = cryptoWasm();
  const at = DATA + BLOCK_BYTES;
  const m = cryptoWasmRoom(e, BLOCK_BYTES + data.length);
  m.set(k, DATA);
  m.set(data, at);
  e.hmac(DATA, k.length, at, data.length);
  if (k !== key) k.fill(0);
  return take(m, BLOCK_BYTES + data.length);
}
