/**
 * Tests of the native engine's HTTP/2 connection: preface, SETTINGS, PING,
 * connection errors, header blocks, partial reads, flow control in both
 * directions, graceful drain and stream resets. The client side is an
 * in-memory transport plus the frame parser of `_h2client.ts`.
 *
 * @module
 */

import {
  CLIENT_PREFACE,
  Flag,
  frame,
  FrameType,
  H2Error,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../h2/frame.ts";
import { ConstantHeaders, encodeHeaders } from "../../h2/hpack.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  concat,
  dataFrame,
  H2TestClient,
  headersFrame,
  HeldTransport,
  type RecordedStream,
  recordingOnStream,
  requestHeaders,
  settingsOf,
  tick,
  types,
  u32At,
  until,
} from "./_h2client.ts";

const REQUEST = requestHeaders("/test.T/M");
const RESPONSE_HEADERS = encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]);
const TRAILERS = encodeHeaders([["grpc-status", "0"]]);

/** A client whose streams are recorded; preface and SETTINGS already sent. */
async function started(
  settings: [number, number][] = [],
): Promise<{ client: H2TestClient; streams: RecordedStream[] }> {
  const streams: RecordedStream[] = [];
  const client = new H2TestClient(recordingOnStream(streams));
  client.start(settings);
  await tick();
  client.take(); // server SETTINGS, WINDOW_UPDATE, SETTINGS ACK
  return { client, streams };
}

/** Ends the connection so no microtask or timer outlives the test. */
async function finish(client: H2TestClient): Promise<void> {
  client.conn.close("test over");
  await tick();
}

Deno.test("connection: server SETTINGS and a connection WINDOW_UPDATE go out first", async () => {
  const client = new H2TestClient();
  await tick();
  const frames = client.take();
  assertEquals(types(frames), [FrameType.SETTINGS, FrameType.WINDOW_UPDATE]);
  const [settings, update] = frames;
  assertEquals([settings.flags, settings.streamId], [0, 0]);
  assertEquals(settingsOf(settings), [
    [Setting.ENABLE_PUSH, 0],
    [Setting.MAX_CONCURRENT_STREAMS, 128],
    [Setting.INITIAL_WINDOW_SIZE, 4 << 20],
    [Setting.MAX_HEADER_LIST_SIZE, 64 << 10],
  ]);
  assertEquals(update.streamId, 0);
  assertEquals(u32At(update.payload), (16 << 20) - 65_535);
  // Both frames left in one write.
  assertEquals(client.transport.writes.length, 1);
  await finish(client);
});

Deno.test("connection: client SETTINGS are ACKed, a SETTINGS ACK is not", async () => {
  const client = new H2TestClient();
  client.send(CLIENT_PREFACE, settingsFrame([[Setting.MAX_FRAME_SIZE, 32768]]));
  await tick();
  const frames = client.take();
  assertEquals(types(frames), [FrameType.SETTINGS, FrameType.WINDOW_UPDATE, FrameType.SETTINGS]);
  assertEquals([frames[2].flags, frames[2].payload.length, frames[2].streamId], [Flag.ACK, 0, 0]);
  assertEquals(client.conn.peerMaxFrame, 32768);
  client.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
  await tick();
  assertEquals(client.take().length, 0);
  await finish(client);
});

Deno.test("connection: PING is ACKed with the same payload, a PING ACK is not answered", async () => {
  const { client } = await started();
  const payload = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  client.send(frame(FrameType.PING, 0, 0, payload));
  await tick();
  const frames = client.take();
  assertEquals(frames.length, 1);
  assertEquals([frames[0].type, frames[0].flags, frames[0].streamId], [
    FrameType.PING,
    Flag.ACK,
    0,
  ]);
  assertEquals([...frames[0].payload], [...payload]);
  client.send(frame(FrameType.PING, Flag.ACK, 0, payload));
  await tick();
  assertEquals(client.take().length, 0);
  await finish(client);
});

Deno.test("connection: a PING ACK waits for the answer to the request that came with it", async () => {
  const { client, streams } = await started();
  const before = client.transport.writes.length;
  // grpc-go sends a PING (and a WINDOW_UPDATE) in front of each call.
  client.send(concat(
    frame(FrameType.PING, 0, 0, new Uint8Array(8)),
    headersFrame(1, REQUEST, true),
  ));
  // The handler answers a few microtask turns later, as an async one does.
  for (let i = 0; i < 5; i++) await Promise.resolve();
  const s = streams[0].stream;
  s.sendHeaders(RESPONSE_HEADERS);
  s.end(TRAILERS);
  await tick();
  assertEquals(client.transport.writes.length, before + 1, "one write");
  assertEquals(types(client.take()), [FrameType.PING, FrameType.HEADERS, FrameType.HEADERS]);
  // A PING alone is still answered.
  client.send(frame(FrameType.PING, 0, 0, new Uint8Array(8)));
  await tick();
  assertEquals(types(client.take()), [FrameType.PING]);
  await finish(client);
});

Deno.test("connection: a PING ACK made while a write is under way still waits for its answer", async () => {
  const streams: RecordedStream[] = [];
  const transport = new HeldTransport();
  const client = new H2TestClient(recordingOnStream(streams), {}, transport);
  client.start();
  await tick();
  transport.release();
  await tick();
  client.take();
  const answer = async (i: number) => {
    for (let k = 0; k < 5; k++) await Promise.resolve();
    const s = streams[i].stream;
    s.sendHeaders(RESPONSE_HEADERS);
    s.end(TRAILERS);
  };
  client.send(headersFrame(1, REQUEST, true));
  await answer(0);
  await tick();
  assertEquals(transport.pendingWrites, 1, "the first answer's write is under way");
  // The next call comes while it is: its PING ACK must not leave alone.
  client.send(
    concat(frame(FrameType.PING, 0, 0, new Uint8Array(8)), headersFrame(3, REQUEST, true)),
  );
  const before = transport.writes.length;
  transport.release();
  await answer(1);
  await tick();
  transport.release();
  await tick();
  assertEquals(transport.writes.length, before + 1, "one write for the PING ACK and the answer");
  assertEquals(types(client.take()), [
    FrameType.HEADERS,
    FrameType.HEADERS,
    FrameType.PING,
    FrameType.HEADERS,
    FrameType.HEADERS,
  ]);
  await finish(client);
});

Deno.test("connection: a PING of the wrong size is a FRAME_SIZE_ERROR", async () => {
  const { client } = await started();
  client.send(frame(FrameType.PING, 0, 0, new Uint8Array(7)));
  await tick();
  assertEquals(client.goaways().map((g) => g.code), [H2Error.FRAME_SIZE_ERROR]);
  assert(client.transport.closed);
});

Deno.test("connection: a bad preface closes the transport without a GOAWAY", async () => {
  // Before the server's SETTINGS have left: nothing at all is written.
  const early = new H2TestClient();
  early.send(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
  await tick();
  assertEquals(early.transport.writes.length, 0);
  assert(early.transport.closed);
  assert(early.conn.closed);
  assertEquals(early.closeReasons, ["not an HTTP/2 client"]);

  // After them: still no GOAWAY.
  const late = new H2TestClient();
  await tick();
  late.send(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
  await tick();
  assertEquals(types(late.take()), [FrameType.SETTINGS, FrameType.WINDOW_UPDATE]);
  assertEquals(late.goaways().length, 0);
  assert(late.transport.closed);
  assertEquals(late.closeReasons.length, 1);

  // A preface that goes wrong half way, across two reads.
  const split = new H2TestClient();
  split.send(CLIENT_PREFACE.subarray(0, 10));
  split.send(new TextEncoder().encode("XX"));
  await tick();
  assert(split.transport.closed);
  assertEquals(split.closeReasons.length, 1);
  // Further bytes are ignored.
  split.send(CLIENT_PREFACE);
  assertEquals(split.closeReasons.length, 1);
});

Deno.test("connection: a frame over 16384 bytes is a FRAME_SIZE_ERROR", async () => {
  const { client } = await started();
  const header = new Uint8Array(9);
  header[0] = 0;
  header[1] = 0x40;
  header[2] = 0x01; // 16385
  header[3] = FrameType.DATA;
  header[8] = 1;
  client.send(header); // the header alone is enough to refuse it
  await tick();
  const goaways = client.goaways();
  assertEquals(goaways.length, 1);
  assertEquals([goaways[0].code, goaways[0].lastStreamId], [H2Error.FRAME_SIZE_ERROR, 0]);
  assert(goaways[0].debug.includes("16385"));
  assert(client.transport.closed);
  assert(client.conn.closed);
  assertEquals(client.closeReasons.length, 1);
});

Deno.test("connection: HEADERS on an even stream id is a PROTOCOL_ERROR", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST, true));
  client.send(headersFrame(2, REQUEST, true));
  await tick();
  const goaways = client.goaways();
  assertEquals(goaways.length, 1);
  assertEquals([goaways[0].code, goaways[0].lastStreamId], [H2Error.PROTOCOL_ERROR, 1]);
  assert(client.transport.closed);
  assertEquals(streams.length, 1);
  // The open stream was told the connection is gone.
  assertEquals(streams[0].resets, [H2Error.CANCEL]);
});

Deno.test("connection: a reused or decreasing stream id is a PROTOCOL_ERROR", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(5, REQUEST));
  client.send(headersFrame(3, REQUEST));
  await tick();
  assertEquals(client.goaways().map((g) => [g.code, g.lastStreamId]), [[
    H2Error.PROTOCOL_ERROR,
    5,
  ]]);
  assertEquals(streams.length, 1);
});

Deno.test("connection: CONTINUATION frames complete a header block", async () => {
  const { client, streams } = await started();
  const fields = requestHeaders("/test.T/M", [["x-big", "v".repeat(300)], ["x-small", "s"]]);
  const block = encodeHeaders(fields);
  const a = block.subarray(0, 10), b = block.subarray(10, 200), c = block.subarray(200);
  client.send(frame(FrameType.HEADERS, Flag.END_STREAM, 1, a));
  client.send(frame(FrameType.CONTINUATION, 0, 1, b));
  assertEquals(streams.length, 0);
  client.send(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, c));
  assertEquals(streams.length, 1);
  assertEquals(streams[0].headers, fields);
  // END_STREAM of the HEADERS frame applies once the block is complete.
  assert(streams[0].ended);
  assert(streams[0].stream.remoteClosed);
  await finish(client);
});

Deno.test("connection: another frame inside a header block is a PROTOCOL_ERROR", async () => {
  const { client, streams } = await started();
  const block = encodeHeaders(REQUEST);
  client.send(frame(FrameType.HEADERS, 0, 1, block.subarray(0, 5)));
  client.send(frame(FrameType.PING, 0, 0, new Uint8Array(8)));
  await tick();
  assertEquals(client.goaways().map((g) => g.code), [H2Error.PROTOCOL_ERROR]);
  assertEquals(streams.length, 0);
  // No PING ACK: the bad frame was refused, not answered.
  assertEquals(client.sync().filter((f) => f.type === FrameType.PING).length, 0);
});

Deno.test("connection: CONTINUATION on another stream is a PROTOCOL_ERROR", async () => {
  const { client } = await started();
  const block = encodeHeaders(REQUEST);
  client.send(frame(FrameType.HEADERS, 0, 1, block.subarray(0, 5)));
  client.send(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, block.subarray(5)));
  await tick();
  assertEquals(client.goaways().map((g) => g.code), [H2Error.PROTOCOL_ERROR]);
});

Deno.test("connection: padded and prioritised HEADERS and padded DATA", async () => {
  const { client, streams } = await started();
  const block = encodeHeaders(REQUEST);
  const padLength = 3;
  const payload = concat(
    new Uint8Array([padLength]),
    new Uint8Array([0, 0, 0, 0, 16]), // stream dependency + weight
    block,
    new Uint8Array(padLength),
  );
  client.send(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY, 1, payload));
  assertEquals(streams.length, 1);
  assertEquals(streams[0].headers, REQUEST);
  const data = concat(new Uint8Array([2]), new Uint8Array([7, 8, 9]), new Uint8Array(2));
  client.send(frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, data));
  assertEquals(streams[0].body, [7, 8, 9]);
  assert(streams[0].ended);
  // Padding longer than the frame.
  client.send(headersFrame(3, REQUEST));
  client.send(frame(FrameType.DATA, Flag.PADDED, 3, new Uint8Array([5, 1, 2])));
  await tick();
  assertEquals(client.goaways().map((g) => g.code), [H2Error.PROTOCOL_ERROR]);
});

Deno.test("connection: frames split byte by byte across receive() calls", async () => {
  const streams: RecordedStream[] = [];
  const client = new H2TestClient(recordingOnStream(streams));
  const ping = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);
  const bytes = concat(
    CLIENT_PREFACE,
    settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 100_000]]),
    headersFrame(1, REQUEST),
    dataFrame(1, new Uint8Array([1, 2, 3])),
    dataFrame(1, new Uint8Array([4, 5]), true),
    frame(FrameType.PING, 0, 0, ping),
  );
  for (let i = 0; i < bytes.length; i++) client.send(bytes.subarray(i, i + 1));
  await tick();
  assertEquals(streams.length, 1);
  assertEquals(streams[0].headers, REQUEST);
  assertEquals(streams[0].body, [1, 2, 3, 4, 5]);
  assert(streams[0].ended);
  const frames = client.take();
  assertEquals(types(frames), [
    FrameType.SETTINGS,
    FrameType.WINDOW_UPDATE,
    FrameType.SETTINGS,
    FrameType.PING,
  ]);
  assertEquals(frames[2].flags, Flag.ACK);
  assertEquals([...frames[3].payload], [...ping]);
  assertEquals(client.goaways().length, 0);
  assert(!client.transport.closed);
  await finish(client);
});

Deno.test("connection: response DATA waits for the stream window", async () => {
  const { client, streams } = await started([[Setting.INITIAL_WINDOW_SIZE, 10]]);
  client.send(headersFrame(1, REQUEST, true));
  const s = streams[0].stream;
  assertEquals(s.sendWindow, 10);
  const body = Uint8Array.from({ length: 100 }, (_, i) => i);
  s.sendHeaders(RESPONSE_HEADERS);
  s.sendData(body);
  s.end(TRAILERS);
  await tick();
  let res = client.response(1);
  assert(res.headers !== undefined);
  assertEquals(res.dataFrames, [10]);
  assert(!res.ended, "trailers must wait for the body");
  assertEquals(s.queuedBytes, 90);

  client.send(windowUpdateFrame(1, 50));
  await tick();
  res = client.response(1);
  assertEquals(res.dataFrames, [10, 50]);
  assert(!res.ended);

  client.send(windowUpdateFrame(1, 1000));
  await tick();
  res = client.response(1);
  assertEquals(res.dataFrames, [10, 50, 40]);
  assertEquals([...res.body], [...body]);
  assert(res.ended);
  assertEquals(res.trailers, [["grpc-status", "0"]]);
  assertEquals(res.rst, undefined); // the client had finished: no RST_STREAM
  assertEquals(client.conn.streamCount, 0);
  await finish(client);
});

Deno.test("connection: a raised SETTINGS_INITIAL_WINDOW_SIZE releases queued DATA", async () => {
  const { client, streams } = await started([[Setting.INITIAL_WINDOW_SIZE, 0]]);
  client.send(headersFrame(1, REQUEST, true));
  const s = streams[0].stream;
  s.sendHeaders(RESPONSE_HEADERS);
  s.sendData(new Uint8Array(30));
  s.end(TRAILERS);
  await tick();
  assertEquals(client.response(1).dataFrames, []);
  client.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 20]]));
  await tick();
  assertEquals(client.response(1).dataFrames, [20]);
  client.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 100]]));
  await tick();
  const res = client.response(1);
  assertEquals(res.dataFrames, [20, 10]);
  assert(res.ended);
  await finish(client);
});

Deno.test("connection: response DATA waits for the connection window", async () => {
  const { client, streams } = await started([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]]);
  client.send(headersFrame(1, REQUEST, true));
  const s = streams[0].stream;
  const body = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
  s.sendHeaders(RESPONSE_HEADERS);
  s.sendData(body);
  s.end(TRAILERS);
  await tick();
  let res = client.response(1);
  // 65535 bytes, in frames of at most 16384.
  assertEquals(res.dataFrames, [16384, 16384, 16384, 16383]);
  assert(!res.ended);
  assertEquals(client.conn.sendWindow, 0);
  assert(client.conn.blocked.has(s));

  // A stream WINDOW_UPDATE does not help while the connection is the limit.
  client.send(windowUpdateFrame(1, 1000));
  await tick();
  assertEquals(client.response(1).dataFrames.length, 4);

  client.send(windowUpdateFrame(0, 20_000));
  await tick();
  res = client.response(1);
  assertEquals(res.dataFrames.slice(4), [16384, 3616]);
  assert(!res.ended);

  client.send(windowUpdateFrame(0, 100_000));
  await tick();
  res = client.response(1);
  assertEquals(res.body.length, body.length);
  assertEquals([...res.body.subarray(99_990)], [...body.subarray(99_990)]);
  assert(res.ended);
  assertEquals(client.conn.sendWindow, 65_535 + 120_000 - 100_000);
  await finish(client);
});

Deno.test("connection: frames follow the peer's SETTINGS_MAX_FRAME_SIZE", async () => {
  const { client, streams } = await started([[Setting.MAX_FRAME_SIZE, 20_000]]);
  client.send(headersFrame(1, REQUEST, true));
  const s = streams[0].stream;
  s.sendHeaders(RESPONSE_HEADERS);
  s.sendData(new Uint8Array(30_000));
  s.end(TRAILERS);
  await tick();
  assertEquals(client.response(1).dataFrames, [20_000, 10_000]);
  await finish(client);
});

Deno.test("connection: a large header block goes out as HEADERS + CONTINUATION", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST, true));
  const s = streams[0].stream;
  const big: [string, string][] = [["grpc-status", "0"], ["x-big", "b".repeat(40_000)]];
  s.end(encodeHeaders(big));
  await tick();
  const raw = client.take().filter((f) => f.streamId === 1);
  assertEquals(types(raw), [FrameType.HEADERS]);
  assertEquals(raw[0].headers, big);
  assertEquals(raw[0].flags & Flag.END_STREAM, Flag.END_STREAM);
  // The wire had continuations: 40 kB cannot fit one 16 kB frame.
  assert(client.transport.bytes.length > 40_000 + 3 * 9);
  await finish(client);
});

Deno.test("connection: constant headers are indexed, and a smaller peer table is signalled", async () => {
  const { client, streams } = await started();
  const responseFields: [string, string][] = [[":status", "200"], [
    "content-type",
    "application/grpc",
  ]];
  const okFields: [string, string][] = [["grpc-status", "0"]];
  const response = new ConstantHeaders(responseFields), ok = new ConstantHeaders(okFields);
  const answer = async (id: number) => {
    client.send(headersFrame(id, REQUEST, true));
    await tick();
    const s = streams.at(-1)!.stream;
    s.sendHeaders(response);
    s.sendData(new Uint8Array([1, 2, 3]));
    s.end(ok);
    await tick();
    const frames = client.take().filter((f) => f.streamId === id);
    assertEquals(frames.map((f) => f.headers).filter(Boolean), [responseFields, okFields]);
    return frames.filter((f) => f.type === FrameType.HEADERS).map((f) => [...f.payload]);
  };
  await answer(1);
  // Indexes from the second call on: 0x88 (static) and the entries added (62, 63).
  assertEquals(await answer(3), [[0x88, 0xbf], [0xbe]]);
  client.send(settingsFrame([[Setting.HEADER_TABLE_SIZE, 0]]));
  await tick();
  client.take(); // the SETTINGS ACK
  // A size update to 0 starts the next block, and nothing is indexed any more.
  const [headers, trailers] = await answer(5);
  assertEquals(headers.slice(0, 2), [0x20, 0x88]);
  assertEquals(trailers[0], 0x00, "grpc-status: a literal without indexing");
  assertEquals(await answer(7), [headers.slice(1), trailers]);
  await finish(client);
});

Deno.test("connection: DATA beyond the stream window is a FLOW_CONTROL_ERROR", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  // The recording handler never calls consumed(), so the 4 MiB window fills.
  const chunk = dataFrame(1, new Uint8Array(16_384));
  const frames: Uint8Array[] = [];
  for (let i = 0; i < (4 << 20) / 16_384; i++) frames.push(chunk);
  client.send(...frames);
  await tick();
  assertEquals(streams[0].stream.recvWindow, 0);
  assertEquals(client.response(1).rst, undefined);
  client.send(dataFrame(1, new Uint8Array(1)));
  await tick();
  const res = client.response(1);
  assertEquals(res.rst, H2Error.FLOW_CONTROL_ERROR);
  assertEquals(streams[0].resets, [H2Error.FLOW_CONTROL_ERROR]);
  assertEquals(client.conn.streamCount, 0);
  // The connection window was granted back as the bytes arrived.
  const grants = client.sync().filter((f) =>
    f.type === FrameType.WINDOW_UPDATE && f.streamId === 0
  );
  assertEquals(grants.map((f) => u32At(f.payload)), [(16 << 20) - 65_535, 4 << 20]);
  // The connection stays up; later DATA on the reset stream is ignored.
  client.send(dataFrame(1, new Uint8Array(5)));
  await tick();
  assertEquals(client.goaways().length, 0);
  assert(!client.conn.closed);
  await finish(client);
});

Deno.test("connection: consumed() grants the stream window back", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  const s = streams[0].stream;
  client.send(dataFrame(1, new Uint8Array(16_384)));
  s.consumed(16_384);
  await tick();
  assertEquals(client.take().length, 0); // below a quarter of the window
  s.consumed((1 << 20) - 16_384);
  await tick();
  const frames = client.take();
  assertEquals(frames.map((f) => [f.type, f.streamId, u32At(f.payload)]), [
    [FrameType.WINDOW_UPDATE, 1, 1 << 20],
  ]);
  await finish(client);
});

Deno.test("connection: a stream we reset grants no more window (fuzz_test.ts found it)", async () => {
  // A call that gives up resets its stream, then hands back the window of
  // the request bytes it held: no WINDOW_UPDATE may follow the RST_STREAM.
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  const s = streams[0].stream;
  s.reset(H2Error.CANCEL);
  s.consumed(1 << 20);
  await tick();
  assertEquals(client.take().map((f) => [f.type, f.streamId]), [[FrameType.RST_STREAM, 1]]);
  await finish(client);
});

Deno.test("connection: DATA on an idle stream is a PROTOCOL_ERROR", async () => {
  const { client } = await started();
  client.send(dataFrame(7, new Uint8Array(3)));
  await tick();
  assertEquals(client.goaways().map((g) => g.code), [H2Error.PROTOCOL_ERROR]);
});

Deno.test("connection: drain() sends GOAWAY, refuses new streams, waits for open ones", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  const grace = new AbortController();
  let drained = false;
  const draining = client.conn.drain(grace.signal).then(() => (drained = true));
  await tick();
  assertEquals(client.goaways().map((g) => [g.code, g.lastStreamId]), [[H2Error.NO_ERROR, 1]]);
  assert(!drained);

  client.send(headersFrame(3, REQUEST, true));
  await tick();
  assertEquals(streams.length, 1, "no handler for a refused stream");
  assertEquals(client.response(3).rst, H2Error.REFUSED_STREAM);

  // The open stream still works and finishes.
  client.send(dataFrame(1, new Uint8Array([1]), true));
  assertEquals(streams[0].body, [1]);
  assert(!drained);
  const s = streams[0].stream;
  s.sendHeaders(RESPONSE_HEADERS);
  s.sendData(new Uint8Array([2]));
  s.end(TRAILERS);
  await draining;
  assert(drained);
  await until(() => client.closeReasons.length > 0, "the connection to close");
  const res = client.response(1);
  assert(res.ended);
  assertEquals(res.trailers, [["grpc-status", "0"]]);
  assertEquals([...res.body], [2]);
  assert(client.transport.closed);
  assertEquals(client.closeReasons, ["finished"]);
  assertEquals(client.goaways().length, 1);
});

Deno.test("connection: drain() ends at once when idle, and when the signal aborts", async () => {
  const idle = await started();
  await idle.client.conn.drain(new AbortController().signal);
  await until(() => idle.client.transport.closed, "the idle connection to close");
  assertEquals(idle.client.goaways().map((g) => g.code), [H2Error.NO_ERROR]);

  const busy = await started();
  busy.client.send(headersFrame(1, REQUEST));
  const grace = new AbortController();
  const draining = busy.client.conn.drain(grace.signal);
  await tick();
  grace.abort();
  await draining;
  assert(!busy.client.conn.closed, "drain() leaves the close to the caller");
  busy.client.conn.close("grace over");
  assertEquals(busy.streams[0].resets, [H2Error.CANCEL]);
  assertEquals(busy.client.closeReasons, ["grace over"]);
  await tick();
});

Deno.test("connection: client RST_STREAM reaches the handler", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  client.send(headersFrame(3, REQUEST));
  client.send(rstStreamFrame(1, H2Error.CANCEL));
  assertEquals(streams[0].resets, [H2Error.CANCEL]);
  assertEquals(streams[1].resets, []);
  assert(streams[0].stream.closed);
  assertEquals(client.conn.streamCount, 1);
  // Writes on the reset stream go nowhere; DATA after the client's own
  // RST_STREAM is a stream error STREAM_CLOSED (RFC 9113 5.1).
  streams[0].stream.sendData(new Uint8Array([1]));
  streams[0].stream.end(TRAILERS);
  client.send(dataFrame(1, new Uint8Array([1])));
  await tick();
  const res = client.response(1);
  assertEquals([res.headers, res.trailers, res.body.length], [undefined, undefined, 0]);
  assertEquals(res.rst, H2Error.STREAM_CLOSED);
  assertEquals(client.goaways().length, 0);
  assertEquals(streams[0].body, []);
  await finish(client);
});

Deno.test("connection: a server reset sends RST_STREAM; client trailers end its side", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  streams[0].stream.reset(H2Error.INTERNAL_ERROR);
  await tick();
  assertEquals(client.response(1).rst, H2Error.INTERNAL_ERROR);
  assertEquals(client.conn.streamCount, 0);

  client.send(headersFrame(3, REQUEST));
  client.send(dataFrame(3, new Uint8Array([1])));
  client.send(headersFrame(3, [["x-trailer", "t"]], true));
  assert(streams[1].ended);
  assert(streams[1].stream.remoteClosed);
  await finish(client);
});

Deno.test("connection: close() resets open streams and calls onClose once", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  client.conn.close("bye");
  client.conn.close("again");
  assertEquals(streams[0].resets, [H2Error.CANCEL]);
  assertEquals(client.closeReasons, ["bye"]);
  assertEquals(client.transport.closeCalls, 1);
  // Nothing more is written or read.
  client.send(frame(FrameType.PING, 0, 0, new Uint8Array(8)));
  await tick();
  assertEquals(client.take().length, 0);
});

Deno.test("connection: a failing transport write closes the connection", async () => {
  const { client, streams } = await started();
  client.send(headersFrame(1, REQUEST));
  client.transport.close(); // later writes reject
  client.send(frame(FrameType.PING, 0, 0, new Uint8Array(8)));
  await tick();
  assert(client.conn.closed);
  assertEquals(client.closeReasons, ["write failed"]);
  assertEquals(streams[0].resets, [H2Error.CANCEL]);
});

Deno.test("connection: bulk DATA reuses the buffer of a bulk write once it is done, never one still being written", async () => {
  const streams: RecordedStream[] = [];
  /** The buffer under each write (HeldTransport keeps copies of the bytes). */
  const buffers: ArrayBufferLike[] = [];
  class Recording extends HeldTransport {
    override write(data: Uint8Array): Promise<void> {
      buffers.push(data.buffer);
      return super.write(data);
    }
  }
  const transport = new Recording();
  const client = new H2TestClient(recordingOnStream(streams), {}, transport);
  client.start([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]]);
  client.send(windowUpdateFrame(0, 8 << 20));
  await tick();
  transport.release();
  await tick();
  client.take();
  const bodies: Uint8Array[] = [];
  const respond = async (id: number) => {
    client.send(headersFrame(id, REQUEST, true));
    await tick();
    const s = streams[streams.length - 1].stream;
    const body = Uint8Array.from({ length: 200_000 }, (_, k) => (k * 7 + id) & 0xff);
    bodies.push(body);
    s.sendHeaders(RESPONSE_HEADERS);
    s.sendData(body);
    s.end(TRAILERS);
    await tick();
  };
  const bulk = () => buffers.filter((_, i) => transport.writes[i].length > 200_000);
  const drain = async () => {
    for (let i = 0; i < 6; i++) {
      transport.release();
      await tick();
    }
  };
  await respond(1);
  transport.release(); // the HEADERS: stream 1's bulk write starts, and is held
  await tick();
  assertEquals(bulk().length, 1);
  assertEquals(transport.pendingWrites, 1, "stream 1's bulk write is under way");
  await respond(3); // its DATA is framed now, while stream 1's bulk write is under way
  await drain();
  await respond(5); // both written: one of their buffers serves again
  await drain();
  const big = bulk();
  assertEquals(big.length, 3);
  assert(big[1] !== big[0], "a buffer still being written is not reused");
  assert(big[2] === big[0] || big[2] === big[1], "a written bulk buffer serves the next one");
  for (const [i, id] of [1, 3, 5].entries()) {
    const res = client.response(id);
    assert(res.ended, `stream ${id} ended`);
    assertEquals(res.body.length, bodies[i].length);
    assert(res.body.every((b, k) => b === bodies[i][k]), `stream ${id}: its own bytes`);
  }
  await finish(client);
});
