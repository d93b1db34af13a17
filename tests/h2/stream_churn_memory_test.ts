/**
 * A busy connection's calls do not pile up in the V8 heap after a full GC:
 * `_stream_churn.ts` (a child process, so that its heap is its own) opens
 * and ends 200,000 streams, 64 at a time, after a forced full GC, and the
 * heap it uses must stay far below what the calls would take if they
 * outlived their scavenge. With the open streams in a `Map`, the Map's
 * rehashed tables kept every call alive through the scavenges once a full
 * GC had promoted the table (the heap reached 77-86 MB, the soak's RSS
 * 150 MiB); with `StreamTable` it stays at 12-20 MB.
 *
 * @module
 */

import { assert } from "../_util/assert.ts";

/** Heap the churn may use above what the forced GC left (young generation and noise included). */
const BOUND_BYTES = 40 << 20;

Deno.test("h2: 200,000 streams after a full GC leave the heap within 40 MiB (no call outlives its scavenge)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      "--allow-read",
      new URL("./_stream_churn.ts", import.meta.url).pathname,
      "200000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert(out.success, `the churn script failed:\n${new TextDecoder().decode(out.stderr)}`);
  const { afterGcBytes, peakBytes } = JSON.parse(text) as {
    afterGcBytes: number;
    peakBytes: number;
  };
  const grew = peakBytes - afterGcBytes;
  assert(
    grew <= BOUND_BYTES,
    `the heap grew by ${(grew / 1048576).toFixed(1)} MiB over 200,000 calls after a full GC ` +
      `(bound ${BOUND_BYTES >> 20} MiB): ended calls are kept alive past their scavenge`,
  );
});
