/**
 * DATA of ours still waiting to be written when its stream is reset is never
 * written (RFC 9113 6.4: the peer takes nothing more on the stream; it would
 * cost the peer's connection window and our bandwidth), and the connection
 * window it had taken is given back (RFC 9113 6.9: bytes never sent are not
 * counted by the peer either).
 *
 * A raw peer that does not read its socket lets a sender's output pile up
 * (4 MiB, the connection's high water, beside the socket's own buffer); the
 * stream is then reset, by the peer (our server) or by our cancel (our
 * client), and the peer reads everything: of the ~4.3 MiB made, at most what
 * the socket held and the write under way (one 1 MiB chunk) may arrive.
 * Before, all of it did. On the server, a second call then needs the whole
 * rest of the client's connection window, exactly: it is answered only if
 * every dropped byte was given back, and no more than that (a sender over
 * the window would be a FLOW_CONTROL_ERROR to a real peer): it asks for one
 * byte more, and exactly the rest must come before a WINDOW_UPDATE of 1.
 *
 * @module
 */

import { createLogger } from "../../log/logger.ts";
import { implement } from "../../rpc/service.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import {
  CLIENT_PREFACE,
  FrameType,
  H2Error,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../h2/frame.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { textMethod } from "../rpc/_engines.ts";
import {
  concat,
  dataFrame,
  type Frame,
  grpcMessage,
  header,
  headersFrame,
  requestHeaders,
} from "./_h2client.ts";
import { FrameReader, PING, pingAcked, withRawServer, writeAll } from "./_socket_frames.ts";

const MiB = 1 << 20;
/** What the sender makes before the reset: more than its 4 MiB of unwritten output. */
const MADE = 4 * MiB;
/** What may arrive of it: the socket's buffers and the write under way (one 1 MiB chunk). */
const ARRIVED_BOUND = 2.5 * MiB;
/** The raw peer's windows: the connection's is never raised after its first WINDOW_UPDATE. */
const CONNECTION_WINDOW = 8 * MiB;
const STREAM_WINDOW = 16 * MiB;
/** A message of a bulk run (framed as it is written), and one framed into the output arena. */
const CHUNK = "x".repeat(64 << 10);
const SMALL_CHUNK = "x".repeat(1000);

const flood = textMethod("test.Reset", "Flood", "serverStream");
const sized = textMethod("test.Reset", "Sized", "unary");
const upload = textMethod("test.Reset", "Upload", "clientStream");

/** DATA payload bytes of stream `id` (all streams when omitted) in `frames`. */
function dataBytes(frames: Frame[], id?: number): number {
  return frames
    .filter((f) => f.type === FrameType.DATA && (id === undefined || f.streamId === id))
    .reduce((n, f) => n + f.payload.length, 0);
}

/** The server's case, its handler yielding messages of `chunk` bytes. */
async function serverCase(chunk: string): Promise<void> {
  const made = Promise.withResolvers<void>();
  const cancelled = Promise.withResolvers<void>();
  const answered = Promise.withResolvers<void>();
  const service = implement({ name: "test.Reset", methods: { flood, sized } }, {
    async *flood(_req, ctx) {
      ctx.signal.addEventListener("abort", () => cancelled.resolve());
      for (let sent = 0;; sent += chunk.length) {
        if (sent >= MADE) made.resolve();
        yield chunk;
      }
    },
    sized: (req) => {
      answered.resolve();
      return "y".repeat(Number(req));
    },
  });
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-reset-" });
  const path = `${dir}/plugin.sock`;
  const engine = createNativeEngine({
    maxMessageBytes: 16 * MiB,
    logger: createLogger({ level: "off", write: () => {} }),
  });
  engine.addService(service);
  await engine.bind("unix", path);
  const sock = await Deno.connect({ transport: "unix", path });
  try {
    await writeAll(
      sock,
      concat(
        CLIENT_PREFACE,
        settingsFrame([[Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW]]),
        windowUpdateFrame(0, CONNECTION_WINDOW - 65535),
        headersFrame(1, requestHeaders(flood.path)),
        dataFrame(1, grpcMessage("go"), true),
      ),
    );
    // Not reading: the handler's output waits in the server once the socket is full.
    await made.promise;
    await writeAll(sock, concat(rstStreamFrame(1, H2Error.CANCEL), PING));
    await cancelled.promise;
    // The PING ACK was queued after every DATA frame of stream 1 still waiting.
    const reader = new FrameReader(sock);
    await reader.until(pingAcked, "the PING ACK");
    const arrived = dataBytes(reader.frames, 1);
    assert(
      arrived < ARRIVED_BOUND,
      `${(arrived / MiB).toFixed(2)} MiB of stream 1 arrived after the client reset it with ` +
        `more than ${MADE / MiB} MiB made (bound ${
          ARRIVED_BOUND / MiB
        } MiB): queued DATA was still written`,
    );

    // One byte more than the rest of the connection window (a 5-byte prefix and the message):
    // exactly the rest goes out, the last byte waits for window.
    const rest = CONNECTION_WINDOW - arrived;
    reader.frames = [];
    await writeAll(
      sock,
      concat(
        headersFrame(3, requestHeaders(sized.path)),
        dataFrame(3, grpcMessage(String(rest - 5 + 1)), true),
      ),
    );
    // The answer is queued when the handler has returned: what the window allows of it goes
    // out at once, before the ACK of a PING sent now.
    await answered.promise;
    await writeAll(sock, PING);
    await reader.until(pingAcked, "the PING ACK after the second call");
    const sent = dataBytes(reader.frames, 3);
    assertEquals(
      sent,
      rest,
      `the second call got ${sent} bytes where the window left ${rest}: the dropped DATA's ` +
        `window was ${sent < rest ? "not given back" : "given back more than once"}`,
    );
    // One more byte of window: the last byte and the trailers.
    await writeAll(sock, windowUpdateFrame(0, 1));
    const ended = (frames: Frame[]) =>
      frames.find((f) => f.streamId === 3 && f.headers && header(f.headers, "grpc-status"));
    await reader.until((frames) => ended(frames) !== undefined, "the second call's trailers");
    assertEquals(header(ended(reader.frames)!.headers, "grpc-status"), String(Status.OK));
    assertEquals(dataBytes(reader.frames, 3), rest + 1);
  } finally {
    sock.close();
    await engine.shutdown(0);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("server: DATA queued for a stream the client resets is dropped, its window given back (bulk DATA)", () =>
  serverCase(CHUNK));

Deno.test("server: DATA queued for a stream the client resets is dropped, its window given back (small frames)", () =>
  serverCase(SMALL_CHUNK));

Deno.test("client: request DATA queued for a call we cancel is dropped", () =>
  withRawServer(16 * MiB, async (channel, sock) => {
    const abort = new AbortController();
    const made = Promise.withResolvers<void>();
    let call: Promise<unknown> | null = null;
    try {
      await writeAll(
        sock,
        concat(
          settingsFrame([[Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW]]),
          windowUpdateFrame(0, CONNECTION_WINDOW - 65535),
        ),
      );
      const reader = new FrameReader(sock, CLIENT_PREFACE.length);
      // Our SETTINGS ACK: the client now has the windows.
      await writeAll(sock, PING);
      await reader.until(pingAcked, "the client's PING ACK");
      call = channel.clientStream(
        upload,
        (async function* () {
          for (let sent = 0;; sent += CHUNK.length) {
            if (sent >= MADE) made.resolve();
            yield CHUNK;
          }
        })(),
        { signal: abort.signal },
      ).catch((e) => e);
      // Not reading: the requests wait in the client once the socket is full.
      await made.promise;
      abort.abort();
      const err = await call;
      assert(err instanceof RpcError && err.code === Status.CANCELLED, `the call gave ${err}`);
      const reset = (frames: Frame[]) =>
        frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
      await reader.until(reset, "the RST_STREAM of the cancelled call");
      const arrived = dataBytes(
        reader.frames.slice(0, reader.frames.findIndex((f) => f.type === FrameType.RST_STREAM)),
        1,
      );
      assert(
        arrived < ARRIVED_BOUND,
        `${(arrived / MiB).toFixed(2)} MiB of the request arrived after we cancelled it with ` +
          `more than ${MADE / MiB} MiB made (bound ${
            ARRIVED_BOUND / MiB
          } MiB): queued DATA was still written`,
      );
      assertEquals(dataBytes(reader.frames), arrived, "DATA of the call after its RST_STREAM");
    } finally {
      channel.close();
      await call;
    }
  }));
