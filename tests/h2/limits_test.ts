/**
 * Tests of the bounds on what an HTTP/2 peer can make a connection hold or
 * do ({@linkcode H2Limits}): concurrent streams, header list size (per
 * stream) and header block size (per connection), CONTINUATION count,
 * resets per window, unwritten control replies, output held for a peer
 * that does not read, the write and preface timeouts; each reported once
 * through onRefusal. Also: a GOAWAY after drain() never raises the last
 * stream id.
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
  windowUpdateFrame,
} from "../../h2/frame.ts";
import { encodeHeaders } from "../../h2/hpack.ts";
import {
  DEFAULT_H2_LIMITS,
  H2Connection,
  type H2Limits,
  type StreamHandler,
} from "../../h2/connection.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  dataFrame,
  H2TestClient,
  H2TestServer,
  headersFrame,
  HeldTransport,
  MemoryTransport,
  type RecordedStream,
  recordingOnStream,
  requestHeaders,
  settingsOf,
  tick,
  types,
  until,
} from "./_h2client.ts";

const REQUEST = requestHeaders("/test.T/M");
const TRAILERS = encodeHeaders([["grpc-status", "0"]]);

/** A server connection with `limits`, whose client has sent the preface and SETTINGS. */
async function server(
  limits: Partial<H2Limits> = {},
  settings: [number, number][] = [],
  transport?: MemoryTransport,
): Promise<{ client: H2TestClient; streams: RecordedStream[] }> {
  const streams: RecordedStream[] = [];
  const client = new H2TestClient(recordingOnStream(streams), { limits }, transport);
  client.start(settings);
  await tick();
  client.take();
  return { client, streams };
}

async function finish(peer: { conn: H2Connection }): Promise<void> {
  peer.conn.close("test over");
  await tick();
}

function kinds(client: H2TestClient): string[] {
  return client.refusals.map((r) => r.kind);
}

/** A literal field with incremental indexing and a new name (RFC 7541 6.2.1), short strings. */
function indexedLiteral(name: string, value: string): number[] {
  const enc = new TextEncoder();
  return [0x40, name.length, ...enc.encode(name), value.length, ...enc.encode(value)];
}

/** A literal field without indexing and a new name, any value length (RFC 7541 6.2.2). */
function plainLiteral(name: string, value: string): number[] {
  const enc = new TextEncoder();
  const len: number[] = [];
  if (value.length < 127) len.push(value.length);
  else {
    len.push(127);
    let rest = value.length - 127;
    while (rest >= 128) {
      len.push((rest & 0x7f) | 0x80);
      rest = Math.floor(rest / 128);
    }
    len.push(rest);
  }
  return [0x00, name.length, ...enc.encode(name), ...len, ...enc.encode(value)];
}

Deno.test("limits: the defaults, and bad ones are a RangeError", () => {
  assertEquals(DEFAULT_H2_LIMITS.maxConcurrentStreams, 128);
  assertEquals(DEFAULT_H2_LIMITS.maxHeaderListSize, 64 << 10);
  for (const bad of [0, -1, 1.5, NaN]) {
    let threw = false;
    try {
      new H2Connection(new MemoryTransport(), { limits: { maxResets: bad }, onClose() {} });
    } catch (err) {
      threw = err instanceof RangeError;
    }
    assert(threw, `maxResets ${bad} was accepted`);
  }
});

Deno.test("limits: MAX_CONCURRENT_STREAMS is announced; a stream beyond it is REFUSED_STREAM", async () => {
  const client = new H2TestClient(() => {}, { limits: { maxConcurrentStreams: 2 } });
  await tick();
  assertEquals(settingsOf(client.take()[0]).find(([k]) => k === Setting.MAX_CONCURRENT_STREAMS), [
    Setting.MAX_CONCURRENT_STREAMS,
    2,
  ]);
  await finish(client);

  const { client: c, streams } = await server({ maxConcurrentStreams: 2 });
  c.send(headersFrame(1, REQUEST), headersFrame(3, REQUEST), headersFrame(5, REQUEST));
  await tick();
  assertEquals(c.response(5).rst, H2Error.REFUSED_STREAM);
  assertEquals(streams.length, 2);
  assertEquals(kinds(c), ["concurrent-streams"]);
  // Once one ends, the next is taken.
  streams[0].stream.end(TRAILERS);
  c.send(headersFrame(7, REQUEST));
  assertEquals(streams.length, 3);
  assertEquals(c.goaways().length, 0);
  await finish(c);
});

Deno.test("limits: a request header list over the limit gets 431; HPACK and the connection go on", async () => {
  const { client, streams } = await server({ maxHeaderListSize: 1024 });
  const block = new Uint8Array([
    ...encodeHeaders(REQUEST),
    ...indexedLiteral("x-kept", "1"),
    ...plainLiteral("x-big", "b".repeat(2000)),
  ]);
  client.send(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block));
  await tick();
  const res = client.response(1);
  assertEquals(res.trailers, [[":status", "431"]]);
  assertEquals(res.rst, H2Error.NO_ERROR, "the client had not ended: told to stop");
  assertEquals(streams.length, 0);
  assertEquals(kinds(client), ["header-list-size"]);
  // The entry the refused block added is in the table: index 62.
  client.send(
    frame(
      FrameType.HEADERS,
      Flag.END_HEADERS,
      3,
      new Uint8Array([...encodeHeaders(REQUEST), 0xbe]),
    ),
  );
  assertEquals(streams.map((s) => s.headers.at(-1)), [["x-kept", "1"]]);
  // Trailers over the limit reset the stream.
  client.send(
    frame(
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.END_STREAM,
      3,
      new Uint8Array(plainLiteral("x-t", "t".repeat(2000))),
    ),
  );
  await tick();
  assertEquals(client.response(3).rst, H2Error.ENHANCE_YOUR_CALM);
  assertEquals(client.goaways().length, 0);
  await finish(client);
});

Deno.test("limits (client): a response header list over the limit resets the stream", async () => {
  const peer = new H2TestServer((transport, onClose) =>
    new H2Connection(transport, {
      role: "client",
      limits: { maxHeaderListSize: 1024 },
      onClose: (_c, reason) => onClose(reason),
    })
  );
  peer.start();
  const resets: number[] = [];
  const handler: StreamHandler = { data() {}, reset: (code) => resets.push(code), headers() {} };
  peer.conn.openStream(encodeHeaders(REQUEST), true, handler);
  const big = plainLiteral("x-big", "b".repeat(2000));
  peer.send(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, new Uint8Array([0x88, ...big])));
  await tick();
  assertEquals(peer.response(1).rst, H2Error.ENHANCE_YOUR_CALM);
  assertEquals(resets, [H2Error.ENHANCE_YOUR_CALM]);
  assertEquals(peer.goaways().length, 0);
  await finish(peer);
});

Deno.test("limits: a header block too big to decode ends the connection with ENHANCE_YOUR_CALM", async () => {
  // Limit 1024: a block may take 2 * 1024 + 16 KiB encoded.
  const { client } = await server({ maxHeaderListSize: 1024 });
  client.send(frame(FrameType.HEADERS, 0, 1, new Uint8Array(16_384)));
  client.send(frame(FrameType.CONTINUATION, 0, 1, new Uint8Array(3000)));
  await tick();
  assertEquals(client.goaways().map((g) => g.code), [H2Error.ENHANCE_YOUR_CALM]);
  assertEquals(kinds(client), ["header-block-size"]);
  await finish(client);
});

Deno.test("limits: a flood of empty CONTINUATION frames ends the connection after 64", async () => {
  // max(64, block limit / 8 KiB): 64 for a small header list limit.
  const { client } = await server({ maxHeaderListSize: 1024 });
  client.send(frame(FrameType.HEADERS, 0, 1, encodeHeaders(REQUEST)));
  for (let i = 0; i < 64; i++) client.send(frame(FrameType.CONTINUATION, 0, 1));
  await tick();
  assertEquals(client.goaways().length, 0, "64 are allowed");
  client.send(frame(FrameType.CONTINUATION, 0, 1));
  await tick();
  assertEquals(client.goaways().map((g) => g.code), [H2Error.ENHANCE_YOUR_CALM]);
  assertEquals(kinds(client), ["header-block-size"]);
  await finish(client);
});

Deno.test("limits: a big header block in many CONTINUATION frames is gathered and decoded", async () => {
  const { client, streams } = await server({ maxHeaderListSize: 4 << 20 });
  const value = "v".repeat(3 << 20);
  const block = new Uint8Array([...encodeHeaders(REQUEST), ...plainLiteral("x-big", value)]);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < block.length; at += 16_384) {
    const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const last = at + 16_384 >= block.length;
    frames.push(frame(type, last ? Flag.END_HEADERS : 0, 1, block.subarray(at, at + 16_384)));
  }
  for (const f of frames) client.send(f);
  assertEquals(streams.length, 1);
  assertEquals(streams[0].headers.at(-1)?.[1].length, value.length);
  await finish(client);
});

Deno.test("limits: resets beyond maxResets in a window end the connection (rapid reset)", async () => {
  const realNow = performance.now;
  let now = 1_000_000;
  performance.now = () => now;
  try {
    const { client, streams } = await server({ maxResets: 3, resetWindowMs: 1000 });
    let id = 1;
    const openAndReset = () => {
      client.send(headersFrame(id, REQUEST), rstStreamFrame(id, H2Error.CANCEL));
      id += 2;
    };
    for (let i = 0; i < 3; i++) openAndReset();
    // A new window starts the count again.
    now += 1001;
    for (let i = 0; i < 3; i++) openAndReset();
    await tick();
    assertEquals(client.goaways().length, 0);
    // Stream errors we send count too: the fourth in this window is too many.
    client.send(headersFrame(id, [...REQUEST, ["connection", "x"]]));
    await tick();
    assertEquals(client.goaways().map((g) => g.code), [H2Error.ENHANCE_YOUR_CALM]);
    assertEquals(kinds(client), ["stream-error", "resets"]);
    assertEquals(streams.length, 6);
    await finish(client);
  } finally {
    performance.now = realNow;
  }
});

Deno.test("limits (client): a server's RST_STREAM NO_ERROR after its whole response is not counted", async () => {
  const peer = new H2TestServer((transport, onClose) =>
    new H2Connection(transport, {
      role: "client",
      limits: { maxResets: 1 },
      onClose: (_c, reason) => onClose(reason),
    })
  );
  peer.start();
  const handler: StreamHandler = { data() {}, reset() {}, headers() {} };
  for (let id = 1; id <= 7; id += 2) {
    peer.conn.openStream(encodeHeaders(REQUEST), false, handler);
    peer.send(
      headersFrame(id, [[":status", "200"], ["grpc-status", "0"]], true),
      rstStreamFrame(id, H2Error.NO_ERROR),
    );
  }
  await tick();
  assertEquals(peer.goaways().length, 0);
  await finish(peer);
});

/** Lets every held write complete, also those the completions lead to. */
async function drain(transport: HeldTransport): Promise<void> {
  while (transport.pendingWrites) {
    transport.release();
    await tick();
  }
}

Deno.test("limits: too many control replies unwritten end the connection (PING flood, no reading)", async () => {
  const transport = new HeldTransport();
  const { client } = await server({ maxQueuedControlFrames: 10 }, [], transport);
  await drain(transport);
  const ping = frame(FrameType.PING, 0, 0, new Uint8Array(8));
  // The peer does not read: the first reply's write hangs, the rest queue.
  client.send(ping);
  await tick();
  assertEquals(transport.pendingWrites, 1);
  for (let i = 0; i < 9; i++) client.send(ping);
  await tick();
  assertEquals(kinds(client), [], "10 waiting are allowed");
  client.send(ping);
  assertEquals(kinds(client), ["control-backlog"]);
  assertEquals(client.refusals[0].code, H2Error.ENHANCE_YOUR_CALM);
  // Once it reads, it finds the GOAWAY after the replies, and the connection ends.
  await drain(transport);
  assertEquals(client.goaways().map((g) => g.code), [H2Error.ENHANCE_YOUR_CALM]);
  assert(client.transport.closed);
});

Deno.test("limits: a GOAWAY after too many control replies closes even if never written", async () => {
  const transport = new HeldTransport();
  const { client } = await server({ maxQueuedControlFrames: 10 }, [], transport);
  const ping = frame(FrameType.PING, 0, 0, new Uint8Array(8));
  for (let i = 0; i < 20; i++) client.send(ping);
  assertEquals(kinds(client), ["control-backlog"]);
  await until(() => client.transport.closed, "the close", 5000);
});

Deno.test("limits: control replies that the peer reads do not add up", async () => {
  const { client } = await server({ maxQueuedControlFrames: 10 });
  const ping = frame(FrameType.PING, 0, 0, new Uint8Array(8));
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) client.send(ping);
    await tick();
  }
  assertEquals(client.goaways().length, 0);
  assertEquals(client.sync().filter((f) => f.type === FrameType.PING).length, 50);
  await finish(client);
});

Deno.test("limits: output held over maxOutputBytes past outputStallMs ends the connection", async () => {
  const limits = { maxOutputBytes: 1000, outputStallMs: 20 };
  // The peer grants one byte per stream and no more: 1999 of 2000 bytes stay.
  const { client, streams } = await server(limits, [[Setting.INITIAL_WINDOW_SIZE, 1]]);
  // A second connection that drains in time must stay.
  const { client: drains, streams: drainStreams } = await server(limits, [[
    Setting.INITIAL_WINDOW_SIZE,
    1,
  ]]);
  client.send(headersFrame(1, REQUEST));
  drains.send(headersFrame(1, REQUEST));
  drainStreams[0].stream.sendData(new Uint8Array(2000));
  streams[0].stream.sendData(new Uint8Array(2000));
  drains.send(windowUpdateFrame(1, 2000));
  await until(() => client.transport.closed, "the stalled connection to close");
  assertEquals(client.goaways().map((g) => g.code), [H2Error.ENHANCE_YOUR_CALM]);
  assertEquals(kinds(client), ["output-backlog"]);
  assertEquals(streams[0].resets, [H2Error.CANCEL]);
  assert(!drains.transport.closed, "a connection whose output drained stays open");
  assertEquals(drains.refusals, []);
  await finish(client);
  await finish(drains);
});

Deno.test("limits: over maxOutputBytes, a stream the peer never gave any window is reset at once", async () => {
  const limits = { maxOutputBytes: 1000 };
  const { client, streams } = await server(limits, [[Setting.INITIAL_WINDOW_SIZE, 0]]);
  client.send(headersFrame(1, REQUEST), headersFrame(3, REQUEST), headersFrame(5, REQUEST));
  client.send(windowUpdateFrame(3, 1)); // the peer let stream 3 send: it is kept
  streams[0].stream.sendData(new Uint8Array(600));
  streams[1].stream.sendData(new Uint8Array(600));
  await tick();
  assertEquals([client.response(1).rst, client.response(3).rst], [undefined, undefined]);
  streams[2].stream.sendData(new Uint8Array(600)); // over 1000 now
  await tick();
  assertEquals(client.response(5).rst, H2Error.ENHANCE_YOUR_CALM);
  assertEquals(streams[2].resets, [H2Error.ENHANCE_YOUR_CALM]);
  assertEquals([client.response(1).rst, client.response(3).rst], [undefined, undefined]);
  assertEquals(kinds(client), ["output-backlog"]);
  await finish(client);
});

Deno.test("limits: once a stream was reset for the output held, new streams are refused unprocessed until it drains to half", async () => {
  const limits = { maxOutputBytes: 1000 };
  const { client, streams } = await server(limits, [[Setting.INITIAL_WINDOW_SIZE, 0]]);
  client.send(headersFrame(1, REQUEST), headersFrame(3, REQUEST), headersFrame(5, REQUEST));
  streams[0].stream.sendData(new Uint8Array(400));
  streams[1].stream.sendData(new Uint8Array(400));
  streams[2].stream.sendData(new Uint8Array(400)); // over 1000: reset, 800 still held
  await tick();
  assertEquals(client.response(5).rst, H2Error.ENHANCE_YOUR_CALM);
  // Held output is back under maxOutputBytes, but the peer has not read: no handler runs.
  client.send(headersFrame(7, REQUEST, true));
  await tick();
  assertEquals(client.response(7).rst, H2Error.REFUSED_STREAM);
  assertEquals(streams.length, 3, "the refused stream never reached onStream");
  // The peer reads stream 1: 400 held, half of maxOutputBytes: streams are taken again.
  client.send(windowUpdateFrame(1, 400));
  await until(() => client.response(1).body.length === 400, "stream 1's answer to go out");
  client.send(headersFrame(9, REQUEST, true));
  await tick();
  assertEquals(streams.length, 4);
  assertEquals(client.response(9).rst, undefined);
  assertEquals(kinds(client), ["output-backlog"]);
  await finish(client);
});

Deno.test("limits: a socket write stuck past writeTimeoutMs closes the connection", async () => {
  const transport = new HeldTransport();
  const client = new H2TestClient(() => {}, { limits: { writeTimeoutMs: 20 } }, transport);
  client.start();
  await until(() => client.transport.closed, "the write timeout");
  assertEquals(kinds(client), ["write-timeout"]);
  assert(client.closeReasons[0].includes("did not complete"), client.closeReasons[0]);
});

Deno.test("limits: no preface and SETTINGS within prefaceTimeoutMs closes; a started connection has no idle timeout", async () => {
  const limits = { prefaceTimeoutMs: 20 };
  const { client: started } = await server(limits);
  const silent = new H2TestClient(() => {}, { limits });
  const halfway = new H2TestClient(() => {}, { limits });
  halfway.send(CLIENT_PREFACE);
  await until(() => silent.transport.closed && halfway.transport.closed, "the preface timeouts");
  assertEquals(kinds(silent), ["preface-timeout"]);
  assert(halfway.closeReasons[0].includes("no SETTINGS frame"), halfway.closeReasons[0]);
  assert(!started.transport.closed, "a connection that started stays open");
  await finish(started);
});

Deno.test("limits: a GOAWAY after drain() never raises the last stream id (RFC 9113 6.8)", async () => {
  const { client } = await server();
  client.send(headersFrame(1, REQUEST));
  void client.conn.drain(new AbortController().signal);
  await tick();
  // A stream opened after our GOAWAY is refused; then the client errs.
  client.send(headersFrame(3, REQUEST));
  client.send(frame(FrameType.PING, 0, 1, new Uint8Array(8)));
  await tick();
  const sent = client.goaways();
  assertEquals(sent.map((g) => [g.lastStreamId, g.code]), [[1, H2Error.NO_ERROR], [
    1,
    H2Error.PROTOCOL_ERROR,
  ]]);
  assertEquals(client.response(3).rst, H2Error.REFUSED_STREAM);
  await finish(client);
});

Deno.test("limits: a GOAWAY that cannot be written still closes the connection", async () => {
  const transport = new HeldTransport();
  const client = new H2TestClient(() => {}, {}, transport);
  client.start();
  client.send(frame(FrameType.PING, 0, 1, new Uint8Array(8)));
  await until(() => client.transport.closed, "the close after a failed GOAWAY", 5000);
  assert(types(client.take()).includes(FrameType.GOAWAY));
});

Deno.test("limits: each kind is reported once per connection", async () => {
  const { client } = await server({ maxConcurrentStreams: 1 });
  client.send(headersFrame(1, REQUEST));
  for (let id = 3; id < 13; id += 2) client.send(headersFrame(id, REQUEST));
  client.send(dataFrame(1, new Uint8Array(1), true), dataFrame(1, new Uint8Array(1)));
  await tick();
  assertEquals(kinds(client), ["concurrent-streams", "stream-error"]);
  assertEquals(client.refusals[0].code, H2Error.REFUSED_STREAM);
  assert(client.refusals[0].detail.includes("SETTINGS_MAX_CONCURRENT_STREAMS 1"));
  await finish(client);
});
