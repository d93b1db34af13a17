/**
 * A stream's queue of body pieces drains in time linear in the pieces: a
 * writer may queue 256 KiB before it waits (`writable()`), which is 87,380
 * pieces when a handler streams 1-byte messages (a 5-byte prefix and the
 * byte), and a peer that opens its window slowly makes the connection take
 * them a few at a time. With `Array.prototype.shift()`, each piece taken
 * moved the whole array once it was in V8's large-object space (from about
 * 16,000 elements): 64,000 pieces took about a thousand times as long as
 * 8,000, not eight. The two sizes are timed side by side in interleaved
 * rounds (a ratio, not a threshold), and what went out is checked byte for
 * byte.
 *
 * @module
 */

import { H2Connection, type H2Stream } from "../../h2/connection.ts";
import {
  CLIENT_PREFACE,
  FrameType,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../h2/frame.ts";
import { assertEquals } from "../_util/assert.ts";
import { assertLinear, LARGE } from "../_util/linear_time.ts";
import { concat, headersFrame, MemoryTransport, parseFrames, requestHeaders } from "./_h2client.ts";

const RESPONSE = new Uint8Array([0x88]); // :status 200, indexed
/** Window granted per WINDOW_UPDATE: a few hundred pieces at a time. */
const STEP = 6000;

/** Queues `pieces` pieces on a stream with no window, then drains them; returns the ms and the bytes written. */
async function drain(pieces: number): Promise<{ ms: number; out: Uint8Array }> {
  const transport = new MemoryTransport();
  let stream: H2Stream | null = null;
  const conn = new H2Connection(transport, { onStream: (s) => (stream = s), onClose() {} });
  conn.receive(concat(
    CLIENT_PREFACE,
    settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0]]),
    windowUpdateFrame(0, 1 << 30),
    headersFrame(1, requestHeaders("/test.T/M")),
  ));
  const s = stream!;
  s.sendHeaders(RESPONSE);
  for (let i = 0; i < pieces; i += 2) {
    s.sendData(new Uint8Array([0, 0, 0, 0, 1]), new Uint8Array([i & 0xff]));
  }
  const total = s.queuedBytes;
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += STEP) conn.receive(windowUpdateFrame(1, STEP));
  const ms = performance.now() - t0;
  await new Promise((resolve) => setTimeout(resolve, 0)); // the flush
  const out = transport.bytes;
  conn.close("done");
  return { ms, out };
}

Deno.test("h2: a stream's queue of 64,000 small pieces drains in linear time (not shift()'s quadratic)", () =>
  assertLinear("h2, body pieces of a stream", async (n) => (await drain(n)).ms));

Deno.test("h2: a stream's queue drained by index sends every piece, in order", async () => {
  const { out } = await drain(LARGE);
  const body = parseFrames(out).frames
    .filter((f) => f.type === FrameType.DATA && f.streamId === 1)
    .map((f) => f.payload);
  const bytes = concat(...body);
  assertEquals(bytes.length, LARGE / 2 * 6);
  for (let i = 0; i < LARGE; i += 2) {
    const at = (i / 2) * 6;
    if (bytes[at + 4] !== 1 || bytes[at + 5] !== (i & 0xff)) {
      throw new Error(`piece ${i} out of place at byte ${at}`);
    }
  }
});
