/**
 * Tests of the client role of our HTTP/2 connection against a scripted
 * server: the preface, stream ids, response headers, data and trailers,
 * CONTINUATION, SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY, RST_STREAM, flow
 * control in both directions, PING, connection errors and close. The
 * server's frames are written by hand; what the client writes is parsed by
 * `H2TestServer` from `_h2client.ts`.
 *
 * @module
 */

import { H2Connection, type H2Stream, type StreamHandler } from "../../h2/connection.ts";
import {
  Flag,
  frame,
  FrameType,
  goawayFrame,
  H2Error,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../h2/frame.ts";
import { encodeHeaders } from "../../h2/hpack.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  dataFrame,
  H2TestServer,
  headersFrame,
  MemoryTransport,
  requestHeaders,
  settingsOf,
  tick,
  types,
  u32At,
  until,
} from "./_h2client.ts";

const REQUEST = requestHeaders("/test.T/M");
const RESPONSE: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"]];
const TRAILERS: [string, string][] = [["grpc-status", "0"]];

type Event =
  | ["headers", [string, string][], boolean]
  | ["data", number[], boolean]
  | ["reset", number];

/** A stream handler that records every event. */
class Recorder implements StreamHandler {
  readonly events: Event[] = [];
  headers(fields: [string, string][], endStream: boolean): void {
    this.events.push(["headers", fields, endStream]);
  }
  data(bytes: Uint8Array, endStream: boolean): void {
    this.events.push(["data", [...bytes], endStream]);
  }
  reset(code: number): void {
    this.events.push(["reset", code]);
  }
}

/** A client connection whose server has sent its SETTINGS (`settings`), all frames taken. */
async function started(settings: [number, number][] = []): Promise<H2TestServer> {
  const peer = new H2TestServer();
  peer.start(settings);
  await tick();
  peer.take(); // preface, SETTINGS, WINDOW_UPDATE, SETTINGS ACK
  return peer;
}

/** Opens a stream with the usual request headers. */
function open(peer: H2TestServer, endStream = false): { stream: H2Stream; rec: Recorder } {
  const rec = new Recorder();
  const stream = peer.conn.openStream(encodeHeaders(REQUEST), endStream, rec);
  assert(stream !== null, "openStream refused");
  return { stream, rec };
}

async function finish(peer: H2TestServer): Promise<void> {
  peer.conn.close("test over");
  await tick();
}

Deno.test("client connection: the preface, SETTINGS and a WINDOW_UPDATE go out first, in one write", async () => {
  const peer = new H2TestServer();
  await tick();
  assertEquals(peer.transport.writes.length, 1);
  const frames = peer.take(); // checks and skips the preface
  assertEquals(types(frames), [FrameType.SETTINGS, FrameType.WINDOW_UPDATE]);
  assertEquals(settingsOf(frames[0]), [
    [Setting.ENABLE_PUSH, 0],
    [Setting.INITIAL_WINDOW_SIZE, 4 << 20],
    [Setting.MAX_HEADER_LIST_SIZE, 64 << 10],
  ]);
  assertEquals([frames[1].streamId, u32At(frames[1].payload)], [0, (16 << 20) - 65_535]);
  // The server's SETTINGS are ACKed; its ACK of ours is not answered.
  peer.start([[Setting.MAX_FRAME_SIZE, 20_000]]);
  peer.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
  await tick();
  const acks = peer.take();
  assertEquals(acks.map((f) => [f.type, f.flags, f.payload.length]), [[
    FrameType.SETTINGS,
    Flag.ACK,
    0,
  ]]);
  assertEquals(peer.conn.peerMaxFrame, 20_000);
  await finish(peer);
});

Deno.test("client connection: streams get ids 1, 3, 5 and carry their header blocks", async () => {
  const peer = await started();
  const ids = [open(peer), open(peer, true), open(peer)].map((o) => o.stream.id);
  assertEquals(ids, [1, 3, 5]);
  await tick();
  const frames = peer.take();
  assertEquals(frames.map((f) => [f.type, f.streamId, f.flags]), [
    [FrameType.HEADERS, 1, Flag.END_HEADERS],
    [FrameType.HEADERS, 3, Flag.END_HEADERS | Flag.END_STREAM],
    [FrameType.HEADERS, 5, Flag.END_HEADERS],
  ]);
  for (const f of frames) assertEquals(f.headers, REQUEST);
  assertEquals(peer.conn.streamCount, 3);
  // Only a client opens streams.
  const server = new H2Connection(new MemoryTransport(), { onClose: () => {} });
  let refused = false;
  try {
    server.openStream(encodeHeaders(REQUEST), true, new Recorder());
  } catch {
    refused = true;
  }
  assert(refused, "a server-role connection opened a stream");
  server.close("test over");
  await finish(peer);
});

Deno.test("client connection: response HEADERS, DATA, then trailers; end() sends an empty END_STREAM DATA", async () => {
  const peer = await started();
  const { stream, rec } = open(peer);
  stream.sendData(new Uint8Array([1, 2, 3]));
  stream.end();
  await tick();
  const req = peer.response(1);
  assertEquals(req.headers, REQUEST);
  assertEquals(req.dataFrames, [3, 0]);
  assertEquals([...req.body], [1, 2, 3]);
  assert(req.ended && stream.localClosed);
  assertEquals(peer.conn.streamCount, 1, "open until the server ends its side");

  peer.send(headersFrame(1, RESPONSE));
  peer.send(dataFrame(1, new Uint8Array([4, 5])));
  assertEquals(rec.events, [["headers", RESPONSE, false], ["data", [4, 5], false]]);
  peer.send(headersFrame(1, TRAILERS, true));
  assertEquals(rec.events.slice(2), [["headers", TRAILERS, true]]);
  assert(stream.remoteClosed);
  assertEquals(peer.conn.streamCount, 0);
  // A frame after the server's END_STREAM is a connection error (RFC 9113 5.1).
  peer.send(dataFrame(1, new Uint8Array([6])));
  await tick();
  assertEquals(rec.events.length, 3);
  assertEquals(peer.goaways().map((g) => g.code), [H2Error.STREAM_CLOSED]);
  await finish(peer);
});

Deno.test("client connection: a trailers-only response ends the stream", async () => {
  const peer = await started();
  const { rec } = open(peer, true);
  const fields: [string, string][] = [...RESPONSE, ["grpc-status", "5"], ["grpc-message", "no"]];
  peer.send(headersFrame(1, fields, true));
  assertEquals(rec.events, [["headers", fields, true]]);
  assertEquals(peer.conn.streamCount, 0);
  await finish(peer);
});

Deno.test("client connection: response headers and trailers in HEADERS + CONTINUATION frames", async () => {
  const peer = await started();
  const { rec } = open(peer, true);
  const fields: [string, string][] = [...RESPONSE, ["x-big", "v".repeat(300)]];
  const block = encodeHeaders(fields);
  peer.send(frame(FrameType.HEADERS, 0, 1, block.subarray(0, 10)));
  peer.send(frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 200)));
  assertEquals(rec.events, []);
  peer.send(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(200)));
  assertEquals(rec.events, [["headers", fields, false]]);

  // Trailers: END_STREAM on the HEADERS frame applies once the block is complete.
  const trailers = encodeHeaders([["grpc-status", "0"], ["x-t", "t".repeat(100)]]);
  peer.send(frame(FrameType.HEADERS, Flag.END_STREAM, 1, trailers.subarray(0, 50)));
  assertEquals(peer.conn.streamCount, 1);
  peer.send(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, trailers.subarray(50)));
  assertEquals(rec.events.slice(1), [["headers", [["grpc-status", "0"], [
    "x-t",
    "t".repeat(100),
  ]], true]]);
  assertEquals(peer.conn.streamCount, 0);
  await finish(peer);
});

Deno.test("client connection: SETTINGS_MAX_CONCURRENT_STREAMS=1 holds the next stream until one ends", async () => {
  const peer = await started([[Setting.MAX_CONCURRENT_STREAMS, 1]]);
  await peer.conn.streamSlot(); // room at once
  assert(peer.conn.streamSlotFree);
  const first = open(peer, true);
  assert(!peer.conn.streamSlotFree);
  let woken = 0;
  const waiting = peer.conn.streamSlot().then(() => woken++);
  await tick();
  assertEquals(woken, 0);
  // Response headers are not the end of the stream.
  peer.send(headersFrame(1, RESPONSE));
  await tick();
  assertEquals(woken, 0);
  peer.send(headersFrame(1, TRAILERS, true));
  await waiting;
  assertEquals(first.rec.events.length, 2);
  assert(peer.conn.streamSlotFree);
  assertEquals(open(peer).stream.id, 3);
  assert(!peer.conn.streamSlotFree);

  // A raised limit wakes waiters too.
  const raised = peer.conn.streamSlot();
  peer.send(settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, 2]]));
  await raised;
  assert(peer.conn.streamSlotFree);
  await finish(peer);
});

Deno.test("client connection: GOAWAY refuses streams above its last id; the rest finish, then it closes", async () => {
  const peer = await started();
  const one = open(peer, true);
  const three = open(peer, true);
  peer.send(goawayFrame(1, H2Error.NO_ERROR, "bye"));
  assertEquals(three.rec.events, [["reset", H2Error.REFUSED_STREAM]]);
  assertEquals(one.rec.events, []);
  assertEquals(peer.conn.peerGoAway, { lastStreamId: 1, code: H2Error.NO_ERROR, debug: "bye" });
  assert(!peer.conn.canOpen);
  assertEquals(peer.conn.openStream(encodeHeaders(REQUEST), true, new Recorder()), null);
  await peer.conn.streamSlot(); // no waiting for a connection that opens no more
  assert(!peer.conn.closed);

  peer.send(headersFrame(1, RESPONSE), headersFrame(1, TRAILERS, true));
  assertEquals(one.rec.events.map((e) => e[0]), ["headers", "headers"]);
  await until(() => peer.closeReasons.length > 0, "the idle connection to close");
  assertEquals(peer.closeReasons, ["finished"]);
  assert(peer.transport.closed && peer.conn.closed);
  assertEquals(three.rec.events.length, 1);
  assertEquals(peer.goaways(), []); // the client sends no GOAWAY of its own
});

Deno.test("client connection: RST_STREAM from the server reaches the handler", async () => {
  const peer = await started();
  const one = open(peer);
  const three = open(peer);
  peer.send(rstStreamFrame(1, H2Error.CANCEL));
  assertEquals(one.rec.events, [["reset", H2Error.CANCEL]]);
  assert(one.stream.closed);
  assertEquals(peer.conn.streamCount, 1);
  // Writes on the reset stream go nowhere; late DATA is ignored.
  one.stream.sendData(new Uint8Array([1]));
  one.stream.end();
  peer.send(dataFrame(1, new Uint8Array([1])));
  await tick();
  assertEquals(peer.response(1).dataFrames, []);
  assertEquals(one.rec.events.length, 1);
  assertEquals(three.rec.events, []);
  assertEquals(peer.goaways().length, 0);
  await finish(peer);
});

Deno.test("client connection: a stream never sends more DATA than the server's stream window", async () => {
  const peer = await started([[Setting.INITIAL_WINDOW_SIZE, 100]]);
  const { stream } = open(peer);
  assertEquals(stream.sendWindow, 100);
  const body = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  stream.sendData(body);
  stream.end();
  await tick();
  let req = peer.response(1);
  assertEquals(req.dataFrames, [100]);
  assert(!req.ended, "END_STREAM must wait for the body");
  assertEquals(stream.queuedBytes, 200);

  peer.send(windowUpdateFrame(1, 150));
  await tick();
  req = peer.response(1);
  assertEquals(req.dataFrames, [100, 150]);
  assert(!req.ended);

  peer.send(windowUpdateFrame(1, 1000));
  await tick();
  req = peer.response(1);
  assertEquals(req.dataFrames, [100, 150, 50], "END_STREAM rides on the last DATA frame");
  assertEquals([...req.body], [...body]);
  assert(req.ended);
  assertEquals(stream.sendWindow, 1250 - 300);
  await finish(peer);
});

Deno.test("client connection: DATA waits for the server's connection window", async () => {
  const peer = await started([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]]);
  const { stream } = open(peer);
  stream.sendData(new Uint8Array(100_000));
  stream.end();
  await tick();
  assertEquals(peer.response(1).dataFrames, [16384, 16384, 16384, 16383]);
  assertEquals(peer.conn.sendWindow, 0);
  assert(peer.conn.blocked.has(stream));
  peer.send(windowUpdateFrame(1, 1000)); // the stream is not the limit
  await tick();
  assertEquals(peer.response(1).dataFrames.length, 4);
  peer.send(windowUpdateFrame(0, 40_000));
  await tick();
  const req = peer.response(1);
  assertEquals(req.body.length, 100_000);
  assertEquals(req.dataFrames.slice(4), [16384, 16384, 1697]);
  assert(req.ended);
  await finish(peer);
});

Deno.test("client connection: response DATA is granted back as it is consumed", async () => {
  const peer = await started();
  const { stream } = open(peer, true);
  peer.send(headersFrame(1, RESPONSE));
  const chunk = dataFrame(1, new Uint8Array(16_384));
  for (let i = 0; i < 64; i++) peer.send(chunk); // 1 MiB, a quarter of the stream window
  assertEquals(stream.recvWindow, (4 << 20) - (1 << 20));
  await tick();
  assertEquals(
    types(peer.take()),
    [FrameType.HEADERS],
    "nothing granted before the handler consumes",
  );
  stream.consumed(1 << 20);
  await tick();
  assertEquals(peer.take().map((f) => [f.type, f.streamId, u32At(f.payload)]), [
    [FrameType.WINDOW_UPDATE, 1, 1 << 20],
  ]);
  await finish(peer);
});

Deno.test("client connection: PING is ACKed with its payload", async () => {
  const peer = await started();
  const payload = new Uint8Array([8, 7, 6, 5, 4, 3, 2, 1]);
  peer.send(frame(FrameType.PING, 0, 0, payload));
  await tick();
  const frames = peer.take();
  assertEquals(frames.map((f) => [f.type, f.flags, f.streamId, [...f.payload]]), [
    [FrameType.PING, Flag.ACK, 0, [...payload]],
  ]);
  peer.send(frame(FrameType.PING, Flag.ACK, 0, payload));
  await tick();
  assertEquals(peer.take().length, 0);
  await finish(peer);
});

Deno.test("client connection: HEADERS on a stream we never opened is a PROTOCOL_ERROR", async () => {
  for (const id of [3, 2]) {
    const peer = await started();
    const { rec } = open(peer);
    peer.send(headersFrame(id, RESPONSE));
    await until(() => peer.conn.closed, "the connection to close");
    const goaways = peer.goaways();
    assertEquals(goaways.map((g) => g.code), [H2Error.PROTOCOL_ERROR], `stream ${id}`);
    // A client has processed no stream of the server's: last stream id 0.
    assertEquals(goaways[0].lastStreamId, 0);
    assert(peer.transport.closed);
    assertEquals(rec.events, [["reset", H2Error.CANCEL]]);
  }
});

Deno.test("client connection: a stream id we reset for a bad PRIORITY is never opened (fuzz_test.ts found it)", async () => {
  const peer = await started();
  peer.send(frame(FrameType.PRIORITY, 0, 3, new Uint8Array(4)));
  // Ids go on above it (1, below it, is skipped as a new id would skip it).
  const first = open(peer).stream, second = open(peer).stream;
  assertEquals([first.id, second.id], [5, 7]);
  await tick();
  assertEquals(peer.take().map((f) => [f.type, f.streamId]), [
    [FrameType.RST_STREAM, 3],
    [FrameType.HEADERS, 5],
    [FrameType.HEADERS, 7],
  ]);
  await finish(peer);
});

Deno.test("client connection: PUSH_PROMISE is a PROTOCOL_ERROR (push is disabled)", async () => {
  const peer = await started();
  open(peer, true);
  const promise = new Uint8Array([0, 0, 0, 2, ...encodeHeaders(REQUEST)]);
  peer.send(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, promise));
  await until(() => peer.conn.closed, "the connection to close");
  assertEquals(peer.goaways().map((g) => g.code), [H2Error.PROTOCOL_ERROR]);
});

Deno.test("client connection: close() abandons open streams and calls onClose once", async () => {
  const peer = await started();
  const one = open(peer);
  const three = open(peer, true);
  peer.conn.close("bye");
  peer.conn.close("again");
  assertEquals(one.rec.events, [["reset", H2Error.CANCEL]]);
  assertEquals(three.rec.events, [["reset", H2Error.CANCEL]]);
  assertEquals(peer.closeReasons, ["bye"]);
  assertEquals(peer.conn.closeReason, "bye");
  assertEquals(peer.transport.closeCalls, 1);
  assert(!peer.conn.canOpen);
  assertEquals(peer.conn.openStream(encodeHeaders(REQUEST), true, new Recorder()), null);
  await peer.conn.streamSlot();
  // Nothing more is read or written.
  peer.send(frame(FrameType.PING, 0, 0, new Uint8Array(8)));
  await tick();
  assertEquals(peer.take().length, 0);
});
