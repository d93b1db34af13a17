/**
 * Child process of stream_churn_memory_test.ts (run with
 * `--v8-flags=--expose-gc`): a server-role `H2Connection` answering unary
 * KV Gets replayed as grpc-go sends them, 64 in flight, new streams opened
 * as the old ones end. After a warm-up it forces a full GC (what a busy
 * plugin meets sooner or later), then makes `calls` more calls and prints,
 * as one JSON line, the V8 heap used after the GC and the most it reached
 * afterwards, sampled every 1,000 calls.
 *
 * ```sh
 * deno run --v8-flags=--expose-gc --allow-read tests/h2/_stream_churn.ts [calls]
 * ```
 *
 * @module
 */

import { H2Connection, type H2Stream } from "../../h2/connection.ts";
import { CLIENT_PREFACE, Flag, frame, FrameType, settingsFrame } from "../../h2/frame.ts";
import { addRoutes, type Route, startCall } from "../../rpc/server_call.ts";
import { fromTsProto, implement } from "../../rpc/service.ts";
import { createLogger } from "../../log/logger.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { concat, grpcGoGet } from "./_h2client.ts";

const calls = Number(Deno.args[0] ?? 200_000);
const IN_FLIGHT = 64;
const te = new TextEncoder();
const VALUE = te.encode("a value of a few bytes");

const routes = new Map<string, Route>();
addRoutes(
  routes,
  implement(fromTsProto(KVDefinition), {
    get: async () => await Promise.resolve({ value: VALUE }),
    put: () => ({}),
  }),
);
const options = { routes, maxMessageBytes: 4 << 20, logger: createLogger({ level: "error" }) };

let ended = 0;
let wake: (() => void) | null = null;
const conn = new H2Connection({
  write(data) {
    // Count the trailers (HEADERS with END_STREAM) among the frames written.
    for (let p = 0; p + 9 <= data.length;) {
      const len = (data[p] << 16) | (data[p + 1] << 8) | data[p + 2];
      if (data[p + 3] === FrameType.HEADERS && (data[p + 4] & Flag.END_STREAM)) ended++;
      p += 9 + len;
    }
    wake?.();
    return Promise.resolve();
  },
  close() {},
}, { onStream: (s: H2Stream, h) => startCall(s, h, options), onClose() {} });

const { first, rest, message } = grpcGoGet("59999987u");
conn.receive(concat(
  CLIENT_PREFACE,
  settingsFrame([]),
  frame(FrameType.WINDOW_UPDATE, 0, 0, new Uint8Array([0x7f, 0xff, 0, 0])),
));

let next = 1, opened = 0;
/** Makes `n` calls, keeping IN_FLIGHT open; `sample` runs every 1,000 calls. */
async function run(n: number, sample: () => void): Promise<void> {
  const until = opened + n;
  let sampled = ended;
  while (ended < until) {
    const room = Math.min(IN_FLIGHT - (opened - ended), until - opened);
    if (room > 0) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < room; i++, next += 2, opened++) {
        parts.push(frame(FrameType.HEADERS, Flag.END_HEADERS, next, next === 1 ? first : rest));
        parts.push(frame(FrameType.DATA, Flag.END_STREAM, next, message));
      }
      conn.receive(concat(...parts));
    }
    await new Promise<void>((resolve) => (wake = resolve));
    if (ended - sampled >= 1000) {
      sampled = ended;
      sample();
    }
  }
}

await run(20_000, () => {});
(globalThis as unknown as { gc(): void }).gc();
const afterGc = Deno.memoryUsage().heapUsed;
let peak = afterGc;
await run(calls, () => (peak = Math.max(peak, Deno.memoryUsage().heapUsed)));
conn.close("done");
console.log(JSON.stringify({ calls, afterGcBytes: afterGc, peakBytes: peak }));
