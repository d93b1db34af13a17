/**
 * Run in a process of its own by record_test.ts (the WebAssembly module is
 * loaded once per process): small records through the record layer, then a
 * bulk batch, then small records again; prints JSON with whether the module
 * was loaded before the first record and after each phase, the records
 * the WebAssembly AEAD sealed or opened in each phase, the socket writes each phase made, whether
 * every record read back intact, and whether every record on the wire opens
 * with the TypeScript AEAD (so both paths make the same records).
 *
 * @module
 */

import { BULK_CHUNK, RecordLayer } from "../../tls13/record.ts";
import { ContentType, MAX_PLAINTEXT } from "../../tls13/constants.ts";
import { trafficKeys } from "../../tls13/key_schedule.ts";
import { ChaCha20Poly1305 } from "../../tls13/chacha20_poly1305.ts";
import { WasmChaCha20Poly1305 } from "../../tls13/chacha20_poly1305_wasm.ts";
import { cryptoWasmLoaded } from "../../tls13/crypto_wasm.ts";
import { pipe } from "./_pipe.ts";

const secret = new Uint8Array(32).fill(0x5c);
const loadedFirst = cryptoWasmLoaded();
// Counts the records the WebAssembly AEAD seals and opens.
let wasmCalls = 0;
const proto = WasmChaCha20Poly1305.prototype;
for (const name of ["sealRecord", "open"] as const) {
  const real = proto[name] as (...args: unknown[]) => unknown;
  (proto as unknown as Record<string, unknown>)[name] = function (
    this: unknown,
    ...args: unknown[]
  ) {
    wasmCalls++;
    return real.apply(this, args);
  };
}
const keys = await trafficKeys(secret);
const [x, y] = pipe(7000);
const writer = new RecordLayer(x);
const reader = new RecordLayer(y);
writer.setWriteKeys(keys);
reader.setReadKeys(keys);

const sent: Uint8Array[] = [];
async function send(n: number): Promise<void> {
  const data = crypto.getRandomValues(new Uint8Array(Math.min(n, 65536)));
  const full = new Uint8Array(n);
  for (let at = 0; at < n; at += data.length) full.set(data.subarray(0, n - at), at);
  sent.push(full);
  await writer.send(ContentType.applicationData, full);
}

async function readBack(): Promise<boolean> {
  const want = sent.reduce((s, d) => s + d.length, 0);
  const got: Uint8Array[] = [];
  let have = 0;
  while (have < want) {
    const type = reader.next();
    if (type) {
      got.push(reader.payload.slice());
      have += reader.payload.length;
    } else if (!await reader.fill()) break;
  }
  const a = new Uint8Array(want), b = new Uint8Array(have);
  let o = 0;
  for (const d of sent) a.set(d, o), o += d.length;
  o = 0;
  for (const d of got) b.set(d, o), o += d.length;
  sent.length = 0;
  return have === want && a.every((v, i) => v === b[i]);
}

const phases: { loaded: boolean; writes: number; intact: boolean; wasmCalls: number }[] = [];
async function phase(sizes: number[]): Promise<void> {
  const before = x.writes.length;
  wasmCalls = 0;
  for (const n of sizes) await send(n);
  const loaded = cryptoWasmLoaded();
  // A bulk send settles once sealed: its last writes are counted once read back.
  const intact = await readBack();
  phases.push({ loaded, writes: x.writes.length - before, intact, wasmCalls });
}

await phase([100, 1000, 8000]);
await phase([2 * BULK_CHUNK + 3 * MAX_PLAINTEXT + 7]);
await phase([100, 5000]);

// Every record on the wire, opened with the TypeScript AEAD.
const ts = new ChaCha20Poly1305(keys.key);
const wire = new Uint8Array(x.writes.reduce((s, w) => s + w.length, 0));
let o = 0;
for (const w of x.writes) wire.set(w, o), o += w.length;
let seq = 0, allOpen = true, records = 0, fullRecords = 0;
for (let at = 0; at < wire.length;) {
  const len = (wire[at + 3] << 8) | wire[at + 4];
  const nonce = keys.iv.slice();
  nonce[11] ^= seq & 0xff;
  nonce[10] ^= (seq >> 8) & 0xff;
  seq++;
  const body = wire.slice(at + 5, at + 5 + len);
  if (ts.open(nonce, body, wire.subarray(at, at + 5)) === null) allOpen = false;
  records++;
  if (len === MAX_PLAINTEXT + 17) fullRecords++;
  at += 5 + len;
}
console.log(JSON.stringify({ loadedFirst, phases, allOpen, records, fullRecords }));
