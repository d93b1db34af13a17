/**
 * Tests of how a connection writes bulk DATA (a window's worth of body of
 * 64 KiB or more): framed as it is written, a chunk of the connection's
 * write buffer at a time, at the peer's SETTINGS_MAX_FRAME_SIZE, with the
 * HEADERS before it and the trailers after it in the same writes, and the
 * write buffer reused only once the transport's write has settled.
 *
 * @module
 */

import { Flag, FrameType, Setting, windowUpdateFrame } from "../../h2/frame.ts";
import { encodeHeaders } from "../../h2/hpack.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  H2TestClient,
  headersFrame,
  MemoryTransport,
  parseFrames,
  type RecordedStream,
  recordingOnStream,
  requestHeaders,
  tick,
  until,
} from "./_h2client.ts";

const REQUEST = requestHeaders("/test.T/M");
const RESPONSE_HEADERS = encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]);
const TRAILERS = encodeHeaders([["grpc-status", "0"]]);
const MiB = 1 << 20;

/**
 * A transport that copies what it was given only when the write settles,
 * on a later macrotask: bytes the connection changed before then (a write
 * buffer reused too early) show up changed.
 */
class LateCopyTransport extends MemoryTransport {
  /** Writes started and not settled. */
  pending = 0;
  /** The most writes ever pending at once. */
  maxPending = 0;

  override write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("transport closed"));
    this.maxPending = Math.max(this.maxPending, ++this.pending);
    return new Promise((resolve) =>
      setTimeout(() => {
        this.writes.push(data.slice());
        this.pending--;
        resolve();
      }, 0)
    );
  }
}

/** A patterned body, so a misplaced or repeated chunk shows. */
function body(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >>> 12)) & 0xff;
  return out;
}

/** A server connection whose client gave `window` bytes of window, per stream and in total. */
async function started(
  window: number,
): Promise<{ client: H2TestClient; streams: RecordedStream[]; transport: LateCopyTransport }> {
  const streams: RecordedStream[] = [];
  const transport = new LateCopyTransport();
  const client = new H2TestClient(recordingOnStream(streams), {}, transport);
  client.start([[Setting.INITIAL_WINDOW_SIZE, window]]);
  client.send(windowUpdateFrame(0, window));
  await until(
    () => transport.pending === 0 && transport.writes.length > 0,
    "the server's SETTINGS",
  );
  client.take();
  return { client, streams, transport };
}

/** Frames of one write, by type and stream. */
function framesOf(write: Uint8Array): { type: number; flags: number; streamId: number }[] {
  const { frames, rest } = parseFrames(write);
  assertEquals(rest.length, 0, "a write ends on a frame boundary");
  return frames;
}

Deno.test("bulk DATA: written in chunks, with its HEADERS and trailers, the buffer reused only after each write", async () => {
  const { client, streams, transport } = await started(8 * MiB);
  const before = transport.writes.length;
  client.send(headersFrame(1, REQUEST, true));
  const s = streams[0].stream;
  const sent = body(3 * MiB + 12_345);
  s.sendHeaders(RESPONSE_HEADERS);
  s.sendData(sent.subarray(0, 5), sent.subarray(5)); // a prefix and a message, as gRPC sends them
  s.end(TRAILERS);
  await until(() => transport.pending === 0 && client.response(1).ended, "the response");

  const writes = transport.writes.slice(before);
  // One buffer per window would be one write of the whole body; chunks are
  // a fraction of it, and never more than one is in flight.
  assert(writes.length >= 3, `${writes.length} writes for ${sent.length} bytes`);
  for (const w of writes) assert(w.length <= 1 << 20, `a write of ${w.length} bytes`);
  assertEquals(transport.maxPending, 1);
  // The HEADERS open the first chunk; the trailers close the last.
  const first = framesOf(writes[0]);
  assertEquals(first[0].type, FrameType.HEADERS);
  assertEquals(first[1].type, FrameType.DATA);
  const last = framesOf(writes[writes.length - 1]);
  assertEquals(last[last.length - 1].type, FrameType.HEADERS);
  assertEquals(last[last.length - 1].flags & Flag.END_STREAM, Flag.END_STREAM);
  assert(last.length > 1, "the trailers share the last DATA chunk's write");

  const res = client.response(1);
  assertEquals(res.body.length, sent.length);
  assert(res.body.every((b, i) => b === sent[i]), "the body arrives as it was sent");
  // Every frame is as large as the peer allows (16 KiB by default) but the last.
  const frames = res.dataFrames;
  assert(frames.slice(0, -1).every((n) => n === 16_384), `frame sizes ${frames.slice(0, 3)}`);
  assertEquals(res.trailers, [["grpc-status", "0"]]);
  client.conn.close("test over");
  await tick();
});

Deno.test("bulk DATA: END_STREAM on the last frame of a body sent with sendLast", async () => {
  const { client, streams, transport } = await started(4 * MiB);
  client.send(headersFrame(1, REQUEST, true));
  const s = streams[0].stream;
  const sent = body(300_000);
  s.sendHeaders(RESPONSE_HEADERS);
  s.sendLast(sent);
  await until(() => transport.pending === 0 && client.response(1).ended, "the response");
  const data = client.take().filter((f) => f.type === FrameType.DATA && f.streamId === 1);
  assertEquals(data.reduce((n, f) => n + f.payload.length, 0), sent.length);
  assertEquals(data.map((f) => f.flags & Flag.END_STREAM).filter(Boolean).length, 1);
  assertEquals(data[data.length - 1].flags & Flag.END_STREAM, Flag.END_STREAM);
  client.conn.close("test over");
  await tick();
});

Deno.test("bulk DATA: two streams and a window that opens in steps", async () => {
  // Each stream may send 100 KB, then more as WINDOW_UPDATEs come: every
  // step is bulk (64 KiB or more) and goes out framed from the stream's queue.
  const { client, streams, transport } = await started(100_000);
  client.send(windowUpdateFrame(0, 8 * MiB));
  client.send(headersFrame(1, REQUEST, true), headersFrame(3, REQUEST, true));
  const bodies = [body(500_000), body(500_000).reverse()];
  for (const [i, r] of streams.entries()) {
    r.stream.sendHeaders(RESPONSE_HEADERS);
    r.stream.sendData(bodies[i]);
    r.stream.end(TRAILERS);
  }
  const sentOn = (id: number) =>
    client.sync().filter((f) => f.type === FrameType.DATA && f.streamId === id)
      .reduce((n, f) => n + f.payload.length, 0);
  await until(() => transport.pending === 0 && sentOn(1) === 100_000 && sentOn(3) === 100_000);
  for (let granted = 100_000; granted < 500_000; granted += 150_000) {
    client.send(windowUpdateFrame(1, 150_000), windowUpdateFrame(3, 150_000));
    const expect = Math.min(500_000, granted + 150_000);
    await until(() => transport.pending === 0 && sentOn(1) === expect && sentOn(3) === expect);
  }
  await until(() =>
    transport.pending === 0 && client.response(1).ended && client.response(3).ended
  );
  for (const [i, id] of [1, 3].entries()) {
    const res = client.response(id);
    assert(res.body.every((b, j) => b === bodies[i][j]), `stream ${id}'s body`);
    assertEquals(res.trailers, [["grpc-status", "0"]]);
  }
  client.conn.close("test over");
  await tick();
});
