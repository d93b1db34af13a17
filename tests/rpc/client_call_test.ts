/**
 * Tests of the gRPC client (`Channel`, `serviceClient`): all four call kinds
 * against our own server (`startCall` on a server-role H2Connection, joined
 * to the client by an in-memory pipe), deadlines, cancellation, metadata,
 * message limits and connection loss; then answers our server never gives
 * (bad HTTP status, content type, missing status, wrong message counts,
 * response metadata) from a scripted server; and one call over a unix socket
 * through `createNativeEngine` and `connect`.
 *
 * @module
 */

import { connect } from "../../rpc/connect.ts";
import { H2Connection } from "../../h2/connection.ts";
import { FrameType, goawayFrame, H2Error, rstStreamFrame, Setting } from "../../h2/frame.ts";
import { createLogger } from "../../log/logger.ts";
import { Channel } from "../../rpc/client_call.ts";
import { startCall } from "../../rpc/server_call.ts";
import {
  type CallContext,
  type CallKind,
  type Codec,
  implement,
  type MethodDefinition,
} from "../../rpc/service.ts";
import { serviceClient } from "../../rpc/service_client.ts";
import { RpcError, Status, type StatusCode } from "../../rpc/status.ts";
import { gunzip, gzip, type Metadata } from "../../rpc/wire.ts";
import type { AnyMethod } from "../../rpc/handler.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withTempDir } from "../_util/host.ts";
import {
  concat,
  connectPair,
  dataFrame,
  grpcMessage,
  H2TestServer,
  header,
  headersFrame,
  parseMessages,
  tick,
  until,
} from "../h2/_h2client.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function json<T>(): Codec<T> {
  return { encode: (v) => enc.encode(JSON.stringify(v)), decode: (b) => JSON.parse(dec.decode(b)) };
}
const bytes: Codec<Uint8Array> = { encode: (b) => b, decode: (b) => b };

function method<Req, Res, K extends CallKind>(
  name: string,
  kind: K,
  request: Codec<Req>,
  response: Codec<Res>,
): MethodDefinition<Req, Res, K> {
  return { path: `/test.Client/${name}`, kind, request, response };
}

interface CountRequest {
  /** How many numbers to stream. */
  n: number;
  /** Fail with NOT_FOUND instead of sending this one. */
  failAt?: number;
  /** After the numbers, wait until cancelled. */
  hold?: boolean;
}

/** The test service: every call kind, with JSON or raw bytes messages. */
const TestService = {
  name: "test.Client",
  methods: {
    echo: method("Echo", "unary", json<string>(), json<string>()),
    fail: method("Fail", "unary", json<string>(), json<string>()),
    hang: method("Hang", "unary", json<string>(), json<string>()),
    meta: method("Meta", "unary", json<null>(), json<Record<string, unknown[]>>()),
    big: method("Big", "unary", bytes, bytes),
    make: method("Make", "unary", json<number>(), bytes),
    count: method("Count", "serverStream", json<CountRequest>(), json<number>()),
    sum: method("Sum", "clientStream", json<number>(), json<number>()),
    chat: method("Chat", "bidiStream", json<string>(), json<string>()),
  },
};

/** A handler call the server saw. */
interface Seen {
  ctx: CallContext;
  /** Resolves with the signal's reason once the call is cancelled. */
  aborted: Promise<unknown>;
}

/** The calls the server's handlers saw, in order. */
class Calls {
  readonly list: Seen[] = [];
  #waiters: (() => void)[] = [];

  record(ctx: CallContext): Seen {
    const aborted = new Promise<unknown>((resolve) => {
      if (ctx.signal.aborted) resolve(ctx.signal.reason);
      ctx.signal.addEventListener("abort", () => resolve(ctx.signal.reason), { once: true });
    });
    const seen = { ctx, aborted };
    this.list.push(seen);
    for (const w of this.#waiters.splice(0)) w();
    return seen;
  }

  /** Resolves with the `i`-th call once its handler has run. */
  async nth(i: number): Promise<Seen> {
    while (this.list.length <= i) await new Promise<void>((r) => this.#waiters.push(r));
    return this.list[i];
  }
}

function untilCancelled<T>(ctx: CallContext): Promise<T> {
  return new Promise<T>((_resolve, reject) => {
    ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
  });
}

function testService(calls: Calls) {
  return implement(TestService, {
    echo: (req) => `echo: ${req}`,
    fail: (req) => {
      throw new RpcError(Status.NOT_FOUND, req);
    },
    hang: (_req, ctx) => {
      calls.record(ctx);
      return untilCancelled<string>(ctx);
    },
    meta: (_req, ctx) => {
      const out: Record<string, unknown[]> = {};
      for (const [name, values] of Object.entries(ctx.metadata)) {
        out[name] = values.map((v) => (typeof v === "string" ? v : { bin: [...v] }));
      }
      return out;
    },
    big: (req) => req,
    make: (n) => new Uint8Array(n),
    count: async function* (req, ctx) {
      calls.record(ctx);
      for (let i = 0; i < req.n; i++) {
        if (i === req.failAt) throw new RpcError(Status.NOT_FOUND, `no ${i}`);
        yield i;
      }
      if (req.hold) await untilCancelled(ctx);
    },
    sum: async (reqs, ctx) => {
      calls.record(ctx);
      let total = 0;
      for await (const n of reqs) total += n;
      return total;
    },
    chat: async function* (reqs, ctx) {
      calls.record(ctx);
      for await (const r of reqs) yield `echo: ${r}`;
    },
  });
}

interface Pair {
  channel: Channel;
  client: ReturnType<typeof serviceClient<typeof TestService>>;
  server: H2Connection;
  calls: Calls;
  /** Streams the server has seen open. */
  serverStreams(): number;
  /** Resolves with the reason once the client's connection has closed. */
  clientClosed: Promise<string>;
  /** Resolves with the reason once the server's connection has closed. */
  serverClosed: Promise<string>;
}

/** Our client and our server, joined in memory; both closed afterwards. */
async function withPair(
  fn: (p: Pair) => Promise<void>,
  { clientMax = 4 << 20, serverMax = 4 << 20 } = {},
): Promise<void> {
  const [clientEnd, serverEnd] = connectPair();
  const calls = new Calls();
  const service = testService(calls);
  const routes = new Map(
    Object.entries(service.definition.methods).map(([name, m]) => [
      m.path,
      { method: m as AnyMethod, handler: service.handlers[name] },
    ]),
  );
  const logLines: string[] = [];
  const options = {
    routes,
    maxMessageBytes: serverMax,
    logger: createLogger({ level: "warn", write: (l) => logLines.push(l) }),
  };
  let opened = 0;
  const clientClosed = Promise.withResolvers<string>();
  const serverClosed = Promise.withResolvers<string>();
  const channel = new Channel(clientEnd, {
    authority: "localhost",
    scheme: "http",
    maxMessageBytes: clientMax,
    onClose: clientClosed.resolve,
  });
  clientEnd.conn = channel.conn;
  const server = new H2Connection(serverEnd, {
    onStream: (stream, headers) => {
      opened++;
      startCall(stream, headers, options);
    },
    onClose: (_c, reason) => serverClosed.resolve(reason),
  });
  serverEnd.conn = server;
  try {
    await fn({
      channel,
      client: serviceClient(channel, TestService),
      server,
      calls,
      serverStreams: () => opened,
      clientClosed: clientClosed.promise,
      serverClosed: serverClosed.promise,
    });
  } finally {
    channel.close("test over");
    await Promise.all([clientClosed.promise, serverClosed.promise]);
  }
  assertEquals(logLines, [], "the server logged handler failures");
}

/** Asserts that `p` rejects with an RpcError of `code`; returns it. */
async function rejects(p: Promise<unknown>, code: StatusCode): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof RpcError)) throw new Error(`expected an RpcError, got ${err}`);
    assertEquals(err.code, code, `status of "${err.message}"`);
    return err;
  }
  throw new Error(`expected status ${code}, but the call succeeded`);
}

/**
 * `p`, with the event loop kept alive until it settles: our deadline timers
 * (`_timer.ts`) do not keep it alive, like unref'd timers; a real socket's
 * pending read does, an in-memory pipe has none.
 */
async function timersRun<T>(p: Promise<T>): Promise<T> {
  let settled = false;
  const done = p.finally(() => (settled = true));
  done.catch(() => {});
  await until(() => settled, "the call to end");
  return done;
}

/** Collects a response stream; its error, if any, comes back as `error`. */
async function collect<T>(it: AsyncIterable<T>): Promise<{ items: T[]; error?: RpcError }> {
  const items: T[] = [];
  try {
    for await (const x of it) items.push(x);
  } catch (err) {
    if (!(err instanceof RpcError)) throw err;
    return { items, error: err };
  }
  return { items };
}

/** Requests the test pushes one at a time. */
class Pushable<T> implements AsyncIterable<T> {
  #queue: T[] = [];
  #ended = false;
  #wake: (() => void) | null = null;
  push(v: T): void {
    this.#queue.push(v);
    this.#wake?.();
  }
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      if (this.#queue.length) yield this.#queue.shift()!;
      else if (this.#ended) return;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

// --- the four call kinds against our server

Deno.test("client call: unary through the typed client and through the channel", () =>
  withPair(async ({ client, channel }) => {
    assertEquals(await client.echo("hi"), "echo: hi");
    assertEquals(await channel.unary(TestService.methods.echo, "there"), "echo: there");
    // Several at once on the one connection.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => client.echo(`${i}`)));
    assertEquals(many, Array.from({ length: 20 }, (_, i) => `echo: ${i}`));
    assertEquals(channel.conn.streamCount, 0);
  }));

Deno.test("client call: an RpcError's code and message, percent-encoded on the wire, come back", () =>
  withPair(async ({ client }) => {
    const message = "clé «introuvable»: 100% sûr, %41 😀\ttab";
    const err = await rejects(client.fail(message), Status.NOT_FOUND);
    assertEquals(err.message, message);
  }));

Deno.test("client call: a server stream of 100 messages", () =>
  withPair(async ({ client }) => {
    const { items, error } = await collect(client.count({ n: 100 }));
    assertEquals(error, undefined);
    assertEquals(items, Array.from({ length: 100 }, (_, i) => i));
  }));

Deno.test("client call: the messages a server stream sent before its error still arrive", () =>
  withPair(async ({ client }) => {
    const { items, error } = await collect(client.count({ n: 10, failAt: 3 }));
    assertEquals(items, [0, 1, 2]);
    assertEquals([error?.code, error?.message], [Status.NOT_FOUND, "no 3"]);
  }));

Deno.test("client call: a client stream, from an array and from an async generator", () =>
  withPair(async ({ client }) => {
    assertEquals(await client.sum([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 55);
    assertEquals(await client.sum([]), 0);
    async function* numbers() {
      for (let i = 1; i <= 100; i++) yield i;
    }
    assertEquals(await client.sum(numbers()), 5050);
  }));

Deno.test("client call: bidi echo, each request sent after the previous answer", () =>
  withPair(async ({ client }) => {
    const requests = new Pushable<string>();
    const responses = client.chat(requests)[Symbol.asyncIterator]();
    for (const word of ["a", "b", "c"]) {
      requests.push(word);
      assertEquals(await responses.next(), { value: `echo: ${word}`, done: false });
    }
    requests.end();
    assertEquals((await responses.next()).done, true);
    // And all at once.
    const { items } = await collect(client.chat(["x", "y"]));
    assertEquals(items, ["echo: x", "echo: y"]);
  }));

// --- deadlines and cancellation

Deno.test("client call: timeoutMs ends a call with DEADLINE_EXCEEDED, and the server sees it", () =>
  withPair(async ({ client, calls, channel }) => {
    const call = client.hang("slow", { timeoutMs: 50 });
    const seen = await calls.nth(0);
    await rejects(timersRun(call), Status.DEADLINE_EXCEEDED);
    const reason = await seen.aborted;
    assert(reason instanceof RpcError, "the handler's signal aborted without an RpcError");
    assertEquals(channel.conn.streamCount, 0);
    // A call that beats its deadline is not failed by it.
    assertEquals(await client.echo("quick", { timeoutMs: 10_000 }), "echo: quick");
  }));

Deno.test("client call: aborting the signal cancels the call, client and server side", () =>
  withPair(async ({ client, calls, serverStreams }) => {
    const abort = new AbortController();
    const call = client.hang("wait", { signal: abort.signal });
    const seen = await calls.nth(0);
    abort.abort(new Error("no longer needed"));
    const err = await rejects(call, Status.CANCELLED);
    assert(err.message.includes("no longer needed"), err.message);
    const reason = await seen.aborted;
    assertEquals((reason as RpcError).code, Status.CANCELLED);

    // A signal aborted before the call: nothing is sent.
    await rejects(client.echo("never", { signal: AbortSignal.abort() }), Status.CANCELLED);
    const { error } = await collect(client.count({ n: 1 }, { signal: AbortSignal.abort() }));
    assertEquals(error?.code, Status.CANCELLED);
    assertEquals(serverStreams(), 1);
  }));

Deno.test("client call: breaking out of a for await over a server stream cancels the call", () =>
  withPair(async ({ client, calls, channel }) => {
    const got: number[] = [];
    for await (const n of client.count({ n: 5, hold: true })) {
      got.push(n);
      if (n === 2) break;
    }
    assertEquals(got, [0, 1, 2]);
    const seen = await calls.nth(0);
    assertEquals(((await seen.aborted) as RpcError).code, Status.CANCELLED);
    assertEquals(channel.conn.streamCount, 0);
  }));

// --- metadata and limits

Deno.test("client call: request metadata, text and -bin bytes, reaches the handler", () =>
  withPair(async ({ client }) => {
    const seen = await client.meta(null, {
      metadata: {
        "X-Text": "value",
        "x-multi": ["a", "b"],
        "x-data-bin": new Uint8Array([0, 1, 254, 255]),
        "x-text-bin": "hé",
      },
    });
    assertEquals(Object.entries(seen).sort(), [
      ["user-agent", [seen["user-agent"][0]]],
      ["x-data-bin", [{ bin: [0, 1, 254, 255] }]],
      ["x-multi", ["a", "b"]],
      ["x-text", ["value"]],
      ["x-text-bin", [{ bin: [...enc.encode("hé")] }]],
    ]);
    assert(String(seen["user-agent"][0]).startsWith("rpcplugin-deno/"));
    // A reserved name fails the call before anything is sent.
    const err = await rejects(
      client.echo("x", { metadata: { "grpc-timeout": "1S" } }),
      Status.INTERNAL,
    );
    assert(err.message.includes("reserved"), err.message);
  }));

Deno.test("client call: a request over maxMessageBytes is RESOURCE_EXHAUSTED, and not sent", () =>
  withPair(async ({ client, serverStreams, calls }) => {
    const err = await rejects(client.big(new Uint8Array(2000)), Status.RESOURCE_EXHAUSTED);
    assert(err.message.includes("2000 vs. 1024"), err.message);
    assertEquals(serverStreams(), 0);
    assertEquals((await client.big(new Uint8Array(1024))).length, 1024);

    // In a request stream: the same status, and the call is reset.
    const { error } = await collect(client.chat(["short", "x".repeat(2000)]));
    assertEquals(error?.code, Status.RESOURCE_EXHAUSTED);
    assert(error?.message.includes("2002 vs. 1024"), error?.message);
    const seen = await calls.nth(0);
    assertEquals(((await seen.aborted) as RpcError).code, Status.CANCELLED);
  }, { clientMax: 1024 }));

Deno.test("client call: a response over the client's limit is RESOURCE_EXHAUSTED", () =>
  withPair(async ({ client, channel }) => {
    const err = await rejects(client.make(1000), Status.RESOURCE_EXHAUSTED);
    assert(err.message.includes("received message larger than max"), err.message);
    assertEquals(channel.conn.streamCount, 0);
    assertEquals(await client.echo("still fine"), "echo: still fine");
  }, { clientMax: 600, serverMax: 4 << 20 }));

Deno.test("client call: a 16 MiB unary request and response", () =>
  withPair(async ({ client }) => {
    const size = 16 << 20;
    const req = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) req[i] = (i >>> 12) & 0xff;
    req[size - 1] = 0x5a;
    const res = await client.big(req);
    assertEquals(res.length, size);
    let same = true;
    for (let i = 0; i < size; i++) {
      if (res[i] !== req[i]) {
        same = false;
        break;
      }
    }
    assert(same, "the 16 MiB response differs from the request");
  }, { clientMax: 16 << 20, serverMax: 16 << 20 }));

// --- connection loss

Deno.test("client call: the server closing the connection fails every pending call with UNAVAILABLE", () =>
  withPair(async ({ client, calls, server, clientClosed, channel }) => {
    const unary = rejects(client.hang("a"), Status.UNAVAILABLE);
    const stream = client.count({ n: 1, hold: true })[Symbol.asyncIterator]();
    assertEquals(await stream.next(), { value: 0, done: false });
    const next = stream.next();
    const requests = new Pushable<number>();
    const sum = rejects(client.sum(requests), Status.UNAVAILABLE);
    requests.push(1);
    await calls.nth(2);
    server.close("server going down");
    const err = await unary;
    assert(err.message.includes("peer closed the connection"), err.message);
    await rejects(next, Status.UNAVAILABLE);
    await sum;
    assertEquals(await clientClosed, "peer closed the connection");
    assert(channel.closed);
    requests.end();
  }));

Deno.test("client call: a call after the connection closed fails with UNAVAILABLE", () =>
  withPair(async ({ client, channel, serverStreams }) => {
    channel.close("done here");
    const err = await rejects(client.echo("late"), Status.UNAVAILABLE);
    assert(err.message.includes("done here"), err.message);
    assertEquals((await collect(client.count({ n: 1 }))).error?.code, Status.UNAVAILABLE);
    await rejects(client.sum([1]), Status.UNAVAILABLE);
    assertEquals(serverStreams(), 0);
  }));

Deno.test("client call: the server's graceful GOAWAY lets open calls finish and refuses new ones", () =>
  withPair(async ({ client, channel, server, calls, clientClosed }) => {
    const requests = new Pushable<number>();
    const sum = client.sum(requests);
    requests.push(2);
    await calls.nth(0);
    const drained = server.drain(new AbortController().signal);
    await until(() => !channel.conn.canOpen, "the client to see the GOAWAY");
    const err = await rejects(client.echo("new"), Status.UNAVAILABLE);
    assert(err.message.includes("going away"), err.message);
    requests.push(3);
    requests.end();
    assertEquals(await sum, 5);
    await drained;
    // Whichever side notices first that the connection is idle hangs up.
    assert(["finished", "peer closed the connection"].includes(await clientClosed));
  }));

// --- a scripted server: answers ours never gives

/** A channel whose server the test scripts; its SETTINGS already sent. */
function scripted(
  settings: [number, number][] = [],
  maxMessageBytes = 1 << 20,
): { peer: H2TestServer; channel: Channel; client: Pair["client"] } {
  let channel!: Channel;
  const peer = new H2TestServer((transport, onClose) => {
    channel = new Channel(transport, {
      authority: "plugin.local",
      scheme: "https",
      maxMessageBytes,
      onClose,
    });
    return channel.conn;
  });
  peer.start(settings);
  return { peer, channel, client: serviceClient(channel, TestService) };
}

const OK_HEADERS: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"]];

/** Waits until the client has ended its side of stream `id` (the request is complete). */
async function requestOf(peer: H2TestServer, id: number) {
  await until(() => peer.response(id).ended, `the request on stream ${id}`);
  return peer.response(id);
}

async function finish(peer: H2TestServer): Promise<void> {
  peer.conn.close("test over");
  await tick();
}

Deno.test("client call: the request headers and body on the wire", async () => {
  const { peer, client } = scripted();
  const call = client.echo("hi", { timeoutMs: 90_000, metadata: { "x-a": "1", "x-b-bin": "z" } });
  const req = await requestOf(peer, 1);
  assertEquals(req.headers, [
    [":method", "POST"],
    [":scheme", "https"],
    [":path", "/test.Client/Echo"],
    [":authority", "plugin.local"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["user-agent", header(req.headers, "user-agent")!],
    ["grpc-accept-encoding", "identity,gzip"],
    ["grpc-timeout", "90000m"],
    ["x-a", "1"],
    ["x-b-bin", "eg"],
  ]);
  assertEquals(parseMessages(req.body).map((b) => dec.decode(b)), ['"hi"']);
  assertEquals(req.dataFrames.length, 1, "one DATA frame, carrying END_STREAM");
  assert(req.ended);
  peer.send(
    headersFrame(1, OK_HEADERS),
    dataFrame(1, grpcMessage('"ok"')),
    headersFrame(1, [["grpc-status", "0"]], true),
  );
  assertEquals(await call, "ok");
  await finish(peer);
});

Deno.test("client call: onHeaders and onTrailers get the response metadata, -bin decoded", async () => {
  const { peer, client } = scripted();
  let headers: Metadata | undefined, trailers: Metadata | undefined;
  const call = client.echo("hi", {
    onHeaders: (md) => (headers = md),
    onTrailers: (md) => (trailers = md),
  });
  await requestOf(peer, 1);
  peer.send(headersFrame(1, [...OK_HEADERS, ["x-h", "1"], ["x-h", "2"], ["x-h-bin", "AAH/"]]));
  assertEquals(headers, { "x-h": ["1", "2"], "x-h-bin": [new Uint8Array([0, 1, 255])] });
  assertEquals(trailers, undefined);
  peer.send(dataFrame(1, grpcMessage('"ok"')));
  peer.send(
    headersFrame(
      1,
      [["grpc-status", "0"], ["x-t", "t"], ["x-t-bin", "AQ=="], ["x-u-bin", "AQ"]],
      true,
    ),
  );
  assertEquals(await call, "ok");
  assertEquals(trailers, {
    "x-t": ["t"],
    "x-t-bin": [new Uint8Array([1])],
    "x-u-bin": [new Uint8Array([1])],
  });

  // Trailers-only: no headers callback, the trailers carry the metadata.
  headers = trailers = undefined;
  const failed = client.echo("x", {
    onHeaders: (md) => (headers = md),
    onTrailers: (md) => (trailers = md),
  });
  await requestOf(peer, 3);
  peer.send(headersFrame(3, [...OK_HEADERS, ["grpc-status", "7"], ["x-why", "no"]], true));
  await rejects(failed, Status.PERMISSION_DENIED);
  assertEquals([headers, trailers], [undefined, { "x-why": ["no"] }]);
  await finish(peer);
});

Deno.test("client call: an HTTP status other than 200 maps to its gRPC status", async () => {
  const cases: [string, boolean, StatusCode][] = [
    ["503", false, Status.UNAVAILABLE],
    ["404", true, Status.UNIMPLEMENTED],
    ["401", true, Status.UNAUTHENTICATED],
    ["403", false, Status.PERMISSION_DENIED],
    ["400", true, Status.INTERNAL],
    ["429", false, Status.UNAVAILABLE],
    ["500", false, Status.UNKNOWN],
  ];
  const { peer, client, channel } = scripted();
  for (const [i, [status, end, code]] of cases.entries()) {
    const id = 1 + 2 * i;
    const call = client.echo("x");
    await requestOf(peer, id);
    peer.send(headersFrame(id, [[":status", status], ["content-type", "text/html"]], end));
    const err = await rejects(call, code);
    assert(err.message.includes(status), err.message);
    // The client resets a stream the server left open.
    if (!end) await until(() => peer.response(id).rst === H2Error.CANCEL, "RST_STREAM");
  }
  assertEquals(channel.conn.streamCount, 0);
  await finish(peer);
});

Deno.test("client call: a response with another content type is UNKNOWN", async () => {
  const { peer, client, channel } = scripted();
  const call = client.echo("x");
  await requestOf(peer, 1);
  peer.send(headersFrame(1, [[":status", "200"], ["content-type", "text/plain"]]));
  const err = await rejects(call, Status.UNKNOWN);
  assert(err.message.includes("text/plain"), err.message);
  await until(() => peer.response(1).rst === H2Error.CANCEL, "RST_STREAM");
  assertEquals(channel.conn.streamCount, 0);
  await finish(peer);
});

Deno.test("client call: trailers without grpc-status are INTERNAL", async () => {
  const { peer, client } = scripted();
  const call = client.echo("x");
  await requestOf(peer, 1);
  peer.send(
    headersFrame(1, OK_HEADERS),
    dataFrame(1, grpcMessage('"ok"')),
    headersFrame(1, [["x-not-status", "0"]], true),
  );
  await rejects(call, Status.INTERNAL);
  // Trailers-only without one too.
  const only = client.echo("y");
  await requestOf(peer, 3);
  peer.send(headersFrame(3, OK_HEADERS, true));
  await rejects(only, Status.INTERNAL);
  await finish(peer);
});

Deno.test("client call: a unary response with no message, or two, is INTERNAL", async () => {
  const { peer, client, channel } = scripted();
  const none = client.echo("x");
  await requestOf(peer, 1);
  peer.send(headersFrame(1, OK_HEADERS), headersFrame(1, [["grpc-status", "0"]], true));
  const err = await rejects(none, Status.INTERNAL);
  assert(err.message.includes("sent none"), err.message);

  const two = client.echo("y");
  await requestOf(peer, 3);
  peer.send(
    headersFrame(3, OK_HEADERS),
    dataFrame(3, concat(grpcMessage('"a"'), grpcMessage('"b"'))),
  );
  const err2 = await rejects(two, Status.INTERNAL);
  assert(err2.message.includes("sent more"), err2.message);
  await until(() => peer.response(3).rst === H2Error.CANCEL, "RST_STREAM");

  // A response that ends inside a message.
  const cut = client.echo("z");
  await requestOf(peer, 5);
  peer.send(
    headersFrame(5, OK_HEADERS),
    dataFrame(5, grpcMessage('"abc"').subarray(0, 6)),
    headersFrame(5, [["grpc-status", "0"]], true),
  );
  await rejects(cut, Status.INTERNAL);
  assertEquals(channel.conn.streamCount, 0);
  await finish(peer);
});

Deno.test("client call: END_STREAM without trailers is INTERNAL, and the stream is let go", async () => {
  const { peer, client, channel } = scripted();
  const requests = new Pushable<number>();
  const call = client.sum(requests);
  requests.push(1);
  await until(() => peer.response(1).body.length > 0, "the first request message");
  peer.send(headersFrame(1, OK_HEADERS), dataFrame(1, grpcMessage("2"), true));
  const err = await rejects(call, Status.INTERNAL);
  assert(err.message.includes("without sending trailers"), err.message);
  // Our side was still open: it must be reset, not left in the connection.
  await until(() => peer.response(1).rst !== undefined, "RST_STREAM");
  assertEquals(channel.conn.streamCount, 0);
  requests.end();
  await finish(peer);
});

Deno.test("client call: responses that arrived before the server's error are read first", async () => {
  const { peer, client } = scripted();
  const responses = client.count({ n: 3 });
  await requestOf(peer, 1);
  // Messages and an error status in one read: the status must not overtake them.
  peer.send(
    headersFrame(1, OK_HEADERS),
    dataFrame(1, concat(grpcMessage("0"), grpcMessage("1"), grpcMessage("2"))),
    headersFrame(1, [["grpc-status", "5"], ["grpc-message", "gone"]], true),
  );
  const { items, error } = await collect(responses);
  assertEquals(items, [0, 1, 2]);
  assertEquals([error?.code, error?.message], [Status.NOT_FOUND, "gone"]);

  // Messages, then the server resets the stream.
  const reset = client.count({ n: 2 });
  await requestOf(peer, 3);
  peer.send(
    headersFrame(3, OK_HEADERS),
    dataFrame(3, concat(grpcMessage("0"), grpcMessage("1"))),
    rstStreamFrame(3, H2Error.INTERNAL_ERROR),
  );
  const got = await collect(reset);
  assertEquals([got.items, got.error?.code], [[0, 1], Status.INTERNAL]);

  // A cancelled call drops what it did not read.
  const abort = new AbortController();
  const cancelled = client.count({ n: 2 }, { signal: abort.signal });
  await requestOf(peer, 5);
  peer.send(headersFrame(5, OK_HEADERS), dataFrame(5, concat(grpcMessage("0"), grpcMessage("1"))));
  abort.abort();
  const dropped = await collect(cancelled);
  assertEquals([dropped.items, dropped.error?.code], [[], Status.CANCELLED]);
  await until(() => peer.response(5).rst === H2Error.CANCEL, "RST_STREAM");
  await finish(peer);
});

Deno.test("client call: RST_STREAM and GOAWAY from the server map to gRPC statuses", async () => {
  const { peer, client, channel } = scripted();
  const cases: [number, StatusCode][] = [
    [H2Error.CANCEL, Status.CANCELLED],
    [H2Error.ENHANCE_YOUR_CALM, Status.RESOURCE_EXHAUSTED],
    [H2Error.INTERNAL_ERROR, Status.INTERNAL],
    [H2Error.REFUSED_STREAM, Status.UNAVAILABLE],
  ];
  for (const [i, [code, status]] of cases.entries()) {
    const call = client.echo("x");
    await requestOf(peer, 1 + 2 * i);
    peer.send(rstStreamFrame(1 + 2 * i, code));
    await rejects(call, status);
  }
  // GOAWAY below an open call: UNAVAILABLE, and so is every later call.
  const open = client.echo("y");
  await requestOf(peer, 9);
  peer.send(goawayFrame(7, H2Error.NO_ERROR));
  await rejects(open, Status.UNAVAILABLE);
  await rejects(client.echo("z"), Status.UNAVAILABLE);
  await until(() => channel.closed, "the idle connection to close");
});

Deno.test("client call: SETTINGS_MAX_CONCURRENT_STREAMS=1 runs calls one at a time", async () => {
  const { peer, client, channel } = scripted([[Setting.MAX_CONCURRENT_STREAMS, 1]]);
  const results = ["a", "b", "c"].map((s) => client.echo(s));
  for (const [i, id] of [1, 3, 5].entries()) {
    await requestOf(peer, id);
    const opened = peer.sync().filter((f) => f.type === FrameType.HEADERS).map((f) => f.streamId);
    assertEquals(opened, [1, 3, 5].slice(0, i + 1), "streams opened beyond the server's limit");
    assert(channel.conn.streamCount <= 1);
    peer.send(
      headersFrame(id, OK_HEADERS),
      dataFrame(id, grpcMessage(`"${i}"`)),
      headersFrame(id, [["grpc-status", "0"]], true),
    );
  }
  assertEquals(await Promise.all(results), ["0", "1", "2"]);
  await finish(peer);
});

Deno.test("client call: a deadline that passes while waiting for a stream slot", async () => {
  const { peer, client, channel } = scripted([[Setting.MAX_CONCURRENT_STREAMS, 1]]);
  const first = client.echo("a");
  const second = client.echo("b", { timeoutMs: 20 });
  await rejects(timersRun(second), Status.DEADLINE_EXCEEDED);
  await requestOf(peer, 1);
  peer.send(rstStreamFrame(1, H2Error.CANCEL));
  await rejects(first, Status.CANCELLED);
  // The slot is free again, and the timed-out call never took it.
  const third = rejects(client.echo("c"), Status.UNAVAILABLE);
  await requestOf(peer, 3);
  assertEquals(
    peer.sync().filter((f) => f.type === FrameType.HEADERS).map((f) => f.streamId),
    [1, 3],
  );
  assertEquals(channel.conn.streamCount, 1);
  await finish(peer);
  await third;
});

// --- over a real socket

Deno.test("client call: unary and server stream over a unix socket to createNativeEngine", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/plugin.sock`;
    const engine = createNativeEngine({
      maxMessageBytes: 4 << 20,
      logger: createLogger({ level: "error", write: () => {} }),
    });
    engine.addService(testService(new Calls()));
    await engine.bind("unix", path);
    const closed = Promise.withResolvers<string>();
    const channel = await connect({
      network: "unix",
      address: path,
      maxMessageBytes: 4 << 20,
      timeoutMs: 5000,
      onClose: closed.resolve,
    });
    try {
      const client = serviceClient(channel, TestService);
      assertEquals(await client.echo("socket"), "echo: socket");
      assertEquals((await collect(client.count({ n: 50 }))).items.length, 50);
      assertEquals(await client.sum([1, 2, 3]), 6);
      const big = await client.big(new Uint8Array(1 << 20).fill(7));
      assertEquals([big.length, big[0], big[big.length - 1]], [1 << 20, 7, 7]);
    } finally {
      await engine.shutdown(1000);
      assertEquals(await closed.promise, "finished");
    }
  }));

// --- gzip

/** A request body's messages with their compressed flags, decompressed. */
async function gunzipped(body: Uint8Array): Promise<[string, boolean][]> {
  const out: [string, boolean][] = [];
  for (let pos = 0; pos < body.length;) {
    const n = new DataView(body.buffer, body.byteOffset + pos + 1, 4).getUint32(0);
    const bytes = body.slice(pos + 5, pos + 5 + n);
    const compressed = body[pos] === 1;
    out.push([dec.decode(compressed ? await gunzip(bytes, 1 << 20) : bytes), compressed]);
    pos += 5 + n;
  }
  return out;
}

Deno.test("client call: compression gzip sends grpc-encoding gzip and compressed messages", async () => {
  const { peer, client } = scripted();
  const call = client.echo("hi", { compression: "gzip" });
  const req = await requestOf(peer, 1);
  assertEquals(header(req.headers, "grpc-encoding"), "gzip");
  assertEquals(header(req.headers, "grpc-accept-encoding"), "identity,gzip");
  assertEquals(await gunzipped(req.body), [['"hi"', true]]);
  peer.send(
    headersFrame(1, OK_HEADERS),
    dataFrame(1, grpcMessage('"ok"')),
    headersFrame(1, [["grpc-status", "0"]], true),
  );
  assertEquals(await call, "ok");
  // Without the option: no grpc-encoding, and messages go as they are.
  const plain = client.echo("hi");
  const req3 = await requestOf(peer, 3);
  assertEquals(header(req3.headers, "grpc-encoding"), undefined);
  assertEquals(await gunzipped(req3.body), [['"hi"', false]]);
  peer.send(headersFrame(3, [...OK_HEADERS, ["grpc-status", "1"]], true));
  await rejects(plain, Status.CANCELLED);
  await finish(peer);
});

Deno.test("client call: gzip requests on every call kind reach our server", () =>
  withPair(async ({ client }) => {
    const gz = { compression: "gzip" } as const;
    assertEquals(await client.echo("zipped", gz), "echo: zipped");
    assertEquals((await collect(client.count({ n: 3 }, gz))).items, [0, 1, 2]);
    assertEquals(await client.sum([1, 2, 3], gz), 6);
    assertEquals((await collect(client.chat(["a", "b"], gz))).items, ["echo: a", "echo: b"]);
  }));

Deno.test("client call: gzip responses are decompressed in order, and the trailers wait for them", async () => {
  const { peer, client } = scripted();
  const flags: boolean[] = [];
  const responses = collect(client.count({ n: 5 }, { onResponseMessage: (c) => flags.push(c) }));
  await requestOf(peer, 1);
  // Everything in one read: plain messages behind compressed ones must wait.
  peer.send(
    headersFrame(1, [...OK_HEADERS, ["grpc-encoding", "gzip"]]),
    dataFrame(
      1,
      concat(
        grpcMessage(await gzip(enc.encode("0")), true),
        grpcMessage("1"),
        grpcMessage(await gzip(enc.encode("2")), true),
        grpcMessage("3"),
        grpcMessage(await gzip(enc.encode("4")), true),
      ),
    ),
    headersFrame(1, [["grpc-status", "0"]], true),
  );
  const { items, error } = await responses;
  assertEquals([items, error], [[0, 1, 2, 3, 4], undefined]);
  assertEquals(flags, [true, false, true, false, true]);
  await finish(peer);
});

Deno.test("client call: a response that decompresses past maxMessageBytes is RESOURCE_EXHAUSTED", async () => {
  const { peer, client } = scripted([], 1 << 20);
  const call = client.big(new Uint8Array(1));
  await requestOf(peer, 1);
  const bomb = grpcMessage(await gzip(new Uint8Array(16 << 20)), true);
  assert(bomb.length < 16384, `the bomb is ${bomb.length} bytes`);
  peer.send(
    headersFrame(1, [...OK_HEADERS, ["grpc-encoding", "gzip"]]),
    dataFrame(1, bomb),
    headersFrame(1, [["grpc-status", "0"]], true),
  );
  const err = await rejects(call, Status.RESOURCE_EXHAUSTED);
  assert(err.message.includes("decompresses to more than max (1048576"), err.message);
  await finish(peer);
});

Deno.test("client call: a gzip response counts toward the channel's budget by its decompressed size until the caller reads it", async () => {
  const { peer, channel, client } = scripted([], 2 << 20);
  const responses = client.chat([])[Symbol.asyncIterator]();
  await requestOf(peer, 1);
  const text = "a".repeat(1 << 20);
  peer.send(
    headersFrame(1, [...OK_HEADERS, ["grpc-encoding", "gzip"]]),
    dataFrame(1, grpcMessage(await gzip(enc.encode(JSON.stringify(text))), true)),
  );
  await until(() => channel.budget.held > 1 << 20, "the decompressed response charged");
  const first = await responses.next();
  assertEquals((first.value as string).length, text.length);
  // Read, the call still open: its bytes went back.
  assertEquals(channel.budget.held, 0);
  peer.send(headersFrame(1, [["grpc-status", "0"]], true));
  assertEquals((await responses.next()).done, true);
  await finish(peer);
});

Deno.test("client call: compressed responses without a grpc-encoding gzip are INTERNAL", async () => {
  const { peer, client } = scripted();
  const none = client.echo("a");
  const deflate = client.echo("b");
  await requestOf(peer, 3);
  const packed = grpcMessage(await gzip(enc.encode('"x"')), true);
  peer.send(headersFrame(1, OK_HEADERS), dataFrame(1, packed));
  peer.send(headersFrame(3, [...OK_HEADERS, ["grpc-encoding", "deflate"]]), dataFrame(3, packed));
  const e1 = await rejects(none, Status.INTERNAL);
  assert(e1.message.includes("without a grpc-encoding"), e1.message);
  const e2 = await rejects(deflate, Status.INTERNAL);
  assert(e2.message.includes('"deflate"'), e2.message);
  await finish(peer);
});

Deno.test("client call: an unknown compression fails the call, naming the choices", async () => {
  const { peer, client } = scripted();
  const err = await rejects(
    client.echo("a", { compression: "brotli" as unknown as "gzip" }),
    Status.INTERNAL,
  );
  assertEquals(err.message, 'Unknown request compression "brotli": use "gzip" or "identity"');
  await finish(peer);
});

Deno.test("client call: a reset right after the trailers waits for the responses still being decompressed", async () => {
  const { peer, client } = scripted();
  const requests = new Pushable<string>();
  requests.push("a");
  const responses = collect(client.chat(requests));
  await until(() => peer.response(1).dataFrames.length > 0, "the first request");
  // A server done before the client: trailers, then RST_STREAM NO_ERROR (our server does this).
  peer.send(
    headersFrame(1, [...OK_HEADERS, ["grpc-encoding", "gzip"]]),
    dataFrame(1, grpcMessage(await gzip(enc.encode('"packed"')), true)),
    headersFrame(1, [["grpc-status", "0"]], true),
    rstStreamFrame(1, H2Error.NO_ERROR),
  );
  const { items, error } = await responses;
  assertEquals([items, error], [["packed"], undefined]);
  requests.end();
  await finish(peer);
});
