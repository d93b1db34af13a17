/**
 * A call's deadline holds while its output is stuck behind flow control:
 * a peer that never opens its window (a zero initial window, no
 * WINDOW_UPDATE) cannot keep a call, its stream or its bytes past the
 * call's deadline.
 *
 * The server role: the native engine (what `serve()` runs) on a unix
 * socket, and a raw client that announces SETTINGS_INITIAL_WINDOW_SIZE 0
 * and never grants any. A unary call whose handler has answered, and a
 * server-streaming call whose handler waits to write, are both reset with
 * RST_STREAM CANCEL at their `grpc-timeout` (grpc-go's server does the
 * same), the streaming handler's loop ends, and a window granted after the
 * reset sends nothing of theirs.
 *
 * The client role: `connect()` to a raw server that announces a zero
 * initial window (the request stays queued) or one concurrent stream (the
 * call waits for a slot that never frees): the call fails with
 * DEADLINE_EXCEEDED at its deadline, and the server reads RST_STREAM
 * CANCEL for the stream it had opened.
 *
 * @module
 */

import { liveTimers } from "../../_timer.ts";
import { createLogger } from "../../log/logger.ts";
import { implement } from "../../rpc/service.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import type { Channel } from "../../rpc/client_call.ts";
import {
  CLIENT_PREFACE,
  Flag,
  FrameType,
  H2Error,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../h2/frame.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { within } from "../_util/fuzz.ts";
import {
  concat,
  dataFrame,
  type Frame,
  grpcMessage,
  header,
  headersFrame,
  requestHeaders,
  u32At,
} from "../h2/_h2client.ts";
import { FrameReader, PING, pingAcked, withRawServer, writeAll } from "../h2/_socket_frames.ts";
import { textMethod } from "./_engines.ts";

const echo = textMethod("test.Stuck", "Echo", "unary");
const flood = textMethod("test.Stuck", "Flood", "serverStream");

/** A bound on each wait, far past the deadlines (the fix missing, the wait never ends). */
const BOUND_MS = 5000;

/** The RST_STREAM frame on stream `id`, if one came. */
function rstOf(frames: Frame[], id: number): Frame | undefined {
  return frames.find((f) => f.type === FrameType.RST_STREAM && f.streamId === id);
}

/**
 * Runs `fn` with the native engine serving `test.Stuck` on a unix socket,
 * and a raw client connected that granted no window; `flooded` resolves
 * when the streaming handler's loop has ended.
 */
async function withStingyClient(
  fn: (reader: FrameReader, sock: Deno.Conn, flooded: Promise<void>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-stuck-response-" });
  const path = `${dir}/plugin.sock`;
  const { promise: flooded, resolve: floodEnded } = Promise.withResolvers<void>();
  const engine = createNativeEngine({
    maxMessageBytes: 4 << 20,
    logger: createLogger({ level: "off", write: () => {} }),
  });
  engine.addService(implement({ name: "test.Stuck", methods: { echo, flood } }, {
    echo: (req) => req,
    async *flood(_req, call) {
      try {
        while (!call.signal.aborted) yield "x".repeat(64 << 10);
      } finally {
        floodEnded();
      }
    },
  }));
  await engine.bind("unix", path);
  const sock = await Deno.connect({ transport: "unix", path });
  try {
    const reader = new FrameReader(sock);
    await writeAll(sock, concat(CLIENT_PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0]])));
    await fn(reader, sock, flooded);
  } finally {
    sock.close();
    await engine.shutdown(0);
    await Deno.remove(dir, { recursive: true });
  }
}

/** A call on stream `id` to `path` with `grpc-timeout` 200m and one request message. */
function call(id: number, path: string): Uint8Array {
  return concat(
    headersFrame(id, requestHeaders(path, [["grpc-timeout", "200m"]])),
    dataFrame(id, grpcMessage("hello"), true),
  );
}

/** Grants window to the connection and stream `id`, then PINGs: its ACK says they were handled. */
async function grantLate(reader: FrameReader, sock: Deno.Conn, id: number): Promise<void> {
  reader.frames = [];
  await writeAll(
    sock,
    concat(windowUpdateFrame(0, 1 << 20), windowUpdateFrame(id, 1 << 20), PING),
  );
  await within(reader.until(pingAcked, "the PING ACK after the window"), BOUND_MS, "PING ACK");
  const data = reader.frames.filter((f) => f.type === FrameType.DATA && f.streamId === id);
  assertEquals(data.length, 0, "DATA of a reset stream went out once the window opened");
}

Deno.test("stuck response (server): a unary answer held by a zero window is reset with CANCEL at its deadline", () =>
  withStingyClient(async (reader, sock) => {
    await writeAll(sock, call(1, echo.path));
    await within(
      reader.until((frames) => rstOf(frames, 1) !== undefined, "RST_STREAM on stream 1"),
      BOUND_MS,
      "the stuck unary call's reset",
    );
    const rst = rstOf(reader.frames, 1)!;
    assertEquals(u32At(rst.payload), H2Error.CANCEL, "the reset's code");
    const trailers = reader.frames.find((f) =>
      f.streamId === 1 && f.headers && header(f.headers, "grpc-status")
    );
    assert(!trailers, "the trailers went out ahead of the response they follow");
    await grantLate(reader, sock, 1);
  }));

Deno.test("stuck response (server): a streaming handler waiting for a window is reset at its deadline and its loop ends", () =>
  withStingyClient(async (reader, sock, flooded) => {
    await writeAll(sock, call(1, flood.path));
    await within(
      reader.until((frames) => rstOf(frames, 1) !== undefined, "RST_STREAM on stream 1"),
      BOUND_MS,
      "the stuck streaming call's reset",
    );
    assertEquals(u32At(rstOf(reader.frames, 1)!.payload), H2Error.CANCEL, "the reset's code");
    await within(flooded, BOUND_MS, "the streaming handler's loop");
    await grantLate(reader, sock, 1);
  }));

Deno.test("stuck response (server): a call whose answer goes out in time leaves no deadline timer", () =>
  withStingyClient(async (reader, sock) => {
    await writeAll(sock, PING);
    await within(reader.until(pingAcked, "PING ACK"), BOUND_MS, "the first PING ACK");
    const before = liveTimers();
    reader.frames = [];
    // The stream's window opens before its request ends: the answer goes out at once.
    await writeAll(
      sock,
      concat(
        headersFrame(1, requestHeaders(echo.path, [["grpc-timeout", "10S"]])),
        windowUpdateFrame(1, 1 << 20),
        windowUpdateFrame(0, 1 << 20),
        dataFrame(1, grpcMessage("hello"), true),
        PING,
      ),
    );
    const status = (frames: Frame[]) =>
      frames.find((f) => f.streamId === 1 && f.headers && header(f.headers, "grpc-status"));
    await within(
      reader.until((f) => status(f) !== undefined && pingAcked(f), "the status"),
      BOUND_MS,
      "the status",
    );
    assertEquals(header(status(reader.frames)!.headers, "grpc-status"), "0");
    assertEquals(liveTimers(), before, "timers pending after the call ended");
  }));

/**
 * Our client (`connect()`), to a raw server that announced `settings` and
 * has its SETTINGS ACK: they hold from the first call.
 */
function withStingyServer(
  settings: [number, number][],
  fn: (channel: Channel, reader: FrameReader) => Promise<void>,
): Promise<void> {
  return withRawServer(4 << 20, async (channel, sock) => {
    const reader = new FrameReader(sock, CLIENT_PREFACE.length);
    await writeAll(sock, settingsFrame(settings));
    await within(
      reader.until(
        (frames) => frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK)),
        "SETTINGS ACK",
      ),
      BOUND_MS,
      "the client's SETTINGS ACK",
    );
    await fn(channel, reader);
  });
}

/** Waits for `p` to reject; fails unless with DEADLINE_EXCEEDED, at or after 200 ms from `started`. */
async function deadlineExceeded(p: Promise<unknown>, started: number): Promise<void> {
  const err = await within(p.then(() => null, (e) => e), BOUND_MS, "the stuck call");
  assert(err instanceof RpcError, `the call did not fail with an RpcError: ${err}`);
  assertEquals(err.code, Status.DEADLINE_EXCEEDED, err.message);
  assert(performance.now() - started >= 190, "the call failed before its deadline");
}

Deno.test("stuck request (client): a request held by the server's zero window fails with DEADLINE_EXCEEDED and is reset", () =>
  withStingyServer([[Setting.INITIAL_WINDOW_SIZE, 0]], async (channel, reader) => {
    const started = performance.now();
    await deadlineExceeded(channel.unary(echo, "x".repeat(1000), { timeoutMs: 200 }), started);
    await within(
      reader.until((frames) => rstOf(frames, 1) !== undefined, "RST_STREAM on stream 1"),
      BOUND_MS,
      "the stuck request's reset",
    );
    assertEquals(u32At(rstOf(reader.frames, 1)!.payload), H2Error.CANCEL, "the reset's code");
    const data = reader.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1);
    assertEquals(data.length, 0, "request DATA went out with no window");
  }));

Deno.test("stuck request (client): a call waiting for a stream slot that never frees fails at its deadline", () =>
  withStingyServer([[Setting.MAX_CONCURRENT_STREAMS, 1]], async (channel, reader) => {
    // The first call takes the one slot and is never answered.
    const held = channel.unary(echo, "first");
    held.catch(() => {});
    await within(
      reader.until((frames) => frames.some((f) => f.type === FrameType.HEADERS), "HEADERS"),
      BOUND_MS,
      "the first call's HEADERS",
    );
    const started = performance.now();
    await deadlineExceeded(channel.unary(echo, "second", { timeoutMs: 200 }), started);
    reader.frames = [];
    // A PING answered says the second call opened no stream meanwhile.
    await writeAll(reader.sock, PING);
    await within(reader.until(pingAcked, "PING ACK"), BOUND_MS, "PING ACK");
    assert(
      !reader.frames.some((f) => f.type === FrameType.HEADERS),
      "the late call opened a stream",
    );
  }));
