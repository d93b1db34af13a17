/**
 * ChaCha20-Poly1305 (RFC 8439) in WebAssembly (128-bit SIMD): the same AEAD
 * as tls13/chacha20_poly1305.ts, for the record layer's large records, where
 * it is faster (see bench/aead.ts). The module (tls13/crypto_wasm.ts, generated
 * from scripts/aead_wasm/wat.ts, where its design is described) is compiled
 * and instantiated synchronously the
 * first time it is used, and then shared (calls never interleave in one
 * JavaScript thread).
 *
 * Constant time as the TypeScript version: the module branches and
 * addresses memory on lengths only, and `open` checks the tag before it
 * decrypts. Each call copies the key and nonce into the module's memory and
 * the module zeroes them (and the one-time key and keystream) before it
 * returns; the data is copied in, processed in place, and copied out.
 *
 * @module
 */

import {
  cryptoWasm as instance,
  type CryptoWasmExports as Exports,
  cryptoWasmRoom as room,
  DATA,
} from "./crypto_wasm.ts";
import {
  checkBytes,
  checkInput,
  checkOut,
  KEY_BYTES,
  NONCE_BYTES,
  openLength,
  TAG_BYTES,
} from "./chacha20_poly1305.ts";

/** Where the key goes (scripts/aead_wasm/wat.ts). */
const KEY_AT = 16;
/** Where the nonce goes. */
const NONCE_AT = 52;

function checkArgs(nonce: Uint8Array, aad: Uint8Array): void {
  checkBytes("nonce", nonce, NONCE_BYTES);
  checkInput("aad", aad);
}

/**
 * The ChaCha20-Poly1305 AEAD for one key, in WebAssembly; the same calls and
 * results as `ChaCha20Poly1305` of tls13/chacha20_poly1305.ts.
 *
 * @example
 * ```ts
 * import { WasmChaCha20Poly1305 } from "./chacha20_poly1305_wasm.ts";
 *
 * const aead = new WasmChaCha20Poly1305(crypto.getRandomValues(new Uint8Array(32)));
 * const nonce = new Uint8Array(12), aad = new Uint8Array([23, 3, 3, 0, 21]);
 * const sealed = aead.seal(nonce, new TextEncoder().encode("hello"), aad);
 * console.log(new TextDecoder().decode(aead.open(nonce, sealed, aad)!)); // "hello"
 * ```
 */
export class WasmChaCha20Poly1305 {
  readonly #key: Uint8Array;

  /**
   * @param key The 32-byte key; it is copied.
   * @throws {TypeError} When `key` is not a Uint8Array of 32 bytes.
   */
  constructor(key: Uint8Array) {
    checkBytes("key", key, KEY_BYTES);
    this.#key = key.slice();
  }

  /** Copies key, nonce and AAD in; returns the memory view and where the data goes. */
  #load(e: Exports, nonce: Uint8Array, aad: Uint8Array, dataBytes: number): [Uint8Array, number] {
    checkArgs(nonce, aad);
    const at = DATA + ((aad.length + 15) & ~15);
    const m = room(e, at - DATA + dataBytes);
    m.set(this.#key, KEY_AT);
    m.set(nonce, NONCE_AT);
    m.set(aad, DATA);
    return [m, at];
  }

  /**
   * Encrypts and authenticates `plaintext` with `aad`.
   *
   * @param nonce 12 bytes, never reused with this key.
   * @param plaintext The bytes to encrypt.
   * @param aad Additional data, authenticated but not encrypted.
   * @param out Where to write ciphertext || tag (at least `plaintext.length + 16`
   *   bytes): `plaintext`'s own bytes (in place), or not overlapping it from a
   *   later offset, as for the TypeScript AEAD.
   * @returns ciphertext || tag: `out` itself when it has exactly that length,
   *   else a view of its first bytes, or a new array.
   * @throws {TypeError} When the nonce is not 12 bytes or an argument is not a Uint8Array.
   * @throws {RangeError} When `out` is too short.
   *
   * @example
   * ```ts
   * import { WasmChaCha20Poly1305 } from "./chacha20_poly1305_wasm.ts";
   *
   * const aead = new WasmChaCha20Poly1305(new Uint8Array(32));
   * console.log(aead.seal(new Uint8Array(12), new Uint8Array(5), new Uint8Array(0)).length); // 21
   * ```
   */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array {
    checkInput("plaintext", plaintext);
    const len = plaintext.length, need = len + TAG_BYTES;
    if (out !== undefined) checkOut(out, plaintext, need);
    const e = instance();
    const [m, at] = this.#load(e, nonce, aad, need);
    m.set(plaintext, at);
    e.seal(DATA, aad.length, at, len);
    const dst = out ?? new Uint8Array(need);
    dst.set(m.subarray(at, at + need));
    return dst.length === need ? dst : dst.subarray(0, need);
  }

  /**
   * Seals `content` followed by the one byte `type` (a TLS 1.3 record's
   * inner plaintext, RFC 8446 5.2) into `out`: `content.length + 17` bytes,
   * ciphertext then tag. One copy in, one copy out.
   *
   * @param nonce 12 bytes, never reused with this key.
   * @param content The record's content.
   * @param type The inner content type byte.
   * @param aad The record header.
   * @param out Where the sealed record body goes (exactly its length or more).
   * @throws {RangeError} When `out` is too short.
   *
   * @example
   * ```ts
   * import { WasmChaCha20Poly1305 } from "./chacha20_poly1305_wasm.ts";
   *
   * const aead = new WasmChaCha20Poly1305(new Uint8Array(32));
   * const body = new Uint8Array(3 + 17);
   * aead.sealRecord(new Uint8Array(12), new Uint8Array([1, 2, 3]), 23, new Uint8Array([23, 3, 3, 0, 20]), body);
   * ```
   */
  sealRecord(
    nonce: Uint8Array,
    content: Uint8Array,
    type: number,
    aad: Uint8Array,
    out: Uint8Array,
  ): void {
    checkInput("content", content);
    const len = content.length + 1, need = len + TAG_BYTES;
    checkOut(out, content, need);
    const e = instance();
    const [m, at] = this.#load(e, nonce, aad, need);
    m.set(content, at);
    m[at + len - 1] = type;
    e.seal(DATA, aad.length, at, len);
    out.set(m.subarray(at, at + need));
  }

  /**
   * Checks the tag of `sealed` (ciphertext || tag) with `aad` and decrypts
   * it; the tag is checked before anything is decrypted, and when it does not
   * verify nothing is released and the first `sealed.length - 16` bytes of
   * `out` (when given) are zeroed.
   *
   * @param nonce The nonce it was sealed with.
   * @param sealed ciphertext || tag.
   * @param aad The additional data it was sealed with.
   * @param out Where the plaintext goes (at least `sealed.length - 16` bytes):
   *   `sealed`'s own bytes (in place), or not overlapping it from a later offset.
   * @returns The plaintext, or `null` when the tag does not verify or `sealed`
   *   is shorter than a tag.
   * @throws {TypeError} When the nonce is not 12 bytes or an argument is not a Uint8Array.
   * @throws {RangeError} When `out` is too short.
   *
   * @example
   * ```ts
   * import { WasmChaCha20Poly1305 } from "./chacha20_poly1305_wasm.ts";
   *
   * const aead = new WasmChaCha20Poly1305(new Uint8Array(32));
   * const nonce = new Uint8Array(12), aad = new Uint8Array(0);
   * const sealed = aead.seal(nonce, new Uint8Array([1, 2, 3]), aad);
   * console.log(aead.open(nonce, sealed, aad, sealed)); // Uint8Array(3) [1, 2, 3]
   * ```
   */
  open(
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
    out?: Uint8Array,
  ): Uint8Array | null {
    const len = openLength(sealed, out);
    checkArgs(nonce, aad);
    if (len < 0) return null;
    const e = instance();
    const [m, at] = this.#load(e, nonce, aad, sealed.length);
    m.set(sealed, at);
    if (e.open(DATA, aad.length, at, len) === 0) {
      if (out !== undefined) out.fill(0, 0, len);
      return null;
    }
    const dst = out ?? new Uint8Array(len);
    dst.set(m.subarray(at, at + len));
    return dst.length === len ? dst : dst.subarray(0, len);
  }
}
