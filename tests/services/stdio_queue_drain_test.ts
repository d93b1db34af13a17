/**
 * The plugin's queue of console output waiting for the host's stdio stream
 * is bounded in bytes (1 MiB), not in chunks: one-byte writes fill it with a
 * million chunks while the host does not read. With
 * `Array.prototype.shift()`, each chunk taken (by the stream, or dropped at
 * the limit by the next write) moved the whole queue once it was in V8's
 * large-object space (from about 16,000 elements), so 64,000 chunks took far
 * more than eight times as long as 8,000. Both ways out are timed here, on
 * the queue `serve()` gives the stdio service: the stream draining the
 * chunks queued before the host read, and writes past the limit each
 * dropping the oldest. The two sizes are timed side by side in interleaved
 * rounds (a ratio, not a threshold), and every chunk is checked, in order.
 *
 * The queue is driven directly, not through a gRPC stream: a response
 * message's own cost (framing, HTTP/2, the client) would hide the cost of
 * taking it off the queue.
 *
 * @module
 */

import { StdioQueue } from "../../services/stdio.ts";
import { assertEquals } from "../_util/assert.ts";
import { assertLinear } from "../_util/linear_time.ts";

/** Bytes in each chunk: its number. */
const BYTES = 3;

/** Chunk `i`: its number in three bytes. */
function chunk(i: number): Uint8Array {
  return new Uint8Array([i >> 16, (i >> 8) & 0xff, i & 0xff]);
}

/** Reads every chunk left in the closed queue, checking they are `from`, `from + 1`, ... `to - 1`. */
async function drainAll(q: StdioQueue, from: number, to: number): Promise<void> {
  q.close();
  let i = from;
  for await (const c of q.drain(new AbortController().signal)) {
    const got = (c.data[0] << 16) | (c.data[1] << 8) | c.data[2];
    if (c.data.length !== BYTES || got !== i) throw new Error(`chunk ${i} was chunk ${got}`);
    i++;
  }
  assertEquals(i, to, "the count of chunks read");
}

/** `n` chunks queued before anybody reads; returns the ms the stream took to take them all. */
async function streamDrain(n: number): Promise<number> {
  const q = new StdioQueue();
  for (let i = 0; i < n; i++) q.write("stdout", chunk(i));
  const t0 = performance.now();
  await drainAll(q, 0, n);
  return performance.now() - t0;
}

/** A queue full with `n` chunks, then `n` more writes; returns the ms those took (each drops one). */
async function dropDrain(n: number): Promise<number> {
  const q = new StdioQueue(BYTES * n);
  for (let i = 0; i < n; i++) q.write("stdout", chunk(i));
  const t0 = performance.now();
  for (let i = n; i < 2 * n; i++) q.write("stdout", chunk(i));
  const ms = performance.now() - t0;
  assertEquals([q.dropped, q.droppedBytes], [n, BYTES * n], "the chunks dropped");
  await drainAll(q, n, 2 * n);
  return ms;
}

Deno.test("StdioQueue: 64,000 tiny chunks queued before the host reads drain in linear time, in order", () =>
  assertLinear("stdio, chunks the stream takes", streamDrain));

Deno.test("StdioQueue: 64,000 tiny writes past a full queue each drop the oldest in linear time", () =>
  assertLinear("stdio, chunks dropped at the limit", dropDrain));
