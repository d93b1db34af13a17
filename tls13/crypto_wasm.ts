/**
 * The one WebAssembly module of tls13/ (tls13/_chacha20_poly1305_wasm.ts,
 * generated from scripts/aead_wasm/): ChaCha20-Poly1305 for the record
 * layer (tls13/chacha20_poly1305_wasm.ts). Compiled and instantiated
 * synchronously on first use, once per process, and shared: calls never
 * interleave in one JavaScript thread.
 *
 * @module
 */

import { CHACHA20_POLY1305_WASM_BASE64 } from "./_chacha20_poly1305_wasm.ts";

/** Where callers put their input in the module's memory (scripts/aead_wasm/wat.ts). */
export const DATA = 1024;
const PAGE = 65536;

/** The module's exports. @internal */
export interface CryptoWasmExports {
  /** The module's memory. */
  memory: WebAssembly.Memory;
  /** ChaCha20-Poly1305 seal in place (scripts/aead_wasm/wat.ts). */
  seal(aad: number, aadLen: number, data: number, len: number): void;
  /** ChaCha20-Poly1305 open in place: 1, or 0 when the tag does not verify. */
  open(aad: number, aadLen: number, data: number, len: number): number;
}

let exports: CryptoWasmExports | null = null;
let unavailable: Error | null = null;
let mem: Uint8Array = new Uint8Array(0);

/** `Uint8Array.fromBase64` (V8 has it; TypeScript's lib does not yet). */
const fromBase64 = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array })
  .fromBase64;

function decodeBase64(b64: string): Uint8Array {
  if (fromBase64) return fromBase64(b64);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The module's exports, compiled and instantiated on the first call.
 *
 * @throws {Error} When this runtime cannot compile it (no WebAssembly SIMD).
 * @example
 * ```ts
 * import { cryptoWasm } from "./crypto_wasm.ts";
 *
 * console.log(cryptoWasm().memory instanceof WebAssembly.Memory); // true
 * ```
 */
export function cryptoWasm(): CryptoWasmExports {
  if (exports) return exports;
  if (unavailable) throw unavailable;
  try {
    const bytes = decodeBase64(CHACHA20_POLY1305_WASM_BASE64) as Uint8Array<ArrayBuffer>;
    exports = new WebAssembly.Instance(new WebAssembly.Module(bytes))
      .exports as unknown as CryptoWasmExports;
  } catch (err) {
    unavailable = new Error(
      `tls13: this runtime cannot run the WebAssembly crypto module (it needs WebAssembly ` +
        `with 128-bit SIMD): ${(err as Error)?.message ?? err}`,
      { cause: err },
    );
    throw unavailable;
  }
  mem = new Uint8Array(exports.memory.buffer);
  return exports;
}

/**
 * Makes the memory hold `bytes` from {@linkcode DATA} on; returns the current view.
 *
 * @example
 * ```ts
 * import { cryptoWasm, cryptoWasmRoom } from "./crypto_wasm.ts";
 *
 * console.log(cryptoWasmRoom(cryptoWasm(), 100_000).length >= 101_024); // true
 * ```
 */
export function cryptoWasmRoom(e: CryptoWasmExports, bytes: number): Uint8Array {
  const need = DATA + bytes;
  if (need > e.memory.buffer.byteLength) {
    e.memory.grow(Math.ceil((need - e.memory.buffer.byteLength) / PAGE));
  }
  if (mem.buffer !== e.memory.buffer) mem = new Uint8Array(e.memory.buffer);
  return mem;
}

/**
 * Whether the module can run here (WebAssembly with SIMD): instantiates it
 * if it was not yet.
 *
 * @example
 * ```ts
 * import { cryptoWasmAvailable } from "./crypto_wasm.ts";
 *
 * console.log(cryptoWasmAvailable()); // true on Deno 2
 * ```
 */
export function cryptoWasmAvailable(): boolean {
  try {
    cryptoWasm();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the module was instantiated in this process.
 *
 * @example
 * ```ts
 * import { cryptoWasmLoaded } from "./crypto_wasm.ts";
 *
 * console.log(typeof cryptoWasmLoaded()); // "boolean"
 * ```
 */
export function cryptoWasmLoaded(): boolean {
  return exports !== null;
}
