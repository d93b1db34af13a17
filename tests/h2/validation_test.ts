/**
 * Tests of what the HTTP/2 connection checks in every frame and header block
 * (RFC 9113 sections 4-8, RFC 7541), and the error each break gets: frame
 * sizes and stream ids, stream states (idle, half-closed, closed after
 * END_STREAM, after the peer's RST_STREAM, after ours), settings values,
 * and messages (field names and values, pseudo-header fields,
 * connection-specific fields, content-length), for requests (server role)
 * and responses (client role).
 *
 * @module
 */

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
import type { H2Connection, H2Stream, StreamHandler } from "../../h2/connection.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  dataFrame,
  H2TestClient,
  H2TestServer,
  headersFrame,
  type RecordedStream,
  recordingOnStream,
  requestHeaders,
  tick,
} from "./_h2client.ts";

const REQUEST = requestHeaders("/test.T/M");
const RESPONSE: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"]];
const TRAILERS: [string, string][] = [["grpc-status", "0"]];

/** A server connection whose client has sent the preface and SETTINGS. */
async function server(): Promise<{ client: H2TestClient; streams: RecordedStream[] }> {
  const streams: RecordedStream[] = [];
  const client = new H2TestClient(recordingOnStream(streams));
  client.start();
  await tick();
  client.take();
  return { client, streams };
}

async function finish(peer: { conn: H2Connection }): Promise<void> {
  peer.conn.close("test over");
  await tick();
}

/** The codes of the GOAWAYs sent so far, after letting writes out. */
async function goaways(peer: H2TestClient | H2TestServer): Promise<number[]> {
  await tick();
  return peer.goaways().map((g) => g.code);
}

/** The RST_STREAM code sent on `id`, if any, after letting writes out. */
async function rstOf(peer: H2TestClient | H2TestServer, id: number): Promise<number | undefined> {
  await tick();
  return peer.response(id).rst;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function priorityPayload(dependency: number): Uint8Array {
  return new Uint8Array([...u32(dependency), 15]);
}

/** Expects one connection error with `code` for what `send` does after the handshake. */
function connectionError(name: string, code: number, send: (c: H2TestClient) => void): void {
  Deno.test(`validation: ${name} is a connection error ${code}`, async () => {
    const { client } = await server();
    send(client);
    assertEquals(await goaways(client), [code]);
    assert(client.transport.closed, "the connection closes after its GOAWAY");
    assertEquals(client.refusals.map((r) => [r.kind, r.code]), [["connection-error", code]]);
    await finish(client);
  });
}

// --- frames (RFC 9113 section 6)

Deno.test("validation: the client's first frame after the preface must be SETTINGS", async () => {
  const client = new H2TestClient();
  client.send(
    new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    frame(FrameType.PING, 0, 0, new Uint8Array(8)),
  );
  assertEquals(await goaways(client), [H2Error.PROTOCOL_ERROR]);
  await finish(client);
});
connectionError("PING on a stream", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(frame(FrameType.PING, 0, 1, new Uint8Array(8)));
});
connectionError("a SETTINGS ACK with a payload", H2Error.FRAME_SIZE_ERROR, (c) => {
  c.send(frame(FrameType.SETTINGS, Flag.ACK, 0, new Uint8Array(6)));
});
connectionError("SETTINGS of a length not a multiple of 6", H2Error.FRAME_SIZE_ERROR, (c) => {
  c.send(frame(FrameType.SETTINGS, 0, 0, new Uint8Array(5)));
});
connectionError("SETTINGS on a stream", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(frame(FrameType.SETTINGS, 0, 1));
});
connectionError("SETTINGS_ENABLE_PUSH 2", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(settingsFrame([[Setting.ENABLE_PUSH, 2]]));
});
connectionError("SETTINGS_INITIAL_WINDOW_SIZE 2^31", H2Error.FLOW_CONTROL_ERROR, (c) => {
  c.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31]]));
});
connectionError("SETTINGS_MAX_FRAME_SIZE 16383", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(settingsFrame([[Setting.MAX_FRAME_SIZE, 16_383]]));
});
connectionError("SETTINGS_MAX_FRAME_SIZE 2^24", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(settingsFrame([[Setting.MAX_FRAME_SIZE, 2 ** 24]]));
});
connectionError(
  "an INITIAL_WINDOW_SIZE that takes an open stream's window above 2^31-1",
  H2Error.FLOW_CONTROL_ERROR,
  (c) => {
    c.send(headersFrame(1, REQUEST));
    c.send(windowUpdateFrame(1, 2 ** 31 - 1 - 65_535));
    c.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 65_536]]));
  },
);
connectionError("PRIORITY on stream 0", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(frame(FrameType.PRIORITY, 0, 0, priorityPayload(1)));
});
connectionError("RST_STREAM on stream 0", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(rstStreamFrame(0, H2Error.CANCEL));
});
connectionError("RST_STREAM of 3 bytes", H2Error.FRAME_SIZE_ERROR, (c) => {
  c.send(headersFrame(1, REQUEST));
  c.send(frame(FrameType.RST_STREAM, 0, 1, new Uint8Array(3)));
});
connectionError("RST_STREAM on an idle stream", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(rstStreamFrame(1, H2Error.CANCEL));
});
connectionError("WINDOW_UPDATE on an idle stream", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(windowUpdateFrame(1, 100));
});
connectionError("WINDOW_UPDATE on an even (server) stream", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(windowUpdateFrame(2, 100));
});
connectionError("WINDOW_UPDATE of 3 bytes", H2Error.FRAME_SIZE_ERROR, (c) => {
  c.send(frame(FrameType.WINDOW_UPDATE, 0, 0, new Uint8Array(3)));
});
connectionError("a connection WINDOW_UPDATE of 0", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(windowUpdateFrame(0, 0));
});
connectionError("GOAWAY on a stream", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(frame(FrameType.GOAWAY, 0, 1, new Uint8Array(8)));
});
connectionError("GOAWAY of 7 bytes", H2Error.FRAME_SIZE_ERROR, (c) => {
  c.send(frame(FrameType.GOAWAY, 0, 0, new Uint8Array(7)));
});
connectionError("PUSH_PROMISE from a client", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, new Uint8Array(4)));
});
connectionError("HEADERS with PRIORITY but under 5 bytes", H2Error.FRAME_SIZE_ERROR, (c) => {
  c.send(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, new Uint8Array(3)));
});
connectionError(
  "DATA whose padding exceeds it, on a closed stream",
  H2Error.PROTOCOL_ERROR,
  (c) => {
    // The stream is half-closed (remote), but padding is checked before the state.
    c.send(headersFrame(1, REQUEST, true));
    c.send(frame(FrameType.DATA, Flag.PADDED, 1, new Uint8Array([5, 1, 2])));
  },
);
connectionError("CONTINUATION without HEADERS", H2Error.PROTOCOL_ERROR, (c) => {
  c.send(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, encodeHeaders(REQUEST)));
});

Deno.test("validation: PRIORITY of the wrong length or on itself is a stream error, also on an idle stream", async () => {
  const { client, streams } = await server();
  client.send(frame(FrameType.PRIORITY, 0, 5, new Uint8Array(4)));
  assertEquals(await rstOf(client, 5), H2Error.FRAME_SIZE_ERROR);
  client.send(frame(FrameType.PRIORITY, 0, 7, priorityPayload(7)));
  assertEquals(await rstOf(client, 7), H2Error.PROTOCOL_ERROR);
  // A good PRIORITY on an idle stream needs no answer and does not open it.
  client.send(frame(FrameType.PRIORITY, 0, 9, priorityPayload(0)));
  client.send(headersFrame(9, REQUEST));
  await tick();
  assertEquals(streams.map((s) => s.stream.id), [9]);
  assertEquals(await goaways(client), []);
  await finish(client);
});

Deno.test("validation: an idle stream we reset for a bad PRIORITY never opens (fuzz_test.ts found it)", async () => {
  // RST_STREAM closes the stream: HEADERS on it after that must not be
  // answered (the client would see HEADERS after RST_STREAM, RFC 9113 5.1).
  const { client, streams } = await server();
  client.send(frame(FrameType.PRIORITY, 0, 5, new Uint8Array(4)), headersFrame(5, REQUEST));
  await tick();
  assertEquals(streams.length, 0);
  assertEquals(client.take().map((f) => [f.type, f.streamId]), [[FrameType.RST_STREAM, 5]]);
  client.send(headersFrame(7, REQUEST));
  assertEquals(streams.map((s) => s.stream.id), [7]);
  assertEquals(await goaways(client), []);
  await finish(client);
});

Deno.test("validation: HEADERS that depend on their own stream are a stream error; HPACK stays in step", async () => {
  const { client, streams } = await server();
  // A literal with incremental indexing (new name): it enters the dynamic table.
  const name = new TextEncoder().encode("x-kept");
  const block = new Uint8Array([...encodeHeaders(REQUEST), 0x40, name.length, ...name, 1, 0x79]);
  client.send(
    frame(
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.PRIORITY,
      1,
      new Uint8Array([...u32(1), 15, ...block]),
    ),
  );
  assertEquals(await rstOf(client, 1), H2Error.PROTOCOL_ERROR);
  assertEquals(streams.length, 0);
  // Index 62 is the entry the refused block added.
  client.send(
    frame(
      FrameType.HEADERS,
      Flag.END_HEADERS,
      3,
      new Uint8Array([...encodeHeaders(REQUEST), 0xbe]),
    ),
  );
  assertEquals(streams.map((s) => s.headers.at(-1)), [["x-kept", "y"]]);
  await finish(client);
});

Deno.test("validation: a WINDOW_UPDATE of 0 on a stream is a stream error, even after our RST_STREAM", async () => {
  const { client, streams } = await server();
  client.send(headersFrame(1, REQUEST));
  client.send(windowUpdateFrame(1, 0));
  assertEquals(await rstOf(client, 1), H2Error.PROTOCOL_ERROR);
  assertEquals(streams[0].resets, [H2Error.PROTOCOL_ERROR]);
  client.send(headersFrame(3, REQUEST));
  streams[1].stream.end(encodeHeaders(TRAILERS)); // server first: RST_STREAM NO_ERROR
  assertEquals(await rstOf(client, 3), H2Error.NO_ERROR);
  client.send(windowUpdateFrame(3, 0));
  await tick();
  assertEquals(
    client.sync().filter((f) => f.type === FrameType.RST_STREAM && f.streamId === 3).length,
    2,
  );
  assertEquals(await goaways(client), []);
  await finish(client);
});

Deno.test("validation: a stream WINDOW_UPDATE above 2^31-1 resets that stream only", async () => {
  const { client } = await server();
  client.send(headersFrame(1, REQUEST));
  client.send(windowUpdateFrame(1, 2 ** 31 - 1));
  assertEquals(await rstOf(client, 1), H2Error.FLOW_CONTROL_ERROR);
  assertEquals(await goaways(client), []);
  await finish(client);
});

// --- stream states (RFC 9113 5.1)

Deno.test("validation: DATA on a half-closed (remote) stream is a stream error STREAM_CLOSED", async () => {
  const { client, streams } = await server();
  client.send(headersFrame(1, REQUEST, true));
  client.send(dataFrame(1, new Uint8Array([1])));
  assertEquals(await rstOf(client, 1), H2Error.STREAM_CLOSED);
  assertEquals(streams[0].resets, [H2Error.STREAM_CLOSED]);
  assertEquals(await goaways(client), []);
  await finish(client);
});

Deno.test("validation: HEADERS on a half-closed (remote) stream is a stream error STREAM_CLOSED", async () => {
  const { client } = await server();
  client.send(headersFrame(1, REQUEST, true));
  client.send(headersFrame(1, TRAILERS, true));
  assertEquals(await rstOf(client, 1), H2Error.STREAM_CLOSED);
  await finish(client);
});

Deno.test("validation: DATA or HEADERS after a stream closed with the peer's END_STREAM is a connection error STREAM_CLOSED", async () => {
  for (const late of [dataFrame(1, new Uint8Array([1])), headersFrame(1, REQUEST, true)]) {
    const { client, streams } = await server();
    client.send(headersFrame(1, REQUEST, true));
    streams[0].stream.end(encodeHeaders(TRAILERS));
    assertEquals(client.conn.streamCount, 0);
    client.send(late);
    assertEquals(await goaways(client), [H2Error.STREAM_CLOSED]);
    await finish(client);
  }
});

Deno.test("validation: DATA or HEADERS after the peer's RST_STREAM is a stream error STREAM_CLOSED", async () => {
  for (const late of [dataFrame(1, new Uint8Array([1])), headersFrame(1, REQUEST, true)]) {
    const { client } = await server();
    client.send(headersFrame(1, REQUEST));
    client.send(rstStreamFrame(1, H2Error.CANCEL));
    client.send(late);
    assertEquals(await rstOf(client, 1), H2Error.STREAM_CLOSED);
    assertEquals(await goaways(client), []);
    await finish(client);
  }
});

Deno.test("validation: frames after our RST_STREAM are ignored, until the peer resets too", async () => {
  const { client, streams } = await server();
  client.send(headersFrame(1, REQUEST));
  streams[0].stream.end(encodeHeaders(TRAILERS)); // the server is first: RST_STREAM NO_ERROR
  assertEquals(await rstOf(client, 1), H2Error.NO_ERROR);
  client.send(dataFrame(1, new Uint8Array([1])), headersFrame(1, TRAILERS, true));
  client.send(windowUpdateFrame(1, 10), frame(FrameType.PRIORITY, 0, 1, priorityPayload(0)));
  await tick();
  const rsts = () => client.sync().filter((f) => f.type === FrameType.RST_STREAM).length;
  assertEquals(rsts(), 1);
  // Once the peer has reset it too, it has no excuse.
  client.send(rstStreamFrame(1, H2Error.CANCEL));
  client.send(dataFrame(1, new Uint8Array([1])));
  await tick();
  assertEquals(rsts(), 2);
  assertEquals(await goaways(client), []);
  await finish(client);
});

Deno.test("validation: HEADERS on a skipped (lower) stream id is a connection error PROTOCOL_ERROR", async () => {
  const { client } = await server();
  client.send(headersFrame(5, REQUEST, true));
  client.send(headersFrame(3, REQUEST, true));
  assertEquals(await goaways(client), [H2Error.PROTOCOL_ERROR]);
  await finish(client);
});

Deno.test("validation: DATA on a skipped stream id is a stream error STREAM_CLOSED", async () => {
  const { client } = await server();
  client.send(headersFrame(5, REQUEST, true));
  client.send(dataFrame(3, new Uint8Array([1])));
  assertEquals(await rstOf(client, 3), H2Error.STREAM_CLOSED);
  assertEquals(await goaways(client), []);
  await finish(client);
});

Deno.test("validation: RST_STREAM and WINDOW_UPDATE on a closed stream are allowed", async () => {
  const { client, streams } = await server();
  client.send(headersFrame(1, REQUEST, true));
  streams[0].stream.end(encodeHeaders(TRAILERS));
  client.send(windowUpdateFrame(1, 5), rstStreamFrame(1, H2Error.CANCEL));
  assertEquals(await goaways(client), []);
  assertEquals(await rstOf(client, 1), undefined);
  await finish(client);
});

// --- requests (RFC 9113 8.1-8.3)

const MALFORMED: [string, [string, string][]][] = [
  ["an upper-case field name", [...REQUEST, ["X-Upper", "1"]]],
  ["a field name with a space", [...REQUEST, ["x bad", "1"]]],
  ["an empty field name", [...REQUEST, ["", "1"]]],
  ["a value with CR LF", [...REQUEST, ["x-v", "a\r\nb"]]],
  ["a value with NUL", [...REQUEST, ["x-v", "a\0b"]]],
  ["a value with a lone LF", [...REQUEST, ["x-v", "a\nb"]]],
  ["connection:", [...REQUEST, ["connection", "keep-alive"]]],
  ["keep-alive:", [...REQUEST, ["keep-alive", "1"]]],
  ["proxy-connection:", [...REQUEST, ["proxy-connection", "close"]]],
  ["transfer-encoding:", [...REQUEST, ["transfer-encoding", "chunked"]]],
  ["upgrade:", [...REQUEST, ["upgrade", "h2c"]]],
  ["te: gzip", requestHeaders("/test.T/M").map(([n, v]) => [n, n === "te" ? "gzip" : v])],
  ["an unknown pseudo-header field", [[":bogus", "1"], ...REQUEST]],
  ["the response pseudo-header :status", [[":status", "200"], ...REQUEST]],
  ["a pseudo-header after a regular field", [...REQUEST, [":authority", "x"]]],
  ["a duplicated :method", [[":method", "POST"], ...REQUEST]],
  ["a duplicated :path", [[":path", "/a"], ...REQUEST]],
  ["no :method", REQUEST.filter(([n]) => n !== ":method")],
  ["no :scheme", REQUEST.filter(([n]) => n !== ":scheme")],
  ["no :path", REQUEST.filter(([n]) => n !== ":path")],
  ["an empty :path", REQUEST.map(([n, v]) => [n, n === ":path" ? "" : v])],
  ["CONNECT with :path", REQUEST.map(([n, v]) => [n, n === ":method" ? "CONNECT" : v])],
  ["a content-length that is not a number", [...REQUEST, ["content-length", "12a"]]],
  ["two different content-lengths", [...REQUEST, ["content-length", "1"], ["content-length", "2"]]],
];

Deno.test("validation: malformed requests are a stream error PROTOCOL_ERROR, and never reach onStream", async () => {
  const { client, streams } = await server();
  let id = 1;
  for (const [what, fields] of MALFORMED) {
    client.send(headersFrame(id, fields, true));
    assertEquals(await rstOf(client, id), H2Error.PROTOCOL_ERROR, what);
    id += 2;
  }
  assertEquals(streams.length, 0);
  assertEquals(client.refusals.map((r) => r.kind), ["stream-error"], "reported once");
  // The connection goes on: good requests still work. Leading and trailing
  // whitespace in values passes (grpc-go sends grpc-message so).
  client.send(
    headersFrame(id, [...REQUEST, ["content-length", "0"], ["x-v", " padded\t"]], true),
  );
  client.send(headersFrame(id + 2, [[":method", "CONNECT"], [":authority", "h:1"]], true));
  await tick();
  assertEquals(streams.length, 2);
  assertEquals(await goaways(client), []);
  await finish(client);
});

Deno.test("validation: malformed trailers are a stream error PROTOCOL_ERROR", async () => {
  const bad: [string, [string, string][], boolean][] = [
    ["a pseudo-header in trailers", [[":path", "/"]], true],
    ["trailers without END_STREAM", [["x-t", "1"]], false],
    ["an upper-case name in trailers", [["X-T", "1"]], true],
  ];
  for (const [what, fields, end] of bad) {
    const { client, streams } = await server();
    client.send(headersFrame(1, REQUEST));
    client.send(headersFrame(1, fields, end));
    assertEquals(await rstOf(client, 1), H2Error.PROTOCOL_ERROR, what);
    assertEquals(streams[0].resets, [H2Error.PROTOCOL_ERROR], what);
    await finish(client);
  }
});

Deno.test("validation: a body that does not match content-length is a stream error PROTOCOL_ERROR", async () => {
  const cases: [string, Uint8Array[]][] = [
    ["fewer bytes at END_STREAM", [dataFrame(1, new Uint8Array(3), true)]],
    ["more bytes", [dataFrame(1, new Uint8Array(3)), dataFrame(1, new Uint8Array(3))]],
    ["trailers before the whole body", [
      dataFrame(1, new Uint8Array(3)),
      headersFrame(1, TRAILERS, true),
    ]],
  ];
  for (const [what, frames] of cases) {
    const { client, streams } = await server();
    client.send(headersFrame(1, [...REQUEST, ["content-length", "4"]]));
    for (const f of frames) client.send(f);
    assertEquals(await rstOf(client, 1), H2Error.PROTOCOL_ERROR, what);
    assertEquals(streams[0].resets, [H2Error.PROTOCOL_ERROR], what);
    await finish(client);
  }
  // A request with content-length but END_STREAM on its HEADERS.
  const { client } = await server();
  client.send(headersFrame(1, [...REQUEST, ["content-length", "4"]], true));
  assertEquals(await rstOf(client, 1), H2Error.PROTOCOL_ERROR);
  // The exact length, in two frames, is fine.
  client.send(headersFrame(3, [...REQUEST, ["content-length", "4"]]));
  client.send(dataFrame(3, new Uint8Array(1)), dataFrame(3, new Uint8Array(3), true));
  assertEquals(await rstOf(client, 3), undefined);
  await finish(client);
});

// --- responses (client role)

interface Events {
  events: unknown[][];
}

async function clientConn(): Promise<H2TestServer> {
  const peer = new H2TestServer();
  peer.start();
  await tick();
  peer.take();
  return peer;
}

function openStream(peer: H2TestServer): { stream: H2Stream; rec: Events } {
  const rec: Events = { events: [] };
  const handler: StreamHandler = {
    data: (bytes, end) => rec.events.push(["data", bytes.length, end]),
    reset: (code) => rec.events.push(["reset", code]),
    headers: (fields, end) => rec.events.push(["headers", fields, end]),
  };
  const stream = peer.conn.openStream(encodeHeaders(REQUEST), true, handler)!;
  return { stream, rec };
}

const BAD_RESPONSES: [string, [string, string][], boolean][] = [
  ["no :status", [["content-type", "application/grpc"]], false],
  ["a bad :status", [[":status", "2000"]], false],
  ["a request pseudo-header", [[":status", "200"], [":path", "/"]], false],
  ["a duplicated :status", [[":status", "200"], [":status", "200"]], false],
  ["101 Switching Protocols", [[":status", "101"]], false],
  ["an informational response with END_STREAM", [[":status", "100"]], true],
  ["a connection-specific field", [[":status", "200"], ["connection", "close"]], false],
  ["an upper-case name", [[":status", "200"], ["Grpc-Status", "0"]], true],
];

Deno.test("validation (client): malformed responses are a stream error PROTOCOL_ERROR", async () => {
  for (const [what, fields, end] of BAD_RESPONSES) {
    const peer = await clientConn();
    const { rec } = openStream(peer);
    peer.send(headersFrame(1, fields, end));
    assertEquals(await rstOf(peer, 1), H2Error.PROTOCOL_ERROR, what);
    assertEquals(rec.events, [["reset", H2Error.PROTOCOL_ERROR]], what);
    assertEquals(await goaways(peer), [], what);
    await finish(peer);
  }
});

Deno.test("validation (client): DATA before the response headers, or bad trailers, reset the stream", async () => {
  const cases: [string, Uint8Array[]][] = [
    ["DATA first", [dataFrame(1, new Uint8Array(2))]],
    ["trailers without END_STREAM", [headersFrame(1, RESPONSE), headersFrame(1, TRAILERS)]],
    ["a pseudo-header in trailers", [
      headersFrame(1, RESPONSE),
      headersFrame(1, [[":status", "200"]], true),
    ]],
    [
      "a body shorter than content-length",
      [
        headersFrame(1, [...RESPONSE, ["content-length", "5"]]),
        dataFrame(1, new Uint8Array(2)),
        headersFrame(1, TRAILERS, true),
      ],
    ],
  ];
  for (const [what, frames] of cases) {
    const peer = await clientConn();
    const { rec } = openStream(peer);
    for (const f of frames) peer.send(f);
    assertEquals(await rstOf(peer, 1), H2Error.PROTOCOL_ERROR, what);
    assertEquals(rec.events.at(-1), ["reset", H2Error.PROTOCOL_ERROR], what);
    await finish(peer);
  }
});

Deno.test("validation (client): an informational (1xx) response is skipped; the final one follows", async () => {
  const peer = await clientConn();
  const { rec } = openStream(peer);
  peer.send(headersFrame(1, [[":status", "103"], ["link", "</a>"]]));
  peer.send(headersFrame(1, RESPONSE));
  peer.send(headersFrame(1, TRAILERS, true));
  assertEquals(rec.events, [["headers", RESPONSE, false], ["headers", TRAILERS, true]]);
  assertEquals(await rstOf(peer, 1), undefined);
  await finish(peer);
});

Deno.test("validation (client): SETTINGS_ENABLE_PUSH 1 from a server is a connection error", async () => {
  const peer = await clientConn();
  peer.send(settingsFrame([[Setting.ENABLE_PUSH, 1]]));
  assertEquals(await goaways(peer), [H2Error.PROTOCOL_ERROR]);
  await finish(peer);
});

Deno.test("validation (client): the server's first frame must be SETTINGS", async () => {
  const peer = new H2TestServer();
  peer.send(goawayFrame(0, H2Error.NO_ERROR));
  assertEquals(await goaways(peer), [H2Error.PROTOCOL_ERROR]);
  await finish(peer);
});

Deno.test("validation (client): a later GOAWAY cannot raise the last stream id", async () => {
  const peer = await clientConn();
  openStream(peer);
  openStream(peer);
  peer.send(goawayFrame(1, H2Error.NO_ERROR));
  peer.send(goawayFrame(3, H2Error.NO_ERROR));
  assertEquals(peer.conn.peerGoAway?.lastStreamId, 1);
  await finish(peer);
});

Deno.test("validation (client): frames after the server's END_STREAM, or on a stream we reset", async () => {
  const peer = await clientConn();
  const one = openStream(peer);
  peer.send(headersFrame(1, RESPONSE), headersFrame(1, TRAILERS, true));
  const three = openStream(peer);
  three.stream.reset(H2Error.CANCEL);
  // On a stream we reset: ignored.
  peer.send(headersFrame(3, RESPONSE), dataFrame(3, new Uint8Array(1)));
  assertEquals(await goaways(peer), []);
  assertEquals(three.rec.events, [["reset", H2Error.CANCEL]]);
  // After the server's END_STREAM: a connection error.
  peer.send(dataFrame(1, new Uint8Array(1)));
  assertEquals(await goaways(peer), [H2Error.STREAM_CLOSED]);
  assertEquals(one.rec.events.length, 2);
  await finish(peer);
});

Deno.test("validation (client): HEADERS on an even stream is a connection error (push is off)", async () => {
  const peer = await clientConn();
  peer.send(headersFrame(2, RESPONSE));
  assertEquals(await goaways(peer), [H2Error.PROTOCOL_ERROR]);
  await finish(peer);
});
