/**
 * Speed of tls13/chacha20_poly1305.ts (TypeScript) and
 * tls13/chacha20_poly1305_wasm.ts (WebAssembly SIMD), side by side per record
 * size, with the crossover (the smallest size from which the WebAssembly one
 * is faster, seal and open), the cold costs (the first call; the module's
 * compilation), and WebCrypto AES-256-GCM
 * awaited one operation at a time (what a record layer on WebCrypto would pay
 * per record), on the same record sizes in the same run. Prints MB/s and ns
 * per operation (ours: the best of three runs); asserts nothing. Our open rows include copying the record
 * back into place before each open (a `set` of the record's bytes).
 *
 * Run: deno run bench/aead.ts [--quick]
 *
 * @module
 */

import { ChaCha20Poly1305, TAG_BYTES } from "../tls13/chacha20_poly1305.ts";
import { WasmChaCha20Poly1305 } from "../tls13/chacha20_poly1305_wasm.ts";

const SIZES = [16, 64, 100, 256, 1024, 4096, 16384];
const QUICK = Deno.args.includes("--quick");
/** Wall time each measurement runs for, after its warm-up. */
const RUN_MS = QUICK ? 60 : 400;

interface Row {
  what: string;
  size: number;
  nsPerOp: number;
}

/** Runs `op` in batches until RUN_MS have passed; ns per call. */
function measureSync(op: () => void): number {
  for (let i = 0; i < 200; i++) op();
  let n = 0, batch = 16;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < RUN_MS) {
    for (let i = 0; i < batch; i++) op();
    n += batch;
    batch = Math.min(batch * 2, 4096);
    elapsed = performance.now() - start;
  }
  return (elapsed * 1e6) / n;
}

/** The best of three `measureSync` runs (the machine's noise only ever adds time). */
function bestOf3(op: () => void): number {
  return Math.min(measureSync(op), measureSync(op), measureSync(op));
}

async function measureAsync(op: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await op();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < RUN_MS) {
    await op();
    n++;
    elapsed = performance.now() - start;
  }
  return (elapsed * 1e6) / n;
}

const key = crypto.getRandomValues(new Uint8Array(32));
const nonce = crypto.getRandomValues(new Uint8Array(12));
const aad = new Uint8Array([23, 3, 3, 0x40, 0x10]);

// The cold cost: the very first seal and open of a process (no JIT yet).
const cold = new ChaCha20Poly1305(key);
const coldRecord = new Uint8Array(100 + TAG_BYTES);
let t0 = performance.now();
cold.seal(nonce, coldRecord.subarray(0, 100), aad, coldRecord);
const coldSealUs = (performance.now() - t0) * 1000;
t0 = performance.now();
cold.open(nonce, coldRecord, aad, coldRecord);
const coldOpenUs = (performance.now() - t0) * 1000;
// The WebAssembly module's first call: decoding, compiling, instantiating, one seal.
const wasmCold = new WasmChaCha20Poly1305(key);
t0 = performance.now();
wasmCold.seal(nonce, coldRecord.subarray(0, 100), aad, coldRecord);
const coldWasmUs = (performance.now() - t0) * 1000;

const rows: Row[] = [];
const impls = [
  ["TS", new ChaCha20Poly1305(key)],
  ["WASM", new WasmChaCha20Poly1305(key)],
] as const;
/** ns per op by `${impl} ${seal|open} ${size}`, offset 5 (where records sit). */
const bySize = new Map<string, number>();
for (const size of SIZES) {
  // In place in a read buffer: 4-aligned, and after a 5-byte TLS record header.
  for (const at of [0, 5]) {
    const buf = crypto.getRandomValues(new Uint8Array(at + size + TAG_BYTES));
    const record = buf.subarray(at);
    const pt = record.subarray(0, size);
    const where = at === 0 ? "aligned" : `offset ${at}`;
    for (const [name, aead] of impls) {
      const seal = bestOf3(() => aead.seal(nonce, pt, aad, record));
      rows.push({
        what: `ChaCha20-Poly1305 seal (${name}, in place, ${where})`,
        size,
        nsPerOp: seal,
      });
      const sealed = aead.seal(nonce, pt, aad, new Uint8Array(size + TAG_BYTES));
      const open = bestOf3(() => {
        record.set(sealed);
        if (aead.open(nonce, record, aad, record) === null) throw new Error("open failed");
      });
      rows.push({
        what: `ChaCha20-Poly1305 open (${name}, in place, ${where})`,
        size,
        nsPerOp: open,
      });
      if (at === 5) bySize.set(`${name} seal ${size}`, seal).set(`${name} open ${size}`, open);
    }
  }
}
const faster = (size: number) =>
  bySize.get(`WASM seal ${size}`)! < bySize.get(`TS seal ${size}`)! &&
  bySize.get(`WASM open ${size}`)! < bySize.get(`TS open ${size}`)!;
const fromIdx = SIZES.findIndex((_, i) => SIZES.slice(i).every(faster));
const crossover = fromIdx < 0 ? "never, at the sizes measured" : `${SIZES[fromIdx]} B`;

const gcmKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
for (const size of SIZES) {
  const pt = crypto.getRandomValues(new Uint8Array(size));
  const params = { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 };
  rows.push({
    what: "WebCrypto AES-256-GCM encrypt (awaited)",
    size,
    nsPerOp: await measureAsync(() => crypto.subtle.encrypt(params, gcmKey, pt)),
  });
  const ct = new Uint8Array(await crypto.subtle.encrypt(params, gcmKey, pt));
  rows.push({
    what: "WebCrypto AES-256-GCM decrypt (awaited)",
    size,
    nsPerOp: await measureAsync(() => crypto.subtle.decrypt(params, gcmKey, ct)),
  });
}

const pad = (s: string, n: number) => s.padEnd(n);
console.log(`Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; ${RUN_MS} ms a row`);
console.log(
  `cold first call (no JIT), 100 B: seal ${coldSealUs.toFixed(0)} us, open ${
    coldOpenUs.toFixed(0)
  } us; WebAssembly module's first call (decode, compile, instantiate, seal 100 B) ${
    coldWasmUs.toFixed(0)
  } us`,
);
console.log(
  `crossover (WASM faster than TS at every size from, seal and open, offset 5): ${crossover}`,
);
console.log(
  `WASM / TS time, offset 5: ${
    SIZES.map((n) =>
      `${n} B seal ${(bySize.get(`WASM seal ${n}`)! / bySize.get(`TS seal ${n}`)!).toFixed(2)}` +
      ` open ${(bySize.get(`WASM open ${n}`)! / bySize.get(`TS open ${n}`)!).toFixed(2)}`
    ).join("; ")
  }`,
);
console.log("");
console.log(`| ${pad("operation", 50)} | record B |      ns/op |    MB/s |`);
console.log(`| ${"-".repeat(50)} | -------: | ---------: | ------: |`);
for (const r of rows) {
  const mbs = (r.size / r.nsPerOp) * 1e3;
  console.log(
    `| ${pad(r.what, 50)} | ${String(r.size).padStart(8)} | ${
      r.nsPerOp.toFixed(0).padStart(10)
    } | ${mbs.toFixed(1).padStart(7)} |`,
  );
}
