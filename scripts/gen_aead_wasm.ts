/**
 * Regenerates tls13/_chacha20_poly1305_wasm.ts (the WebAssembly
 * ChaCha20-Poly1305 module's bytes) from scripts/aead_wasm/wat.ts.
 *
 * Run: deno run --allow-read --allow-write --allow-env scripts/gen_aead_wasm.ts
 *
 * @module
 */

import { buildAeadWasm, GENERATED, renderGenerated } from "./aead_wasm/build.ts";

const bytes = await buildAeadWasm();
const path = new URL(`../${GENERATED}`, import.meta.url);
await Deno.writeTextFile(path, renderGenerated(bytes));
console.log(`wrote ${GENERATED}: ${bytes.length} bytes of WebAssembly`);
