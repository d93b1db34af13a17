/**
 * Tests of the native engine's gRPC layer (`startCall`) over an in-memory
 * HTTP/2 connection, `parseTimeout`, and one end-to-end call through
 * `createNativeEngine` on a unix socket.
 *
 * @module
 */

import { createLogger, type Logger } from "../../log/logger.ts";
import { fromTsProto, implement } from "../../rpc/service.ts";
import type {
  BidiStreamHandler,
  CallContext,
  CallKind,
  ClientStreamHandler,
  Codec,
  HandlerFor,
  MethodDefinition,
  ServerStreamHandler,
  ServiceHandlers,
  ServiceImplementation,
  UnaryHandler,
} from "../../rpc/service.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import type { AnyMethod } from "../../rpc/handler.ts";
import { type Route, startCall } from "../../rpc/server_call.ts";
import { gunzip, gzip, parseTimeout } from "../../rpc/wire.ts";
import {
  CLIENT_PREFACE,
  FrameType,
  H2Error,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../h2/frame.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import type { Engine } from "../../server/engine.ts";
import { kvService } from "../../examples/kv/kv.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  concat,
  dataFrame,
  decodeHeaderBlocks,
  type Frame,
  grpcMessage,
  H2TestClient,
  header,
  headersFrame,
  parseFrames,
  parseMessages,
  requestHeaders,
  type StreamResponse,
  tick,
  until,
} from "../h2/_h2client.ts";
import { HpackDecoder } from "../../h2/hpack.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Messages are UTF-8 text. */
const text: Codec<string> = { encode: (s) => enc.encode(s), decode: (b) => dec.decode(b) };

function method<K extends CallKind>(name: string, kind: K): MethodDefinition<string, string, K> {
  return { path: `/test.T/${name}`, kind, request: text, response: text };
}

/** A one-method service `test.T` whose method has the given kind. */
function service<K extends CallKind>(
  name: string,
  kind: K,
  handler: HandlerFor<MethodDefinition<string, string, K>>,
): ServiceImplementation {
  const definition = { name: "test.T", methods: { m: method(name, kind) } };
  return implement(definition, { m: handler } as ServiceHandlers<typeof definition>);
}

const unary = (name: string, handler: UnaryHandler<string, string>) =>
  service(name, "unary", handler);
const serverStream = (name: string, handler: ServerStreamHandler<string, string>) =>
  service(name, "serverStream", handler);
const clientStream = (name: string, handler: ClientStreamHandler<string, string>) =>
  service(name, "clientStream", handler);
const bidiStream = (name: string, handler: BidiStreamHandler<string, string>) =>
  service(name, "bidiStream", handler);

/** Routes as the engine's addService() builds them. */
function routesOf(services: ServiceImplementation[]): Map<string, Route> {
  const routes = new Map<string, Route>();
  for (const service of services) {
    for (const [name, m] of Object.entries(service.definition.methods)) {
      routes.set(m.path, { method: m as AnyMethod, handler: service.handlers[name] });
    }
  }
  return routes;
}

interface Setup {
  client: H2TestClient;
  logLines: string[];
  /** Sends a whole request on stream `id`: headers, one message per DATA frame, END_STREAM. */
  call(id: number, path: string, messages: string[], extra?: [string, string][]): void;
}

/** A connection whose streams go to startCall() with `services`. */
function setup(services: ServiceImplementation[], maxMessageBytes = 4 << 20): Setup {
  const logLines: string[] = [];
  const logger: Logger = createLogger({ level: "warn", write: (l) => logLines.push(l) });
  const options = { routes: routesOf(services), maxMessageBytes, logger };
  const client = new H2TestClient((stream, headers) => startCall(stream, headers, options));
  client.start();
  return {
    client,
    logLines,
    call(id, path, messages, extra = []) {
      client.send(headersFrame(id, requestHeaders(path, extra)));
      if (messages.length === 0) client.send(dataFrame(id, new Uint8Array(0), true));
      messages.forEach((m, i) =>
        client.send(dataFrame(id, grpcMessage(m), i === messages.length - 1))
      );
    },
  };
}

/** Waits until the server has ended stream `id`, then returns its response. */
async function responseOf(client: H2TestClient, id: number): Promise<StreamResponse> {
  await until(() => client.response(id).ended, `stream ${id} to end`);
  return client.response(id);
}

async function finish(client: H2TestClient): Promise<void> {
  client.conn.close("test over");
  await tick();
}

function texts(res: StreamResponse): string[] {
  return parseMessages(res.body).map((b) => dec.decode(b));
}

function statusOf(res: StreamResponse): [number, string | undefined] {
  return [Number(header(res.trailers, "grpc-status")), header(res.trailers, "grpc-message")];
}

/** Asserts a trailers-only response with `code`; returns its grpc-message. */
function assertTrailersOnly(res: StreamResponse, code: number): string | undefined {
  assertEquals(res.headers, undefined, "trailers-only: no separate headers");
  assertEquals(res.body.length, 0);
  assertEquals(header(res.trailers, ":status"), "200");
  assertEquals(header(res.trailers, "content-type"), "application/grpc");
  assertEquals(header(res.trailers, "grpc-status"), String(code));
  return header(res.trailers, "grpc-message");
}

/** The response headers of a call whose handler adds none. */
const RESPONSE_HEADERS = [
  [":status", "200"],
  ["content-type", "application/grpc"],
  ["grpc-accept-encoding", "identity,gzip"],
];

Deno.test("call: unary success", async () => {
  let seen: CallContext | undefined;
  const { client, call } = setup([unary("Echo", (req, ctx) => {
    seen = ctx;
    return `echo: ${req}`;
  })]);
  call(1, "/test.T/Echo", ["hi"]);
  const res = await responseOf(client, 1);
  assertEquals(res.headers, RESPONSE_HEADERS);
  assertEquals(res.dataFrames.length, 1);
  // One message: 5-byte prefix + body.
  assertEquals([...res.body.subarray(0, 5)], [0, 0, 0, 0, 8]);
  assertEquals(texts(res), ["echo: hi"]);
  assertEquals(res.trailers, [["grpc-status", "0"]]);
  assertEquals(res.rst, undefined);
  // Trailers are the last frame of the stream and carry END_STREAM.
  const own = client.sync().filter((f) => f.streamId === 1);
  assertEquals(own.map((f) => f.type), [FrameType.HEADERS, FrameType.DATA, FrameType.HEADERS]);
  assertEquals(seen?.method, "/test.T/Echo");
  assertEquals(client.conn.streamCount, 0);
  await finish(client);
});

Deno.test("call: unary success on the real KV service, and its NOT_FOUND", async () => {
  const kv = fromTsProto(KVDefinition);
  const { client } = setup([kvService()]);
  const key = `missing-${crypto.randomUUID()}`;
  client.send(headersFrame(1, requestHeaders("/proto.KV/Get")));
  client.send(dataFrame(1, grpcMessage(kv.methods.get.request.encode({ key })), true));
  const res = await responseOf(client, 1);
  const message = assertTrailersOnly(res, Status.NOT_FOUND);
  assertEquals(message, `no value stored for key "${key}"`);
  await finish(client);
});

Deno.test("call: an unknown path is a trailers-only UNIMPLEMENTED", async () => {
  const { client, call } = setup([unary("Echo", (r) => r)]);
  call(1, "/test.T/Nope", ["x"]);
  const res = await responseOf(client, 1);
  const message = assertTrailersOnly(res, Status.UNIMPLEMENTED);
  assert(message?.includes("/test.T/Nope"), `message: ${message}`);
  await finish(client);
});

Deno.test("call: a method other than POST is answered 405", async () => {
  const { client } = setup([unary("Echo", (r) => r)]);
  client.send(headersFrame(1, requestHeaders("/test.T/Echo", [], { method: "GET" })));
  const res = await responseOf(client, 1);
  assertEquals(res.trailers, [[":status", "405"]]);
  assertEquals(res.body.length, 0);
  await finish(client);
});

Deno.test("call: a content-type other than application/grpc is answered 415", async () => {
  const { client } = setup([unary("Echo", (r) => r)]);
  client.send(
    headersFrame(1, requestHeaders("/test.T/Echo", [], { contentType: "application/json" })),
  );
  const res = await responseOf(client, 1);
  assertEquals(res.trailers, [[":status", "415"]]);
  // application/grpc+proto is still gRPC.
  client.send(
    headersFrame(3, requestHeaders("/test.T/Echo", [], { contentType: "application/grpc+proto" })),
  );
  client.send(dataFrame(3, grpcMessage("p"), true));
  assertEquals(texts(await responseOf(client, 3)), ["p"]);
  await finish(client);
});

Deno.test("call: a grpc-encoding other than identity or gzip is UNIMPLEMENTED, naming both", async () => {
  let called = false;
  const { client, call } = setup([unary("Echo", (r) => (called = true, r))]);
  call(1, "/test.T/Echo", ["x"], [["grpc-encoding", "deflate"]]);
  const res = await responseOf(client, 1);
  const message = assertTrailersOnly(res, Status.UNIMPLEMENTED);
  assert(message?.includes("deflate"), `message: ${message}`);
  assertEquals(header(res.trailers, "grpc-accept-encoding"), "identity,gzip");
  assert(!called);
  // identity and gzip are fine (uncompressed messages are allowed under gzip).
  call(3, "/test.T/Echo", ["y"], [["grpc-encoding", "identity"]]);
  assertEquals(texts(await responseOf(client, 3)), ["y"]);
  call(5, "/test.T/Echo", ["z"], [["grpc-encoding", "gzip"]]);
  assertEquals(texts(await responseOf(client, 5)), ["z"]);
  await finish(client);
});

Deno.test("call: a message with the compressed flag is INTERNAL", async () => {
  let called = false;
  const { client } = setup([unary("Echo", (r) => (called = true, r))]);
  client.send(headersFrame(1, requestHeaders("/test.T/Echo")));
  client.send(dataFrame(1, grpcMessage("x", true)));
  const res = await responseOf(client, 1);
  assertEquals(assertTrailersOnly(res, Status.INTERNAL)?.includes("compressed"), true);
  // The client had not finished: the server tells it to stop.
  assertEquals(res.rst, H2Error.NO_ERROR);
  assert(!called);
  await finish(client);
});

Deno.test("call: a message over maxMessageBytes is RESOURCE_EXHAUSTED", async () => {
  const { client, call } = setup([unary("Echo", (r) => r)], 10);
  call(1, "/test.T/Echo", ["0123456789"]);
  assertEquals(texts(await responseOf(client, 1)), ["0123456789"]);
  // Refused on the prefix alone, before the body arrives.
  client.send(headersFrame(3, requestHeaders("/test.T/Echo")));
  client.send(dataFrame(3, grpcMessage("0123456789A").subarray(0, 5)));
  const res = await responseOf(client, 3);
  const message = assertTrailersOnly(res, Status.RESOURCE_EXHAUSTED);
  assert(message?.includes("11 vs. 10"), `message: ${message}`);
  // A response over the limit too.
  const big = setup([unary("Big", () => "x".repeat(11))], 10);
  big.call(1, "/test.T/Big", ["a"]);
  assertTrailersOnly(await responseOf(big.client, 1), Status.RESOURCE_EXHAUSTED);
  await finish(client);
  await finish(big.client);
});

Deno.test("call: a request message split over several DATA frames", async () => {
  const { client } = setup([unary("Echo", (r) => r.toUpperCase())]);
  const msg = grpcMessage("abcdefghij");
  client.send(headersFrame(1, requestHeaders("/test.T/Echo")));
  // Split inside the prefix, then inside the body, then an empty END_STREAM frame.
  client.send(dataFrame(1, msg.subarray(0, 2)));
  client.send(dataFrame(1, msg.subarray(2, 7)));
  client.send(dataFrame(1, msg.subarray(7, 12)));
  client.send(dataFrame(1, msg.subarray(12)));
  client.send(dataFrame(1, new Uint8Array(0), true));
  const res = await responseOf(client, 1);
  assertEquals(texts(res), ["ABCDEFGHIJ"]);
  assertEquals(statusOf(res), [Status.OK, undefined]);
  await finish(client);
});

Deno.test("call: a unary request with no message, or two, fails", async () => {
  const { client, call } = setup([unary("Echo", (r) => r)]);
  call(1, "/test.T/Echo", []);
  assertTrailersOnly(await responseOf(client, 1), Status.UNIMPLEMENTED);
  call(3, "/test.T/Echo", ["a", "b"]);
  assertTrailersOnly(await responseOf(client, 3), Status.UNIMPLEMENTED);
  // The request ends inside a message.
  client.send(headersFrame(5, requestHeaders("/test.T/Echo")));
  client.send(dataFrame(5, grpcMessage("abc").subarray(0, 6), true));
  assertTrailersOnly(await responseOf(client, 5), Status.INTERNAL);
  await finish(client);
});

Deno.test("call: a handler that throws answers UNKNOWN with its message", async () => {
  const { client, call, logLines } = setup([
    unary("Sync", () => {
      throw new Error("sync boom");
    }),
    unary("Async", () => Promise.reject(new Error("async boom"))),
  ]);
  call(1, "/test.T/Sync", ["x"]);
  call(3, "/test.T/Async", ["x"]);
  const sync = await responseOf(client, 1);
  const asy = await responseOf(client, 3);
  assertEquals(assertTrailersOnly(sync, Status.UNKNOWN), "sync boom");
  assertEquals(assertTrailersOnly(asy, Status.UNKNOWN), "async boom");
  assertEquals(logLines.length, 2, "handler failures are logged");
  assert(logLines[0].includes("handler failed"));
  await finish(client);
});

Deno.test("call: an RpcError's code, grpc-message percent-encoded", async () => {
  const { client, call, logLines } = setup([unary("Fail", () => {
    throw new RpcError(Status.FAILED_PRECONDITION, "héllo 100% ✓\n");
  })]);
  call(1, "/test.T/Fail", ["x"]);
  const res = await responseOf(client, 1);
  const message = assertTrailersOnly(res, Status.FAILED_PRECONDITION);
  assertEquals(message, "h%C3%A9llo 100%25 %E2%9C%93%0A");
  assertEquals(decodeURIComponent(message!), "héllo 100% ✓\n");
  assertEquals(logLines.length, 0, "an RpcError is no handler bug");
  await finish(client);
});

Deno.test("call: an error after streamed messages goes in the trailers", async () => {
  const { client, call } = setup([serverStream("Some", async function* () {
    yield "one";
    throw new RpcError(Status.ABORTED, "stopped");
  })]);
  call(1, "/test.T/Some", ["x"]);
  const res = await responseOf(client, 1);
  assertEquals(header(res.headers, ":status"), "200");
  assertEquals(texts(res), ["one"]);
  assertEquals(res.trailers, [["grpc-status", String(Status.ABORTED)], [
    "grpc-message",
    "stopped",
  ]]);
  await finish(client);
});

Deno.test("call: grpc-timeout ends a slow call with DEADLINE_EXCEEDED and aborts its signal", async () => {
  let signal: AbortSignal | undefined;
  const { client, call } = setup([unary("Slow", (_req, ctx) => {
    signal = ctx.signal;
    return new Promise<string>((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
    });
  })]);
  const started = Date.now();
  call(1, "/test.T/Slow", ["x"], [["grpc-timeout", "50m"]]);
  const res = await responseOf(client, 1);
  const elapsed = Date.now() - started;
  assertEquals(assertTrailersOnly(res, Status.DEADLINE_EXCEEDED), "deadline exceeded");
  assert(elapsed >= 45, `ended after ${elapsed} ms`);
  assert(signal?.aborted);
  assert(signal.reason instanceof RpcError);
  assertEquals((signal.reason as RpcError).code, Status.DEADLINE_EXCEEDED);
  await finish(client);
});

Deno.test("call: a call that beats its grpc-timeout leaves no timer behind", async () => {
  const { client, call } = setup([unary("Fast", (r) => r)]);
  call(1, "/test.T/Fast", ["x"], [["grpc-timeout", "10S"]]);
  assertEquals(statusOf(await responseOf(client, 1)), [Status.OK, undefined]);
  // The op sanitizer fails this test if the 10 s timer is still pending.
  await finish(client);
});

Deno.test("call: client RST_STREAM aborts the handler's signal", async () => {
  let signal: AbortSignal | undefined;
  let settled = false;
  const { client, call } = setup([unary("Slow", (_req, ctx) => {
    signal = ctx.signal;
    return new Promise<string>((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => {
        settled = true;
        reject(ctx.signal.reason);
      });
    });
  })]);
  call(1, "/test.T/Slow", ["x"]);
  await until(() => signal !== undefined, "the handler to run");
  assert(!signal!.aborted);
  client.send(rstStreamFrame(1, H2Error.CANCEL));
  assert(signal!.aborted);
  assertEquals((signal!.reason as RpcError).code, Status.CANCELLED);
  await tick();
  assert(settled);
  // Nothing is sent on the reset stream.
  const res = client.response(1);
  assertEquals([res.ended, res.headers, res.trailers], [false, undefined, undefined]);
  await finish(client);
});

Deno.test("call: a signal read after the cancel is already aborted", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let aborted: boolean | undefined;
  const { client, call } = setup([unary("Late", async (_req, ctx) => {
    await gate;
    aborted = ctx.signal.aborted; // first read of ctx.signal, after the reset
    return "late";
  })]);
  call(1, "/test.T/Late", ["x"]);
  await tick();
  client.send(rstStreamFrame(1, H2Error.CANCEL));
  release();
  await until(() => aborted !== undefined, "the handler to finish");
  assert(aborted);
  await tick();
  assertEquals(client.response(1).ended, false);
  await finish(client);
});

Deno.test("call: server-streaming handler yields three messages then OK", async () => {
  const { client, call } = setup([serverStream("Three", async function* (req) {
    for (let i = 1; i <= 3; i++) {
      await tick();
      yield `${req}-${i}`;
    }
  })]);
  call(1, "/test.T/Three", ["m"]);
  const res = await responseOf(client, 1);
  assertEquals(res.headers, RESPONSE_HEADERS);
  assertEquals(texts(res), ["m-1", "m-2", "m-3"]);
  assertEquals(res.trailers, [["grpc-status", "0"]]);
  // A plain iterable works too, and an empty stream is trailers-only OK.
  const more = setup([
    serverStream("Sync", () => ["a", "b"]),
    serverStream("Empty", () => []),
  ]);
  more.call(1, "/test.T/Sync", ["x"]);
  assertEquals(texts(await responseOf(more.client, 1)), ["a", "b"]);
  more.call(3, "/test.T/Empty", ["x"]);
  assertTrailersOnly(await responseOf(more.client, 3), Status.OK);
  await finish(client);
  await finish(more.client);
});

Deno.test("call: client-streaming handler reads requests until END_STREAM", async () => {
  const got: string[] = [];
  const { client } = setup([clientStream("Join", async (requests) => {
    for await (const r of requests) got.push(r);
    return got.join("+");
  })]);
  client.send(headersFrame(1, requestHeaders("/test.T/Join")));
  client.send(dataFrame(1, grpcMessage("a")));
  await tick();
  assertEquals(got, ["a"]);
  // Two messages in one frame, and one split across frames.
  const b = grpcMessage("b"), c = grpcMessage("cc");
  client.send(dataFrame(1, concat(b, c.subarray(0, 3))));
  client.send(dataFrame(1, c.subarray(3)));
  await tick();
  assertEquals(got, ["a", "b", "cc"]);
  assertEquals(client.response(1).ended, false);
  client.send(dataFrame(1, new Uint8Array(0), true));
  const res = await responseOf(client, 1);
  assertEquals(texts(res), ["a+b+cc"]);
  assertEquals(statusOf(res), [Status.OK, undefined]);
  await finish(client);
});

Deno.test("call: bidi handler answers each request as it comes", async () => {
  const { client } = setup([bidiStream("Echo", async function* (requests) {
    for await (const r of requests) yield `re: ${r}`;
  })]);
  client.send(headersFrame(1, requestHeaders("/test.T/Echo")));
  client.send(dataFrame(1, grpcMessage("one")));
  await until(() => client.response(1).body.length > 0, "the first answer");
  assertEquals(texts(client.response(1)), ["re: one"]);
  client.send(dataFrame(1, grpcMessage("two")));
  await until(() => texts(client.response(1)).length === 2, "the second answer");
  assertEquals(client.response(1).ended, false);
  client.send(dataFrame(1, grpcMessage("three"), true));
  const res = await responseOf(client, 1);
  assertEquals(texts(res), ["re: one", "re: two", "re: three"]);
  assertEquals(res.trailers, [["grpc-status", "0"]]);
  await finish(client);
});

Deno.test("call: a bidi handler may finish before the client does", async () => {
  const { client } = setup([bidiStream("First", async function* (requests) {
    for await (const r of requests) {
      yield r;
      return;
    }
  })]);
  client.send(headersFrame(1, requestHeaders("/test.T/First")));
  client.send(dataFrame(1, grpcMessage("only")));
  const res = await responseOf(client, 1);
  assertEquals(texts(res), ["only"]);
  assertEquals(statusOf(res), [Status.OK, undefined]);
  assertEquals(res.rst, H2Error.NO_ERROR); // the client may stop sending
  await finish(client);
});

Deno.test("call: client RST_STREAM ends a streaming handler's requests", async () => {
  let error: unknown;
  let signal: AbortSignal | undefined;
  const { client } = setup([clientStream("Wait", async (requests, ctx) => {
    signal = ctx.signal;
    try {
      for await (const _ of requests) { /* drain */ }
    } catch (err) {
      error = err;
      throw err;
    }
    return "done";
  })]);
  client.send(headersFrame(1, requestHeaders("/test.T/Wait")));
  client.send(dataFrame(1, grpcMessage("a")));
  await tick();
  client.send(rstStreamFrame(1, H2Error.CANCEL));
  await until(() => error !== undefined, "the request iterator to throw");
  assert(error instanceof RpcError);
  assertEquals(error.code, Status.CANCELLED);
  assert(signal?.aborted);
  await finish(client);
});

Deno.test("call: metadata leaves out pseudo-headers and transport headers", async () => {
  let metadata: CallContext["metadata"] | undefined;
  const { client, call } = setup([unary("Md", (r, ctx) => {
    metadata = ctx.metadata;
    return r;
  })]);
  call(1, "/test.T/Md", ["x"], [
    ["grpc-timeout", "10S"],
    ["grpc-accept-encoding", "identity"],
    ["user-agent", "grpc-go/1.0"],
    ["x-custom", "a"],
    ["x-custom", "b"],
    ["authorization", "Bearer t"],
  ]);
  await responseOf(client, 1);
  assertEquals(metadata, {
    "user-agent": ["grpc-go/1.0"],
    "x-custom": ["a", "b"],
    "authorization": ["Bearer t"],
  });
  await finish(client);
});

Deno.test("parseTimeout: every unit, and bad values", () => {
  assertEquals(parseTimeout("2H"), 7_200_000);
  assertEquals(parseTimeout("3M"), 180_000);
  assertEquals(parseTimeout("5S"), 5000);
  assertEquals(parseTimeout("50m"), 50);
  assertEquals(parseTimeout("1500u"), 1.5);
  assertEquals(parseTimeout("2000000n"), 2);
  assertEquals(parseTimeout("0m"), 0);
  assertEquals(parseTimeout("99999999S"), 99_999_999_000); // eight digits is the most
  for (
    const bad of [
      undefined,
      "",
      "m",
      "5",
      "5x",
      "5s",
      "-5m",
      "1.5S",
      "S5",
      "123456789S", // nine digits
    ]
  ) {
    assertEquals(parseTimeout(bad), undefined, `parseTimeout(${JSON.stringify(bad)})`);
  }
});

/** An engine serving `services` on a unix socket, and a client socket connected to it. */
async function withEngine(
  services: ServiceImplementation[],
  fn: (sock: Deno.Conn, engine: Engine, logLines: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-native-" });
  const path = `${dir}/plugin.sock`;
  const logLines: string[] = [];
  const engine = createNativeEngine({
    maxMessageBytes: 16 << 20,
    logger: createLogger({ level: "warn", write: (l) => logLines.push(l) }),
  });
  for (const s of services) engine.addService(s);
  assertEquals(await engine.bind("unix", path), 0);
  const sock = await Deno.connect({ transport: "unix", path });
  try {
    await fn(sock, engine, logLines);
    // The listener is gone after shutdown.
    let refused = false;
    try {
      (await Deno.connect({ transport: "unix", path })).close();
    } catch {
      refused = true;
    }
    assert(refused, "the listener still accepts after shutdown");
  } finally {
    sock.close();
    await tick(5); // let the server's read loop see its socket closed
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}

/** Reads frames until `done` says stop, or until the server hangs up when `done` is omitted. */
async function readFrames(sock: Deno.Conn, done?: (frames: Frame[]) => boolean): Promise<Frame[]> {
  const decoder = new HpackDecoder();
  const frames: Frame[] = [];
  let buffered: Uint8Array = new Uint8Array(0);
  const buf = new Uint8Array(64 << 10);
  while (!done?.(frames)) {
    const n = await sock.read(buf);
    if (n === null) break;
    const { frames: got, rest } = parseFrames(concat(buffered, buf.subarray(0, n)));
    buffered = rest;
    frames.push(...decodeHeaderBlocks(got, decoder));
  }
  return frames;
}

/** The client's side of one call on stream 1: preface, settings, headers, one message. */
function request(path: string, settings: [number, number][] = [], extra: Uint8Array[] = []) {
  return concat(
    CLIENT_PREFACE,
    settingsFrame(settings),
    ...extra,
    headersFrame(1, requestHeaders(path)),
    dataFrame(1, grpcMessage("over the socket"), true),
  );
}

const endsStream1 = (frames: Frame[]) =>
  frames.some((f) => f.streamId === 1 && f.type === FrameType.HEADERS && (f.flags & 1));

Deno.test("createNativeEngine: a unary call over a unix socket, then shutdown", () =>
  withEngine([unary("Echo", (r) => `echo: ${r}`)], async (sock, engine) => {
    await writeAll(sock, request("/test.T/Echo"));
    const ofStream = (await readFrames(sock, endsStream1)).filter((f) => f.streamId === 1);
    assertEquals(ofStream.map((f) => f.type), [
      FrameType.HEADERS,
      FrameType.DATA,
      FrameType.HEADERS,
    ]);
    assertEquals(header(ofStream[0].headers, ":status"), "200");
    assertEquals(
      parseMessages(ofStream[1].payload).map((b) => dec.decode(b)),
      ["echo: over the socket"],
    );
    assertEquals(ofStream[2].headers, [["grpc-status", "0"]]);

    await engine.shutdown(100);
    // The server says GOAWAY (last stream 1, NO_ERROR), then hangs up.
    const goaway = (await readFrames(sock)).filter((f) => f.type === FrameType.GOAWAY);
    assertEquals(goaway.length, 1);
    assertEquals([...goaway[0].payload.subarray(0, 8)], [0, 0, 0, 1, 0, 0, 0, 0]);
  }));

Deno.test("createNativeEngine: shutdown cancels a call that outlives the grace period", async () => {
  let signal: AbortSignal | undefined;
  const hang = unary("Hang", (_req, ctx) => {
    signal = ctx.signal;
    return new Promise<string>((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
    });
  });
  await withEngine([hang], async (sock, engine) => {
    await writeAll(sock, request("/test.T/Hang"));
    await until(() => signal !== undefined, "the handler to run");
    const started = Date.now();
    await engine.shutdown(50);
    const elapsed = Date.now() - started;
    assert(elapsed >= 45, `shutdown returned after ${elapsed} ms, before the grace period`);
    assert(signal!.aborted, "the in-flight call was not cancelled");
    assertEquals((signal!.reason as RpcError).code, Status.CANCELLED);
    // The client sees GOAWAY and then the end of the connection, no response.
    const frames = await readFrames(sock);
    assertEquals(frames.filter((f) => f.type === FrameType.GOAWAY).length, 1);
    assertEquals(frames.filter((f) => f.streamId === 1).length, 0);
  });
});

// Regressions found in review: each of these once hung, leaked or crashed.

Deno.test("call: a streaming handler waiting for window is released by the client's RST_STREAM", async () => {
  let finallyRan = false;
  const { client, call } = setup([serverStream("Flood", async function* () {
    try {
      for (let i = 0;; i++) yield "x".repeat(64 << 10);
    } finally {
      finallyRan = true;
    }
  })]);
  // A tiny stream window: the handler soon waits for WINDOW_UPDATE.
  client.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 16]]));
  call(1, "/test.T/Flood", ["go"]);
  // The window's 16 bytes went out: the handler now waits for WINDOW_UPDATE.
  await until(() => client.response(1).body.length >= 16, "the first 16 bytes of the response");
  assert(!finallyRan);
  client.send(rstStreamFrame(1, H2Error.CANCEL));
  await until(() => finallyRan, "the handler's finally block");
  assertEquals(client.conn.streamCount, 0);
  await finish(client);
});

Deno.test("call: a stream reset by a bad WINDOW_UPDATE aborts its handler", async () => {
  let signal: AbortSignal | undefined;
  const { client, call } = setup([serverStream("Wait", (_req, ctx) => {
    signal = ctx.signal;
    return (async function* () {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      yield* [];
    })();
  })]);
  call(1, "/test.T/Wait", ["go"]);
  await until(() => signal !== undefined, "the handler to run");
  client.send(windowUpdateFrame(1, 0));
  assert(signal!.aborted, "the handler's signal was not aborted");
  await tick();
  assertEquals(client.response(1).rst, H2Error.PROTOCOL_ERROR);
  await finish(client);
});

Deno.test("call: a handler rejecting with a value that has no text answers UNKNOWN", async () => {
  const { client, call } = setup([unary("Odd", () => Promise.reject(Object.create(null)))]);
  call(1, "/test.T/Odd", ["x"]);
  const res = await responseOf(client, 1);
  assertEquals(statusOf(res)[0], Status.UNKNOWN);
  await finish(client);
});

Deno.test("call: HEADERS after the client ended its side resets the stream (STREAM_CLOSED)", async () => {
  let signal: AbortSignal | undefined;
  const release = Promise.withResolvers<void>();
  const returned = Promise.withResolvers<void>();
  const { client, call } = setup([unary("Slow", async (_req, ctx) => {
    signal = ctx.signal;
    await release.promise;
    returned.resolve();
    return "late";
  })]);
  call(1, "/test.T/Slow", ["x"]);
  client.send(headersFrame(1, [["x-late", "1"]], true));
  await tick();
  assertEquals(client.response(1).rst, H2Error.STREAM_CLOSED);
  assert(signal?.aborted, "the handler's signal was not aborted");
  // The handler answers after its stream was reset: nothing breaks.
  release.resolve();
  await returned.promise;
  await tick();
  await finish(client);
});

Deno.test("createNativeEngine: shutdown lets a large response that ends within the grace reach the client", async () => {
  const size = 2_000_000;
  const started = Promise.withResolvers<void>();
  const answer = Promise.withResolvers<void>();
  const big = unary("Big", async () => {
    started.resolve();
    await answer.promise; // still running when shutdown starts
    return "b".repeat(size);
  });
  await withEngine([big], async (sock, engine, logLines) => {
    const window = [Setting.INITIAL_WINDOW_SIZE, 0x7fff_ffff] as [number, number];
    await writeAll(
      sock,
      request("/test.T/Big", [window], [windowUpdateFrame(0, 0x7fff_ffff - 65_535)]),
    );
    await started.promise;
    const stopped = engine.shutdown(5000);
    answer.resolve();
    const frames = (await readFrames(sock)).filter((f) => f.streamId === 1);
    await stopped;
    const body = frames.filter((f) => f.type === FrameType.DATA)
      .reduce((n, f) => n + f.payload.length, 0);
    assertEquals(body, size + 5, "the whole message");
    const last = frames[frames.length - 1];
    assert(last.type === FrameType.HEADERS && (last.flags & 1) === 1, "trailers last");
    assertEquals(logLines.filter((l) => l.includes("timed out")), [], "no grace-period warning");
  });
});

// --- what a handler adds to the response: headers, trailers, compression

/** A response body's messages, with their compressed flags (parseMessages refuses compressed ones). */
function flaggedMessages(body: Uint8Array): { compressed: boolean; bytes: Uint8Array }[] {
  const out: { compressed: boolean; bytes: Uint8Array }[] = [];
  for (let pos = 0; pos < body.length;) {
    const n = new DataView(body.buffer, body.byteOffset + pos + 1, 4).getUint32(0);
    out.push({ compressed: body[pos] === 1, bytes: body.slice(pos + 5, pos + 5 + n) });
    pos += 5 + n;
  }
  return out;
}

/** The messages of a response, decompressed, each as [text, came compressed]. */
async function decodedMessages(res: StreamResponse): Promise<[string, boolean][]> {
  const out: [string, boolean][] = [];
  for (const m of flaggedMessages(res.body)) {
    out.push([dec.decode(m.compressed ? await gunzip(m.bytes, 1 << 20) : m.bytes), m.compressed]);
  }
  return out;
}

const ACCEPT_GZIP: [string, string][] = [["grpc-accept-encoding", "identity,gzip"]];

Deno.test("call: the identity path answers a sync handler in the same turn, with no promise", async () => {
  const { client, call } = setup([unary("Echo", (r) => r)]);
  call(1, "/test.T/Echo", ["now"], ACCEPT_GZIP);
  // No await since the request went in: the response and its status are already queued.
  assertEquals(client.conn.streamCount, 0);
  const res = await responseOf(client, 1);
  assertEquals(res.headers, RESPONSE_HEADERS);
  assertEquals(await decodedMessages(res), [["now", false]]);
  await finish(client);
});

Deno.test("call: gzip requests are decompressed, and requestCompressed says which came compressed", async () => {
  const seen: [string, boolean][] = [];
  const { client } = setup([unary("Echo", (r, ctx) => {
    seen.push([r, ctx.requestCompressed]);
    return r;
  })]);
  const gzipped = grpcMessage(await gzip(enc.encode("packed")), true);
  client.send(headersFrame(1, requestHeaders("/test.T/Echo", [["grpc-encoding", "gzip"]])));
  client.send(dataFrame(1, gzipped, true));
  assertEquals(texts(await responseOf(client, 1)), ["packed"]);
  // Under grpc-encoding gzip a message may still go uncompressed.
  client.send(headersFrame(3, requestHeaders("/test.T/Echo", [["grpc-encoding", "gzip"]])));
  client.send(dataFrame(3, grpcMessage("plain"), true));
  assertEquals(texts(await responseOf(client, 3)), ["plain"]);
  assertEquals(seen, [["packed", true], ["plain", false]]);
  await finish(client);
});

Deno.test("call: a stream's compressed and plain requests reach the handler in order, each with its flag", async () => {
  const seen: [string, boolean][] = [];
  const { client } = setup([clientStream("Gather", async (reqs, ctx) => {
    for await (const r of reqs) seen.push([r, ctx.requestCompressed]);
    return seen.map(([r]) => r).join(",");
  })]);
  client.send(headersFrame(1, requestHeaders("/test.T/Gather", [["grpc-encoding", "gzip"]])));
  // All in one DATA frame with END_STREAM: the plain ones must wait their turn.
  client.send(dataFrame(
    1,
    concat(
      grpcMessage("a"),
      grpcMessage(await gzip(enc.encode("b")), true),
      grpcMessage("c"),
      grpcMessage(await gzip(enc.encode("d")), true),
      grpcMessage("e"),
    ),
    true,
  ));
  const res = await responseOf(client, 1);
  assertEquals(texts(res), ["a,b,c,d,e"]);
  assertEquals(seen, [["a", false], ["b", true], ["c", false], ["d", true], ["e", false]]);
  await finish(client);
});

Deno.test("call: a request that decompresses past maxMessageBytes is RESOURCE_EXHAUSTED (zip bomb)", async () => {
  let called = false;
  const { client } = setup([unary("Echo", (r) => (called = true, r))], 1 << 20);
  // 32 MiB of zeros, about 32 KB compressed: well under the limit on the wire.
  const zeros = new Uint8Array(32 << 20);
  const bomb = await gzip(zeros);
  assert(bomb.length < 1 << 20, `the bomb is ${bomb.length} bytes`);
  client.send(headersFrame(1, requestHeaders("/test.T/Echo", [["grpc-encoding", "gzip"]])));
  const wire = grpcMessage(bomb, true);
  for (let at = 0; at < wire.length; at += 16384) {
    client.send(dataFrame(1, wire.subarray(at, at + 16384), at + 16384 >= wire.length));
  }
  const message = assertTrailersOnly(await responseOf(client, 1), Status.RESOURCE_EXHAUSTED);
  assert(message?.includes("decompresses to more than max (1048576"), `message: ${message}`);
  assert(!called);
  // Not gzip at all: INTERNAL.
  client.send(headersFrame(3, requestHeaders("/test.T/Echo", [["grpc-encoding", "gzip"]])));
  client.send(dataFrame(3, grpcMessage("not gzip", true), true));
  assertTrailersOnly(await responseOf(client, 3), Status.INTERNAL);
  await finish(client);
});

Deno.test("call: setHeaders and setTrailers reach the response headers and the trailers, -bin in base64", async () => {
  const { client, call } = setup([unary("Md", (r, ctx) => {
    ctx.setHeaders({ "x-h": "1", "x-h-bin": new Uint8Array([1, 2]) });
    ctx.setHeaders({ "X-Second": ["a", "b"] });
    ctx.setTrailers({ "x-t": "t" });
    ctx.setTrailers({ "x-t-bin": new Uint8Array([255]) });
    return r;
  })]);
  call(1, "/test.T/Md", ["x"]);
  const res = await responseOf(client, 1);
  assertEquals(res.headers, [
    ...RESPONSE_HEADERS,
    ["x-h", "1"],
    ["x-h-bin", "AQI"],
    ["x-second", "a"],
    ["x-second", "b"],
  ]);
  assertEquals(texts(res), ["x"]);
  assertEquals(res.trailers, [["grpc-status", "0"], ["x-t", "t"], ["x-t-bin", "/w"]]);
  await finish(client);
});

Deno.test("call: headers a failing handler set still go out as headers, then the status with its trailers", async () => {
  const { client, call } = setup([unary("Fail", (_r, ctx) => {
    ctx.setHeaders({ "x-h": "1" });
    ctx.setTrailers({ "x-t": "2" });
    throw new RpcError(Status.NOT_FOUND, "nothing here");
  })]);
  call(1, "/test.T/Fail", ["x"]);
  const res = await responseOf(client, 1);
  assertEquals(res.headers, [...RESPONSE_HEADERS, ["x-h", "1"]]);
  assertEquals(res.body.length, 0);
  assertEquals(res.trailers, [["grpc-status", "5"], ["grpc-message", "nothing here"], [
    "x-t",
    "2",
  ]]);
  await finish(client);
});

Deno.test("call: setHeaders after the first response message, setTrailers after the end, and reserved names throw TypeError", async () => {
  const errors: string[] = [];
  let ctxAfter: CallContext | undefined;
  const record = (fn: () => void) => {
    try {
      fn();
      errors.push("no error");
    } catch (err) {
      errors.push(`${(err as Error).constructor.name}: ${(err as Error).message}`);
    }
  };
  const { client, call } = setup([serverStream("Late", async function* (_r, ctx) {
    ctxAfter = ctx;
    record(() => ctx.setHeaders({ "grpc-status": "1" }));
    record(() => ctx.setHeaders({ ":path": "/x" }));
    record(() => ctx.setTrailers({ "x-bytes": new Uint8Array([1]) }));
    yield "first";
    record(() => ctx.setHeaders({ "x-late": "1" }));
    ctx.setTrailers({ "x-t": "still fine" });
    yield "second";
  })]);
  call(1, "/test.T/Late", ["x"]);
  const res = await responseOf(client, 1);
  assertEquals(texts(res), ["first", "second"]);
  assertEquals(res.headers, RESPONSE_HEADERS);
  assertEquals(res.trailers, [["grpc-status", "0"], ["x-t", "still fine"]]);
  record(() => ctxAfter!.setTrailers({ "x-t": "too late" }));
  record(() => ctxAfter!.setHeaders({ "x-h": "too late" }));
  assertEquals(errors.length, 6);
  assert(errors[0].startsWith('TypeError: Metadata key "grpc-status" is reserved'), errors[0]);
  assert(errors[1].startsWith('TypeError: Metadata key ":path" is reserved'), errors[1]);
  assert(errors[2].startsWith('TypeError: Metadata key "x-bytes" has a binary value'), errors[2]);
  assertEquals(
    errors[3],
    "TypeError: The response headers of /test.T/Late are already sent (they go out with the " +
      "first response message, or when the call ends): call setHeaders before that",
  );
  assertEquals(
    errors[4],
    "TypeError: /test.T/Late has already ended: its trailers went out with the status",
  );
  assert(errors[5].startsWith("TypeError: The response headers of /test.T/Late"), errors[5]);
  await finish(client);
});

Deno.test("call: setResponseCompression gzip compresses only for a client that accepts gzip", async () => {
  const { client, call } = setup([unary("Zip", (r, ctx) => {
    ctx.setResponseCompression("gzip");
    return r.repeat(100);
  })]);
  call(1, "/test.T/Zip", ["ab"], ACCEPT_GZIP);
  const res = await responseOf(client, 1);
  assertEquals(res.headers, [...RESPONSE_HEADERS, ["grpc-encoding", "gzip"]]);
  assertEquals(await decodedMessages(res), [["ab".repeat(100), true]]);
  assertEquals(res.trailers, [["grpc-status", "0"]]);
  // No grpc-accept-encoding, or one without gzip: uncompressed, and the headers say nothing.
  call(3, "/test.T/Zip", ["cd"]);
  call(5, "/test.T/Zip", ["ef"], [["grpc-accept-encoding", "identity,deflate"]]);
  for (const [id, text] of [[3, "cd"], [5, "ef"]] as const) {
    const plain = await responseOf(client, id);
    assertEquals(plain.headers, RESPONSE_HEADERS);
    assertEquals(await decodedMessages(plain), [[text.repeat(100), false]]);
  }
  await finish(client);
});

Deno.test("call: compression switches per message on a stream; gzip after headers without it is a TypeError", async () => {
  let late = "";
  const { client, call } = setup([
    serverStream("Mixed", async function* (_r, ctx) {
      ctx.setResponseCompression("gzip");
      yield "one";
      ctx.setResponseCompression("identity");
      yield "two";
      ctx.setResponseCompression("gzip");
      yield "three";
    }),
    serverStream("Late", async function* (_r, ctx) {
      yield "plain";
      try {
        ctx.setResponseCompression("gzip");
      } catch (err) {
        late = (err as Error).message;
      }
      yield "still plain";
    }),
  ]);
  call(1, "/test.T/Mixed", ["x"], ACCEPT_GZIP);
  const res = await responseOf(client, 1);
  assertEquals(header(res.headers, "grpc-encoding"), "gzip");
  assertEquals(await decodedMessages(res), [["one", true], ["two", false], ["three", true]]);
  call(3, "/test.T/Late", ["x"], ACCEPT_GZIP);
  assertEquals(await decodedMessages(await responseOf(client, 3)), [
    ["plain", false],
    ["still plain", false],
  ]);
  assertEquals(
    late,
    "The response headers of /test.T/Late went out without gzip: " +
      'call setResponseCompression("gzip") before the first response message',
  );
  await finish(client);
});
