/**
 * A call's queue of received messages drains in time linear in the
 * messages, in both roles. Flow control holds a stream's window back past
 * 16 queued messages, but the 4 MiB window already granted lets a peer
 * queue ~700,000 six-byte messages before it waits; with
 * `Array.prototype.shift()`, each message taken moved the whole queue once
 * it was in V8's large-object space (from about 16,000 elements), so 64,000
 * messages took far more than eight times as long as 8,000. The server role:
 * the native engine, and a raw client on its unix socket sending one
 * client-streaming call of many tiny messages (a PING after them: its ACK
 * says they are all queued, and only then does the handler read). The
 * client role: `connect()`, and a raw server answering a server-streaming
 * call with many tiny messages and its trailers (`onTrailers` says they are
 * all queued, and only then are they read). The two sizes are timed side by
 * side in interleaved rounds (a ratio, not a threshold), and every message
 * is checked, in order.
 *
 * @module
 */

import { createLogger } from "../../log/logger.ts";
import { implement } from "../../rpc/service.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../constants.ts";
import { CLIENT_PREFACE, FrameType, settingsFrame } from "../../h2/frame.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  concat,
  dataFrame,
  type Frame,
  grpcMessage,
  header,
  headersFrame,
  requestHeaders,
} from "../h2/_h2client.ts";
import { FrameReader, PING, pingAcked, withRawServer, writeAll } from "../h2/_socket_frames.ts";
import { assertLinear } from "../_util/linear_time.ts";
import { textMethod } from "./_engines.ts";

/** Largest DATA frame the peer may send by default. */
const MAX_FRAME = 16384;

/** Counts its requests (checking each is the next number), after the test lets it read. */
const count = textMethod("test.Drain", "Count", "clientStream");
/** Streams `n` numbers. */
const numbers = textMethod("test.Drain", "Numbers", "serverStream");

/** The gRPC body of the messages "0", "1", ... `String(n - 1)`, as DATA frames on stream `id`. */
function numberFrames(id: number, n: number, endStream: boolean): Uint8Array {
  const messages: Uint8Array[] = [];
  for (let i = 0; i < n; i++) messages.push(grpcMessage(String(i)));
  const body = concat(...messages);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < body.length; at += MAX_FRAME) {
    const end = Math.min(at + MAX_FRAME, body.length);
    frames.push(dataFrame(id, body.subarray(at, end), endStream && end === body.length));
  }
  return concat(...frames);
}

/** Fails unless `got` is the next number after `i - 1`. */
function checkNext(got: unknown, i: number): void {
  if (got !== String(i)) throw new Error(`message ${i} was ${JSON.stringify(got)}`);
}

/**
 * The server role: a client-streaming call of `n` messages, all queued
 * before the handler reads them; returns the ms the handler took to read them.
 */
async function serverDrain(n: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-queue-drain-" });
  const path = `${dir}/plugin.sock`;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let ms = -1;
  const engine = createNativeEngine({
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    logger: createLogger({ level: "off", write: () => {} }),
  });
  engine.addService(implement({ name: "test.Drain", methods: { count } }, {
    async count(requests) {
      await gate;
      const t0 = performance.now();
      let i = 0;
      for await (const r of requests) checkNext(r, i++);
      ms = performance.now() - t0;
      return String(i);
    },
  }));
  await engine.bind("unix", path);
  const sock = await Deno.connect({ transport: "unix", path });
  try {
    const reader = new FrameReader(sock);
    await writeAll(
      sock,
      concat(
        CLIENT_PREFACE,
        settingsFrame([]),
        headersFrame(1, requestHeaders(count.path)),
        numberFrames(1, n, true),
        PING,
      ),
    );
    await reader.until(pingAcked, "the PING ACK after the messages");
    open();
    const status = (frames: Frame[]) =>
      frames.find((f) => f.streamId === 1 && f.headers && header(f.headers, "grpc-status"));
    await reader.until((frames) => status(frames) !== undefined, "the call's status");
    const trailers = status(reader.frames)!.headers;
    assertEquals(
      header(trailers, "grpc-status"),
      "0",
      `the call failed: ${header(trailers, "grpc-message")}`,
    );
    const body = concat(
      ...reader.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).map((f) =>
        f.payload
      ),
    );
    assertEquals(new TextDecoder().decode(body.subarray(5)), String(n), "the count of requests");
  } finally {
    sock.close();
    await engine.shutdown(0);
    await Deno.remove(dir, { recursive: true });
  }
  assert(ms >= 0, "the handler did not read its requests");
  return ms;
}

/**
 * The client role: a server-streaming call answered with `n` messages and
 * trailers, all queued before they are read; returns the ms reading them took.
 */
function clientDrain(n: number): Promise<number> {
  let ms = -1;
  return withRawServer(4 << 20, async (channel, sock) => {
    const reader = new FrameReader(sock, CLIENT_PREFACE.length);
    await writeAll(sock, settingsFrame([]));
    let trailers!: () => void;
    const ended = new Promise<void>((resolve) => (trailers = resolve));
    const responses = channel.serverStream(numbers, "go", { onTrailers: () => trailers() });
    const iterator = responses[Symbol.asyncIterator]();
    const first = iterator.next(); // sends the request
    const request = (frames: Frame[]) => frames.find((f) => f.type === FrameType.HEADERS);
    await reader.until((frames) => request(frames) !== undefined, "the call's HEADERS");
    const id = request(reader.frames)!.streamId;
    await writeAll(
      sock,
      concat(
        headersFrame(id, [[":status", "200"], ["content-type", "application/grpc"]]),
        numberFrames(id, n, false),
        headersFrame(id, [["grpc-status", "0"]], true),
      ),
    );
    await ended;
    const t0 = performance.now();
    let i = 0;
    for (let r = await first; !r.done; r = await iterator.next()) checkNext(r.value, i++);
    ms = performance.now() - t0;
    assertEquals(i, n, "the count of responses");
  }).then(() => ms);
}

Deno.test("server: a client-streaming call's 64,000 queued tiny messages drain in linear time, in order", () =>
  assertLinear("server, messages of a client-streaming call", serverDrain));

Deno.test("client: a server-streaming call's 64,000 queued tiny messages drain in linear time, in order", () =>
  assertLinear("client, messages of a server-streaming call", clientDrain));
