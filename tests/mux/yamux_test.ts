/**
 * Tests of our yamux session against itself, over an in-memory pipe: many
 * streams both ways, large transfers across window updates, half-close and
 * reset, go-away, ping, the limits (a peer that does not read, a peer that
 * overflows our window, the accept backlog, open/close/accept timeouts),
 * protocol errors from a raw peer, session close; then HTTP/2 (our gRPC
 * Channel and server) through a stream, plain and with TLS inside it.
 *
 * @module
 */

import { denoTransport, nodeTransport, pumpDenoSocket, pumpNodeSocket } from "../../h2/socket.ts";
import { nodeTls } from "../../h2/socket.ts";
import { H2Connection } from "../../h2/connection.ts";
import { createLogger } from "../../log/logger.ts";
import { Channel } from "../../rpc/client_call.ts";
import { addRoutes, type Route, startCall } from "../../rpc/server_call.ts";
import { type Codec, implement, type MethodDefinition } from "../../rpc/service.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
import { Flag, FrameType, GoAwayCode, INITIAL_STREAM_WINDOW } from "../../mux/constants.ts";
import {
  toNodeDuplex,
  YamuxGoAwayError,
  type YamuxOptions,
  YamuxProtocolError,
  YamuxSession,
  YamuxSessionClosedError,
  type YamuxStream,
  YamuxTimeoutError,
} from "../../mux/yamux.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { pipePair, RawPeer } from "./_pipe.ts";
import { controlFrame } from "../../mux/_frame.ts";
import { within } from "../_util/fuzz.ts";
import {
  assertRejects,
  bytesOf,
  drainPattern,
  echo,
  loopAlive,
  pattern,
  readAll,
  text,
} from "./_util.ts";

/** A client and a server session joined by a pipe. */
function sessions(
  clientOptions: YamuxOptions = {},
  serverOptions: YamuxOptions = {},
  capacity?: number,
) {
  const [a, b] = pipePair(capacity);
  const client = new YamuxSession(a, "client", clientOptions);
  const server = new YamuxSession(b, "server", serverOptions);
  return {
    client,
    server,
    async [Symbol.asyncDispose]() {
      await Promise.all([client.close(), server.close()]);
    },
  };
}

/** Echoes every stream the session accepts until it ends. */
async function echoAll(session: YamuxSession): Promise<void> {
  const running: Promise<void>[] = [];
  for await (const s of session) running.push(echo(s).catch(() => {}).finally(() => s.close()));
  await Promise.all(running);
}

/** Writes `data`, half-closes, and reads the answer to EOF. */
async function roundTrip(stream: YamuxStream, data: Uint8Array): Promise<Uint8Array> {
  const [got] = await Promise.all([
    readAll(stream),
    stream.write(data).then(() => stream.closeWrite()),
  ]);
  return got;
}

/** A session with a raw peer on the other end of the pipe. */
function rawPeer(role: "client" | "server", options: YamuxOptions = {}) {
  const [a, b] = pipePair();
  const session = new YamuxSession(a, role, options);
  return { session, peer: new RawPeer(b), end: b };
}

Deno.test("yamux: many streams opened both ways, ids odd for the client and even for the server", async () => {
  await using s = sessions();
  const echoes = [echoAll(s.server), echoAll(s.client)];
  const fromClient = await Promise.all(Array.from({ length: 40 }, () => s.client.open()));
  const fromServer = await Promise.all(Array.from({ length: 40 }, () => s.server.open()));
  assert(fromClient.every((st) => st.id % 2 === 1), "client ids are odd");
  assert(fromServer.every((st) => st.id % 2 === 0), "server ids are even");
  assertEquals(new Set(fromClient.map((st) => st.id)).size, 40);
  const results = await Promise.all(
    [...fromClient, ...fromServer].map((st, i) => roundTrip(st, pattern(20_000 + i * 997, i))),
  );
  results.forEach((got, i) => {
    assertEquals(got.length, 20_000 + i * 997);
    assert(got.every((b, j) => b === (j + i) % 251), `stream ${i} echoed its bytes`);
  });
  for (const st of [...fromClient, ...fromServer]) st.close();
  // Both FINs seen on every stream: nothing left open (the pings flush what is in flight).
  await s.client.ping();
  await s.server.ping();
  assertEquals(s.client.streamCount, 0);
  assertEquals(s.server.streamCount, 0);
  await s.client.close();
  await Promise.all(echoes);
});

Deno.test("yamux: 16 MiB each way through one stream, across window updates and a small pipe", async () => {
  await using s = sessions({}, {}, 16 * 1024);
  const accepted = s.server.accept();
  const stream = await s.client.open();
  const peer = (await accepted)!;
  const size = 16 << 20;
  const [down, up] = await Promise.all([
    drainPattern(stream),
    drainPattern(peer),
    stream.write(pattern(size)).then(() => stream.closeWrite()),
    peer.write(pattern(size)).then(() => peer.closeWrite()),
  ]);
  assertEquals(down, { bytes: size, ok: true });
  assertEquals(up, { bytes: size, ok: true });
});

Deno.test("yamux: a larger maxStreamWindow is granted in the SYN and ACK", async () => {
  const { session, peer } = rawPeer("client", { maxStreamWindow: 1 << 20 });
  const opened = await session.open();
  const syn = (await peer.next())!;
  assertEquals([syn.type, syn.flags, syn.streamId, syn.length], [
    FrameType.windowUpdate,
    Flag.syn,
    1,
    (1 << 20) - INITIAL_STREAM_WINDOW,
  ]);
  // The peer may now send 1 MiB at once.
  await peer.data(1, Flag.ack, pattern(1 << 20));
  const buf = new Uint8Array(1 << 20);
  let n = 0;
  while (n < buf.length) n += (await opened.read(buf.subarray(n)))!;
  assertEquals(n, 1 << 20);
  await session.close();
});

Deno.test("yamux: half-close: each side reads the other's data then EOF; the stream is freed", async () => {
  await using s = sessions();
  const accepted = s.server.accept();
  const stream = await s.client.open();
  await stream.write(bytesOf("request"));
  await stream.closeWrite();
  await assertRejects(stream.write(bytesOf("more")), Deno.errors.BrokenPipe, /closeWrite/);
  const peer = (await accepted)!;
  assertEquals(text(await readAll(peer)), "request");
  await peer.write(bytesOf("response"));
  assertEquals(s.server.streamCount, 1);
  await peer.closeWrite();
  assertEquals(text(await readAll(stream)), "response");
  assertEquals(s.server.streamCount, 0, "both FINs: freed on the server");
  assertEquals(s.client.streamCount, 0, "both FINs: freed on the client");
  assertEquals(await stream.read(new Uint8Array(8)), null, "EOF again");
});

Deno.test("yamux: reset: the peer's reads (after its buffer) and writes fail with ConnectionReset", async () => {
  await using s = sessions();
  const accepted = s.server.accept();
  const stream = await s.client.open();
  await stream.write(bytesOf("before reset"));
  const peer = (await accepted)!;
  const buf = new Uint8Array(64);
  const n = await peer.read(buf);
  assertEquals(text(buf.subarray(0, n!)), "before reset");
  const pendingRead = peer.read(buf);
  stream.reset();
  await assertRejects(pendingRead, Deno.errors.ConnectionReset, /stream 1 was reset by the peer/);
  await assertRejects(peer.write(bytesOf("x")), Deno.errors.ConnectionReset);
  await assertRejects(stream.read(buf), Deno.errors.ConnectionReset, /reset locally/);
  assertEquals(s.client.streamCount, 0);
  assertEquals(s.server.streamCount, 0);
});

Deno.test("yamux: close(): reads fail with BadResource, FIN sent, the peer sees EOF", async () => {
  await using s = sessions();
  const accepted = s.server.accept();
  const stream = await s.client.open();
  const peer = (await accepted)!;
  const pending = stream.read(new Uint8Array(8));
  stream.close();
  stream.close(); // twice is harmless
  await assertRejects(pending, Deno.errors.BadResource, /closed/);
  await assertRejects(stream.write(bytesOf("x")), Deno.errors.BadResource);
  assertEquals(await peer.read(new Uint8Array(8)), null);
  peer.close();
  await s.client.ping();
  assertEquals(s.client.streamCount, 0);
});

Deno.test("yamux: a stream we closed whose peer never sends FIN is reset after streamCloseTimeoutMs", async () => {
  using _alive = loopAlive();
  await using s = sessions({ streamCloseTimeoutMs: 30 });
  const accepted = s.server.accept();
  const stream = await s.client.open();
  const peer = (await accepted)!;
  stream.close();
  assertEquals(await peer.read(new Uint8Array(8)), null, "FIN first");
  // The peer keeps writing and never closes: the reset ends its write.
  await assertRejects(
    peer.write(pattern(1 << 20)),
    Deno.errors.ConnectionReset,
    /reset by the peer/,
  );
  assertEquals(s.client.streamCount, 0);
});

Deno.test("yamux: a peer that does not read: our write waits on its window, then completes", async () => {
  await using s = sessions();
  const accepted = s.server.accept();
  const stream = await s.client.open();
  let done = false;
  const writing = stream.write(pattern(1 << 20)).then(() => (done = true));
  const peer = (await accepted)!;
  // Round trips after the first window's worth: the write still waits.
  await s.client.ping();
  await s.client.ping();
  assert(!done, "the write waits for window updates");
  const reading = readAll(peer);
  await writing;
  await stream.closeWrite();
  assertEquals((await reading).length, 1 << 20);
});

Deno.test("yamux: go-away: no new streams from the peer; streams already open go on", async () => {
  await using s = sessions();
  const accepted = s.server.accept();
  const stream = await s.client.open();
  const peer = (await accepted)!;
  s.server.goAway();
  await s.client.ping(); // the go-away came before the answer
  await assertRejects(s.client.open(), YamuxGoAwayError, /accepts no new streams/);
  // The server may still open streams, and old ones still work.
  const back = s.client.accept();
  const fromServer = await s.server.open();
  assertEquals((await back)!.id, fromServer.id);
  const [got] = await Promise.all([
    readAll(peer).then(async (b) => (await peer.closeWrite(), b)),
    roundTrip(stream, bytesOf("still open")),
  ]);
  assertEquals(text(got), "still open");
});

Deno.test("yamux: a stream the peer opens after our go-away is reset", async () => {
  const { session, peer } = rawPeer("server");
  session.goAway();
  const goAway = (await peer.next())!;
  assertEquals([goAway.type, goAway.length], [FrameType.goAway, GoAwayCode.normal]);
  await peer.control(FrameType.windowUpdate, Flag.syn, 1, 0);
  const rst = (await peer.next())!;
  assertEquals([rst.type, rst.flags, rst.streamId], [FrameType.windowUpdate, Flag.rst, 1]);
  await session.close();
});

Deno.test("yamux: ping both ways; pings from the peer are answered with its value", async () => {
  await using s = sessions();
  const rtt = await s.client.ping();
  assert(rtt >= 0 && rtt < 5000, `rtt ${rtt}`);
  assert((await s.server.ping()) >= 0);
  const { session, peer } = rawPeer("server");
  await peer.control(FrameType.ping, Flag.syn, 0, 0xdead_beef);
  const pong = (await peer.next())!;
  assertEquals([pong.type, pong.flags, pong.streamId, pong.length], [
    FrameType.ping,
    Flag.ack,
    0,
    0xdead_beef,
  ]);
  await session.close();
});

Deno.test("yamux: a ping without answer fails after connectionWriteTimeoutMs; keepalive then ends the session", async () => {
  using _alive = loopAlive();
  const { session, peer } = rawPeer("client", { connectionWriteTimeoutMs: 50 });
  const pinging = session.ping();
  const ping = (await peer.next())!;
  assertEquals([ping.type, ping.flags], [FrameType.ping, Flag.syn]);
  await assertRejects(pinging, YamuxTimeoutError, /no ping answer within 50 ms/);
  assert(!session.closed, "a failed ping alone does not end the session");
  await session.close();

  const ka = rawPeer("client", { keepAliveIntervalMs: 10, connectionWriteTimeoutMs: 50 });
  const first = (await ka.peer.next())!;
  await ka.peer.control(FrameType.ping, Flag.ack, 0, first.length); // answer the first one only
  await ka.session.done();
  assert(ka.session.error instanceof YamuxTimeoutError, `${ka.session.error}`);
  assert(/keepalive failed/.test(ka.session.error.message));
});

Deno.test("yamux: a peer that sends beyond our window: go-away protocol error, session ends", async () => {
  const { session, peer } = rawPeer("server");
  const accepted = session.accept();
  await peer.data(1, Flag.syn, pattern(INITIAL_STREAM_WINDOW));
  const stream = (await accepted)!;
  const ack = (await peer.next())!;
  assertEquals([ack.type, ack.flags, ack.streamId], [FrameType.windowUpdate, Flag.ack, 1]);
  await peer.data(1, 0, pattern(1)); // one byte too many
  const goAway = await peer.until((f) => f.type === FrameType.goAway);
  assertEquals(goAway?.length, GoAwayCode.protocolError);
  assertEquals(await peer.next(), null, "then the connection closes");
  await session.done();
  assert(session.error instanceof YamuxProtocolError);
  assert(/beyond its window of 0/.test(session.error.message), session.error.message);
  // The stream's data is still there, then the session's end.
  const got = new Uint8Array(INITIAL_STREAM_WINDOW);
  let n = 0;
  while (n < got.length) n += (await stream.read(got.subarray(n)))!;
  await assertRejects(stream.read(got), Deno.errors.ConnectionReset, /beyond its window/);
});

Deno.test("yamux: protocol errors from the peer end the session with go-away protocol error", async (t) => {
  const cases: [string, (p: RawPeer) => Promise<void>, RegExp][] = [
    [
      "bad version",
      (p) => p.send(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])),
      /version 1/,
    ],
    ["unknown type", (p) => p.control(7, 0, 0, 0), /unknown type 7/],
    ["SYN with our parity", (p) => p.control(FrameType.windowUpdate, Flag.syn, 2, 0), /parity/],
    ["SYN on stream 0", (p) => p.control(FrameType.windowUpdate, Flag.syn, 0, 0), /parity/],
    ["duplicate SYN", async (p) => {
      await p.control(FrameType.windowUpdate, Flag.syn, 1, 0);
      await p.control(FrameType.windowUpdate, Flag.syn, 1, 0);
    }, /opened stream 1 twice/],
    ["second FIN", async (p) => {
      await p.control(FrameType.windowUpdate, Flag.syn | Flag.fin, 1, 0);
      await p.control(FrameType.windowUpdate, Flag.fin, 1, 0);
    }, /second FIN/],
    ["data after FIN", async (p) => {
      await p.control(FrameType.windowUpdate, Flag.syn | Flag.fin, 1, 0);
      await p.data(1, 0, pattern(3));
    }, /after its FIN/],
    ["window past 2^32-1", async (p) => {
      await p.control(FrameType.windowUpdate, Flag.syn, 1, 0xffff_ffff);
    }, /past 2\^32-1/],
    ["unknown go-away code", (p) => p.control(FrameType.goAway, 0, 0, 9), /unknown code 9/],
  ];
  for (const [name, act, message] of cases) {
    await t.step(name, async () => {
      const { session, peer } = rawPeer("server");
      await act(peer);
      const goAway = await peer.until((f) => f.type === FrameType.goAway);
      assertEquals(goAway?.length, GoAwayCode.protocolError);
      await session.done();
      assert(session.error instanceof YamuxProtocolError, `${session.error}`);
      assert(message.test(session.error.message), session.error.message);
      assertEquals(await session.accept(), null);
    });
  }
});

Deno.test("yamux: a protocol error ends the session promptly even when the peer does not read", async () => {
  // The write timeout is far away: only the short flush limit ends the session in time.
  const { session, peer } = rawPeer("client", { connectionWriteTimeoutMs: 60_000 });
  const stream = await session.open();
  // A window's worth queued: the pipe (64 KiB) fills, and the peer never reads it.
  void stream.write(pattern(INITIAL_STREAM_WINDOW)).catch(() => {});
  await peer.send(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])); // version 1
  await within(session.done(), 5000, "the session's end after the protocol error");
  assert(session.error instanceof YamuxProtocolError, `${session.error}`);
});

Deno.test("yamux: the peer's go-away protocol error or internal error ends our session", async () => {
  for (const code of [GoAwayCode.protocolError, GoAwayCode.internalError]) {
    const { session, peer } = rawPeer("client");
    const stream = await session.open();
    await peer.control(FrameType.goAway, 0, 0, code);
    await session.done();
    assert(session.error instanceof YamuxProtocolError, `${session.error}`);
    assert(/the peer ended the session/.test(session.error.message));
    await assertRejects(stream.read(new Uint8Array(1)), Deno.errors.ConnectionReset);
    await assertRejects(session.open(), YamuxSessionClosedError, /session is closed/);
  }
});

Deno.test("yamux: the accept backlog is bounded: streams beyond it are reset", async () => {
  await using s = sessions({}, { acceptBacklog: 2 });
  const streams = [await s.client.open(), await s.client.open(), await s.client.open()];
  await assertRejects(
    streams[2].read(new Uint8Array(1)),
    Deno.errors.ConnectionReset,
    /stream 5 was reset by the peer/,
  );
  const a = (await s.server.accept())!, b = (await s.server.accept())!;
  assertEquals([a.id, b.id], [1, 3]);
  // The two accepted ones work.
  const [one, two] = await Promise.all([
    roundTrip(streams[0], bytesOf("one")),
    roundTrip(streams[1], bytesOf("two")),
    echo(a),
    echo(b),
  ]);
  assertEquals([text(one), text(two)], ["one", "two"]);
});

Deno.test("yamux: maxStreams bounds the streams open at once: the peer's beyond it are reset", async () => {
  await using s = sessions({}, { maxStreams: 2 });
  const first = [await s.client.open(), await s.client.open()];
  const accepted = [(await s.server.accept())!, (await s.server.accept())!];
  const third = await s.client.open();
  await assertRejects(
    third.read(new Uint8Array(1)),
    Deno.errors.ConnectionReset,
    /stream 5 was reset by the peer/,
  );
  assertEquals(s.server.streamCount, 2);
  // Once one is closed both ways, a new stream is accepted again.
  await Promise.all([roundTrip(first[0], bytesOf("x")), echo(accepted[0])]);
  accepted[0].close();
  first[0].close();
  await s.client.ping();
  const fourth = await s.client.open();
  const next = (await s.server.accept())!;
  assertEquals(next.id, 7);
  const [answer] = await Promise.all([roundTrip(fourth, bytesOf("again")), echo(next)]);
  assertEquals(text(answer), "again");
});

Deno.test("yamux: a peer that opens streams we refuse (or pings) and never reads ends the session, not our memory", async () => {
  for (const flood of ["streams", "pings"] as const) {
    // Without the bound on unwritten replies, the write timeout would end it (a timeout
    // error, later); once ended, the session tries that long to write what it queued.
    const { session, peer, end } = rawPeer("server", {
      maxStreams: 1,
      connectionWriteTimeoutMs: 2_000,
    });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 20_000; i++) {
      frames.push(
        flood === "streams"
          ? controlFrame(FrameType.windowUpdate, Flag.syn, 2 * i + 1, 0)
          : controlFrame(FrameType.ping, Flag.syn, 0, i),
      );
    }
    // Sent (the session reads them all) while the raw peer reads none of the answers.
    const sending = peer.send(...frames).catch(() => {});
    await within(session.done(), 20_000, `the session under a flood of ${flood}`);
    assert(session.error instanceof YamuxProtocolError, `${flood}: ${session.error}`);
    assert(
      /while we could not write one answer/.test(session.error.message),
      session.error.message,
    );
    end.close();
    await sending;
  }
});

Deno.test("yamux: opens wait while acceptBacklog of ours are unacknowledged", async () => {
  await using s = sessions({ acceptBacklog: 2 });
  await s.client.open();
  await s.client.open();
  let third = false;
  const opening = s.client.open().then((st) => ((third = true), st));
  await s.client.ping();
  assert(!third, "the third open waits for an ACK");
  await s.server.accept(); // ACKs stream 1
  assertEquals((await opening).id, 5);
});

Deno.test("yamux: a stream the peer never acknowledges ends the session after streamOpenTimeoutMs", async () => {
  using _alive = loopAlive();
  const { session, peer } = rawPeer("client", { streamOpenTimeoutMs: 30 });
  const stream = await session.open();
  await peer.next(); // the SYN, never answered
  await session.done();
  assert(session.error instanceof YamuxTimeoutError, `${session.error}`);
  assert(/did not acknowledge stream 1 within 30 ms/.test(session.error.message));
  await assertRejects(stream.write(bytesOf("x")), Deno.errors.ConnectionReset);
});

Deno.test("yamux: accept() with a timeout or a signal", async () => {
  using _alive = loopAlive();
  await using s = sessions();
  await assertRejects(s.server.accept({ timeoutMs: 20 }), YamuxTimeoutError, /within 20 ms/);
  const ac = new AbortController();
  const pending = s.server.accept({ signal: ac.signal });
  ac.abort(new Error("stop"));
  await assertRejects(pending, Error, /stop/);
  // A stream still arrives to the next accept.
  const next = s.server.accept({ timeoutMs: 5000 });
  const opened = await s.client.open();
  assertEquals((await next)!.id, opened.id);
});

Deno.test("yamux: session close ends every stream, pending accept, open and writes", async () => {
  const s = sessions();
  const accepting = s.server.accept();
  const stream = await s.client.open();
  const peer = (await accepting)!;
  await stream.write(bytesOf("buffered"));
  await s.client.ping();
  const clientRead = stream.read(new Uint8Array(8));
  const blockedWrite = peer.write(pattern(1 << 20)); // beyond the window: waits
  const clientAccept = s.client.accept();
  let closed: unknown = "not called";
  const onClose = new Promise<void>((resolve) => {
    s.server.done().then(() => {
      closed = s.server.error;
      resolve();
    });
  });
  await s.client.close();
  assertEquals(s.client.error, undefined);
  assertEquals(await clientAccept, null);
  await assertRejects(clientRead, Deno.errors.ConnectionReset, /session was closed/);
  await assertRejects(s.client.open(), YamuxSessionClosedError);
  await assertRejects(s.client.ping(), YamuxSessionClosedError);
  // The server side: the peer closed the connection.
  await onClose;
  assert(closed instanceof YamuxSessionClosedError, `${closed}`);
  await assertRejects(
    blockedWrite,
    Deno.errors.ConnectionReset,
    /peer closed the connection|other end closed/,
  );
  const buf = new Uint8Array(8);
  assertEquals(text(buf.subarray(0, (await peer.read(buf))!)), "buffered", "buffered data first");
  await assertRejects(peer.read(buf), Deno.errors.ConnectionReset);
  assertEquals(await s.server.accept(), null);
  assertEquals([s.client.streamCount, s.server.streamCount], [0, 0]);
  await s.server.close(); // harmless after the end
});

Deno.test("yamux: onClose hears the error; a failing connection write ends the session", async () => {
  using _alive = loopAlive();
  const errors: unknown[] = [];
  const [a, b] = pipePair(1024);
  const session = new YamuxSession(a, "client", {
    connectionWriteTimeoutMs: 30,
    onClose: (e) => errors.push(e),
  });
  const stream = await session.open();
  // Nobody reads b: the pipe fills, the connection write times out.
  await assertRejects(
    stream.write(pattern(1 << 20)),
    Deno.errors.ConnectionReset,
    /longer than 30 ms/,
  );
  await session.done();
  assert(errors.length === 1 && errors[0] instanceof YamuxTimeoutError, `${errors}`);
  b.close();
});

Deno.test("yamux: web streams readable/writable and Deno.Conn's other members", async () => {
  await using s = sessions();
  const accepted = s.server.accept();
  const stream = await s.client.open();
  const peer = (await accepted)!;
  const writer = stream.writable.getWriter();
  await writer.write(bytesOf("via "));
  await writer.write(bytesOf("web streams"));
  await writer.close();
  let got = "";
  for await (const chunk of peer.readable) got += text(chunk);
  assertEquals(got, "via web streams");
  stream.ref();
  stream.unref();
  assertEquals(stream.remoteAddr.transport, "unix");
  peer[Symbol.dispose]();
});

// ---- HTTP/2 through a stream ----

const json: Codec<string> = {
  encode: (v) => bytesOf(JSON.stringify(v)),
  decode: (b) => JSON.parse(text(b)),
};
const Echo: MethodDefinition<string, string, "unary"> = {
  path: "/test.Mux/Echo",
  kind: "unary",
  request: json,
  response: json,
};
const Service = { name: "test.Mux", methods: { echo: Echo } };

function routes(): Map<string, Route> {
  const r = new Map<string, Route>();
  addRoutes(r, implement(Service, { echo: (req: string) => `echo: ${req}` }));
  return r;
}

const callOptions = () => ({
  routes: routes(),
  maxMessageBytes: 4 << 20,
  logger: createLogger({ level: "off" }),
});

Deno.test("yamux: gRPC (our Channel and server) through a yamux stream, plaintext", async () => {
  await using s = sessions();
  const opts = callOptions();
  const served: Promise<void>[] = [];
  const serving = (async () => {
    for await (const stream of s.server) {
      const conn = new H2Connection(denoTransport(stream), {
        onStream: (h2s, headers) => startCall(h2s, headers, opts),
        onClose: () => {},
      });
      served.push(pumpDenoSocket(stream, conn, (e) => console.error(e)));
    }
  })();
  const channels = await Promise.all([1, 2, 3].map(async () => {
    const stream = await s.client.open();
    const channel = new Channel(denoTransport(stream), {
      authority: "localhost",
      scheme: "http",
      maxMessageBytes: 4 << 20,
    });
    return { channel, pump: pumpDenoSocket(stream, channel.conn, (e) => console.error(e)) };
  }));
  const answers = await Promise.all(
    channels.map(({ channel }, i) => channel.unary(Echo, `call ${i}`)),
  );
  assertEquals(answers, ["echo: call 0", "echo: call 1", "echo: call 2"]);
  for (const { channel } of channels) channel.close();
  await Promise.all(channels.map((c) => c.pump));
  await s.client.close();
  await serving;
  await Promise.all(served);
});

Deno.test("yamux: gRPC with TLS inside a yamux stream (tls.connect and TLSSocket over toNodeDuplex)", async () => {
  await using s = sessions();
  const tls = nodeTls();
  const serverCert = await makeAutoCertificate("ecdsa-p256");
  const clientCert = await makeAutoCertificate("ecdsa-p256");
  const opts = callOptions();
  const accepted = s.server.accept();
  const stream = await s.client.open();
  const serverSide = (await accepted)!;

  const server = new tls.TLSSocket(toNodeDuplex(serverSide), {
    isServer: true,
    cert: serverCert.certPem,
    key: serverCert.keyPem,
    ca: [clientCert.certPem],
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ["h2"],
    minVersion: "TLSv1.2",
  });
  const serverConn = new H2Connection(nodeTransport(server), {
    onStream: (h2s, headers) => startCall(h2s, headers, opts),
    onClose: () => {},
  });
  pumpNodeSocket(server, serverConn, (e) => console.error(e));
  const serverClosed = new Promise((resolve) => server.once("close", resolve));

  const client = tls.connect({
    socket: toNodeDuplex(stream),
    servername: "localhost",
    cert: clientCert.certPem,
    key: clientCert.keyPem,
    ca: [serverCert.certPem],
    ALPNProtocols: ["h2"],
    minVersion: "TLSv1.2",
  });
  await new Promise<void>((resolve, reject) => {
    client.once("secureConnect", resolve);
    client.once("error", reject);
  });
  assertEquals(client.alpnProtocol, "h2");
  assert(client.authorized, "the server's certificate verified");
  const channel = new Channel(nodeTransport(client), {
    authority: "localhost",
    scheme: "https",
    maxMessageBytes: 4 << 20,
  });
  pumpNodeSocket(client, channel.conn, (e) => console.error(e));
  const clientClosed = new Promise((resolve) => client.once("close", resolve));
  assertEquals(await channel.unary(Echo, "over TLS over yamux"), "echo: over TLS over yamux");
  channel.close();
  await Promise.all([clientClosed, serverClosed]);
});
